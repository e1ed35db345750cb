package oidc

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

func TestUserInfoDPoP(t *testing.T) {
	e := newUserinfoEnv(t)
	now := fixedClock(t0.Add(time.Minute))
	v, err := dpop.NewVerifier(dpop.Config{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	e.h.DPoP = v
	key, other := genKey(t, jose.ES256), genKey(t, jose.ES256)
	bound := map[string]any{"cnf": map[string]string{"jkt": key.ThumbprintSHA256()}}
	const target = "http://example.com/userinfo" // httptest.NewRequest's URL
	scopes := []string{"openid", "profile"}
	boundJWT := e.access(t, store.AccessTokenJWT, "user-1", scopes, bound).Value
	boundOpaque := e.access(t, store.AccessTokenOpaque, "user-1", scopes, bound).Value
	plain := e.access(t, store.AccessTokenJWT, "user-1", scopes, nil).Value
	mtls := e.access(t, store.AccessTokenJWT, "user-1", scopes, map[string]any{"cnf": map[string]string{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}).Value
	proof := func(k *jose.Key, method, token string) string {
		p, err := dpop.NewProof(k, method, target, token, "", now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dpopAuth := func(token, p string) http.Header {
		h := http.Header{"Authorization": {"DPoP " + token}}
		if p != "" {
			h.Set("DPoP", p)
		}
		return h
	}
	tests := []struct {
		name      string
		method    string
		header    http.Header
		status    int
		challenge string // prefix of WWW-Authenticate
	}{
		{"bound JWT with a proof", "GET", dpopAuth(boundJWT, proof(key, "GET", boundJWT)), 200, ""},
		{"bound opaque token with a proof", "POST", dpopAuth(boundOpaque, proof(key, "POST", boundOpaque)), 200, ""},
		{"bound JWT as Bearer", "GET", bearer(boundJWT), 401, `Bearer realm="writ", error="invalid_token"`},
		{"bound opaque token as Bearer", "GET", bearer(boundOpaque), 401, `Bearer realm="writ", error="invalid_token"`},
		{"bound JWT as Bearer with a proof", "GET", func() http.Header {
			h := bearer(boundJWT)
			h.Set("DPoP", proof(key, "GET", boundJWT))
			return h
		}(), 401, `Bearer realm="writ", error="invalid_token"`},
		{"no proof", "GET", dpopAuth(boundJWT, ""), 401, `DPoP realm="writ", error="invalid_dpop_proof"`},
		{"proof by another key", "GET", dpopAuth(boundJWT, proof(other, "GET", boundJWT)), 401, `DPoP realm="writ", error="invalid_dpop_proof"`},
		{"proof for another method", "GET", dpopAuth(boundJWT, proof(key, "POST", boundJWT)), 401, `DPoP realm="writ", error="invalid_dpop_proof"`},
		{"proof for another token", "GET", dpopAuth(boundJWT, proof(key, "GET", plain)), 401, `DPoP realm="writ", error="invalid_dpop_proof"`},
		{"unbound token under DPoP", "GET", dpopAuth(plain, proof(key, "GET", plain)), 401, `DPoP realm="writ", error="invalid_token"`},
		{"unbound token as Bearer", "GET", bearer(plain), 200, ""},
		{"bound by another method", "GET", bearer(mtls), 401, `Bearer realm="writ", error="invalid_token"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.call(tc.method, "/userinfo", tc.header, "")
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s %q", w.Code, tc.status, w.Body, w.Header().Get("WWW-Authenticate"))
			}
			if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, tc.challenge) || (tc.challenge == "") != (got == "") {
				t.Errorf("WWW-Authenticate = %q, want %q…", got, tc.challenge)
			}
			if tc.status == 200 && decodeBody(t, w)["sub"] != "user-1" {
				t.Errorf("body %s", w.Body)
			}
		})
	}

	t.Run("replayed proof", func(t *testing.T) {
		p := proof(key, "GET", boundJWT)
		if w := e.call("GET", "/userinfo", dpopAuth(boundJWT, p), ""); w.Code != 200 {
			t.Fatalf("first use: %d", w.Code)
		}
		if w := e.call("GET", "/userinfo", dpopAuth(boundJWT, p), ""); w.Code != 401 {
			t.Fatalf("replay: %d", w.Code)
		}
	})

	t.Run("nonce", func(t *testing.T) {
		n, err := dpop.NewNonces(bytes.Repeat([]byte{7}, 32), 0, now)
		if err != nil {
			t.Fatal(err)
		}
		v, err := dpop.NewVerifier(dpop.Config{Now: now, Nonces: n})
		if err != nil {
			t.Fatal(err)
		}
		e.h.DPoP = v
		w := e.call("GET", "/userinfo", dpopAuth(boundJWT, proof(key, "GET", boundJWT)), "")
		if w.Code != 401 || w.Header().Get("DPoP-Nonce") != n.Current() ||
			!strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `DPoP realm="writ", error="use_dpop_nonce"`) {
			t.Fatalf("without the nonce: %d %q %q", w.Code, w.Header().Get("WWW-Authenticate"), w.Header().Get("DPoP-Nonce"))
		}
		p, err := dpop.NewProof(key, "GET", target, boundJWT, n.Current(), now())
		if err != nil {
			t.Fatal(err)
		}
		if w := e.call("GET", "/userinfo", dpopAuth(boundJWT, p), ""); w.Code != 200 {
			t.Fatalf("with the nonce: %d %s", w.Code, w.Body)
		}
	})

	t.Run("DPoP off: the scheme is not taken", func(t *testing.T) {
		e.h.DPoP = nil
		if w := e.call("GET", "/userinfo", dpopAuth(boundJWT, proof(key, "GET", boundJWT)), ""); w.Code != 401 {
			t.Fatalf("status %d", w.Code)
		}
	})
}

// FuzzUserInfoAuthorization throws arbitrary Authorization and DPoP headers
// at UserInfo with DPoP on: never a 5xx, never 200 without a token the
// minter issued, always a challenge on 401.
func FuzzUserInfoAuthorization(f *testing.F) {
	e := newUserinfoEnv(f)
	now := fixedClock(t0.Add(time.Minute))
	v, err := dpop.NewVerifier(dpop.Config{Now: now})
	if err != nil {
		f.Fatal(err)
	}
	e.h.DPoP = v
	for _, s := range [][2]string{
		{"DPoP abc", ""}, {"DPoP abc", "a.b.c"}, {"dpop  writ_at_AAAA", "x"}, {"Bearer abc", "a.b.c"},
		{"DPoP ", ""}, {"DPoP a b", ""}, {"DPoP =abc", ""}, {"DPoPabc", ""}, {"DPoP " + strings.Repeat("a", 20000), ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, auth, proof string) {
		h := http.Header{"Authorization": {auth}}
		if proof != "" {
			h.Set("DPoP", proof)
		}
		w := e.call("GET", "/userinfo", h, "")
		switch {
		case w.Code >= 500 || w.Code == 200:
			t.Fatalf("status %d for %q / %q", w.Code, auth, proof)
		case w.Code == 401 && w.Header().Get("WWW-Authenticate") == "":
			t.Fatalf("401 without a challenge for %q", auth)
		}
	})
}
