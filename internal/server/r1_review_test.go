package server_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
)

// TestGrantSecurityEventsCarryRequestID: a code replay and a refresh token
// reuse are logged with the request ID the response carries (issue item
// 12), so that a report can be matched to the log.
func TestGrantSecurityEventsCarryRequestID(t *testing.T) {
	logs := &logBuffer{}
	e := newSignInEnv(t, envOptions{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	ce := &codeEnv{testEnv: e, redirect: redirect, b: e.newBrowser(t), secrets: map[string]string{}}
	ce.secrets["webapp"] = e.addConfidential(t, "webapp", webApp(redirect))
	ce.web = e.newRP(t, "webapp", ce.secrets["webapp"], redirect, webScopes...)
	ce.web.signIn(t, e, ce.b, user{Username: "alice", Password: alicePassword})

	code, r := ce.code(t, ce.web)
	form := func() url.Values {
		return url.Values{"code": {code}, "redirect_uri": {redirect}, "code_verifier": {r.Verifier}}
	}
	first := decodeTokens(t, ce.redeem(t, "webapp", form()))
	replay := ce.redeem(t, "webapp", form())
	wantOAuthError(t, replay, http.StatusBadRequest, "invalid_grant")
	replays := logs.entries(t, "authorization code replayed")
	if len(replays) != 1 {
		t.Fatalf("%d code replays logged, want 1", len(replays))
	}
	if id := replay.Header.Get(server.RequestIDHeader); id == "" || replays[0]["request_id"] != id {
		t.Errorf("code replay logged with request_id %v, response X-Request-Id %q", replays[0]["request_id"], id)
	}
	if replays[0]["source"] == "" || replays[0]["client_id"] != "webapp" || replays[0]["user_id"] != "u-alice" {
		t.Errorf("code replay logged as %v", replays[0])
	}

	code, r = ce.code(t, ce.web)
	tok := decodeTokens(t, ce.redeem(t, "webapp", form()))
	if tok.RefreshToken == "" || first.AccessToken == "" {
		t.Fatalf("no refresh token issued: %+v", tok)
	}
	decodeTokens(t, ce.refreshAs(t, "webapp", tok.RefreshToken, nil))
	reuse := ce.refreshAs(t, "webapp", tok.RefreshToken, nil)
	wantOAuthError(t, reuse, http.StatusBadRequest, "invalid_grant")
	reuses := logs.entries(t, "refresh token reused")
	if len(reuses) != 1 {
		t.Fatalf("%d refresh reuses logged, want 1", len(reuses))
	}
	if id := reuse.Header.Get(server.RequestIDHeader); id == "" || reuses[0]["request_id"] != id {
		t.Errorf("refresh reuse logged with request_id %v, response X-Request-Id %q", reuses[0]["request_id"], id)
	}
}

// failingConsents is a store whose UpdateConsent fails while fail is set.
type failingConsents struct {
	store.Store
	fail atomic.Bool
}

func (s *failingConsents) UpdateConsent(ctx context.Context, userID, clientID string, fn func(store.Consent, bool) (store.Consent, error)) (store.Consent, error) {
	if s.fail.Load() {
		return store.Consent{}, errors.New("database is locked")
	}
	return s.Store.UpdateConsent(ctx, userID, clientID, fn)
}

// TestConsentMergeStoreFailure: when the consent cannot be merged in the
// store, the consent form fails with a server error, issues no code, and
// the consent given before is kept whole.
func TestConsentMergeStoreFailure(t *testing.T) {
	st := &failingConsents{}
	e := newWrappedSignInEnv(t, func(base store.Store) store.Store { st.Store = base; return st })
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, scopeOpenID, scopeProfile)
	b := e.newBrowser(t)
	if seen, _ := b.run(t, rp.authorize().URL, user{Username: "alice", Password: alicePassword}); !slices.Contains(seen, pageConsent) {
		t.Fatalf("first sign-in showed %v, want a consent page", seen)
	}

	st.fail.Store(true)
	p := b.get(t, rp.authorize(oauth2.SetAuthURLParam("scope", scopeOpenID+" "+scopeEmail)).URL)
	p = b.consent(t, p, "approve")
	st.fail.Store(false)
	if p.Status != http.StatusInternalServerError {
		t.Errorf("consent that the store could not merge: got %s, want 500", p)
	}
	c, err := st.Store.GetConsent(context.Background(), "u-alice", "webapp")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.Scopes, scopeProfile) {
		t.Errorf("stored consent %v lost the scope consented to before", c.Scopes)
	}
}

// newWrappedSignInEnv is newSignInEnv with the server's store wrapped, for
// tests that make the store fail; e.Store stays the unwrapped store.
func newWrappedSignInEnv(t *testing.T, wrap func(store.Store) store.Store) *testEnv {
	t.Helper()
	base := newEnv(t, envOptions{})
	base.HTTP.Close()
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	srv, err := server.New(server.Options{
		Issuer: issuer, Store: wrap(base.Store), Ring: base.Ring, Hasher: base.Hasher, Now: base.Clock.Now,
		SignIn: &server.SignInOptions{
			CSRFKey: randomBytes(t, 32), SealKey: randomBytes(t, 32),
			Passwords: testPasswordParams, Sleep: base.Clock.Sleep,
		},
	})
	if err != nil {
		ts.Close()
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	e := *base
	e.Issuer, e.Server, e.HTTP, e.Client = issuer, srv, ts, ts.Client()
	e.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &e
}

// failingSessionEnd is a store whose DeleteSession fails while fail is set.
type failingSessionEnd struct {
	store.Store
	fail atomic.Bool
}

func (s *failingSessionEnd) DeleteSession(ctx context.Context, hash []byte) (store.Session, error) {
	if s.fail.Load() {
		return store.Session{}, errors.New("database is locked")
	}
	return s.Store.DeleteSession(ctx, hash)
}

// TestLogoutStoreFailure: a sign-out whose session cannot be deleted is a
// server error, not a page or redirect saying the user is signed out while
// the session lives on.
func TestLogoutStoreFailure(t *testing.T) {
	st := &failingSessionEnd{}
	e := newWrappedSignInEnv(t, func(base store.Store) store.Store { st.Store = base; return st })
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	afterLogout := cb.URL + "/signed-out"
	secret := e.addConfidential(t, "webapp", webApp(redirect), withPostLogout(afterLogout))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)
	alice := user{Username: "alice", Password: alicePassword}

	t.Run("id_token_hint of the current session", func(t *testing.T) {
		b := e.newBrowser(t)
		_, tok, _ := rp.signIn(t, e, b, alice)
		hint, _ := tok.Extra("id_token").(string)
		st.fail.Store(true)
		defer st.fail.Store(false)
		p := b.get(t, server.PathEndSession+"?"+url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {afterLogout}}.Encode())
		if p.Status != http.StatusInternalServerError {
			t.Errorf("sign-out with a failing store: got %s, want 500", p)
		}
	})
	t.Run("confirmed", func(t *testing.T) {
		b := e.newBrowser(t)
		rp.signIn(t, e, b, alice)
		p := b.get(t, server.PathEndSession+"?"+url.Values{"client_id": {"webapp"}, "post_logout_redirect_uri": {afterLogout}}.Encode())
		p.want(t, pageLogout)
		st.fail.Store(true)
		defer st.fail.Store(false)
		p = b.submit(t, p, url.Values{"decision": {"logout"}})
		if p.Status != http.StatusInternalServerError {
			t.Errorf("confirmed sign-out with a failing store: got %s, want 500", p)
		}
	})
}

// failingConsentList is a store whose ListUserConsents fails.
type failingConsentList struct{ store.Store }

func (failingConsentList) ListUserConsents(context.Context, string) ([]store.Consent, error) {
	return nil, errors.New("database is locked")
}

// TestBackchannelTargetsStoreFailure: when the clients to notify of a
// sign-out cannot be listed, the failure is logged, not dropped.
func TestBackchannelTargetsStoreFailure(t *testing.T) {
	logs := &logBuffer{}
	e := newEnv(t, envOptions{})
	e.HTTP.Close()
	srv, err := server.New(server.Options{
		Issuer: e.Issuer, Store: failingConsentList{e.Store}, Ring: e.Ring, Hasher: e.Hasher, Now: e.Clock.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		SignIn: &server.SignInOptions{CSRFKey: randomBytes(t, 32), SealKey: randomBytes(t, 32), Passwords: testPasswordParams},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.NotifyLogout(context.Background(), "u-alice", []store.Session{{ID: "sid-1", UserID: "u-alice"}})
	if got := logs.entries(t, "back-channel logout: cannot list the user's consents"); len(got) != 1 || got[0]["user_id"] != "u-alice" {
		t.Errorf("failure logged as %v", got)
	}
}

// TestLockoutLoggedWithUserID: a sign-in refused by the throttle (item
// 12's lockout event) is logged with the account's user id when the
// account exists, never with the username as typed.
func TestLockoutLoggedWithUserID(t *testing.T) {
	logs := &logBuffer{}
	e := newSignInEnv(t, envOptions{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)
	b := e.newBrowser(t)
	p := b.get(t, rp.authorize().URL)
	for i := 0; p.Status != http.StatusTooManyRequests; i++ {
		if i == 20 {
			t.Fatalf("no refusal after %d failures: %s", i, p)
		}
		p = b.login(t, p, "Alice", "secret-guess")
	}
	refused := logs.entries(t, "sign-in refused")
	if len(refused) != 1 || refused[0]["user_id"] != "u-alice" {
		t.Fatalf("refusal logged as %v", refused)
	}
	if strings.Contains(logs.String(), "Alice") {
		t.Error("the username as typed was logged")
	}
}
