package authn

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// CSRF defaults and names.
const (
	// DefaultCSRFCookie is the name of the per-browser CSRF cookie.
	DefaultCSRFCookie = "writ_csrf"
	// CSRFField is the form field that carries the token.
	CSRFField = "csrf_token"
	// CSRFPurpose names the master-key derivation that yields CSRF.Key
	// (keys.MasterKey.DeriveKey).
	CSRFPurpose = "csrf/v1"
	// MaxFormBytes bounds the body Check parses when the form was not
	// parsed before.
	MaxFormBytes = 64 << 10
)

// ErrCSRF reports a form submission that failed the CSRF check. Its
// message is meant for the user; the errors Check returns wrap it with the
// reason, for logs. Show ErrCSRF's own message (or a translation), not the
// wrapping error's.
var ErrCSRF = errors.New("the form has expired or was not sent from this site: reload the page and try again")

// CSRF protects form posts. Each browser gets a random cookie (HttpOnly,
// SameSite=Strict, Path=/); the form token is an HMAC of that cookie under
// Key, so a page can only post if it could read a token made for this
// browser, which other sites cannot. Check also refuses requests that the
// browser labels cross-site (Sec-Fetch-Site) or that come from another
// origin (Origin).
type CSRF struct {
	// Key is the 32-byte HMAC key, normally derived from the master key
	// (DeriveKey(CSRFPurpose)); required.
	Key []byte
	// CookieName names the cookie; empty means DefaultCSRFCookie. With
	// Secure set, "__Host-writ_csrf" additionally stops sibling subdomains
	// from setting the cookie.
	CookieName string
	// Secure marks the cookie Secure; set it whenever the issuer is https.
	Secure bool
	// Origin is the origin the forms are served from, as browsers send it
	// in the Origin header: scheme://host[:port], the port only when not
	// the scheme's default (see OriginOf); required.
	Origin string
	// Rand is the source of cookie values; nil means crypto/rand.Reader.
	Rand io.Reader
}

// Token returns the token for the hidden form field CSRFField, setting the
// browser's CSRF cookie on w first if r has none (or a malformed one). Call
// it when rendering every page with a form. It fails only when the CSRF is
// misconfigured or randomness fails.
func (c *CSRF) Token(w http.ResponseWriter, r *http.Request) (string, error) {
	if err := c.validate(); err != nil {
		return "", err
	}
	value, ok := c.cookieValue(r)
	if !ok {
		var err error
		if value, err = randomString(c.Rand, sessionSecretSize); err != nil {
			return "", fmt.Errorf("authn: csrf token: %w", err)
		}
		http.SetCookie(w, &http.Cookie{
			Name:     c.cookieName(),
			Value:    value,
			Path:     "/",
			Secure:   c.Secure,
			HttpOnly: true,
			SameSite: http.SameSiteStrictMode,
		})
	}
	return c.tokenFor(value), nil
}

// Check verifies a form post: the method must be POST, the form field
// CSRFField must be the token of the request's CSRF cookie (compared in
// constant time), a Sec-Fetch-Site header, when present, must be
// same-origin or none, and an Origin header, when present, must be Origin.
// If r.PostForm was not parsed yet, Check parses it from a body of at most
// MaxFormBytes; the caller reads the other fields from r.PostForm. A
// caller that reads the body itself uses CheckToken instead.
//
// Failures wrap ErrCSRF; a misconfigured CSRF yields another error.
func (c *CSRF) Check(r *http.Request) error {
	if err := c.validate(); err != nil {
		return err
	}
	if err := c.checkRequest(r); err != nil {
		return err
	}
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(nil, r.Body, MaxFormBytes)
		if err := r.ParseForm(); err != nil {
			return csrfError("unreadable form")
		}
	}
	tokens := r.PostForm[CSRFField]
	if len(tokens) != 1 {
		return csrfError("missing or repeated token")
	}
	return c.checkToken(r, tokens[0])
}

// CheckToken is Check for a caller that parsed the form itself: token is
// the value of its CSRFField.
func (c *CSRF) CheckToken(r *http.Request, token string) error {
	if err := c.validate(); err != nil {
		return err
	}
	if err := c.checkRequest(r); err != nil {
		return err
	}
	return c.checkToken(r, token)
}

// checkRequest checks the method and the browser's origin headers.
func (c *CSRF) checkRequest(r *http.Request) error {
	if r.Method != http.MethodPost {
		return csrfError("not a POST")
	}
	if sfs := r.Header.Values("Sec-Fetch-Site"); len(sfs) > 0 {
		if len(sfs) != 1 || (sfs[0] != "same-origin" && sfs[0] != "none") {
			return csrfError("cross-site request (Sec-Fetch-Site)")
		}
	}
	if origins := r.Header.Values("Origin"); len(origins) > 0 {
		// Pages served with Referrer-Policy: no-referrer make browsers send
		// "Origin: null" on their own form posts. That says nothing about
		// the origin, so it is accepted only when the browser also vouches
		// that the request is same-origin; the token check still applies.
		sameOrigin := r.Header.Get("Sec-Fetch-Site") == "same-origin"
		if len(origins) != 1 || (!strings.EqualFold(origins[0], c.Origin) && !(origins[0] == "null" && sameOrigin)) {
			return csrfError("foreign Origin")
		}
	}
	return nil
}

func (c *CSRF) checkToken(r *http.Request, token string) error {
	value, ok := c.cookieValue(r)
	if !ok {
		return csrfError("missing cookie")
	}
	want := c.tokenFor(value)
	if !hmac.Equal([]byte(token), []byte(want)) {
		return csrfError("token does not match the cookie")
	}
	return nil
}

// tokenFor is base64url(HMAC-SHA-256(Key, "writ csrf token\x00" || value)).
func (c *CSRF) tokenFor(value string) string {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte("writ csrf token\x00"))
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (c *CSRF) cookieValue(r *http.Request) (string, bool) {
	ck, err := r.Cookie(c.cookieName())
	if err != nil || !wellFormedSecret(ck.Value) {
		return "", false
	}
	return ck.Value, true
}

func (c CSRF) cookieName() string {
	if c.CookieName == "" {
		return DefaultCSRFCookie
	}
	return c.CookieName
}

func (c *CSRF) validate() error {
	if len(c.Key) != 32 {
		return errors.New("authn: CSRF needs a 32-byte Key")
	}
	if c.Origin == "" {
		return errors.New("authn: CSRF needs an Origin")
	}
	return nil
}

// String redacts the key.
func (c CSRF) String() string {
	return fmt.Sprintf("authn.CSRF{Key: REDACTED, CookieName: %q, Secure: %t, Origin: %q}", c.cookieName(), c.Secure, c.Origin)
}

// GoString redacts the key for %#v too.
func (c CSRF) GoString() string { return c.String() }

// LogValue redacts the key in structured logs.
func (c CSRF) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("key", "REDACTED"),
		slog.String("cookie_name", c.cookieName()),
		slog.Bool("secure", c.Secure),
		slog.String("origin", c.Origin),
	)
}

// csrfError wraps ErrCSRF with the reason a check failed.
func csrfError(reason string) error {
	return fmt.Errorf("authn: csrf check failed (%s): %w", reason, ErrCSRF)
}

// OriginOf returns the origin of an absolute http or https URL (such as the
// issuer) as browsers send it in the Origin header: lower-case scheme and
// host, the port only when it is not the scheme's default.
func OriginOf(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", errors.New("authn: origin needs an absolute http or https URL")
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}
