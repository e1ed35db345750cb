package server_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/writ-dev/writ/internal/authn"
)

// dropSession removes the browser's session cookie, keeping the others (the
// device cookie among them): the user has to sign in again.
func (b *browser) dropSession(t testing.TB) {
	t.Helper()
	u, err := url.Parse(b.e.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	b.jar.SetCookies(u, []*http.Cookie{{Name: authn.DefaultSessionCookie, Value: "x", Path: "/", MaxAge: -1}})
	if b.cookie(authn.DefaultSessionCookie) != "" {
		t.Fatal("session cookie still there")
	}
}

// TestLockoutSparesTheOwner: failed passwords from elsewhere delay and
// then refuse strangers on an account, but a browser that signed in to it
// before (its device cookie) signs in at once.
func TestLockoutSparesTheOwner(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)

	owner := e.newBrowser(t)
	if _, p := owner.run(t, rp.authorize().URL, user{Username: "alice", Password: alicePassword}); p.Kind() != pageRedirect {
		t.Fatalf("first sign-in: %s", p)
	}
	if owner.cookie(authn.DefaultDeviceCookie) == "" {
		t.Fatal("no device cookie after a sign-in")
	}
	owner.dropSession(t)

	// An attacker guesses until refused: more than the server waits out.
	attacker := e.newBrowser(t)
	p := attacker.get(t, rp.authorize().URL)
	refused := false
	for i := range 20 {
		p = attacker.login(t, p, "alice", "guess "+strconv.Itoa(i))
		if p.Status == http.StatusTooManyRequests {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("20 wrong passwords from one browser were never refused")
	}
	if attacker.cookie(authn.DefaultDeviceCookie) != "" {
		t.Fatal("failed sign-ins set a device cookie")
	}
	// A browser that never signed in to the account is refused too, even
	// with the right password...
	stranger := e.newBrowser(t)
	p = stranger.login(t, stranger.get(t, rp.authorize().URL), "alice", alicePassword)
	if p.Status != http.StatusTooManyRequests {
		t.Fatalf("stranger with the right password: got %s, want 429", p)
	}
	// ...but the owner's browser signs in.
	before := owner.cookie(authn.DefaultDeviceCookie)
	p = owner.get(t, rp.authorize().URL)
	p = owner.login(t, p, "alice", alicePassword)
	if p.Kind() != pageRedirect {
		t.Fatalf("owner: got %s, want the redirect with a code", p)
	}
	if after := owner.cookie(authn.DefaultDeviceCookie); after == "" || after == before {
		t.Error("the device cookie was not renewed at sign-in")
	}
	// A device cookie of another account does not help.
	owner.dropSession(t)
	e.addUser(t, "u-bob", "bob", bobPassword)
	for i := range 20 {
		attacker.login(t, attacker.get(t, rp.authorize().URL), "bob", "guess "+strconv.Itoa(i))
	}
	p = owner.login(t, owner.get(t, rp.authorize().URL), "bob", bobPassword)
	if p.Status != http.StatusTooManyRequests {
		t.Fatalf("alice's device cookie let bob's account through: %s", p)
	}
}
