package introspect

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

func TestJWTResponse(t *testing.T) {
	f := newFakeAS(t)
	f.set("tok", activeMembers())
	c := f.client(f.jwtConfig())
	tok, err := c.Verify(t.Context(), "tok")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if tok.Subject != "alice" || tok.ClientID != "billing" || !tok.HasScope("orders:write") || tok.JKT == "" {
		t.Errorf("Token = %+v", tok)
	}
	if _, ok := tok.Claims["token_introspection"]; ok {
		t.Error("Claims are those of the response JWT, not of the token")
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Header.Get("Accept") != MediaTypeJWT {
		t.Fatalf("requests %v", reqs)
	}

	// Phantom answers from the same cache entry, with the JWT the server
	// signed.
	phantom, ptok, err := c.Phantom(t.Context(), "tok")
	if err != nil {
		t.Fatalf("Phantom: %v", err)
	}
	if ptok != tok || len(f.requests()) != 1 {
		t.Errorf("Phantom did not answer from the cache")
	}
	v, err := jwt.NewVerifier(f.keys(), jwt.Config{
		Issuer: testIssuer, Audience: testClientID, Type: TypeJWT, AllowMissingExpiry: true, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	vt, err := v.Verify(t.Context(), phantom)
	if err != nil {
		t.Fatalf("the phantom JWT does not verify: %v", err)
	}
	var claims struct {
		TI map[string]any `json:"token_introspection"`
	}
	if err := vt.DecodeClaims(&claims); err != nil || claims.TI["sub"] != "alice" {
		t.Errorf("phantom claims %v, %v", claims.TI, err)
	}

	// A miss through Phantom fills the cache for Verify too.
	f.set("tok2", activeMembers())
	if _, _, err := c.Phantom(t.Context(), "tok2"); err != nil {
		t.Fatal(err)
	}
	verifyN(t, c, f, "tok2", 2)
}

func TestPhantomNeedsJWTMode(t *testing.T) {
	f := newFakeAS(t)
	f.set("tok", activeMembers())
	c := f.client(f.config())
	if _, _, err := c.Phantom(t.Context(), "tok"); !errors.Is(err, rs.ErrUnavailable) {
		t.Fatalf("Phantom in JSON mode: %v", err)
	}
	if len(f.requests()) != 0 {
		t.Error("Phantom in JSON mode sent a request")
	}
}

func TestPhantomErrors(t *testing.T) {
	f := newFakeAS(t)
	c := f.client(f.jwtConfig())
	if _, _, err := c.Phantom(t.Context(), "inactive"); !errors.Is(err, rs.ErrInvalidToken) {
		t.Fatalf("Phantom of an inactive token: %v", err)
	}
	if _, _, err := c.Phantom(t.Context(), ""); !errors.Is(err, rs.ErrInvalidToken) {
		t.Fatalf("Phantom of an empty token: %v", err)
	}
}

// failingKeys is a key source whose set cannot be had.
type failingKeys struct{}

func (failingKeys) KeySet(context.Context, *jose.Header) (*jose.KeySet, error) {
	return nil, fmt.Errorf("%w: test", rs.ErrKeySetUnavailable)
}

// TestJWTResponseErrors: every response JWT that is not exactly what RFC
// 9701 and the configuration ask for is refused as the endpoint's fault.
func TestJWTResponseErrors(t *testing.T) {
	other, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	active := `{"active":true,"iss":"` + testIssuer + `","aud":"` + testAudience + `","sub":"alice"}`
	tests := []struct {
		name string
		// claims changes the response claims; respond replaces the answer.
		claims  func(f *fakeAS, m map[string]any)
		typ     string
		key     func(f *fakeAS) *jose.Key
		respond func(f *fakeAS) func(http.ResponseWriter, *http.Request)
		keys    jwt.KeySource
		want    error
	}{
		{name: "valid (control)", want: nil},
		{name: "inactive", claims: func(f *fakeAS, m map[string]any) { m["token_introspection"] = json.RawMessage(`{"active":false}`) }, want: rs.ErrInvalidToken},
		{name: "typ JWT", typ: "JWT", want: rs.ErrUnavailable},
		{name: "typ at+jwt", typ: "at+jwt", want: rs.ErrUnavailable},
		{name: "no typ", typ: "-", want: rs.ErrUnavailable},
		{name: "other issuer", claims: func(f *fakeAS, m map[string]any) { m["iss"] = "https://evil.example" }, want: rs.ErrUnavailable},
		{name: "no issuer", claims: func(f *fakeAS, m map[string]any) { delete(m, "iss") }, want: rs.ErrUnavailable},
		{name: "other audience", claims: func(f *fakeAS, m map[string]any) { m["aud"] = "another-rs" }, want: rs.ErrUnavailable},
		{name: "no iat", claims: func(f *fakeAS, m map[string]any) { delete(m, "iat") }, want: rs.ErrUnavailable},
		{name: "iat in the future", claims: func(f *fakeAS, m map[string]any) { m["iat"] = f.clock.Now().Add(time.Hour).Unix() }, want: rs.ErrUnavailable},
		{name: "expired response", claims: func(f *fakeAS, m map[string]any) { m["exp"] = f.clock.Now().Add(-time.Hour).Unix() }, want: rs.ErrUnavailable},
		{name: "no token_introspection", claims: func(f *fakeAS, m map[string]any) { delete(m, "token_introspection") }, want: rs.ErrUnavailable},
		{name: "token_introspection a string", claims: func(f *fakeAS, m map[string]any) { m["token_introspection"] = active }, want: rs.ErrUnavailable},
		{name: "token_introspection without active", claims: func(f *fakeAS, m map[string]any) {
			m["token_introspection"] = json.RawMessage(`{"sub":"alice"}`)
		}, want: rs.ErrUnavailable},
		{name: "token of another issuer", claims: func(f *fakeAS, m map[string]any) {
			m["token_introspection"] = json.RawMessage(`{"active":true,"iss":"https://evil.example","aud":"` + testAudience + `"}`)
		}, want: rs.ErrInvalidToken},
		{name: "signed by another key", key: func(*fakeAS) *jose.Key { return other }, want: rs.ErrUnavailable},
		{name: "unsigned", respond: func(f *fakeAS) func(http.ResponseWriter, *http.Request) {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"token-introspection+jwt"}`))
			p := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"` + testIssuer + `","aud":"` + testClientID + `","iat":1,"token_introspection":` + active + `}`))
			return answer(http.StatusOK, MediaTypeJWT, h+"."+p+".")
		}, want: rs.ErrUnavailable},
		{name: "plain JSON answer (downgrade)", respond: func(f *fakeAS) func(http.ResponseWriter, *http.Request) {
			return answer(http.StatusOK, "application/json", active)
		}, want: rs.ErrUnavailable},
		{name: "JWT under application/jwt", respond: func(f *fakeAS) func(http.ResponseWriter, *http.Request) {
			return func(w http.ResponseWriter, r *http.Request) {
				tok := f.sign(f.responseClaims(active), TypeJWT, f.key)
				answer(http.StatusOK, "application/jwt", tok)(w, r)
			}
		}, want: rs.ErrUnavailable},
		{name: "garbage", respond: func(f *fakeAS) func(http.ResponseWriter, *http.Request) {
			return answer(http.StatusOK, MediaTypeJWT, "not.a.jwt")
		}, want: rs.ErrUnavailable},
		{name: "keys unavailable", keys: failingKeys{}, want: rs.ErrKeySetUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAS(t)
			if tc.respond != nil {
				f.respond = tc.respond(f)
			} else {
				f.respond = func(w http.ResponseWriter, r *http.Request) {
					m := f.responseClaims(active)
					if tc.claims != nil {
						tc.claims(f, m)
					}
					typ := TypeJWT
					switch tc.typ {
					case "-":
						typ = ""
					case "":
					default:
						typ = tc.typ
					}
					key := f.key
					if tc.key != nil {
						key = tc.key(f)
					}
					w.Header().Set("Content-Type", MediaTypeJWT)
					_, _ = w.Write([]byte(f.sign(m, typ, key)))
				}
			}
			cfg := f.jwtConfig()
			if tc.keys != nil {
				cfg.ResponseKeys = tc.keys
			}
			c := f.client(cfg)
			jwtTok, tok, err := c.Phantom(t.Context(), "tok")
			if tc.want == nil {
				if err != nil || tok == nil || jwtTok == "" {
					t.Fatalf("Phantom = %q, %v, %v", jwtTok, tok, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Phantom: %v, want an error wrapping %v", err, tc.want)
			}
			if jwtTok != "" || tok != nil {
				t.Errorf("Phantom returned %q, %v with an error", jwtTok, tok)
			}
			n := 0
			for _, s := range []error{rs.ErrInvalidToken, rs.ErrUnavailable, rs.ErrKeySetUnavailable} {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("error %v wraps %d outcomes, want 1", err, n)
			}
			if strings.Contains(err.Error(), "tok\"") {
				t.Errorf("error names the token: %v", err)
			}
		})
	}
}

// A cached result is not served past the exp of the response JWT that
// vouches for it: Phantom would hand the upstream an expired JWT.
func TestPhantomNotPastResponseExpiry(t *testing.T) {
	f := newFakeAS(t)
	m := activeMembers()
	m["active"] = true
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	f.respond = func(w http.ResponseWriter, r *http.Request) {
		claims := f.responseClaims(string(body))
		claims["exp"] = f.clock.Now().Add(30 * time.Second).Unix()
		f.writeJWT(w, claims, TypeJWT)
	}
	cfg := f.jwtConfig()
	cfg.CacheTTL = 5 * time.Minute
	c := f.client(cfg)
	first, _, err := c.Phantom(t.Context(), "tok")
	if err != nil {
		t.Fatalf("Phantom: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	second, _, err := c.Phantom(t.Context(), "tok")
	if err != nil {
		t.Fatalf("Phantom: %v", err)
	}
	if second == first || len(f.requests()) != 2 {
		t.Errorf("the cache served a response JWT at its exp (%d requests)", len(f.requests()))
	}
}
