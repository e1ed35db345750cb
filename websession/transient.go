package websession

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/writ-dev/writ/jwt"
)

// transientType is the "typ" of transient cookies, so that neither kind of
// token can stand in for the other.
const transientType = "session-transient+jwt"

// MaxTransientTTL bounds the lifetime of a transient cookie.
const MaxTransientTTL = time.Hour

type transientClaims struct {
	Iss  string            `json:"iss"`
	Aud  string            `json:"aud"`
	Use  string            `json:"use"`
	Iat  int64             `json:"iat"`
	Exp  int64             `json:"exp"`
	Data map[string]string `json:"data,omitempty"`
}

// SetTransient sets a short-lived signed cookie name (which must start with
// "__Host-") holding data for ttl (at most MaxTransientTTL). It is always
// SameSite=Lax, so that it comes back on a top-level redirect from another
// site, such as an OpenID provider's redirect to the callback. The data is
// signed, not encrypted: it must not be secret from the user's own browser.
func (m *Manager) SetTransient(w http.ResponseWriter, name string, data map[string]string, ttl time.Duration) error {
	if err := checkCookieName(name); err != nil {
		return err
	}
	if name == m.cfg.CookieName {
		return errors.New("websession: a transient cookie cannot take the session cookie's name")
	}
	if ttl <= 0 || ttl > MaxTransientTTL {
		return fmt.Errorf("websession: a transient cookie lives between 0 and %v", MaxTransientTTL)
	}
	if err := m.checkData(data); err != nil {
		return err
	}
	now := m.now().Truncate(time.Second)
	exp := now.Add(ttl)
	tok, err := m.sign(transientType, transientClaims{
		Iss: m.origin, Aud: m.origin, Use: name, Iat: now.Unix(), Exp: exp.Unix(), Data: data,
	})
	if err != nil {
		return err
	}
	if n := len(name) + 1 + len(tok); n > MaxCookieSize {
		return fmt.Errorf("%w: the cookie would be %d bytes, the limit is %d", ErrTooLarge, n, MaxCookieSize)
	}
	http.SetCookie(w, m.cookie(name, tok, exp, http.SameSiteLaxMode))
	return nil
}

// Transient reads and verifies the transient cookie name of r (signature,
// key not retired, typ, iss, aud, expiry, and that it was set under this
// name). It returns ErrNoSession when there is none.
func (m *Manager) Transient(r *http.Request, name string) (map[string]string, error) {
	c, err := r.Cookie(name)
	if err != nil {
		return nil, ErrNoSession
	}
	if len(name)+1+len(c.Value) > MaxCookieSize {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSession, ErrTooLarge)
	}
	t, err := m.tverify.Verify(r.Context(), c.Value)
	if err != nil {
		if errors.Is(err, jwt.ErrExpired) {
			return nil, fmt.Errorf("%w: %w", ErrExpired, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidSession, err)
	}
	if m.ring.retired(t.Key(), m.now()) {
		return nil, ErrKeyRetired
	}
	var tc transientClaims
	if err := t.DecodeClaims(&tc); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInvalidSession, err)
	}
	if tc.Use != name {
		return nil, fmt.Errorf("%w: the cookie was set under another name", ErrInvalidSession)
	}
	if tc.Exp-tc.Iat > int64(MaxTransientTTL/time.Second) {
		return nil, fmt.Errorf("%w: lifetime too long", ErrInvalidSession)
	}
	return tc.Data, nil
}

// ClearTransient removes the transient cookie name.
func (m *Manager) ClearTransient(w http.ResponseWriter, name string) {
	http.SetCookie(w, m.clearCookie(name, http.SameSiteLaxMode))
}
