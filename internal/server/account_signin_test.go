package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
)

var usernameValueRe = regexp.MustCompile(`<input id="username" name="username"[^>]* value="([^"]*)"`)

// prefilled is the value of the login page's username field.
func prefilled(p *page) string {
	if m := usernameValueRe.FindStringSubmatch(p.Body); m != nil {
		return m[1]
	}
	return ""
}

// TestWrongPasswordKeepsUsername: after a wrong password the login page
// shows the username typed, so that only the password is typed again.
func TestWrongPasswordKeepsUsername(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)

	b := e.newBrowser(t)
	p := b.get(t, rp.authorize().URL)
	if got := prefilled(p); got != "" {
		t.Fatalf("fresh login page prefilled with %q", got)
	}
	p = b.login(t, p, "Alice", "wrong")
	if p.Kind() != pageLogin || p.Status != http.StatusUnauthorized {
		t.Fatalf("got %s", p)
	}
	if got := prefilled(p); got != "Alice" {
		t.Fatalf("username field %q after a wrong password, want %q", got, "Alice")
	}
	if strings.Contains(p.Body, `value="wrong"`) {
		t.Fatal("the password was put back in the page")
	}
	// Markup in the username is escaped, not rendered.
	p = b.login(t, p, `"><script>x</script>`, "wrong")
	if strings.Contains(p.Body, "<script>x") || prefilled(p) != "&#34;&gt;&lt;script&gt;x&lt;/script&gt;" {
		t.Fatalf("username not escaped: %q", prefilled(p))
	}
	// The page still works: the right password signs in.
	p = b.login(t, p, "alice", alicePassword)
	p.want(t, pageConsent)
}

// TestAccountOffersSignIn: /account without a session links to a sign-in
// that comes back to /account.
func TestAccountOffersSignIn(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword, func(u *store.User) { u.Name = "Alice Liddell" })
	b := e.newBrowser(t)

	p := b.get(t, server.PathAccount)
	if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, `href="`+server.PathAccountLogin+`"`) {
		t.Fatalf("account page without a session: %s", p)
	}
	p = b.get(t, server.PathAccountLogin)
	p.want(t, pageLogin)
	if strings.Contains(p.Body, "to continue to") {
		t.Error("the account sign-in names an application")
	}
	p = b.login(t, p, "alice", "wrong")
	if p.Kind() != pageLogin || prefilled(p) != "alice" {
		t.Fatalf("wrong password: %s (username %q)", p, prefilled(p))
	}
	login := p
	p = b.login(t, p, "alice", alicePassword)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Alice Liddell") || !strings.Contains(p.Body, "Your account") {
		t.Fatalf("after signing in: %s\n%s", p, p.Body)
	}
	// Signed in: the sign-in link goes straight to the account page.
	p = b.get(t, server.PathAccountLogin)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "Alice Liddell") {
		t.Fatalf("account login while signed in: %s", p)
	}
	// The account sign-in's sealed request is no client's: the consent and
	// account-choice forms refuse it.
	for _, path := range []string{server.PathConsent, server.PathSelectAccount} {
		form := url.Values{}
		for k, v := range login.Hidden {
			form[k] = v
		}
		form.Set("decision", "approve")
		if p := b.postForm(t, path, form); p.Status != http.StatusBadRequest || p.Location != nil {
			t.Errorf("%s with the account sign-in's request: %s", path, p)
		}
	}
}
