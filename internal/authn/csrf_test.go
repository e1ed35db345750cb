package authn

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const testOrigin = "https://id.example.com"

func testCSRF(secure bool) *CSRF {
	return &CSRF{Key: bytes.Repeat([]byte{7}, 32), Origin: testOrigin, Secure: secure}
}

// browser gets a CSRF cookie and token the way a page render does.
func browser(t *testing.T, c *CSRF) (*http.Cookie, string) {
	t.Helper()
	w := httptest.NewRecorder()
	tok, err := c.Token(w, httptest.NewRequest(http.MethodGet, testOrigin+"/login", nil))
	if err != nil {
		t.Fatal(err)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("%d cookies set, want 1", len(cs))
	}
	return cs[0], tok
}

func TestCSRFTokenCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		c := testCSRF(secure)
		w := httptest.NewRecorder()
		tok, err := c.Token(w, httptest.NewRequest(http.MethodGet, testOrigin+"/login", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp := w.Result()
		cs := resp.Cookies()
		if len(cs) != 1 {
			t.Fatalf("%d cookies", len(cs))
		}
		ck := cs[0]
		if ck.Name != "writ_csrf" || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" ||
			ck.Secure != secure || ck.MaxAge != 0 || !wellFormedSecret(ck.Value) {
			t.Fatalf("cookie %+v", ck)
		}
		raw := resp.Header.Get("Set-Cookie")
		if !strings.Contains(raw, "SameSite=Strict") || strings.Contains(raw, "Secure") != secure {
			t.Fatalf("Set-Cookie %q", raw)
		}
		if tok == "" || tok == ck.Value || strings.Contains(tok, ck.Value) {
			t.Fatalf("token %q", tok)
		}
		// With the cookie present the same token comes back and no cookie
		// is set.
		r := httptest.NewRequest(http.MethodGet, testOrigin+"/consent", nil)
		r.AddCookie(ck)
		w = httptest.NewRecorder()
		tok2, err := c.Token(w, r)
		if err != nil || tok2 != tok || len(w.Result().Cookies()) != 0 {
			t.Fatalf("second Token = %q, %v, %d cookies", tok2, err, len(w.Result().Cookies()))
		}
	}
}

type postOpt func(r *http.Request)

func header(k, v string) postOpt { return func(r *http.Request) { r.Header.Add(k, v) } }

// post builds a form POST carrying the cookie (if any) and form.
func post(ck *http.Cookie, form url.Values, opts ...postOpt) *http.Request {
	r := httptest.NewRequest(http.MethodPost, testOrigin+"/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if ck != nil {
		r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func TestCSRFCheck(t *testing.T) {
	c := testCSRF(true)
	ck, tok := browser(t, c)
	otherCk, otherTok := browser(t, c)
	otherKey := testCSRF(true)
	otherKey.Key = bytes.Repeat([]byte{8}, 32)
	_, otherKeyTok := browser(t, otherKey)
	form := func(tokens ...string) url.Values {
		return url.Values{"username": {"alice"}, CSRFField: tokens}
	}

	tests := []struct {
		name string
		r    *http.Request
		ok   bool
	}{
		{"good", post(ck, form(tok)), true},
		{"good, same-origin fetch", post(ck, form(tok), header("Sec-Fetch-Site", "same-origin"), header("Origin", testOrigin)), true},
		{"good, user-typed navigation", post(ck, form(tok), header("Sec-Fetch-Site", "none")), true},
		{"good, origin in other case", post(ck, form(tok), header("Origin", "HTTPS://ID.EXAMPLE.COM")), true},
		{"good, other browser with its own token", post(otherCk, form(otherTok)), true},
		{"GET", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, testOrigin+"/login?"+form(tok).Encode(), nil)
			r.AddCookie(ck)
			return r
		}(), false},
		{"PUT", func() *http.Request { r := post(ck, form(tok)); r.Method = http.MethodPut; return r }(), false},
		{"missing token", post(ck, form()), false},
		{"empty token", post(ck, form("")), false},
		{"repeated token", post(ck, form(tok, tok)), false},
		{"token only in the query", func() *http.Request {
			r := post(ck, form())
			r.URL.RawQuery = url.Values{CSRFField: {tok}}.Encode()
			return r
		}(), false},
		{"forged token", post(ck, form("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")), false},
		{"cookie value as token", post(ck, form(ck.Value)), false},
		{"token of another browser", post(ck, form(otherTok)), false},
		{"token under another key", post(ck, form(otherKeyTok)), false},
		{"missing cookie", post(nil, form(tok)), false},
		{"malformed cookie", post(&http.Cookie{Name: "writ_csrf", Value: "x"}, form(tok)), false},
		{"truncated token", post(ck, form(tok[:len(tok)-1])), false},
		{"cross-site", post(ck, form(tok), header("Sec-Fetch-Site", "cross-site")), false},
		{"same-site (sibling subdomain)", post(ck, form(tok), header("Sec-Fetch-Site", "same-site")), false},
		{"unknown Sec-Fetch-Site", post(ck, form(tok), header("Sec-Fetch-Site", "bogus")), false},
		{"two Sec-Fetch-Site", post(ck, form(tok), header("Sec-Fetch-Site", "same-origin"), header("Sec-Fetch-Site", "cross-site")), false},
		{"foreign Origin", post(ck, form(tok), header("Origin", "https://evil.example")), false},
		{"sibling Origin", post(ck, form(tok), header("Origin", "https://app.example.com")), false},
		{"http Origin", post(ck, form(tok), header("Origin", "http://id.example.com")), false},
		{"other port", post(ck, form(tok), header("Origin", "https://id.example.com:8443")), false},
		{"null Origin", post(ck, form(tok), header("Origin", "null")), false},
		{"empty Origin", post(ck, form(tok), header("Origin", "")), false},
		{"body too large", post(ck, url.Values{CSRFField: {tok}, "pad": {strings.Repeat("x", MaxFormBytes)}}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Check(tc.r)
			if tc.ok {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if tc.r.PostForm.Get("username") != "alice" {
					t.Fatal("form not left parsed for the caller")
				}
				return
			}
			if !errors.Is(err, ErrCSRF) {
				t.Fatalf("error %v, want ErrCSRF", err)
			}
			if strings.Contains(err.Error(), ck.Value) || strings.Contains(err.Error(), tok) {
				t.Fatal("error contains a secret")
			}
		})
	}
}

func TestCSRFCheckToken(t *testing.T) {
	c := testCSRF(false)
	ck, tok := browser(t, c)
	r := post(ck, nil)
	if err := c.CheckToken(r, tok); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckToken(r, tok+"x"); !errors.Is(err, ErrCSRF) {
		t.Fatalf("bad token: %v", err)
	}
	r = post(ck, nil, header("Sec-Fetch-Site", "cross-site"))
	if err := c.CheckToken(r, tok); !errors.Is(err, ErrCSRF) {
		t.Fatalf("cross-site: %v", err)
	}
	r = post(ck, nil)
	r.Method = http.MethodGet
	if err := c.CheckToken(r, tok); !errors.Is(err, ErrCSRF) {
		t.Fatalf("GET: %v", err)
	}
}

func TestCSRFCheckParsedForm(t *testing.T) {
	// A form parsed before Check (by the caller) is used as it is.
	c := testCSRF(false)
	ck, tok := browser(t, c)
	r := post(ck, url.Values{CSRFField: {tok}})
	if err := r.ParseForm(); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(r); err != nil {
		t.Fatal(err)
	}
}

func TestCSRFMisconfigured(t *testing.T) {
	for _, c := range []*CSRF{
		{Origin: testOrigin},
		{Key: make([]byte, 16), Origin: testOrigin},
		{Key: make([]byte, 32)},
	} {
		if _, err := c.Token(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)); err == nil || errors.Is(err, ErrCSRF) {
			t.Errorf("Token: %v, want a configuration error", err)
		}
		if err := c.Check(post(nil, nil)); err == nil || errors.Is(err, ErrCSRF) {
			t.Errorf("Check: %v, want a configuration error", err)
		}
	}
	c := testCSRF(false)
	c.Rand = errReader{}
	if _, err := c.Token(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)); err == nil {
		t.Error("Token without randomness")
	}
}

func TestCSRFRedacted(t *testing.T) {
	c := testCSRF(true)
	c.Key = []byte("0123456789abcdefSECRETKEYBYTES!!")
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "csrf", *c, "ptr", c)
	for _, s := range []string{
		fmt.Sprint(c), fmt.Sprint(*c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", c), fmt.Sprintf("%#v", *c), buf.String(),
	} {
		if strings.Contains(s, "SECRET") || strings.Contains(s, "48 49 50") || strings.Contains(s, "0x30") || !strings.Contains(s, "REDACTED") {
			t.Errorf("not redacted: %s", s)
		}
	}
}

func TestErrCSRFMessage(t *testing.T) {
	msg := ErrCSRF.Error()
	if strings.Contains(msg, "authn") || strings.Contains(strings.ToLower(msg), "csrf") || !strings.Contains(msg, "reload") {
		t.Fatalf("ErrCSRF message is not for users: %q", msg)
	}
}

func TestOriginOf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://id.example.com", "https://id.example.com"},
		{"https://ID.Example.COM/", "https://id.example.com"},
		{"https://id.example.com:443/tenant/a", "https://id.example.com"},
		{"HTTPS://id.example.com:8443", "https://id.example.com:8443"},
		{"http://localhost:8080", "http://localhost:8080"},
		{"http://127.0.0.1:80", "http://127.0.0.1"},
		{"http://[::1]:8080/x", "http://[::1]:8080"},
		{"https://[2001:DB8::1]", "https://[2001:db8::1]"},
	}
	for _, tc := range tests {
		if got, err := OriginOf(tc.in); err != nil || got != tc.want {
			t.Errorf("OriginOf(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "/login", "id.example.com", "ftp://id.example.com", "https://", "https://user:pw@id.example.com", "%"} {
		if got, err := OriginOf(bad); err == nil {
			t.Errorf("OriginOf(%q) = %q, want an error", bad, got)
		}
	}
}

// TestCSRFOriginNull: a page served with Referrer-Policy: no-referrer makes
// the browser send "Origin: null" on its own form post. It passes only
// together with Sec-Fetch-Site: same-origin.
func TestCSRFOriginNull(t *testing.T) {
	c := &CSRF{Key: make([]byte, 32), Origin: "https://id.example.com"}
	rec := httptest.NewRecorder()
	get := httptest.NewRequest(http.MethodGet, "https://id.example.com/authorize", nil)
	token, err := c.Token(rec, get)
	if err != nil {
		t.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0]
	for _, tt := range []struct {
		name, sfs string
		ok        bool
	}{
		{"same-origin", "same-origin", true},
		{"no Sec-Fetch-Site", "", false},
		{"cross-site", "cross-site", false},
		{"same-site", "same-site", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "https://id.example.com/login", strings.NewReader("csrf_token="+token))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Origin", "null")
			if tt.sfs != "" {
				r.Header.Set("Sec-Fetch-Site", tt.sfs)
			}
			r.AddCookie(cookie)
			if err := c.Check(r); (err == nil) != tt.ok {
				t.Fatalf("Check = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
