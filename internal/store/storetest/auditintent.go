package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// auditIntentTests check store.WithAudit: the events of an intent are
// committed in the transaction of the change they record, or not at all.
func auditIntentTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"AuditIntent/CommittedWithChange", testAuditIntentCommitted},
		{"AuditIntent/FailedChange", testAuditIntentFailed},
		{"AuditIntent/ReadOnly", testAuditIntentReadOnly},
		{"AuditIntent/RunAudited", testRunAudited},
	}
}

// auditCount returns the number of events in the trail.
func auditCount(t *testing.T, s store.Store) int {
	t.Helper()
	events, err := s.ListAudit(t.Context(), store.AuditQuery{Limit: 1000})
	must(t, "ListAudit", err)
	return len(events)
}

// intentCtx returns a context carrying an intent for one event of type typ.
func intentCtx(t *testing.T, typ string) (context.Context, *store.AuditIntent) {
	t.Helper()
	ctx, in, err := store.WithAudit(t.Context(), fullAudit(typ, "c", "u"))
	must(t, "WithAudit", err)
	return ctx, in
}

func testAuditIntentCommitted(t *testing.T, s store.Store) {
	mustCreateUser(t, s, fullUser("u1", "One"))
	until := baseTime().Add(time.Hour)
	// Each change, whether a one-statement write or a transaction of its
	// own, carries its event.
	changes := []struct {
		name string
		fn   func(ctx context.Context) error
	}{
		{"CreateClient", func(ctx context.Context) error { return s.CreateClient(ctx, fullClient("c1")) }},
		{"UpdateClient", func(ctx context.Context) error {
			_, err := s.UpdateClient(ctx, "c1", func(c store.Client) (store.Client, error) { c.Name = "renamed"; return c, nil })
			return err
		}},
		{"CreateToken", func(ctx context.Context) error { return s.CreateToken(ctx, fullToken("c1", "intent-token")) }},
		{"CreateSession", func(ctx context.Context) error { return s.CreateSession(ctx, fullSession("u1", "cookie", "sid1")) }},
		{"UpdateConsent", func(ctx context.Context) error {
			_, err := s.UpdateConsent(ctx, "u1", "c1", func(c store.Consent, found bool) (store.Consent, error) {
				return store.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"openid"}, GrantedAt: baseTime(), UpdatedAt: baseTime()}, nil
			})
			return err
		}},
		{"DeleteConsent", func(ctx context.Context) error { return s.DeleteConsent(ctx, "u1", "c1") }},
		{"RevokeJTI", func(ctx context.Context) error { return s.RevokeJTI(ctx, "jti-1", until) }},
		{"UseJTI", func(ctx context.Context) error { return s.UseJTI(ctx, "c1", "jti-1", until) }},
		{"DeleteClient", func(ctx context.Context) error { return s.DeleteClient(ctx, "c1") }},
	}
	for i, c := range changes {
		actx, in := intentCtx(t, store.AuditAdminChange)
		if err := c.fn(actx); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !in.Committed() {
			t.Errorf("%s: the intent is not committed", c.name)
		}
		if n := auditCount(t, s); n != i+1 {
			t.Fatalf("%s: %d events in the trail, want %d", c.name, n, i+1)
		}
		// The intent is taken once: another change with the same context
		// writes no event.
		if i == 0 {
			must(t, "CreateUser", s.CreateUser(actx, fullUser("u2", "Two")))
			if n := auditCount(t, s); n != 1 {
				t.Fatalf("a second change under a committed intent: %d events, want 1", n)
			}
		}
	}
	if n := WantChain(t, s); n != len(changes) {
		t.Fatalf("the chain has %d events, want %d", n, len(changes))
	}
}

func testAuditIntentFailed(t *testing.T, s store.Store) {
	mustCreateClient(t, s, fullClient("c1"))
	mustCreateUser(t, s, fullUser("u1", "One"))
	must(t, "CreateToken", s.CreateToken(t.Context(), fullToken("c1", "token-a")))
	refused := errors.New("refused")
	changes := []struct {
		name string
		fn   func(ctx context.Context) error
	}{
		{"CreateClient duplicate", func(ctx context.Context) error { return s.CreateClient(ctx, fullClient("c1")) }},
		{"CreateToken duplicate", func(ctx context.Context) error { return s.CreateToken(ctx, fullToken("c1", "token-a")) }},
		{"CreateToken unknown client", func(ctx context.Context) error { return s.CreateToken(ctx, fullToken("nobody", "token-b")) }},
		{"CreateSession unknown user", func(ctx context.Context) error {
			return s.CreateSession(ctx, fullSession("nobody", "cookie", "sid1"))
		}},
		{"DeleteConsent not found", func(ctx context.Context) error { return s.DeleteConsent(ctx, "u1", "c1") }},
		{"RevokeToken not found", func(ctx context.Context) error { return s.RevokeToken(ctx, hashOf("nothing")) }},
		{"UpdateClient refused", func(ctx context.Context) error {
			_, err := s.UpdateClient(ctx, "c1", func(store.Client) (store.Client, error) { return store.Client{}, refused })
			return err
		}},
		{"RevokeRefreshFamily not found", func(ctx context.Context) error { return s.RevokeRefreshFamily(ctx, "no-family") }},
		{"RevokeDelegation not found", func(ctx context.Context) error {
			_, err := s.RevokeDelegation(ctx, "no-delegation", baseTime())
			return err
		}},
	}
	for _, c := range changes {
		actx, in := intentCtx(t, store.AuditAdminChange)
		if err := c.fn(actx); err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		if in.Committed() || !store.AuditPending(actx) {
			t.Errorf("%s: the intent was taken by a change that failed", c.name)
		}
	}
	if n := auditCount(t, s); n != 0 {
		t.Fatalf("failed changes left %d events", n)
	}
	// The events failing in the transaction roll the change back.
	bad := func() ([]store.AuditEvent, error) { return []store.AuditEvent{{Type: "no time"}}, nil }
	for _, c := range []struct {
		name  string
		fn    func(ctx context.Context) error
		check func() error
	}{
		{"CreateClient", func(ctx context.Context) error { return s.CreateClient(ctx, fullClient("c2")) },
			func() error { _, err := s.GetClient(t.Context(), "c2"); return err }},
		{"CreateToken", func(ctx context.Context) error { return s.CreateToken(ctx, fullToken("c1", "token-c")) },
			func() error { _, err := s.GetToken(t.Context(), fullToken("c1", "token-c").Hash); return err }},
		{"UpdateClient", func(ctx context.Context) error {
			_, err := s.UpdateClient(ctx, "c1", func(c store.Client) (store.Client, error) { c.Name = "renamed"; return c, nil })
			return err
		}, func() error {
			if c, err := s.GetClient(t.Context(), "c1"); err != nil || c.Name == "renamed" {
				return errors.New("renamed")
			}
			return store.ErrNotFound
		}},
	} {
		actx, in := store.WithAuditFunc(t.Context(), bad)
		if err := c.fn(actx); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("%s with an invalid event = %v, want ErrInvalid", c.name, err)
		}
		if in.Committed() {
			t.Errorf("%s: an invalid event was committed", c.name)
		}
		if err := c.check(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: the change was made though its event failed: %v", c.name, err)
		}
	}
}

func testAuditIntentReadOnly(t *testing.T, s store.Store) {
	mustCreateClient(t, s, fullClient("c1"))
	actx, in := intentCtx(t, store.AuditAdminChange)
	_, err := s.GetClient(actx, "c1")
	must(t, "GetClient", err)
	_, err = s.ListClients(actx, store.ListOptions{})
	must(t, "ListClients", err)
	_, err = s.ListAudit(actx, store.AuditQuery{})
	must(t, "ListAudit", err)
	if in.Committed() || !store.AuditPending(actx) {
		t.Error("a read took the intent")
	}
	if n := auditCount(t, s); n != 0 {
		t.Fatalf("reads left %d events", n)
	}
}

func testRunAudited(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("c1"))
	alone := store.AppendAuditsFunc(s)
	events := []store.AuditEvent{fullAudit(store.AuditTokenRevoked, "c1", "u")}
	// A change: its event once, in its transaction.
	must(t, "RunAudited", store.RunAudited(ctx, alone, events, func(ctx context.Context) error {
		return s.RevokeJTI(ctx, "jti-1", baseTime().Add(time.Hour))
	}))
	if n := auditCount(t, s); n != 1 {
		t.Fatalf("after a change: %d events, want 1", n)
	}
	// A no-op (nothing to write): the event on its own.
	must(t, "RunAudited", store.RunAudited(ctx, alone, events, func(context.Context) error { return nil }))
	if n := auditCount(t, s); n != 2 {
		t.Fatalf("after a no-op: %d events, want 2", n)
	}
	// A change that fails: no event, its error.
	err := store.RunAudited(ctx, alone, events, func(ctx context.Context) error {
		return s.CreateClient(ctx, fullClient("c1"))
	})
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("RunAudited of a failing change = %v, want ErrAlreadyExists", err)
	}
	if n := auditCount(t, s); n != 2 {
		t.Fatalf("after a failed change: %d events, want 2", n)
	}
	// An invalid event is refused before the change.
	ran := false
	err = store.RunAudited(ctx, alone, []store.AuditEvent{{Type: "no time"}}, func(context.Context) error { ran = true; return nil })
	if !errors.Is(err, store.ErrInvalid) || ran {
		t.Fatalf("RunAudited with an invalid event = %v (ran %v), want ErrInvalid before the change", err, ran)
	}
}
