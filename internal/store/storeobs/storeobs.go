// Package storeobs observes every call of a store.Store in one place: a
// decorator that hands each method call to an Observer (the store latency
// metrics, a tracing span per call) before passing it on.
//
// The methods are generated (zz_methods.go) from the store.Store interface
// by TestGenerated: run `go test ./internal/store/storeobs -run
// TestGenerated -update` after changing the interface. A method the
// generated file does not know yet still works, unobserved, through the
// embedded store; the test fails until the file is regenerated.
package storeobs

import (
	"context"
	"errors"

	"github.com/writ-dev/writ/internal/store"
)

// Observer sees the start of one store call, op being the method's name
// (a constant of the code, never its arguments). It returns the context
// the call runs with (e.g. carrying a span) and the function that is
// called with the call's error when it returns.
type Observer func(ctx context.Context, op string) (context.Context, func(error))

// Store is a store.Store whose calls are observed. Methods without a
// context (Close) pass through unobserved.
type Store struct {
	store.Store
	obs Observer
}

// Wrap returns next observed by the observers; with none it returns next
// itself.
func Wrap(next store.Store, observers ...Observer) store.Store {
	var live []Observer
	for _, o := range observers {
		if o != nil {
			live = append(live, o)
		}
	}
	switch len(live) {
	case 0:
		return next
	case 1:
		return &Store{Store: next, obs: live[0]}
	}
	return &Store{Store: next, obs: multi(live)}
}

// Unwrap returns the store underneath, for a caller that needs a method
// of the backend beyond store.Store.
func (s *Store) Unwrap() store.Store { return s.Store }

// Operations are the names of the observed operations, the methods of
// store.Store that take a context.
func Operations() []string { return append([]string(nil), operations[:]...) }

// multi calls each observer in order; their end functions run in reverse.
func multi(obs []Observer) Observer {
	return func(ctx context.Context, op string) (context.Context, func(error)) {
		ends := make([]func(error), len(obs))
		for i, o := range obs {
			ctx, ends[i] = o(ctx, op)
		}
		return ctx, func(err error) {
			for i := len(ends) - 1; i >= 0; i-- {
				ends[i](err)
			}
		}
	}
}

// ErrorKind names a store error without its message (which may name
// values), for a metric label or a span attribute: not_found,
// already_exists, conflict, reused, expired or other.
func ErrorKind(err error) string {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "not_found"
	case errors.Is(err, store.ErrAlreadyExists):
		return "already_exists"
	case errors.Is(err, store.ErrConflict):
		return "conflict"
	case errors.Is(err, store.ErrReused):
		return "reused"
	case errors.Is(err, store.ErrExpired):
		return "expired"
	}
	return "other"
}
