package ui

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func newUI(t *testing.T, opts Options) *UI {
	t.Helper()
	u, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return u
}

// render calls the method of page with data and returns the response.
func render(t *testing.T, u *UI, page string, data any, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	if r == nil {
		r = httptest.NewRequest(http.MethodGet, "/", nil)
	}
	w := httptest.NewRecorder()
	var err error
	switch d := data.(type) {
	case LoginData:
		err = u.Login(w, r, d)
	case ConsentData:
		err = u.Consent(w, r, d)
	case LogoutData:
		err = u.Logout(w, r, d)
	case LoggedOutData:
		err = u.LoggedOut(w, r, d)
	case SelectAccountData:
		err = u.SelectAccount(w, r, d)
	case ErrorData:
		err = u.Error(w, r, http.StatusBadRequest, d)
	case AccountData:
		err = u.Account(w, r, d)
	case DeviceData:
		err = u.Device(w, r, d)
	case SAMLPostData:
		err = u.SAMLPost(w, r, d)
	default:
		t.Fatalf("no page for %T", data)
	}
	if err != nil {
		t.Fatalf("%s: %v", page, err)
	}
	return w
}

// fullPage sets every optional Page field.
func fullPage() Page {
	return Page{
		CSRFToken:      "tok-123",
		FormAction:     "/authorize/continue",
		RequestID:      "req-1",
		Hidden:         []Field{{Name: "extra", Value: "x"}},
		ClientName:     "Example App",
		ClientURI:      "https://app.example/",
		RedirectTarget: "https://app.example/cb",
		Error:          "Wrong username or password.",
	}
}

// pages returns one data value per page: with every field set, and bare.
func pages() map[string][2]any {
	bare := Page{CSRFToken: "tok-123"}
	return map[string][2]any{
		pageLogin: {LoginData{Page: fullPage(), LoginHint: "hint", Username: "alice"}, LoginData{Page: bare}},
		pageConsent: {ConsentData{Page: fullPage(), Scopes: Scopes("openid", "email", "custom"),
			DisplayName: "Alice Liddell", Username: "alice", SwitchAccountURL: "/switch"}, ConsentData{Page: bare}},
		pageLogout: {LogoutData{Page: fullPage(), Username: "alice", PostLogoutRedirectURI: "https://app.example/bye"},
			LogoutData{Page: bare}},
		pageLoggedOut: {LoggedOutData{Page: fullPage(), ReturnURI: "https://app.example/"}, LoggedOutData{}},
		pageSelectAccount: {SelectAccountData{Page: fullPage(), Accounts: []Account{
			{ID: "u1", DisplayName: "Alice", Username: "alice"}, {ID: "u2", Username: "bob"}}},
			SelectAccountData{Page: bare}},
		pageError: {ErrorData{Title: "Unknown client", Description: "No such application.", Code: "invalid_client"}, ErrorData{}},
		pageAccount: {AccountData{Page: fullPage(), DisplayName: "Alice Liddell", Username: "alice", Email: "alice@example.com",
			Apps: []AppAccess{{ClientID: "app-1", ClientName: "Example App", Scopes: Scopes("profile", "email"),
				GrantedAt: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)}, {ClientID: "app-2"}},
			Removed: true, SignOutURL: "/oauth2/logout"}, AccountData{Page: bare}},
		pageDevice: {DeviceData{Page: fullPage(), UserCode: "BCDF-GHJK", DisplayName: "Alice Liddell", Username: "alice"},
			DeviceData{Page: bare}},
		pageSAMLPost: {SAMLPostData{Page: fullPage(), Action: "https://sp.example/acs", MessageName: "SAMLResponse",
			Message: "PHNhbWxwOlJlc3BvbnNlLz4=", RelayState: "/after?x=1"}, SAMLPostData{Action: "https://sp.example/acs", MessageName: "SAMLRequest"}},
	}
}

func formPages() []string {
	return []string{pageLogin, pageConsent, pageLogout, pageSelectAccount}
}

func TestEveryPageHasAData(t *testing.T) {
	ps := pages()
	for _, name := range pageNames() {
		if _, ok := ps[name]; !ok {
			t.Errorf("no test data for page %s", name)
		}
	}
}

// poison sets every string reachable from v (fields, and one element of
// every slice) to a script tag naming the field.
func poison(v reflect.Value, path string, fields map[string]bool) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(`"'><script>` + path + `</script>`)
		fields[path] = true
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			p := f.Name
			switch {
			case f.Anonymous:
				p = path
			case path != "":
				p = path + "." + f.Name
			}
			poison(v.Field(i), p, fields)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		poison(s.Index(0), path+"[0]", fields)
		v.Set(s)
	}
}

func TestPagesEscapeEveryStringField(t *testing.T) {
	u := newUI(t, Options{ProductName: `<script>product</script>`})
	// Fields that are not shown as text: URLs go into attributes (escaped
	// differently), the locale is matched, the redirect target only feeds
	// the CSP, and a login hint loses to Username.
	notText := map[string]bool{
		"Locale": true, "RedirectTarget": true, "ClientURI": true, "FormAction": true,
		"SwitchAccountURL": true, "ReturnURI": true, "LoginHint": true, "SignOutURL": true,
		"SignInURL": true, "AgentAction": true, "DelegationAction": true, "Action": true,
	}
	// Fields a page does not show at all.
	hidden := map[string]map[string]bool{
		pageLoggedOut: {"CSRFToken": true, "RequestID": true, "Hidden[0].Name": true, "Hidden[0].Value": true}, // no form
		pageAccount:   {"ClientName": true, "Delegations[0].ClientID": true},                                   // names no application of its own; a delegation's client by name
		pageDevice:    {"ClientName": true},                                                                    // the consent page names it
		pageSAMLPost:  {"CSRFToken": true, "RequestID": true, "FormAction": true, "RedirectTarget": true},      // a form to the SP: its own fields only
	}
	for name, data := range pages() {
		t.Run(name, func(t *testing.T) {
			v := reflect.New(reflect.TypeOf(data[0])).Elem()
			fields := map[string]bool{}
			poison(v, "", fields)
			w := render(t, u, name, v.Interface(), nil)
			body := w.Body.String()
			if w.Code >= 500 {
				t.Fatalf("status %d: %s", w.Code, body)
			}
			// The SAML page's own auto-submit script (allowed by its hash)
			// is the only script there may be.
			body = strings.Replace(body, "<script>"+samlAutoSubmit+"</script>", "", 1)
			if strings.Contains(strings.ToLower(body), "<script") {
				t.Errorf("unescaped <script in body:\n%s", body)
			}
			if !strings.Contains(body, "&lt;script&gt;product&lt;/script&gt;") {
				t.Errorf("product name not shown escaped")
			}
			for f := range fields {
				if notText[f] || hidden[name][f] {
					continue
				}
				want := "&lt;script&gt;" + f + "&lt;/script&gt;"
				if !strings.Contains(body, want) {
					t.Errorf("field %s: %q not in body", f, want)
				}
			}
			for k, vs := range w.Header() {
				for _, hv := range vs {
					if strings.ContainsAny(hv, "<>\"") {
						t.Errorf("header %s carries markup: %q", k, hv)
					}
				}
			}
		})
	}
}

func TestURLFieldsAreSanitized(t *testing.T) {
	u := newUI(t, Options{})
	w := render(t, u, pageLoggedOut, LoggedOutData{
		Page:      Page{ClientName: "App", ClientURI: "javascript:alert(1)"},
		ReturnURI: "javascript:alert(2)",
	}, nil)
	body := w.Body.String()
	if strings.Contains(body, "javascript:") {
		t.Errorf("javascript: URL rendered:\n%s", body)
	}
	w = render(t, u, pageConsent, ConsentData{Page: Page{CSRFToken: "t", ClientURI: "javascript:alert(1)"}}, nil)
	if strings.Contains(w.Body.String(), "javascript:") {
		t.Errorf("javascript: client URI rendered")
	}
}

func TestSecurityHeaders(t *testing.T) {
	u := newUI(t, Options{})
	for name, data := range pages() {
		for i, d := range data {
			w := render(t, u, name, d, nil)
			h := w.Header()
			want := map[string]string{
				"Content-Type":           "text/html; charset=utf-8",
				"Cache-Control":          "no-store",
				"X-Frame-Options":        "DENY",
				"Referrer-Policy":        "no-referrer",
				"X-Content-Type-Options": "nosniff",
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("%s[%d]: %s = %q, want %q", name, i, k, got, v)
				}
			}
			csp := h.Get("Content-Security-Policy")
			wantCSP := CSP()
			if i == 0 && name != pageError {
				wantCSP = CSP("https://app.example")
			}
			if name == pageSAMLPost {
				// The form goes to the SP; the one script is allowed by hash.
				sum := sha256.Sum256([]byte(samlAutoSubmit))
				wantCSP = CSP("https://sp.example") + "; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			}
			if csp != wantCSP {
				t.Errorf("%s[%d]: CSP = %q, want %q", name, i, csp, wantCSP)
			}
			if h.Get("Content-Length") == "" {
				t.Errorf("%s[%d]: no Content-Length", name, i)
			}
		}
	}
}

func TestCSP(t *testing.T) {
	base := "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'%s; frame-ancestors 'none'; base-uri 'none'"
	tests := []struct {
		targets []string
		want    string
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{"https://app.example/cb?x=1#f"}, " https://app.example"},
		{[]string{"HTTPS://App.Example:8443/cb"}, " https://app.example:8443"},
		{[]string{"http://127.0.0.1:51234/cb"}, " http://127.0.0.1:51234"},
		{[]string{"https://user:pw@app.example/"}, " https://app.example"},
		{[]string{"com.example.app:/oauth2redirect"}, " com.example.app:"},
		{[]string{"https://a.example/1", "https://a.example/2", "https://b.example"}, " https://a.example https://b.example"},
		{[]string{"javascript:alert(1)", "data:text/html,x", "blob:https://a.example/x"}, ""},
		{[]string{"/relative", "https://", "https:///path", "https://[::1]:8080/cb"}, ""},
		// CSP cannot spell IPv6 hosts: a native app's loopback redirect is
		// allowed by scheme (RFC 8252 §7.3; the server matched the target).
		{[]string{"http://[::1]:8080/cb"}, " http:"},
		{[]string{"http://[2001:db8::1]/cb"}, ""},
		{[]string{"https://a.example; script-src *"}, ""},
		{[]string{"https://a.example%20b/"}, ""},
	}
	for _, tt := range tests {
		want := strings.Replace(base, "%s", tt.want, 1)
		if got := CSP(tt.targets...); got != want {
			t.Errorf("CSP(%q) = %q, want %q", tt.targets, got, want)
		}
	}
}

func TestStatusCodes(t *testing.T) {
	u := newUI(t, Options{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)

	w := httptest.NewRecorder()
	if err := u.Login(w, r, LoginData{Page: Page{CSRFToken: "t", Status: http.StatusTooManyRequests, Error: "Too many attempts."}}); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusTooManyRequests {
		t.Errorf("login status %d, want 429", w.Code)
	}
	for status, want := range map[int]int{404: 404, 400: 400, 503: 503, 200: 500, 0: 500, 700: 500} {
		w := httptest.NewRecorder()
		if err := u.Error(w, r, status, ErrorData{}); err != nil {
			t.Fatal(err)
		}
		if w.Code != want {
			t.Errorf("Error(%d) wrote %d, want %d", status, w.Code, want)
		}
		if strings.Contains(w.Header().Get("Location"), "/") {
			t.Errorf("error page redirects")
		}
	}
}

func TestHeadRequest(t *testing.T) {
	u := newUI(t, Options{})
	w := render(t, u, pageLogin, LoginData{Page: Page{CSRFToken: "t"}}, httptest.NewRequest(http.MethodHead, "/", nil))
	if w.Code != 200 || w.Header().Get("Content-Security-Policy") == "" {
		t.Errorf("HEAD: %d %v", w.Code, w.Header())
	}
}

var formRE = regexp.MustCompile(`(?s)<form\b[^>]*>(.*?)</form>`)

func TestCSRFInputOnEveryForm(t *testing.T) {
	u := newUI(t, Options{})
	for name, data := range pages() {
		for i, d := range data {
			body := render(t, u, name, d, nil).Body.String()
			if name == pageSAMLPost {
				continue // a cross-site form to the SP: no CSRF token of this server's (TestSAMLPostForm)
			}
			forms := formRE.FindAllStringSubmatch(body, -1)
			if slices.Contains(formPages(), name) && len(forms) == 0 {
				t.Errorf("%s[%d]: no form", name, i)
			}
			if strings.Count(body, "<form") != len(forms) {
				t.Errorf("%s[%d]: unterminated form", name, i)
			}
			for _, f := range forms {
				if !strings.Contains(f[0], `method="post"`) {
					t.Errorf("%s[%d]: form is not POST", name, i)
				}
				if n := strings.Count(f[1], `<input type="hidden" name="csrf_token" value="tok-123">`); n != 1 {
					t.Errorf("%s[%d]: %d csrf_token inputs in form:\n%s", name, i, n, f[0])
				}
				if i == 0 && !strings.Contains(f[1], `<input type="hidden" name="request" value="req-1">`) {
					t.Errorf("%s[%d]: no request input", name, i)
				}
				if i == 0 && !strings.Contains(f[1], `<input type="hidden" name="extra" value="x">`) {
					t.Errorf("%s[%d]: no extra hidden input", name, i)
				}
				if i == 0 && !strings.Contains(f[0], `action="/authorize/continue"`) {
					t.Errorf("%s[%d]: no form action", name, i)
				}
				if i == 1 && strings.Contains(f[0], "action=") {
					t.Errorf("%s[%d]: empty FormAction rendered an action", name, i)
				}
			}
		}
	}
}

func TestMissingCSRFTokenRefused(t *testing.T) {
	u := newUI(t, Options{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	calls := map[string]func(http.ResponseWriter) error{
		pageLogin:         func(w http.ResponseWriter) error { return u.Login(w, r, LoginData{}) },
		pageConsent:       func(w http.ResponseWriter) error { return u.Consent(w, r, ConsentData{}) },
		pageLogout:        func(w http.ResponseWriter) error { return u.Logout(w, r, LogoutData{}) },
		pageSelectAccount: func(w http.ResponseWriter) error { return u.SelectAccount(w, r, SelectAccountData{}) },
		pageAccount:       func(w http.ResponseWriter) error { return u.Account(w, r, AccountData{}) },
		pageDevice:        func(w http.ResponseWriter) error { return u.Device(w, r, DeviceData{}) },
	}
	for name, call := range calls {
		w := httptest.NewRecorder()
		err := call(w)
		if !errors.Is(err, ErrMissingCSRFToken) {
			t.Errorf("%s: err = %v, want ErrMissingCSRFToken", name, err)
		}
		if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "<form") {
			t.Errorf("%s: wrote %d %q", name, w.Code, w.Body.String())
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: failure response is cacheable", name)
		}
	}
}

var (
	inputRE = regexp.MustCompile(`<input\b[^>]*>`)
	idRE    = regexp.MustCompile(`\bid="([^"]*)"`)
	labelRE = regexp.MustCompile(`<label for="([^"]*)">`)
)

func TestLabelsTiedToInputs(t *testing.T) {
	u := newUI(t, Options{})
	for name, data := range pages() {
		for i, d := range data {
			body := render(t, u, name, d, nil).Body.String()
			ids := map[string]bool{}
			for _, in := range inputRE.FindAllString(body, -1) {
				if strings.Contains(in, `type="hidden"`) {
					continue
				}
				m := idRE.FindStringSubmatch(in)
				if m == nil {
					t.Errorf("%s[%d]: input without id: %s", name, i, in)
					continue
				}
				ids[m[1]] = true
				if !strings.Contains(body, `<label for="`+m[1]+`">`) {
					t.Errorf("%s[%d]: input %s has no label", name, i, m[1])
				}
				if !strings.Contains(in, "autocomplete=") {
					t.Errorf("%s[%d]: input %s has no autocomplete", name, i, m[1])
				}
			}
			for _, m := range labelRE.FindAllStringSubmatch(body, -1) {
				if !ids[m[1]] {
					t.Errorf("%s[%d]: label for missing input %q", name, i, m[1])
				}
			}
		}
	}
}

func TestLoginPage(t *testing.T) {
	u := newUI(t, Options{})
	body := render(t, u, pageLogin, LoginData{Page: Page{CSRFToken: "t"}, LoginHint: "hinted"}, nil).Body.String()
	for _, want := range []string{
		`name="username" type="text" autocomplete="username"`,
		`value="hinted"`,
		`name="password" type="password" autocomplete="current-password"`,
		`<html lang="en" dir="ltr">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q", want)
		}
	}
	// The hint prefills the username, so the password field has focus.
	if !regexp.MustCompile(`id="password"[^>]*autofocus`).MatchString(body) ||
		regexp.MustCompile(`id="username"[^>]*autofocus`).MatchString(body) {
		t.Errorf("autofocus not on the password")
	}
	if strings.Contains(body, `role="alert"`) || strings.Contains(body, "aria-invalid") {
		t.Errorf("alert without an error")
	}

	// Username wins over the hint; the error is linked to the inputs.
	body = render(t, u, pageLogin, LoginData{Page: Page{CSRFToken: "t", Error: "Wrong username or password."},
		LoginHint: "hinted", Username: "typed"}, nil).Body.String()
	if !strings.Contains(body, `value="typed"`) || strings.Contains(body, "hinted") {
		t.Errorf("Username does not win over LoginHint")
	}
	if !strings.Contains(body, `<div class="alert" role="alert" id="form-error">`) ||
		!strings.Contains(body, "<strong>Error:</strong> Wrong username or password.") {
		t.Errorf("no alert region:\n%s", body)
	}
	for _, id := range []string{"username", "password"} {
		re := regexp.MustCompile(`id="` + id + `"[^>]*aria-invalid="true" aria-describedby="form-error"`)
		if !re.MatchString(body) {
			t.Errorf("%s not linked to the error", id)
		}
	}
	// Focus order: username, password, then the submit button.
	iu, ip, ib := strings.Index(body, `id="username"`), strings.Index(body, `id="password"`), strings.Index(body, `type="submit"`)
	if !(iu < ip && ip < ib) {
		t.Errorf("focus order: username %d, password %d, submit %d", iu, ip, ib)
	}
}

func TestConsentPage(t *testing.T) {
	u := newUI(t, Options{})
	body := render(t, u, pageConsent, ConsentData{
		Page:        Page{CSRFToken: "t", ClientName: "Example App", ClientURI: "https://app.example/about"},
		Scopes:      append(Scopes("openid", "profile", "email", "phone", "address", "offline_access", "api:read", "openid", ""), Scope{Name: "own", Description: "Own text"}),
		DisplayName: "Alice Liddell",
		Username:    "alice",
	}, nil).Body.String()
	for _, want := range []string{
		"<h1>Allow Example App to access your account?</h1>",
		`<a href="https://app.example/about" rel="noopener noreferrer">app.example</a>`,
		"Signed in as Alice Liddell (alice).",
		`<span class="scope-description">Confirm who you are</span> <code class="scope-name">openid</code>`,
		`<span class="scope-description">See your basic profile: name, username, picture and language</span>`,
		`<span class="scope-description">See your email address</span>`,
		`<span class="scope-description">See your phone number</span>`,
		`<span class="scope-description">See your postal address</span>`,
		`<code class="scope-name">offline_access</code>`,
		`<span class="scope-description">Access: api:read</span>`,
		`<span class="scope-description">Own text</span>`,
		`<button type="submit" name="decision" value="approve" class="button primary">Allow</button>`,
		`<button type="submit" name="decision" value="deny" class="button">Deny</button>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q", want)
		}
	}
	if n := strings.Count(body, "<li>"); n != 8 {
		t.Errorf("%d scopes listed, want 8 (duplicates and empty names dropped)", n)
	}
	if strings.Index(body, `value="approve"`) > strings.Index(body, `value="deny"`) {
		t.Errorf("Deny before Allow")
	}
}

func TestOtherPages(t *testing.T) {
	u := newUI(t, Options{ProductName: "Acme ID"})
	tests := []struct {
		page string
		data any
		want []string
	}{
		{pageLogout, LogoutData{Page: Page{CSRFToken: "t", ClientName: "App"}, Username: "alice", PostLogoutRedirectURI: "https://app.example/bye"},
			[]string{"<h1>Sign out?</h1>", "App asks to sign you out of Acme ID.", "You are signed in as alice.",
				`<span class="uri">https://app.example/bye</span>`,
				`name="decision" value="logout"`, `name="decision" value="cancel"`}},
		{pageLogout, LogoutData{Page: Page{CSRFToken: "t"}}, []string{"Do you want to sign out of Acme ID?"}},
		{pageLoggedOut, LoggedOutData{Page: Page{ClientName: "App"}, ReturnURI: "https://app.example/"},
			[]string{"<h1>You have signed out</h1>", `<a class="button primary" href="https://app.example/">Return to App</a>`}},
		{pageSelectAccount, SelectAccountData{Page: Page{CSRFToken: "t"}, Accounts: []Account{{ID: "u1", DisplayName: "Alice", Username: "alice"}, {ID: "u2", Username: "bob"}}},
			[]string{`name="account" value="u1"`, `<span class="account-name">Alice</span>`, `<span class="account-detail">alice</span>`,
				`name="account" value="u2"`, `<span class="account-name">bob</span>`, `name="decision" value="other"`}},
		{pageError, ErrorData{Title: "Unknown client", Description: "No such application.", Code: "invalid_client"},
			[]string{"<title>Unknown client · Acme ID</title>", "<h1>Unknown client</h1>", "<p>No such application.</p>", "<code>invalid_client</code>"}},
		{pageError, ErrorData{}, []string{"<h1>Something went wrong</h1>"}},
	}
	for _, tt := range tests {
		body := render(t, u, tt.page, tt.data, nil).Body.String()
		for _, want := range tt.want {
			if !strings.Contains(body, want) {
				t.Errorf("%s: missing %q in\n%s", tt.page, want, body)
			}
		}
		if strings.Contains(body, "<form") && tt.page == pageError {
			t.Errorf("error page has a form")
		}
	}
}

var h1RE = regexp.MustCompile(`(?i)<h1\b`)

// TestOneH1PerTemplate checks the template sources, without rendering:
// the layout has no <h1> and every page template exactly one.
func TestOneH1PerTemplate(t *testing.T) {
	entries, err := fs.ReadDir(embedded, "templates")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(pageNames())+1 {
		t.Errorf("%d templates, want %d", len(entries), len(pageNames())+1)
	}
	for _, e := range entries {
		src, err := fs.ReadFile(embedded, "templates/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if e.Name() == layoutFile {
			want = 0
		}
		if n := len(h1RE.FindAllIndex(src, -1)); n != want {
			t.Errorf("%s has %d <h1>, want %d", e.Name(), n, want)
		}
	}
}

func TestOneH1PerRenderedPage(t *testing.T) {
	u := newUI(t, Options{})
	for _, s := range u.samples() {
		w := httptest.NewRecorder()
		if err := u.pages[s.page].Execute(w, s.view); err != nil {
			t.Fatal(err)
		}
		if n := len(h1RE.FindAllIndex(w.Body.Bytes(), -1)); n != 1 {
			t.Errorf("%s renders %d <h1>", s.page, n)
		}
	}
}

func TestLocaleFromRequest(t *testing.T) {
	u := newUI(t, Options{})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept-Language", "de-CH, fr;q=0.8, en;q=0.5")
	body := render(t, u, pageLogin, LoginData{Page: Page{CSRFToken: "t", Locale: "xx"}}, r).Body.String()
	if !strings.Contains(body, `<html lang="en" dir="ltr">`) {
		t.Errorf("lang not en")
	}
}

func TestPickLocale(t *testing.T) {
	tests := []struct {
		ui, accept, want string
	}{
		{"", "", "en"},
		{"en", "", "en"},
		{"EN-gb", "", "en"},
		{"en_US", "", "en"},
		{"fr-CA fr en", "", "en"},
		{"de", "fr, en-US;q=0.9", "en"},
		{"", "de-DE,de;q=0.9,en;q=0.8", "en"},
		{"", "en;q=0", "en"}, // nothing acceptable: default
		{"", "*", "en"},
		{"", "en;q=abc", "en"},
		{"", ";;;,,,", "en"},
		{"<script>", "<script>", "en"},
		{strings.Repeat("x ", 5000), strings.Repeat("x,", 5000), "en"},
	}
	for _, tt := range tests {
		if got := PickLocale(tt.ui, tt.accept); got != tt.want {
			t.Errorf("PickLocale(%.20q, %.20q) = %q, want %q", tt.ui, tt.accept, got, tt.want)
		}
	}
}

func TestAcceptedLanguagesOrder(t *testing.T) {
	got := acceptedLanguages("fr;q=0.5, de, en;q=0.9, es;q=0, *;q=0.1, it;q=0.9")
	want := []string{"de", "en", "it", "fr"}
	if !slices.Equal(got, want) {
		t.Errorf("acceptedLanguages = %q, want %q", got, want)
	}
	if l, ok := matchLocale("en-Latn-GB"); !ok || l != "en" {
		t.Errorf("matchLocale(en-Latn-GB) = %q, %v", l, ok)
	}
	if _, ok := matchLocale("de"); ok {
		t.Errorf("matchLocale(de) matched")
	}
}

func TestCatalog(t *testing.T) {
	c := catalog()
	locales := slices.Sorted(maps.Keys(c))
	if want := slices.Sorted(slices.Values(strings.Fields(supportedLocales))); !slices.Equal(locales, want) {
		t.Errorf("catalog locales %q, supportedLocales %q", locales, want)
	}
	if _, ok := c[DefaultLocale]; !ok {
		t.Fatalf("no messages for DefaultLocale")
	}
	for l, msgs := range c {
		for k := range msgs {
			if _, ok := c[DefaultLocale][k]; !ok {
				t.Errorf("%s has key %q that %s lacks", l, k, DefaultLocale)
			}
		}
	}
	// Every key a template uses exists (New renders every branch; this
	// catches keys used in a branch the samples miss).
	keyRE := regexp.MustCompile(`\.T "([^"]+)"`)
	entries, _ := fs.ReadDir(embedded, "templates")
	for _, e := range entries {
		src, _ := fs.ReadFile(embedded, "templates/"+e.Name())
		for _, m := range keyRE.FindAllSubmatch(src, -1) {
			if _, ok := c[DefaultLocale][string(m[1])]; !ok {
				t.Errorf("%s uses unknown message %q", e.Name(), m[1])
			}
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestThemeOverride(t *testing.T) {
	def := newUI(t, Options{})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "templates", "login.html"),
		`{{define "title"}}Custom{{end}}{{define "content"}}<h1>Welcome to {{.Product}}</h1><form method="post">{{template "form-fields" .}}</form>{{end}}`)
	writeFile(t, filepath.Join(dir, "static", "writ.css"), "body { color: rebeccapurple; }\n")
	writeFile(t, filepath.Join(dir, "static", "logo.svg"), `<svg xmlns="http://www.w3.org/2000/svg"/>`)
	writeFile(t, filepath.Join(dir, "static", ".DS_Store"), "junk")
	writeFile(t, filepath.Join(dir, "README.md"), "my theme")
	u := newUI(t, Options{Dir: dir, ProductName: "Acme"})

	body := render(t, u, pageLogin, LoginData{Page: Page{CSRFToken: "t"}}, nil).Body.String()
	if !strings.Contains(body, "<h1>Welcome to Acme</h1>") || !strings.Contains(body, "<title>Custom · Acme</title>") {
		t.Errorf("login not overridden:\n%s", body)
	}
	// Other pages keep the embedded templates.
	body = render(t, u, pageConsent, ConsentData{Page: Page{CSRFToken: "t"}}, nil).Body.String()
	if !strings.Contains(body, `value="approve"`) {
		t.Errorf("consent not the embedded one")
	}
	// The CSS is replaced and its URL changes.
	cssURL := u.AssetURL("writ.css")
	if cssURL == def.AssetURL("writ.css") || !strings.Contains(body, `href="`+cssURL+`"`) {
		t.Errorf("CSS URL %q did not change (default %q)", cssURL, def.AssetURL("writ.css"))
	}
	w := httptest.NewRecorder()
	u.Static().ServeHTTP(w, httptest.NewRequest(http.MethodGet, cssURL, nil))
	if w.Code != 200 || w.Body.String() != "body { color: rebeccapurple; }\n" {
		t.Errorf("themed CSS: %d %q", w.Code, w.Body.String())
	}
	if u.AssetURL("logo.svg") == "" || u.AssetURL(".DS_Store") != "" {
		t.Errorf("added files: logo %q, dot file %q", u.AssetURL("logo.svg"), u.AssetURL(".DS_Store"))
	}
}

func TestThemeLayoutOverride(t *testing.T) {
	dir := t.TempDir()
	src, err := fs.ReadFile(embedded, "templates/base.html")
	if err != nil {
		t.Fatal(err)
	}
	layout := strings.Replace(string(src), `<span class="brand-name">{{.Product}}</span>`,
		`<img src="{{asset "logo.svg"}}" alt="{{.Product}}">`, 1)
	writeFile(t, filepath.Join(dir, "templates", "base.html"), layout)
	writeFile(t, filepath.Join(dir, "static", "logo.svg"), `<svg xmlns="http://www.w3.org/2000/svg"/>`)
	u := newUI(t, Options{Dir: dir})
	for name, data := range pages() {
		body := render(t, u, name, data[0], nil).Body.String()
		if !strings.Contains(body, `<img src="`+u.AssetURL("logo.svg")+`" alt="writ">`) {
			t.Errorf("%s: layout not overridden", name)
		}
	}
}

func TestThemeErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr []string
	}{
		{"parse error names the file",
			map[string]string{"templates/consent.html": `{{define "content"}}{{if .Scopes}}{{end}`},
			[]string{filepath.Join("templates", "consent.html"), "parse"}},
		{"parse error in the layout",
			map[string]string{"templates/base.html": `<html>{{template "content" .}`},
			[]string{filepath.Join("templates", "base.html")}},
		{"unknown field",
			map[string]string{"templates/select_account.html": `{{define "title"}}x{{end}}{{define "content"}}<h1>{{.NoSuchField}}</h1>{{end}}`},
			[]string{filepath.Join("templates", "select_account.html"), "NoSuchField"}},
		{"unknown message",
			map[string]string{"templates/error.html": `{{define "title"}}x{{end}}{{define "content"}}<h1>{{.T "no.such.key"}}</h1>{{end}}`},
			[]string{filepath.Join("templates", "error.html"), "no.such.key"}},
		{"missing content",
			map[string]string{"templates/logout.html": `{{define "title"}}x{{end}}`},
			[]string{filepath.Join("templates", "logout.html"), "content"}},
		{"unknown asset",
			map[string]string{"templates/logged_out.html": `{{define "title"}}x{{end}}{{define "content"}}<img src="{{asset "nope.png"}}" alt="">{{end}}`},
			[]string{filepath.Join("templates", "logged_out.html"), "nope.png"}},
		{"unknown template",
			map[string]string{"templates/logn.html": `{{define "content"}}{{end}}`},
			[]string{filepath.Join("templates", "logn.html"), "not a known template"}},
		{"text outside define",
			map[string]string{"templates/login.html": `<h1>Hello</h1>`},
			[]string{filepath.Join("templates", "login.html"), "outside"}},
		{"css at the top",
			map[string]string{"writ.css": `body{}`},
			[]string{"writ.css", "static"}},
		{"subdirectory in static",
			map[string]string{"static/img/logo.png": `x`},
			[]string{"img", "subdirectories"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), content)
			}
			_, err := New(Options{Dir: dir})
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
	if _, err := New(Options{Dir: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Errorf("missing theme directory accepted")
	}
	if _, err := New(Options{StaticPrefix: "static"}); err == nil {
		t.Errorf("relative static prefix accepted")
	}
}

func TestStaticHandler(t *testing.T) {
	u := newUI(t, Options{})
	css, err := fs.ReadFile(embedded, "static/writ.css")
	if err != nil {
		t.Fatal(err)
	}
	url := u.AssetURL("writ.css")
	if !regexp.MustCompile(`^/ui/static/writ\.[0-9a-f]{16}\.css$`).MatchString(url) {
		t.Fatalf("asset URL %q", url)
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/static/", u.Static())
	do := func(method, target string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}

	w := do(http.MethodGet, url)
	if w.Code != 200 || w.Body.String() != string(css) {
		t.Fatalf("GET %s: %d", url, w.Code)
	}
	for k, v := range map[string]string{
		"Content-Type":           "text/css; charset=utf-8",
		"Cache-Control":          "public, max-age=31536000, immutable",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	etag := w.Header().Get("ETag")
	if etag == "" {
		t.Errorf("no ETag")
	}
	if w := do(http.MethodGet, url, "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", w.Code)
	}
	if w := do(http.MethodHead, url); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
	// The plain name revalidates.
	if w := do(http.MethodGet, "/ui/static/writ.css"); w.Code != 200 || w.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("plain name: %d %q", w.Code, w.Header().Get("Cache-Control"))
	}
	for _, target := range []string{
		"/ui/static/nope.css",
		"/ui/static/writ.0000000000000000.css",
		"/ui/static/",
		"/ui/static/templates/login.html",
	} {
		if w := do(http.MethodGet, target); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, w.Code)
		}
	}
	if w := do(http.MethodPost, url); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d", w.Code)
	}
	// Behind StripPrefix too.
	w = httptest.NewRecorder()
	http.StripPrefix("/ui/static/", u.Static()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, url, nil))
	if w.Code != 200 {
		t.Errorf("behind StripPrefix: %d", w.Code)
	}
}

func TestStaticPrefix(t *testing.T) {
	u := newUI(t, Options{StaticPrefix: "/writ/assets"})
	if got := u.AssetURL("writ.css"); !strings.HasPrefix(got, "/writ/assets/writ.") {
		t.Errorf("asset URL %q", got)
	}
	body := render(t, u, pageError, ErrorData{}, nil).Body.String()
	if !strings.Contains(body, `<link rel="stylesheet" href="/writ/assets/writ.`) {
		t.Errorf("stylesheet link not under the prefix")
	}
}

func TestConcurrentRendering(t *testing.T) {
	u := newUI(t, Options{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name, data := range pages() {
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				var err error
				switch d := data[0].(type) {
				case LoginData:
					err = u.Login(w, r, d)
				case ErrorData:
					err = u.Error(w, r, 400, d)
				default:
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			w := httptest.NewRecorder()
			u.Static().ServeHTTP(w, httptest.NewRequest(http.MethodGet, u.AssetURL("writ.css"), nil))
		}()
	}
	wg.Wait()
}

func TestSAMLPostForm(t *testing.T) {
	u := newUI(t, Options{})
	w := render(t, u, pageSAMLPost, SAMLPostData{Action: "https://sp.example/acs?x=1&y=2", MessageName: "SAMLResponse",
		Message: "PHNhbWxwOlJlc3BvbnNlLz4=", RelayState: "/after?x=1&y=<2>"}, nil)
	body := w.Body.String()
	for _, want := range []string{
		`<form method="post" action="https://sp.example/acs?x=1&amp;y=2" id="saml-post">`,
		`<input type="hidden" name="SAMLResponse" value="PHNhbWxwOlJlc3BvbnNlLz4=">`,
		`<input type="hidden" name="RelayState" value="/after?x=1&amp;y=&lt;2&gt;">`,
		"<script>" + samlAutoSubmit + "</script>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
	if strings.Contains(body, "csrf_token") {
		t.Error("this server's CSRF token would go to the SP")
	}
}
