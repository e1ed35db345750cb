package server_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/audit"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
)

// TestAuditTokenFlow drives a sign-in, a code redemption, its replay, a
// rotation, a reuse and a revocation through the real server with the
// audit on, and checks the trail: one event per security event, the
// issued ones committed with the redemption and rotation, none for what
// was refused, and an intact chain.
func TestAuditTokenFlow(t *testing.T) {
	ref := &appenderRef{}
	e := newSignInEnv(t, envOptions{AuditRecorder: ref})
	ref.start(t, e.Store)

	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)
	e.addUser(t, "u-alice", "alice", "correct horse battery staple", named("Alice", "alice@example.com"))

	types := func() []string {
		evs, err := e.Store.ListAudit(context.Background(), store.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(evs))
		for i, ev := range evs {
			out[i] = ev.Type
			if ev.Type != store.AuditSignInFailed && ev.ClientID != "webapp" {
				t.Errorf("event %d (%s) names client %q", ev.Seq, ev.Type, ev.ClientID)
			}
		}
		return out
	}
	want := func(step string, w ...string) {
		t.Helper()
		got := types()
		if len(got) != len(w) {
			t.Fatalf("after %s: events %v, want %v", step, got, w)
		}
		for i := range w {
			if got[i] != w[i] {
				t.Fatalf("after %s: events %v, want %v", step, got, w)
			}
		}
	}

	// A wrong password, then the sign-in, the consent and the redemption.
	b := e.newBrowser(t)
	r := rp.authorize()
	p := b.get(t, r.URL)
	b.login(t, p, "alice", "wrong password")
	want("a wrong password", store.AuditSignInFailed)
	_, p = b.run(t, r.URL, user{Username: "alice", Password: "correct horse battery staple"})
	code := e.callback(t, p, rp.Config.RedirectURL, r.State)
	tok := rp.exchange(t, code, r)
	base := []string{store.AuditSignInFailed, store.AuditSignIn, store.AuditConsentGiven, store.AuditTokenIssued}
	want("the redemption", base...)

	// The code again: refused, no second token_issued; what it issued is
	// revoked and that is recorded.
	if _, err := rp.Config.Exchange(rp.Ctx, code, oauth2.VerifierOption(r.Verifier)); err == nil {
		t.Fatal("a replayed code was redeemed")
	}
	base = append(base, store.AuditCodeReplayed)
	want("the replay", base...)

	// A fresh sign-in's refresh token: rotated once, then reused.
	_, tok, _ = rp.signIn(t, e, b, user{Username: "alice", Password: "correct horse battery staple"})
	base = append(base, store.AuditTokenIssued)
	want("a second redemption", base...)
	next, err := rp.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	base = append(base, store.AuditTokenRefreshed)
	want("the rotation", base...)
	if _, err := rp.refresh(tok.RefreshToken); err == nil {
		t.Fatal("a rotated refresh token was accepted")
	}
	base = append(base, store.AuditRefreshReused)
	want("the reuse", base...)

	// Revocation of the (already revoked) family's newest token: the
	// revocation endpoint records it.
	resp := e.post(t, server.PathRevoke, url.Values{"token": {next.RefreshToken}}, basic("webapp", secret))
	if resp.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", resp.Status, resp.Body)
	}
	base = append(base, store.AuditTokenRevoked)
	want("the revocation", base...)

	if _, err := audit.Verify(context.Background(), e.Store, nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// appenderRef is a grant.Recorder whose appender is made once the
// test server (and its store) exists.
type appenderRef struct{ app *audit.Appender }

func (r *appenderRef) Append(ctx context.Context, ev ...store.AuditEvent) error {
	return r.app.Append(ctx, ev...)
}

// start runs an appender on st until the test ends, committing each
// batch of waiting callers before they return.
func (r *appenderRef) start(t testing.TB, st audit.BatchStore) { r.run(t, st, audit.AppenderOptions{}) }

// startJournaled runs an appender on st with a journal in a temporary
// directory, as writ serve runs it, until the test ends.
func (r *appenderRef) startJournaled(t testing.TB, st audit.BatchStore) {
	j, err := audit.OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r.run(t, st, audit.AppenderOptions{Journal: j})
}

func (r *appenderRef) run(t testing.TB, st audit.BatchStore, o audit.AppenderOptions) {
	r.app = audit.NewAppender(st, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.app.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// recorderSpy is an appenderRef that notes the types of the events that
// went through the recorder (on their own) rather than in a store change's
// transaction.
type recorderSpy struct {
	appenderRef
	mu    sync.Mutex
	types []string
}

func (r *recorderSpy) Append(ctx context.Context, ev ...store.AuditEvent) error {
	r.mu.Lock()
	for _, e := range ev {
		r.types = append(r.types, e.Type)
	}
	r.mu.Unlock()
	return r.appenderRef.Append(ctx, ev...)
}

func (r *recorderSpy) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.types)
}

// TestAuditEventsInTheirChange: the events that record a store change
// (sign-in, consent, code replay, refresh reuse, revocation) are committed
// in that change's transaction, not appended on their own through the
// recorder; only a failed sign-in, which changes nothing, goes through it.
func TestAuditEventsInTheirChange(t *testing.T) {
	spy := &recorderSpy{}
	e := newSignInEnv(t, envOptions{AuditRecorder: spy})
	spy.start(t, e.Store)

	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)
	e.addUser(t, "u-alice", "alice", "correct horse battery staple", named("Alice", "alice@example.com"))
	alice := user{Username: "alice", Password: "correct horse battery staple"}

	b := e.newBrowser(t)
	r := rp.authorize()
	b.login(t, b.get(t, r.URL), "alice", "wrong password")
	_, p := b.run(t, r.URL, alice)
	code := e.callback(t, p, rp.Config.RedirectURL, r.State)
	rp.exchange(t, code, r)
	if _, err := rp.Config.Exchange(rp.Ctx, code, oauth2.VerifierOption(r.Verifier)); err == nil {
		t.Fatal("a replayed code was redeemed")
	}
	_, tok, _ := rp.signIn(t, e, b, alice)
	if _, err := rp.refresh(tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := rp.refresh(tok.RefreshToken); err == nil {
		t.Fatal("a rotated refresh token was accepted")
	}
	_, fresh, _ := rp.signIn(t, e, b, alice)
	for _, v := range []string{fresh.RefreshToken, fresh.AccessToken} {
		if resp := e.post(t, server.PathRevoke, url.Values{"token": {v}}, basic("webapp", secret)); resp.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", resp.Status, resp.Body)
		}
	}

	evs, err := e.Store.ListAudit(context.Background(), store.AuditQuery{Limit: store.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, ev := range evs {
		counts[ev.Type]++
	}
	for _, typ := range []string{store.AuditSignIn, store.AuditConsentGiven, store.AuditCodeReplayed, store.AuditRefreshReused} {
		if counts[typ] == 0 {
			t.Errorf("no %s event in the trail: %v", typ, counts)
		}
	}
	if counts[store.AuditTokenRevoked] != 2 {
		t.Errorf("%d token_revoked events, want 2: %v", counts[store.AuditTokenRevoked], counts)
	}
	if got := spy.seen(); !slices.Equal(got, []string{store.AuditSignInFailed}) {
		t.Fatalf("events appended on their own through the recorder: %v, want only %s", got, store.AuditSignInFailed)
	}
	if _, err := audit.Verify(context.Background(), e.Store, nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
