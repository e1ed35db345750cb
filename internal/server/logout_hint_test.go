package server_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
)

// TestEndSessionByHintWithoutCookie: a call to the end-session endpoint
// with a valid id_token_hint and no browser cookie (oauth2-proxy's
// --backend-logout-url) ends the session the hint's sid names, and the
// clients hear of it on the back channel; only for the hint's own user.
func TestEndSessionByHintWithoutCookie(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	e.addUser(t, "u-bob", "bob", bobPassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	afterLogout := cb.URL + "/signed-out"
	logouts := newLogoutReceiver(t)
	secret := e.addConfidential(t, "webapp", webApp(redirect), withPostLogout(afterLogout), withBackchannel(logouts.URL))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)
	ctx := context.Background()

	signIn := func(username, password string) (hint, sid string) {
		t.Helper()
		_, tok, _ := rp.signIn(t, e, e.newBrowser(t), user{Username: username, Password: password})
		_, claims := rp.verifyIDToken(t, tok, "")
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" || claims.Sid == "" {
			t.Fatal("no ID token with a sid")
		}
		return raw, claims.Sid
	}
	// backend calls the endpoint as a server would: no cookie jar.
	backend := func(q url.Values) *http.Response {
		t.Helper()
		resp, err := e.Client.Get(e.url(server.PathEndSession) + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	stored := func(sid string) bool {
		t.Helper()
		_, err := e.Store.GetSessionByID(ctx, sid)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	aliceHint, aliceSid := signIn("alice", alicePassword)
	_, bobSid := signIn("bob", bobPassword)

	// The hint alone ends Alice's session and notifies the client.
	resp := backend(url.Values{"id_token_hint": {aliceHint}, "post_logout_redirect_uri": {afterLogout}, "state": {"s"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("backend logout: status %d, want 303", resp.StatusCode)
	}
	if stored(aliceSid) {
		t.Fatal("the hinted session was not ended")
	}
	if !stored(bobSid) {
		t.Fatal("another user's session was ended")
	}
	lt, err := rp.Verifier.VerifyLogout(rp.Ctx, logouts.next(t))
	if err != nil || lt.SessionID != aliceSid || lt.Subject != "u-alice" {
		t.Fatalf("logout token sid %q sub %q (%v), want Alice's", lt.SessionID, lt.Subject, err)
	}
	// Again: nothing left to end, still a normal answer.
	if resp := backend(url.Values{"id_token_hint": {aliceHint}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("second backend logout: status %d, want the signed-out page", resp.StatusCode)
	}

	// A sid that is not the hint's user's: Alice's sid now names a session
	// of Bob's (as if reused); the hint does not end it.
	aliceHint2, aliceSid2 := signIn("alice", alicePassword)
	old, err := e.Store.GetSessionByID(ctx, aliceSid2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.DeleteSession(ctx, old.Hash); err != nil {
		t.Fatal(err)
	}
	foreign := old
	foreign.UserID = "u-bob"
	foreign.Hash = make([]byte, 32)
	rand.Read(foreign.Hash)
	if err := e.Store.CreateSession(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	if resp := backend(url.Values{"id_token_hint": {aliceHint2}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("mismatched sid: status %d", resp.StatusCode)
	}
	if !stored(aliceSid2) {
		t.Fatal("a hint ended another user's session")
	}

	// An expired hint still names the session (RP-Initiated Logout §2).
	aliceHint3, aliceSid3 := signIn("alice", alicePassword)
	e.Clock.Advance(3 * time.Hour) // past the ID token's lifetime, within the session's
	if resp := backend(url.Values{"id_token_hint": {aliceHint3}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("expired hint: status %d", resp.StatusCode)
	}
	if stored(aliceSid3) {
		t.Fatal("an expired hint did not end its session")
	}
	// The next notification is this one: the mismatched hint sent none.
	if lt, err := rp.Verifier.VerifyLogout(rp.Ctx, logouts.next(t)); err != nil || lt.SessionID != aliceSid3 {
		t.Fatalf("next logout token sid %q (%v), want %q", lt.SessionID, err, aliceSid3)
	}

	// A hint that does not verify ends nothing.
	_, bobSid2 := signIn("bob", bobPassword)
	forged := aliceHint3[:len(aliceHint3)-4] + "AAAA"
	if resp := backend(url.Values{"id_token_hint": {forged}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("forged hint: status %d, want 400", resp.StatusCode)
	}
	if !stored(bobSid) || !stored(bobSid2) {
		t.Fatal("a forged hint ended a session")
	}
}
