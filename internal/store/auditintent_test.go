package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func intentEvent() AuditEvent {
	return AuditEvent{Time: time.Unix(1772597167, 0), Type: AuditTokenRevoked, ClientID: "c"}
}

// TestAuditIntentClaim: an intent is taken by one transaction at a time,
// returns to pending when that one rolls back, and is taken for good once
// committed.
func TestAuditIntentClaim(t *testing.T) {
	ctx, in, err := WithAudit(context.Background(), intentEvent())
	if err != nil {
		t.Fatal(err)
	}
	if got, ev, _ := ClaimAudit(context.Background()); got != nil || ev != nil {
		t.Fatal("a context without an intent has one")
	}
	got, ev, err := ClaimAudit(ctx)
	if err != nil || got != in || len(ev) != 1 || ev[0].Type != AuditTokenRevoked {
		t.Fatalf("ClaimAudit = %v, %v, %v", got, ev, err)
	}
	if again, _, _ := ClaimAudit(ctx); again != nil || AuditPending(ctx) {
		t.Fatal("a claimed intent was claimed again")
	}
	got.Release()
	if !AuditPending(ctx) || in.Committed() {
		t.Fatal("a released intent is not pending")
	}
	got, _, _ = ClaimAudit(ctx)
	got.MarkCommitted()
	if !in.Committed() || AuditPending(ctx) {
		t.Fatal("a committed intent is not committed")
	}
	if again, _, _ := ClaimAudit(ctx); again != nil {
		t.Fatal("a committed intent was claimed again")
	}
	got.Release() // no effect once committed
	if !in.Committed() {
		t.Fatal("Release undid a commit")
	}
}

func TestAuditIntentInvalid(t *testing.T) {
	if _, _, err := WithAudit(context.Background()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no events: %v", err)
	}
	if _, _, err := WithAudit(context.Background(), AuditEvent{Type: AuditSignIn}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an event without a time: %v", err)
	}
	// Built events are validated at the claim, which then fails and leaves
	// the intent pending.
	ctx, in := WithAuditFunc(context.Background(), func() ([]AuditEvent, error) { return []AuditEvent{{Type: "x"}}, nil })
	if got, _, err := ClaimAudit(ctx); got != nil || !errors.Is(err, ErrInvalid) || !AuditPending(ctx) || in.Committed() {
		t.Fatalf("ClaimAudit of an invalid built event = %v, %v", got, err)
	}
}

// TestRunAuditedAlone: the events go on their own when the change
// committed none, never when it failed, and not after a commit.
func TestRunAuditedAlone(t *testing.T) {
	var alone [][]AuditEvent
	appendAlone := func(_ context.Context, ev ...AuditEvent) error { alone = append(alone, ev); return nil }
	events := []AuditEvent{intentEvent()}
	if err := RunAudited(context.Background(), appendAlone, events, func(context.Context) error { return nil }); err != nil || len(alone) != 1 {
		t.Fatalf("no-op: %v, alone %d", err, len(alone))
	}
	refused := errors.New("refused")
	if err := RunAudited(context.Background(), appendAlone, events, func(context.Context) error { return refused }); !errors.Is(err, refused) || len(alone) != 1 {
		t.Fatalf("failed change: %v, alone %d", err, len(alone))
	}
	err := RunAudited(context.Background(), appendAlone, events, func(ctx context.Context) error {
		in, _, _ := ClaimAudit(ctx)
		in.MarkCommitted()
		return nil
	})
	if err != nil || len(alone) != 1 {
		t.Fatalf("committed change: %v, alone %d", err, len(alone))
	}
	// A store call after the change returned cannot take the events.
	var leaked context.Context
	_ = RunAudited(context.Background(), appendAlone, events, func(ctx context.Context) error { leaked = ctx; return nil })
	if in, _, _ := ClaimAudit(leaked); in != nil {
		t.Fatal("an intent was claimed after RunAudited returned")
	}
	down := errors.New("down")
	err = RunAudited(context.Background(), func(context.Context, ...AuditEvent) error { return down }, events, func(context.Context) error { return nil })
	if !errors.Is(err, ErrAuditNotRecorded) || !errors.Is(err, down) {
		t.Fatalf("failing append on its own: %v", err)
	}
}
