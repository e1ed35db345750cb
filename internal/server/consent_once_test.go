package server_test

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestConsentFormAnsweredOnce: the same consent form posted again (same
// sealed request and CSRF token) is refused with a page, never a second
// code, whether it was approved or denied first.
func TestConsentFormAnsweredOnce(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword)
	cb := newCallbackServer(t)
	redirect := cb.URL + "/callback"
	secret := e.addConfidential(t, "webapp", webApp(redirect))
	rp := e.newRP(t, "webapp", secret, redirect, webScopes...)

	for _, first := range []string{"approve", "deny"} {
		t.Run(first, func(t *testing.T) {
			b := e.newBrowser(t)
			p := b.login(t, b.get(t, rp.authorize(oauth2.SetAuthURLParam("prompt", "consent")).URL), "alice", alicePassword)
			form := p
			form.want(t, pageConsent)
			p = b.consent(t, form, first)
			if p.Kind() != pageRedirect || !strings.HasPrefix(p.Location.String(), redirect) {
				t.Fatalf("first answer: %s", p)
			}
			for _, again := range []string{first, "approve"} {
				p = b.consent(t, form, again)
				if p.Status != http.StatusConflict || p.Location != nil || !strings.Contains(p.Body, "Already answered") {
					t.Fatalf("the same form again (%s): %s", again, p)
				}
			}
			// A fresh request gets its own form, which works.
			p = b.get(t, rp.authorize(oauth2.SetAuthURLParam("prompt", "consent")).URL)
			p = b.consent(t, p, "approve")
			if q := p.Location.Query(); p.Kind() != pageRedirect || q.Get("code") == "" {
				t.Fatalf("a new consent form: %s", p)
			}
		})
	}
}
