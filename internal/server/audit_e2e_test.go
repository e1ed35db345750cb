package server_test

import (
	"context"
	"net/http"
	"net/url"
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

// appenderRef is a grant.TokenRecorder whose appender is made once the
// test server (and its store) exists.
type appenderRef struct{ app *audit.Appender }

func (r *appenderRef) Append(ctx context.Context, ev ...store.AuditEvent) error {
	return r.app.Append(ctx, ev...)
}

func (r *appenderRef) AppendWithTokens(ctx context.Context, tokens []store.TokenRecord, ev ...store.AuditEvent) error {
	return r.app.AppendWithTokens(ctx, tokens, ev...)
}

// start runs an appender on st until the test ends.
func (r *appenderRef) start(t testing.TB, st audit.BatchStore) {
	r.app = audit.NewAppender(st, audit.AppenderOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.app.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}
