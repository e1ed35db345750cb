package websession

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// csrfSize is the size of the unmasked CSRF token (an HMAC-SHA256 output).
const csrfSize = sha256.Size

// csrfBase derives the session's CSRF token from its secret and ID.
func (s *Session) csrfBase() [csrfSize]byte {
	mac := hmac.New(sha256.New, s.csrf)
	mac.Write([]byte("writ websession csrf v1\x00"))
	mac.Write([]byte(s.ID))
	var out [csrfSize]byte
	mac.Sum(out[:0])
	return out
}

// CSRFToken returns a CSRF token for s, to put in a hidden form field
// (Config.CSRFField) or send in a header (Config.CSRFHeader) with every
// unsafe request. It is derived from the session's secret by HMAC and
// masked with fresh randomness, so that it differs on every page (no
// BREACH-style recovery from compressed responses); every such token
// verifies for the whole session.
func (s *Session) CSRFToken() string {
	base := s.csrfBase()
	var buf [2 * csrfSize]byte
	_, _ = rand.Read(buf[:csrfSize])
	for i := range csrfSize {
		buf[csrfSize+i] = buf[i] ^ base[i]
	}
	return base64.RawURLEncoding.EncodeToString(buf[:])
}

// ValidCSRFToken reports, in constant time, whether token is a CSRF token
// of s.
func (s *Session) ValidCSRFToken(token string) bool {
	if len(token) != base64.RawURLEncoding.EncodedLen(2*csrfSize) {
		return false
	}
	var buf [2 * csrfSize]byte
	if n, err := base64.RawURLEncoding.Strict().Decode(buf[:], []byte(token)); err != nil || n != len(buf) {
		return false
	}
	base := s.csrfBase()
	for i := range csrfSize {
		buf[csrfSize+i] ^= buf[i]
	}
	return subtle.ConstantTimeCompare(buf[csrfSize:], base[:]) == 1
}

// unsafeMethod reports whether a request with method changes state: every
// method but GET, HEAD, OPTIONS and TRACE (POST, PUT, PATCH, DELETE, and
// anything unknown).
func unsafeMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// checkOrigin refuses an unsafe request a browser sent from another origin.
// Sec-Fetch-Site decides when present ("same-origin" and "none", a request
// the user made directly, pass; "same-site" and "cross-site" pass only
// with a trusted Origin); else the Origin header, when present, must be a
// trusted origin exactly. A request with neither comes from a non-browser
// client or a very old browser; the CSRF token still guards it.
func (m *Manager) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "same-origin", "none":
		return nil
	case "":
		if origin == "" {
			return nil
		}
	default:
		if origin == "" {
			return fmt.Errorf("%w: Sec-Fetch-Site is %q and there is no Origin", ErrCrossOrigin, site)
		}
	}
	if !m.trusted[normalOrigin(origin)] {
		return fmt.Errorf("%w: origin %q is not this application's", ErrCrossOrigin, truncate(origin, 100))
	}
	return nil
}

// normalOrigin lower-cases an Origin header's scheme and host; anything
// that is not a plain origin (e.g. "null") maps to "".
func normalOrigin(o string) string {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return ""
	}
	return originOf(u)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// csrfFromRequest finds the CSRF token of r: the header first, else the
// form field of an urlencoded or multipart body, read up to MaxFormSize.
func (m *Manager) csrfFromRequest(w http.ResponseWriter, r *http.Request) (string, int, error) {
	if v := r.Header.Get(m.cfg.CSRFHeader); v != "" {
		return v, 0, nil
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"), strings.HasPrefix(ct, "multipart/form-data"):
	default:
		return "", 0, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, m.cfg.MaxFormSize)
	var err error
	if strings.HasPrefix(ct, "multipart/") {
		err = r.ParseMultipartForm(m.cfg.MaxFormSize)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", m.cfg.MaxFormSize)
		}
		return "", http.StatusBadRequest, errors.New("unreadable form")
	}
	return r.PostFormValue(m.cfg.CSRFField), 0, nil
}
