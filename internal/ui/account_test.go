package ui

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// accountData is an account page with two applications, as the server
// renders it.
func accountData() AccountData {
	return AccountData{
		Page:        Page{CSRFToken: "tok-123", FormAction: "/account/revoke"},
		DisplayName: "Alice Liddell",
		Username:    "alice",
		Email:       "alice@example.com",
		Apps: []AppAccess{
			{ClientID: "app-1", ClientName: "Example App", Scopes: Scopes("profile", "email", "profile", "", "orders:read"),
				GrantedAt: time.Date(2031, 3, 4, 23, 6, 7, 0, time.FixedZone("X", -2*3600))},
			{ClientID: "app-2"},
		},
		SignOutURL: "/oauth2/logout",
	}
}

func renderAccount(t *testing.T, u *UI, d AccountData) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := u.Account(w, httptest.NewRequest(http.MethodGet, "/account", nil), d); err != nil {
		t.Fatalf("Account: %v", err)
	}
	return w
}

func TestAccountPage(t *testing.T) {
	u := newUI(t, Options{ProductName: "Acme ID"})
	w := renderAccount(t, u, accountData())
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{
		"<title>Your account · Acme ID</title>",
		"<h1>Your account</h1>",
		"<dt>Name</dt><dd>Alice Liddell</dd>",
		"<dt>Username</dt><dd>alice</dd>",
		"<dt>Email</dt><dd>alice@example.com</dd>",
		`<h2 id="apps-heading">Applications with access</h2>`,
		`<ul class="apps" aria-labelledby="apps-heading">`,
		`<h3 class="app-name">Example App</h3>`,
		// The date is shown in UTC, machine-readable too.
		`Allowed on <time datetime="2031-03-05T01:06:07Z">5 March 2031</time>`,
		`<span class="scope-description">See your basic profile: name, username, picture and language</span> <code class="scope-name">profile</code>`,
		`<span class="scope-description">See your email address</span>`,
		`<span class="scope-description">Access: orders:read</span>`,
		// An application without a name is shown by its ID; without
		// scopes, it only signs the user in.
		`<h3 class="app-name">app-2</h3>`,
		"It can only confirm who you are.",
		`<a href="/oauth2/logout">Sign out</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in\n%s", want, body)
		}
	}
	if n := strings.Count(body, `<code class="scope-name">profile</code>`); n != 1 {
		t.Errorf("profile listed %d times, want 1 (duplicates dropped)", n)
	}
	if strings.Contains(body, `role="status"`) || strings.Contains(body, "Access removed") {
		t.Errorf("confirmation shown without Removed")
	}
	if strings.Index(body, "Example App") > strings.Index(body, "app-2") {
		t.Errorf("applications not in the given order")
	}

	// One POST form per application, each with its own client_id, the
	// CSRF token, and a button whose accessible name names the
	// application and contains its visible text (WCAG 2.5.3).
	forms := formRE.FindAllStringSubmatch(body, -1)
	if len(forms) != 2 {
		t.Fatalf("%d forms, want 2", len(forms))
	}
	for i, app := range []struct{ id, name string }{{"app-1", "Example App"}, {"app-2", "app-2"}} {
		f := forms[i][0]
		for _, want := range []string{
			`<form method="post" action="/account/revoke">`,
			`<input type="hidden" name="csrf_token" value="tok-123">`,
			`<input type="hidden" name="client_id" value="` + app.id + `">`,
			`<button type="submit" class="button danger" aria-label="Remove access for ` + app.name + `">Remove access</button>`,
		} {
			if !strings.Contains(f, want) {
				t.Errorf("form %d: missing %q in\n%s", i, want, f)
			}
		}
		if n := strings.Count(f, `name="client_id"`); n != 1 {
			t.Errorf("form %d: %d client_id fields", i, n)
		}
	}
}

func TestAccountPageRemovedAndEmpty(t *testing.T) {
	u := newUI(t, Options{})
	d := AccountData{Page: Page{CSRFToken: "t"}, Username: "alice", Removed: true}
	body := renderAccount(t, u, d).Body.String()
	for _, want := range []string{
		`<div class="notice" role="status">`,
		"Access removed.",
		"No application has access to your account.",
		"<dt>Username</dt><dd>alice</dd>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in\n%s", want, body)
		}
	}
	for _, unwanted := range []string{"<form", "<dt>Name</dt>", "<dt>Email</dt>", "Sign out", "<time"} {
		if strings.Contains(body, unwanted) {
			t.Errorf("unexpected %q in\n%s", unwanted, body)
		}
	}
	// A zero grant date shows no date.
	d.Apps = []AppAccess{{ClientID: "c", ClientName: "C", Scopes: Scopes("email")}}
	body = renderAccount(t, u, d).Body.String()
	if strings.Contains(body, "<time") || strings.Contains(body, "Allowed on") {
		t.Errorf("date shown for a zero GrantedAt")
	}
}

func TestAccountPageEscapes(t *testing.T) {
	u := newUI(t, Options{})
	evil := `"><script>alert(1)</script>`
	d := AccountData{
		Page:        Page{CSRFToken: "t", FormAction: "/account/revoke"},
		DisplayName: evil + "name",
		Username:    evil + "user",
		Email:       evil + "mail",
		Apps: []AppAccess{{ClientID: evil + "id", ClientName: evil + "app",
			Scopes: []Scope{{Name: evil + "scope", Description: evil + "desc"}}}},
		SignOutURL: "javascript:alert(2)",
	}
	body := renderAccount(t, u, d).Body.String()
	if strings.Contains(strings.ToLower(body), "<script") {
		t.Fatalf("unescaped markup:\n%s", body)
	}
	if strings.Contains(body, "javascript:") {
		t.Errorf("javascript: URL rendered as a link")
	}
	esc := "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
	for _, want := range []string{
		esc + "name", esc + "user", esc + "mail", esc + "desc", esc + "scope",
		`<h3 class="app-name">` + esc + `app</h3>`,
		`aria-label="Remove access for ` + esc + `app"`,
		`name="client_id" value="` + esc + `id"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in\n%s", want, body)
		}
	}
}

func TestAccountPageHeadersAndStructure(t *testing.T) {
	u := newUI(t, Options{})
	for _, d := range []AccountData{accountData(), {Page: Page{CSRFToken: "t"}}} {
		w := renderAccount(t, u, d)
		h := w.Header()
		for k, v := range map[string]string{
			"Content-Type":            "text/html; charset=utf-8",
			"Cache-Control":           "no-store",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": CSP(),
		} {
			if got := h.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		body := w.Body.Bytes()
		if n := len(h1RE.FindAllIndex(body, -1)); n != 1 {
			t.Errorf("%d <h1>, want 1", n)
		}
		// Headings do not skip a level.
		if regexp.MustCompile(`<h3`).Match(body) && !regexp.MustCompile(`<h2`).Match(body) {
			t.Errorf("h3 without h2")
		}
		// Every id is unique (aria-labelledby targets).
		seen := map[string]bool{}
		for _, m := range idRE.FindAllSubmatch(body, -1) {
			if seen[string(m[1])] {
				t.Errorf("duplicate id %q", m[1])
			}
			seen[string(m[1])] = true
		}
		for _, m := range regexp.MustCompile(`aria-labelledby="([^"]*)"`).FindAllSubmatch(body, -1) {
			if !seen[string(m[1])] {
				t.Errorf("aria-labelledby names missing id %q", m[1])
			}
		}
	}
}

func TestAccountPageNeedsCSRFToken(t *testing.T) {
	u := newUI(t, Options{})
	w := httptest.NewRecorder()
	d := accountData()
	d.CSRFToken = ""
	err := u.Account(w, httptest.NewRequest(http.MethodGet, "/account", nil), d)
	if !errors.Is(err, ErrMissingCSRFToken) {
		t.Errorf("err = %v, want ErrMissingCSRFToken", err)
	}
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "Example App") {
		t.Errorf("wrote %d %q", w.Code, w.Body.String())
	}
}

func TestAccountPageStatus(t *testing.T) {
	u := newUI(t, Options{})
	d := accountData()
	d.Status = http.StatusNotFound
	if w := renderAccount(t, u, d); w.Code != http.StatusNotFound {
		t.Errorf("status %d, want 404", w.Code)
	}
}

// TestAccountPageAgents: the agents the user owns and the delegations
// acting for them, each with its own revoke form, and the confirmation
// after a revocation; without either, neither section.
func TestAccountPageAgents(t *testing.T) {
	u := newUI(t, Options{})
	d := accountData()
	d.AgentAction, d.DelegationAction = "/account/agents/revoke", "/account/delegations/revoke"
	d.Agents = []AgentAccess{{ClientID: "trip-agent", ClientName: "Trip planner", MaxTokenTTL: 10 * time.Minute, RequireDPoP: true}}
	d.Delegations = []DelegationAccess{{ID: "d-1", ClientID: "svc", ClientName: "Booking", Actors: []string{"trip-agent", "svc"},
		Scopes: []string{"trips:read"}, Audience: []string{"https://trips.example"}, ExpiresAt: time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)}}
	d.Revoked = true
	body := renderAccount(t, u, d).Body.String()
	for _, want := range []string{
		`<h2 id="agents-heading">Your agents</h2>`, "Trip planner", "Its tokens live at most 10m0s.", "(DPoP)",
		`<form method="post" action="/account/agents/revoke">`, `<input type="hidden" name="client_id" value="trip-agent">`,
		`aria-label="Revoke every token of Trip planner"`,
		`<h2 id="delegations-heading">Acting for you</h2>`, "Booking", "trip-agent ← svc", "trips:read", "https://trips.example",
		`<time datetime="2030-01-02T03:04:00Z">2 January 2030, 03:04 UTC</time>`,
		`<form method="post" action="/account/delegations/revoke">`, `<input type="hidden" name="delegation_id" value="d-1">`,
		"Revoked. Every token it held stopped working.",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(body, `name="csrf_token"`); n != len(d.Apps)+2 {
		t.Errorf("%d csrf_token fields, want one per form (%d)", n, len(d.Apps)+2)
	}
	body = renderAccount(t, u, accountData()).Body.String()
	for _, absent := range []string{"Your agents", "Acting for you", "Revoked."} {
		if strings.Contains(body, absent) {
			t.Errorf("page without agents shows %q", absent)
		}
	}
}
