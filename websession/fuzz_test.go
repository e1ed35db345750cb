package websession

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jwt"
)

// FuzzDecode feeds arbitrary cookie values to the decode path, as the
// middleware does: it must never panic, only accept what the Manager
// signed, and fail with one of the package's sentinels.
func FuzzDecode(f *testing.F) {
	clock := clocktest.Default()
	m := newManager(f, clock)
	s, err := m.NewSession("alice", map[string]string{"k": "v"})
	if err != nil {
		f.Fatal(err)
	}
	valid, err := m.Encode(s)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(b64(`{"alg":"none","typ":"session+jwt"}`) + "." + parts[1] + ".")
	f.Add(b64(`{"alg":"HS256","typ":"session+jwt","kid":"x"}`) + "." + b64(`{"sub":1}`) + "." + parts[2])
	f.Add("")
	f.Add("..")
	f.Add(strings.Repeat("a", MaxCookieSize+1))
	f.Fuzz(func(t *testing.T, value string) {
		got, err := m.Decode(t.Context(), value)
		if err == nil {
			if value != valid || got.Subject != "alice" || got.ID != s.ID {
				t.Fatalf("accepted a value it did not sign: %q", value)
			}
			return
		}
		if got != nil {
			t.Fatal("a session together with an error")
		}
		if !errors.Is(err, ErrInvalidSession) && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrIdle) && !errors.Is(err, ErrKeyRetired) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		// The middleware goes on without a session and clears the cookie.
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", DefaultCookieName+"="+value)
		rec := serve(t, m, r, "")
		if rec.Code != http.StatusOK || (rec.Body.String() != "-" && rec.Body.String() != "alice") {
			t.Fatalf("middleware: %d %q", rec.Code, rec.Body)
		}
	})
}

// FuzzCSRFToken feeds arbitrary tokens to the check: no panic, and nothing
// of another length than a real token verifies.
func FuzzCSRFToken(f *testing.F) {
	clock := clocktest.Default()
	m := newManager(f, clock)
	s, _ := m.NewSession("alice", nil)
	tok := s.CSRFToken()
	f.Add(tok)
	f.Add(flip(tok))
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		if s.ValidCSRFToken(v) && v != tok && len(v) != len(tok) {
			t.Fatalf("ValidCSRFToken(%q)", v)
		}
	})
}

// FuzzClaims signs arbitrary payloads with the Manager's own key, so that
// the claim checks behind the signature are exercised: no panic, and every
// accepted session satisfies the invariants.
func FuzzClaims(f *testing.F) {
	clock := clocktest.Default()
	m := newManager(f, clock)
	now := clock.Now().Unix()
	f.Add(fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":"a","sid":"s","iat":%d,"auth_time":%d,"exp":%d,"idle_exp":%d,"csrf":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","data":{"k":"v"}}`,
		appURL, appURL, now, now, now+3600, now+1800))
	f.Add(`{"sub":"a"}`)
	f.Add(`{"data":{"a":{"b":1}}}`)
	signer, err := jwt.NewSigner(m.ring.signer, TokenType)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		tok, err := signer.SignPayload([]byte(payload))
		if err != nil {
			return
		}
		s, err := m.Decode(t.Context(), tok)
		if err != nil {
			if s != nil {
				t.Fatal("a session together with an error")
			}
			return
		}
		now := clock.Now()
		switch {
		case s.Subject == "" || s.ID == "" || len(s.csrf) != csrfSecretSize:
			t.Fatalf("accepted without sub, sid or csrf: %s", payload)
		case !now.Before(s.ExpiresAt) || !now.Before(s.IdleExpiresAt) || s.IdleExpiresAt.After(s.ExpiresAt):
			t.Fatalf("accepted an expired or inconsistent session: %s", payload)
		case s.ExpiresAt.Sub(s.AuthTime) > time.Hour || s.AuthTime.After(s.IssuedAt):
			t.Fatalf("accepted a session beyond its lifetime: %s", payload)
		}
	})
}
