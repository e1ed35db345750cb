package websession

import (
	"bytes"
	"encoding/base64"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
)

// serve runs r through m.Handler with the session cookie tok (when not
// empty) and returns the recorder. The inner handler writes the subject of
// the session it sees, or "-".
func serve(t testing.TB, m *Manager, r *http.Request, tok string) *httptest.ResponseRecorder {
	t.Helper()
	if tok != "" {
		r.AddCookie(&http.Cookie{Name: m.cfg.CookieName, Value: tok})
	}
	rec := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := FromContext(r.Context()); ok {
			_, _ = w.Write([]byte(s.Subject))
			return
		}
		_, _ = w.Write([]byte("-"))
	})).ServeHTTP(rec, r)
	return rec
}

// sessionCookie returns the session cookie set on rec, failing without one.
func sessionCookie(t testing.TB, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	var found *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == DefaultCookieName {
			found = c
		}
	}
	if found == nil {
		t.Fatalf("no session cookie set; headers %v", rec.Header())
	}
	return found
}

func TestMiddleware(t *testing.T) {
	clock := clocktest.Default()
	m := newManager(t, clock, func(c *Config) { c.TrustedOrigins = []string{"https://front.example.com"} })
	s, err := m.NewSession("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := m.NewSession("alice", nil)
	expired := signWith(t, m.ring.signer, TokenType, func() map[string]any {
		c := validClaims(clock.Now().Add(-2 * time.Hour))
		return c
	}())
	csrf := s.CSRFToken()
	form := func(v url.Values) func(*http.Request) {
		return func(r *http.Request) {
			r.Body = ioNop(v.Encode())
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	hdr := func(kv ...string) func(*http.Request) {
		return func(r *http.Request) {
			for i := 0; i < len(kv); i += 2 {
				r.Header.Set(kv[i], kv[i+1])
			}
		}
	}
	sameOrigin := hdr("Sec-Fetch-Site", "same-origin", "Origin", appURL)

	tests := []struct {
		name       string
		method     string
		tok        string
		mods       []func(*http.Request)
		wantStatus int
		wantBody   string // prefix
		wantClear  bool
	}{
		{name: "GET without a cookie", method: "GET", wantStatus: 200, wantBody: "-"},
		{name: "GET with a session", method: "GET", tok: tok, wantStatus: 200, wantBody: "alice"},
		{name: "GET with an expired cookie clears it", method: "GET", tok: expired, wantStatus: 200, wantBody: "-", wantClear: true},
		{name: "GET with garbage clears it", method: "GET", tok: "garbage", wantStatus: 200, wantBody: "-", wantClear: true},
		{name: "GET cross-site is fine", method: "GET", tok: tok, mods: []func(*http.Request){hdr("Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")}, wantStatus: 200, wantBody: "alice"},
		{name: "POST with the CSRF header", method: "POST", tok: tok, mods: []func(*http.Request){sameOrigin, hdr("X-CSRF-Token", csrf)}, wantStatus: 200, wantBody: "alice"},
		{name: "POST with the CSRF form field", method: "POST", tok: tok, mods: []func(*http.Request){sameOrigin, form(url.Values{"csrf_token": {csrf}})}, wantStatus: 200, wantBody: "alice"},
		{name: "POST without Origin headers (non-browser) with CSRF", method: "POST", tok: tok, mods: []func(*http.Request){hdr("X-CSRF-Token", csrf)}, wantStatus: 200, wantBody: "alice"},
		{name: "missing CSRF", method: "POST", tok: tok, mods: []func(*http.Request){sameOrigin}, wantStatus: 403, wantBody: "Forbidden: this request needs the session's CSRF token"},
		{name: "missing CSRF in a form", method: "POST", tok: tok, mods: []func(*http.Request){sameOrigin, form(url.Values{"x": {"1"}})}, wantStatus: 403, wantBody: "Forbidden: this request needs"},
		{name: "CSRF of another session", method: "POST", tok: tok, mods: []func(*http.Request){sameOrigin, hdr("X-CSRF-Token", other.CSRFToken())}, wantStatus: 403, wantBody: "Forbidden: this request needs"},
		{name: "CSRF garbage", method: "POST", tok: tok, mods: []func(*http.Request){sameOrigin, hdr("X-CSRF-Token", "x")}, wantStatus: 403},
		{name: "PUT without CSRF", method: "PUT", tok: tok, mods: []func(*http.Request){sameOrigin}, wantStatus: 403},
		{name: "PATCH without CSRF", method: "PATCH", tok: tok, wantStatus: 403},
		{name: "DELETE without CSRF", method: "DELETE", tok: tok, wantStatus: 403},
		{name: "DELETE with CSRF", method: "DELETE", tok: tok, mods: []func(*http.Request){hdr("X-CSRF-Token", csrf)}, wantStatus: 200, wantBody: "alice"},
		{name: "cross-site POST with a valid CSRF token", method: "POST", tok: tok, mods: []func(*http.Request){hdr("Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example", "X-CSRF-Token", csrf)}, wantStatus: 403, wantBody: "Forbidden: cross-origin request refused"},
		{name: "same-site POST from a sibling", method: "POST", tok: tok, mods: []func(*http.Request){hdr("Sec-Fetch-Site", "same-site", "Origin", "https://other.example.com", "X-CSRF-Token", csrf)}, wantStatus: 403},
		{name: "cross-site without Origin", method: "POST", tok: tok, mods: []func(*http.Request){hdr("Sec-Fetch-Site", "cross-site", "X-CSRF-Token", csrf)}, wantStatus: 403},
		{name: "Origin of another site, no Sec-Fetch-Site", method: "POST", tok: tok, mods: []func(*http.Request){hdr("Origin", "https://evil.example", "X-CSRF-Token", csrf)}, wantStatus: 403},
		{name: "Origin http instead of https", method: "POST", tok: tok, mods: []func(*http.Request){hdr("Origin", "http://app.example.com", "X-CSRF-Token", csrf)}, wantStatus: 403},
		{name: "Origin null", method: "POST", tok: tok, mods: []func(*http.Request){hdr("Origin", "null", "X-CSRF-Token", csrf)}, wantStatus: 403},
		{name: "Origin in capitals", method: "POST", tok: tok, mods: []func(*http.Request){hdr("Origin", "HTTPS://APP.EXAMPLE.COM", "X-CSRF-Token", csrf)}, wantStatus: 200, wantBody: "alice"},
		{name: "Origin with the default port", method: "POST", tok: tok, mods: []func(*http.Request){hdr("Origin", "https://app.example.com:443", "X-CSRF-Token", csrf)}, wantStatus: 200, wantBody: "alice"},
		{name: "Origin with another port", method: "POST", tok: tok, mods: []func(*http.Request){hdr("Origin", "https://app.example.com:8443", "X-CSRF-Token", csrf)}, wantStatus: 403},
		{name: "Origin with a path", method: "POST", tok: tok, mods: []func(*http.Request){hdr("Origin", "https://app.example.com/x", "X-CSRF-Token", csrf)}, wantStatus: 403},
		{name: "trusted origin", method: "POST", tok: tok, mods: []func(*http.Request){hdr("Sec-Fetch-Site", "same-site", "Origin", "https://front.example.com", "X-CSRF-Token", csrf)}, wantStatus: 200, wantBody: "alice"},
		{name: "cross-origin POST without a session", method: "POST", mods: []func(*http.Request){hdr("Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")}, wantStatus: 403},
		{name: "same-origin POST without a session", method: "POST", mods: []func(*http.Request){sameOrigin}, wantStatus: 200, wantBody: "-"},
		{name: "POST with an expired session and no CSRF goes on without it", method: "POST", tok: expired, mods: []func(*http.Request){sameOrigin}, wantStatus: 200, wantBody: "-", wantClear: true},
		{name: "form too large", method: "POST", tok: tok, mods: []func(*http.Request){sameOrigin, form(url.Values{"x": {strings.Repeat("a", DefaultMaxFormSize)}})}, wantStatus: 413},
		{name: "multipart form", method: "POST", tok: tok, mods: []func(*http.Request){sameOrigin, multipartForm(t, "csrf_token", csrf)}, wantStatus: 200, wantBody: "alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, appURL+"/x", nil)
			for _, f := range tc.mods {
				f(r)
			}
			rec := serve(t, m, r, tc.tok)
			if rec.Code != tc.wantStatus || !strings.HasPrefix(rec.Body.String(), tc.wantBody) {
				t.Fatalf("got %d %q, want %d %q…", rec.Code, rec.Body, tc.wantStatus, tc.wantBody)
			}
			cleared := false
			for _, c := range rec.Result().Cookies() {
				if c.Name == DefaultCookieName && c.MaxAge < 0 {
					cleared = true
				}
			}
			if cleared != tc.wantClear {
				t.Errorf("cookie cleared = %v, want %v", cleared, tc.wantClear)
			}
			if rec.Code == 403 && rec.Header().Get("Cache-Control") != "no-store" {
				t.Error("a refusal without Cache-Control: no-store")
			}
		})
	}
}

func ioNop(s string) *readCloser { return &readCloser{strings.NewReader(s)} }

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func multipartForm(t testing.TB, name, value string) func(*http.Request) {
	return func(r *http.Request) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		if err := mw.WriteField(name, value); err != nil {
			t.Fatal(err)
		}
		if err := mw.Close(); err != nil {
			t.Fatal(err)
		}
		r.Body = ioNop(buf.String())
		r.Header.Set("Content-Type", mw.FormDataContentType())
	}
}

func TestCookieAttributes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sameSite http.SameSite
		want     http.SameSite
		wantText string
	}{
		{"default Lax", 0, http.SameSiteLaxMode, "SameSite=Lax"},
		{"Strict", http.SameSiteStrictMode, http.SameSiteStrictMode, "SameSite=Strict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := clocktest.Default()
			m := newManager(t, clock, func(c *Config) { c.SameSite = tc.sameSite })
			rec := httptest.NewRecorder()
			s, err := m.Start(rec, "alice", nil)
			if err != nil {
				t.Fatal(err)
			}
			raw := rec.Header().Get("Set-Cookie")
			c := sessionCookie(t, rec)
			switch {
			case !strings.HasPrefix(c.Name, "__Host-"):
				t.Errorf("name %q lacks __Host-", c.Name)
			case !c.HttpOnly, !c.Secure:
				t.Errorf("HttpOnly %v Secure %v", c.HttpOnly, c.Secure)
			case c.Path != "/":
				t.Errorf("Path %q", c.Path)
			case c.Domain != "" || strings.Contains(strings.ToLower(raw), "domain="):
				t.Errorf("Domain set: %s", raw)
			case c.SameSite != tc.want || !strings.Contains(raw, tc.wantText):
				t.Errorf("SameSite %v in %s", c.SameSite, raw)
			case c.MaxAge != int((30*time.Minute).Seconds()) || !c.Expires.Equal(s.IdleExpiresAt):
				t.Errorf("MaxAge %d Expires %v, want the idle expiry %v", c.MaxAge, c.Expires, s.IdleExpiresAt)
			case len(c.Name)+1+len(c.Value) > MaxCookieSize:
				t.Errorf("cookie of %d bytes", len(c.Name)+1+len(c.Value))
			}
			rec = httptest.NewRecorder()
			m.Destroy(rec)
			c = sessionCookie(t, rec)
			if c.MaxAge >= 0 || c.Value != "" || !c.Secure || !c.HttpOnly || c.Path != "/" {
				t.Errorf("Destroy: %s", rec.Header().Get("Set-Cookie"))
			}
		})
	}
}

// The expiry slides: a request re-issues the cookie once RefreshAfter of
// the idle timeout has passed, never beyond the absolute lifetime, and a
// session not used within the idle timeout ends.
func TestSliding(t *testing.T) {
	clock := clocktest.Default()
	t0 := clock.Now()
	m := newManager(t, clock) // lifetime 1h, idle 30m, refresh after 7.5m
	s, err := m.NewSession("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := m.Encode(s)
	get := func() *httptest.ResponseRecorder {
		return serve(t, m, httptest.NewRequest(http.MethodGet, "/", nil), tok)
	}
	steps := []struct {
		at          time.Duration // since t0
		wantSession bool
		reissued    bool
		wantIdleEnd time.Duration // of the re-issued cookie
	}{
		{at: 7 * time.Minute, wantSession: true},
		{at: 8 * time.Minute, wantSession: true, reissued: true, wantIdleEnd: 38 * time.Minute},
		{at: 30 * time.Minute, wantSession: true, reissued: true, wantIdleEnd: 60 * time.Minute},
		{at: 45 * time.Minute, wantSession: true, reissued: false}, // idle end already at exp
		{at: 59 * time.Minute, wantSession: true},
		{at: 60 * time.Minute, wantSession: false},
	}
	for _, st := range steps {
		clock.Set(t0.Add(st.at))
		rec := get()
		if got := rec.Body.String() == "alice"; got != st.wantSession {
			t.Fatalf("at %v: session %v, want %v", st.at, got, st.wantSession)
		}
		var set *http.Cookie
		for _, c := range rec.Result().Cookies() {
			if c.MaxAge > 0 {
				set = c
			}
		}
		if (set != nil) != st.reissued {
			t.Fatalf("at %v: re-issued %v, want %v", st.at, set != nil, st.reissued)
		}
		if set != nil {
			tok = set.Value
			ns, err := m.Decode(t.Context(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if !ns.IdleExpiresAt.Equal(t0.Add(st.wantIdleEnd)) || !ns.ExpiresAt.Equal(t0.Add(time.Hour)) || ns.ID != s.ID {
				t.Fatalf("at %v: idle end %v exp %v, want %v and %v", st.at, ns.IdleExpiresAt.Sub(t0), ns.ExpiresAt.Sub(t0), st.wantIdleEnd, time.Hour)
			}
			if !ns.ValidCSRFToken(s.CSRFToken()) {
				t.Fatal("sliding changed the CSRF secret")
			}
		}
	}

	// Idle: a fresh session not used for 30 minutes ends.
	clock.Set(t0)
	s2, _ := m.NewSession("bob", nil)
	tok, _ = m.Encode(s2)
	clock.Set(t0.Add(30 * time.Minute))
	if rec := get(); rec.Body.String() != "-" {
		t.Fatalf("an idle session was accepted: %q", rec.Body)
	}
}

func TestRequireSession(t *testing.T) {
	clock := clocktest.Default()
	m := newManager(t, clock)
	s, _ := m.NewSession("alice", nil)
	tok, _ := m.Encode(s)
	h := m.Handler(RequireSession(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("secret page"))
	}), nil))
	for _, tc := range []struct {
		tok  string
		want int
	}{{tok, 200}, {"", 401}, {"bad", 401}} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.tok != "" {
			r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: tc.tok})
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != tc.want {
			t.Errorf("cookie %.10q: %d, want %d", tc.tok, rec.Code, tc.want)
		}
	}
}

func TestUpdate(t *testing.T) {
	clock := clocktest.Default()
	m := newManager(t, clock)
	rec := httptest.NewRecorder()
	s, _ := m.Start(rec, "alice", map[string]string{"theme": "dark"})
	clock.Advance(time.Minute)
	rec = httptest.NewRecorder()
	n, err := m.Update(rec, s, map[string]string{"theme": "light"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Decode(t.Context(), sessionCookie(t, rec).Value)
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["theme"] != "light" || s.Data["theme"] != "dark" || n.ID != s.ID || !got.IssuedAt.Equal(clock.Now()) {
		t.Errorf("Update: got %+v (old %+v)", got, s)
	}
}

func TestCSRFToken(t *testing.T) {
	clock := clocktest.Default()
	m := newManager(t, clock)
	s, _ := m.NewSession("alice", nil)
	a, b := s.CSRFToken(), s.CSRFToken()
	if a == b {
		t.Error("two CSRF tokens are equal: they are not masked")
	}
	if !s.ValidCSRFToken(a) || !s.ValidCSRFToken(b) {
		t.Fatal("a CSRF token does not verify")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(a)
	for _, bad := range []string{"", "x", a[:len(a)-1], a + "A", flip(a), base64.RawURLEncoding.EncodeToString(raw[csrfSize:]),
		strings.Repeat("A", len(a)), strings.Repeat("=", len(a))} {
		if s.ValidCSRFToken(bad) {
			t.Errorf("ValidCSRFToken(%q) = true", bad)
		}
	}
}

func TestTransient(t *testing.T) {
	clock := clocktest.Default()
	m := newManager(t, clock)
	const name = "__Host-login"
	rec := httptest.NewRecorder()
	if err := m.SetTransient(rec, name, map[string]string{"state": "s1"}, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	var c *http.Cookie
	for _, k := range rec.Result().Cookies() {
		c = k
	}
	if c == nil || c.Name != name || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Fatalf("transient cookie %v", rec.Header().Get("Set-Cookie"))
	}
	read := func(cookieName, value string) (map[string]string, error) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: cookieName, Value: value})
		return m.Transient(r, name)
	}
	if d, err := read(name, c.Value); err != nil || d["state"] != "s1" {
		t.Fatalf("Transient: %v %v", d, err)
	}
	if _, err := read("__Host-other", c.Value); !errors.Is(err, ErrNoSession) {
		t.Errorf("no cookie: %v", err)
	}
	// The same value under another name, and a session token, are refused.
	rec = httptest.NewRecorder()
	_ = m.SetTransient(rec, "__Host-other", map[string]string{"state": "s1"}, time.Minute)
	if _, err := read(name, rec.Result().Cookies()[0].Value); !errors.Is(err, ErrInvalidSession) {
		t.Errorf("a cookie of another name: %v", err)
	}
	s, _ := m.NewSession("alice", nil)
	tok, _ := m.Encode(s)
	if _, err := read(name, tok); !errors.Is(err, ErrInvalidSession) {
		t.Errorf("a session token as a transient cookie: %v", err)
	}
	if _, err := m.Decode(t.Context(), c.Value); !errors.Is(err, ErrInvalidSession) {
		t.Errorf("a transient cookie as a session: %v", err)
	}
	clock.Advance(10 * time.Minute)
	if _, err := read(name, c.Value); !errors.Is(err, ErrExpired) {
		t.Errorf("an expired transient cookie: %v", err)
	}
	for _, bad := range []struct {
		name string
		ttl  time.Duration
	}{{"login", time.Minute}, {name, 2 * time.Hour}, {name, 0}, {DefaultCookieName, time.Minute}} {
		if err := m.SetTransient(httptest.NewRecorder(), bad.name, nil, bad.ttl); err == nil {
			t.Errorf("SetTransient(%q, %v) succeeded", bad.name, bad.ttl)
		}
	}
	rec = httptest.NewRecorder()
	m.ClearTransient(rec, name)
	if c := rec.Result().Cookies()[0]; c.MaxAge >= 0 || c.Name != name {
		t.Errorf("ClearTransient: %v", rec.Header().Get("Set-Cookie"))
	}
}
