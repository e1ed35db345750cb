package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// An audit intent puts audit events in the transaction of the change they
// record. WithAudit attaches the events to a context; the one store call
// made with that context that commits a transaction appends them in it,
// before its commit, so the change and its events are committed together
// or not at all. A call that fails (a constraint violation, a record not
// found) rolls back with the events and leaves the intent pending; a call
// that only reads leaves it pending too.
//
// Callers use RunAudited, which attaches the intent to one store call and
// appends the events on their own when that call succeeded without a
// transaction (an idempotent no-op). Backends use ClaimAudit in their
// transaction helper, then MarkCommitted or Release.
//
// An intent is taken at most once: a second store call with the same
// context (after the first committed) does not write the events again.

// auditIntentKey is the context key of the intent.
type auditIntentKey struct{}

// The states of an intent.
const (
	intentPending   int32 = iota // no transaction holds the events
	intentClaimed                // a transaction appends them
	intentCommitted              // they are committed with a change
	intentClosed                 // RunAudited gave up on it: never claimed again
)

// AuditIntent is the events one store call must append in its
// transaction. Its methods are safe for concurrent use and on nil.
type AuditIntent struct {
	// build returns the events; it is called when a transaction takes
	// the intent (after the change's own code ran), or for the events on
	// their own.
	build func() ([]AuditEvent, error)
	state atomic.Int32
}

// WithAudit returns ctx carrying an intent to append events in the
// transaction of the next store call that commits one, and the intent. The
// events are validated first; there must be at least one.
func WithAudit(ctx context.Context, events ...AuditEvent) (context.Context, *AuditIntent, error) {
	if err := ValidateAuditEvents(events); err != nil {
		return ctx, nil, fmt.Errorf("store: audit intent: %w", err)
	}
	events = append([]AuditEvent(nil), events...)
	ctx, in := WithAuditFunc(ctx, func() ([]AuditEvent, error) { return events, nil })
	return ctx, in, nil
}

// WithAuditFunc is WithAudit for events that depend on what the change
// computes (an update function's result): build is called once the
// change's own code has run, inside its transaction, and its events are
// validated then; an error from build or an invalid event fails the
// transaction.
func WithAuditFunc(ctx context.Context, build func() ([]AuditEvent, error)) (context.Context, *AuditIntent) {
	in := &AuditIntent{build: build}
	return context.WithValue(ctx, auditIntentKey{}, in), in
}

// events builds and validates the intent's events.
func (in *AuditIntent) events() ([]AuditEvent, error) {
	events, err := in.build()
	if err == nil {
		err = ValidateAuditEvents(events)
	}
	if err != nil {
		return nil, fmt.Errorf("store: audit intent: %w", err)
	}
	return events, nil
}

// AuditPending reports whether ctx carries an intent no transaction has
// taken yet: a backend's one-statement write then runs in a transaction
// (so that ClaimAudit can append the events with it).
func AuditPending(ctx context.Context) bool {
	in, _ := ctx.Value(auditIntentKey{}).(*AuditIntent)
	return in != nil && in.state.Load() == intentPending
}

// ClaimAudit takes ctx's pending intent for the transaction about to
// commit: it returns the intent and its events, or nil when there is none
// (or another call took it). The backend appends the events in its
// transaction, then calls MarkCommitted once the commit succeeded, or
// Release when the transaction did not commit. An error (the events could
// not be built or are invalid) leaves the intent pending: the transaction
// must roll back.
func ClaimAudit(ctx context.Context) (*AuditIntent, []AuditEvent, error) {
	in, _ := ctx.Value(auditIntentKey{}).(*AuditIntent)
	if in == nil || !in.state.CompareAndSwap(intentPending, intentClaimed) {
		return nil, nil, nil
	}
	events, err := in.events()
	if err != nil {
		in.Release()
		return nil, nil, err
	}
	return in, events, nil
}

// MarkCommitted records that the claimed events were committed.
func (in *AuditIntent) MarkCommitted() {
	if in != nil {
		in.state.CompareAndSwap(intentClaimed, intentCommitted)
	}
}

// Release returns a claimed intent whose transaction did not commit to
// pending.
func (in *AuditIntent) Release() {
	if in != nil {
		in.state.CompareAndSwap(intentClaimed, intentPending)
	}
}

// Committed reports whether the events were committed with a change.
func (in *AuditIntent) Committed() bool {
	return in != nil && in.state.Load() == intentCommitted
}

// close makes a pending intent unclaimable and reports whether it was
// pending (false once committed).
func (in *AuditIntent) close() bool {
	return in != nil && in.state.CompareAndSwap(intentPending, intentClosed)
}

// AuditAppendFunc appends events on their own, in a transaction of their
// own (an AuditStore's AppendAudits, or a group-commit appender).
type AuditAppendFunc func(ctx context.Context, events ...AuditEvent) error

// RunAudited runs change, which must make exactly one store call with the
// context it is given, with the events attached to that call: they are
// committed in its transaction. When change succeeds but its call
// committed nothing that carried them (a no-op, such as revoking what was
// revoked already), the events are appended on their own with alone. When
// change fails, no event is written and its error is returned.
//
// Wrap only the call that makes the change: any other store write inside
// change (a client authentication recording a jti) would take the events.
func RunAudited(ctx context.Context, alone AuditAppendFunc, events []AuditEvent, change func(ctx context.Context) error) error {
	if err := ValidateAuditEvents(events); err != nil {
		return fmt.Errorf("store: audit intent: %w", err)
	}
	events = append([]AuditEvent(nil), events...)
	return RunAuditedFunc(ctx, alone, func() ([]AuditEvent, error) { return events, nil }, change)
}

// RunAuditedFunc is RunAudited with the events built by build (see
// WithAuditFunc): inside the change's transaction, or after change
// returned for the events on their own.
func RunAuditedFunc(ctx context.Context, alone AuditAppendFunc, build func() ([]AuditEvent, error), change func(ctx context.Context) error) error {
	actx, in := WithAuditFunc(ctx, build)
	err := change(actx)
	// Closing first: nothing started by change can take the events now.
	pending := in.close()
	if err != nil {
		return err
	}
	if !pending {
		return nil
	}
	events, err := in.events()
	if err == nil {
		err = alone(ctx, events...)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAuditNotRecorded, err)
	}
	return nil
}

// ErrAuditNotRecorded is RunAudited's error when the change was made but
// its events, appended on their own, were not recorded.
var ErrAuditNotRecorded = errors.New("store: the change was made, but its audit events were not recorded")

// AppendAuditsFunc adapts an AuditStore to an AuditAppendFunc (one event
// per AppendAudit).
func AppendAuditsFunc(st interface {
	AppendAudit(ctx context.Context, e AuditEvent) (int64, error)
}) AuditAppendFunc {
	return func(ctx context.Context, events ...AuditEvent) error {
		for _, e := range events {
			if _, err := st.AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}
}
