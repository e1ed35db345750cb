package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// keyed is what the create-and-update contract is checked on: a record
// type stored under a key, with its store's methods.
type keyed[T any] struct {
	// full makes a valid record of key whose content is told apart by
	// variant; invalid makes it invalid.
	full    func(key string, variant int) T
	invalid func(*T)
	setKey  func(*T, string)
	stamps  func(*T) (created, updated *time.Time)
	create  func(context.Context, T) error
	get     func(context.Context, string) (T, error)
	update  func(context.Context, string, func(T) (T, error)) (T, error)
	delete  func(context.Context, string) error
	compare func(t *testing.T, want, got T)
}

func createUpdateTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SAML/CreateUpdate", func(t *testing.T, s store.Store) { testCreateUpdate(t, samlKeyed(s), "https://sp.example/") }},
		{"Trust/CreateUpdate", func(t *testing.T, s store.Store) { testCreateUpdate(t, trustKeyed(s), "https://idp.example/") }},
	}
}

func samlKeyed(s store.Store) keyed[store.SAMLServiceProvider] {
	return keyed[store.SAMLServiceProvider]{
		full: func(key string, variant int) store.SAMLServiceProvider {
			sp := fullSAMLServiceProvider(key)
			sp.Name = fmt.Sprintf("SP variant %d", variant)
			return sp
		},
		invalid: func(sp *store.SAMLServiceProvider) { sp.ACS = nil },
		setKey:  func(sp *store.SAMLServiceProvider, k string) { sp.EntityID = k },
		stamps: func(sp *store.SAMLServiceProvider) (*time.Time, *time.Time) {
			return &sp.CreatedAt, &sp.UpdatedAt
		},
		create:  s.CreateSAMLServiceProvider,
		get:     s.GetSAMLServiceProvider,
		update:  s.UpdateSAMLServiceProvider,
		delete:  s.DeleteSAMLServiceProvider,
		compare: wantSAMLServiceProvider,
	}
}

func trustKeyed(s store.Store) keyed[store.TrustedIssuer] {
	return keyed[store.TrustedIssuer]{
		full: func(key string, variant int) store.TrustedIssuer {
			ti := fullTrustedIssuer(key)
			ti.JWKSURI = fmt.Sprintf("%sjwks-%d.json", key, variant)
			return ti
		},
		invalid: func(ti *store.TrustedIssuer) { ti.Uses = []string{"everything"} },
		setKey:  func(ti *store.TrustedIssuer, k string) { ti.Issuer = k },
		stamps: func(ti *store.TrustedIssuer) (*time.Time, *time.Time) {
			return &ti.CreatedAt, &ti.UpdatedAt
		},
		create:  s.CreateTrustedIssuer,
		get:     s.GetTrustedIssuer,
		update:  s.UpdateTrustedIssuer,
		delete:  s.DeleteTrustedIssuer,
		compare: wantTrustedIssuer,
	}
}

// testCreateUpdate: a create never replaces (of racing creates exactly
// one wins and the record is the winner's), an update never creates
// (also not after a delete), and an update that fails writes nothing.
func testCreateUpdate[T any](t *testing.T, k keyed[T], prefix string) {
	ctx := t.Context()
	first := k.full(prefix+"a", 1)
	must(t, "create", k.create(ctx, first))
	wantErr(t, "a second create of one key", k.create(ctx, k.full(prefix+"a", 2)), store.ErrAlreadyExists)
	got, err := k.get(ctx, prefix+"a")
	must(t, "get", err)
	k.compare(t, first, got)

	// Racing creates of one key: one wins, the others conflict.
	const racers = 8
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() { errs[i] = k.create(ctx, k.full(prefix+"race", i)) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("creates %d and %d of one key both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrAlreadyExists):
			t.Fatalf("racing create %d = %v, want nil or ErrAlreadyExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racing create succeeded")
	}
	got, err = k.get(ctx, prefix+"race")
	must(t, "get the raced record", err)
	k.compare(t, k.full(prefix+"race", winner), got)

	// An update sees the stored record, keeps CreatedAt and returns what
	// is stored.
	next := k.full(prefix+"a", 3)
	created, updated := k.stamps(&next)
	*created, *updated = created.Add(time.Hour), updated.Add(time.Hour)
	var seen T
	stored, err := k.update(ctx, prefix+"a", func(old T) (T, error) { seen = old; return next, nil })
	must(t, "update", err)
	k.compare(t, first, seen)
	fc, _ := k.stamps(&first)
	*created = *fc
	k.compare(t, next, stored)
	got, err = k.get(ctx, prefix+"a")
	must(t, "get the updated record", err)
	k.compare(t, next, got)

	// Failed updates write nothing.
	boom := errors.New("boom")
	_, err = k.update(ctx, prefix+"a", func(T) (T, error) { return k.full(prefix+"a", 4), boom })
	if !errors.Is(err, boom) {
		t.Errorf("update whose function fails = %v, want its error", err)
	}
	_, err = k.update(ctx, prefix+"a", func(old T) (T, error) { k.setKey(&old, prefix+"b"); return old, nil })
	wantErr(t, "an update changing the key", err, store.ErrInvalid)
	_, err = k.update(ctx, prefix+"a", func(old T) (T, error) { k.invalid(&old); return old, nil })
	wantErr(t, "an update to an invalid record", err, store.ErrInvalid)
	got, err = k.get(ctx, prefix+"a")
	must(t, "get after failed updates", err)
	k.compare(t, next, got)
	if _, err := k.get(ctx, prefix+"b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an update changing the key created %q: %v", prefix+"b", err)
	}

	// An update never creates, also not a record deleted in between.
	called := false
	_, err = k.update(ctx, prefix+"none", func(old T) (T, error) { called = true; return old, nil })
	wantErr(t, "an update of an unknown key", err, store.ErrNotFound)
	must(t, "delete", k.delete(ctx, prefix+"a"))
	_, err = k.update(ctx, prefix+"a", func(T) (T, error) { called = true; return next, nil })
	wantErr(t, "an update of a deleted record", err, store.ErrNotFound)
	// The empty key is one no record can have: refused before any read.
	_, err = k.update(ctx, "", func(old T) (T, error) { called = true; return old, nil })
	wantErr(t, "an update of the empty key", err, store.ErrNotFound)
	_, err = k.get(ctx, "")
	wantErr(t, "a get of the empty key", err, store.ErrNotFound)
	if called {
		t.Error("an update of a missing record called its function")
	}
	for _, key := range []string{prefix + "none", prefix + "a"} {
		if _, err := k.get(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an update created %q: %v", key, err)
		}
	}
}
