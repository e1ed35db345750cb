package oidc

import (
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

func sampleIDToken() IDToken {
	return IDToken{
		Subject:     "user-1",
		ClientID:    "client-a",
		AuthTime:    t0.Add(-10 * time.Minute),
		Nonce:       "n-0S6_WzA2Mj",
		ACR:         "urn:writ:acr:pwd",
		AMR:         []string{"pwd", "otp"},
		SessionID:   "sid-42",
		AccessToken: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2ln",
		TTL:         5 * time.Minute,
		Claims: map[string]any{
			"email":          "ada@example.com",
			"email_verified": true,
			"groups":         json.RawMessage(`["admins","dev"]`),
		},
	}
}

func TestIDTokenVerifiesWithWrit(t *testing.T) {
	for _, alg := range []jose.Algorithm{jose.ES256, jose.RS256, jose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			key := genKey(t, alg)
			mint := IDTokens{Issuer: testIssuer, Keys: staticKeys{key}, Now: fixedClock(t0)}
			in := sampleIDToken()
			raw, err := mint.Mint(in)
			if err != nil {
				t.Fatal(err)
			}
			v := verifier(t, key, jwt.TypeJWT, in.ClientID, t0.Add(time.Minute))
			tok, err := v.Verify(t.Context(), raw)
			if err != nil {
				t.Fatalf("writ verifier rejects the ID token: %v", err)
			}
			if tok.Header().Type != "JWT" || tok.Header().KeyID != key.KeyID() || tok.Header().Algorithm != alg {
				t.Errorf("header typ=%q kid=%q alg=%q, want JWT, %q, %s", tok.Header().Type, tok.Header().KeyID, tok.Header().Algorithm, key.KeyID(), alg)
			}
			wantHash, _ := AccessTokenHash(alg, in.AccessToken)
			got := payload(t, tok)
			jti, _ := got["jti"].(string)
			if len(jti) < 22 {
				t.Errorf("jti %q too short", jti)
			}
			delete(got, "jti")
			want := map[string]any{
				"iss":            testIssuer,
				"sub":            "user-1",
				"aud":            "client-a",
				"azp":            "client-a",
				"exp":            num(t0.Add(5 * time.Minute).Unix()),
				"iat":            num(t0.Unix()),
				"auth_time":      num(t0.Add(-10 * time.Minute).Unix()),
				"nonce":          "n-0S6_WzA2Mj",
				"acr":            "urn:writ:acr:pwd",
				"amr":            []any{"pwd", "otp"},
				"sid":            "sid-42",
				"at_hash":        wantHash,
				"email":          "ada@example.com",
				"email_verified": true,
				"groups":         []any{"admins", "dev"},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("claims\n got %v\nwant %v", got, want)
			}
			// The ID token is not an access token.
			if _, err := verifier(t, key, jwt.TypeAccessToken, "", t0).Verify(t.Context(), raw); !errors.Is(err, jwt.ErrType) {
				t.Errorf("ID token accepted as an access token: %v", err)
			}
			// Expired after its TTL.
			if _, err := verifier(t, key, jwt.TypeJWT, in.ClientID, t0.Add(5*time.Minute)).Verify(t.Context(), raw); !errors.Is(err, jwt.ErrExpired) {
				t.Errorf("at exp: %v, want ErrExpired", err)
			}
		})
	}
}

func TestIDTokenVerifiesWithGoOIDC(t *testing.T) {
	for _, alg := range []jose.Algorithm{jose.ES256, jose.RS256, jose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			key := genKey(t, alg)
			mint := IDTokens{Issuer: testIssuer, Keys: staticKeys{key}, Now: fixedClock(t0)}
			in := sampleIDToken()
			raw, err := mint.Mint(in)
			if err != nil {
				t.Fatal(err)
			}
			cfg := &gooidc.Config{ClientID: in.ClientID, SupportedSigningAlgs: []string{string(alg)}, Now: fixedClock(t0.Add(time.Minute))}

			// A local JWKS server, as a relying party would use.
			jwks, err := json.Marshal(jose.NewKeySet(key.Public()))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(jwks)
			}))
			defer srv.Close()

			sets := map[string]gooidc.KeySet{
				"static": &gooidc.StaticKeySet{PublicKeys: []crypto.PublicKey{key.PublicKey()}},
				"remote": gooidc.NewRemoteKeySet(t.Context(), srv.URL),
			}
			for name, ks := range sets {
				idt, err := gooidc.NewVerifier(testIssuer, ks, cfg).Verify(t.Context(), raw)
				if err != nil {
					t.Fatalf("%s: go-oidc rejects the ID token: %v", name, err)
				}
				if idt.Nonce != in.Nonce {
					t.Errorf("%s: nonce %q, want %q", name, idt.Nonce, in.Nonce)
				}
				if idt.Subject != in.Subject || !reflect.DeepEqual(idt.Audience, []string{in.ClientID}) {
					t.Errorf("%s: sub %q aud %v", name, idt.Subject, idt.Audience)
				}
				if err := idt.VerifyAccessToken(in.AccessToken); err != nil {
					t.Errorf("%s: at_hash: %v", name, err)
				}
				if err := idt.VerifyAccessToken(in.AccessToken + "x"); err == nil {
					t.Errorf("%s: at_hash matches another access token", name)
				}
				var c struct {
					AZP      string   `json:"azp"`
					SID      string   `json:"sid"`
					AuthTime int64    `json:"auth_time"`
					AMR      []string `json:"amr"`
					Email    string   `json:"email"`
					Groups   []string `json:"groups"`
				}
				if err := idt.Claims(&c); err != nil {
					t.Fatal(err)
				}
				if c.AZP != in.ClientID || c.SID != in.SessionID || c.AuthTime != in.AuthTime.Unix() ||
					!reflect.DeepEqual(c.AMR, in.AMR) || c.Email != "ada@example.com" || !reflect.DeepEqual(c.Groups, []string{"admins", "dev"}) {
					t.Errorf("%s: claims %+v", name, c)
				}
			}
			// Another client's verifier refuses it.
			other := &gooidc.Config{ClientID: "client-b", SupportedSigningAlgs: []string{string(alg)}, Now: cfg.Now}
			if _, err := gooidc.NewVerifier(testIssuer, sets["static"], other).Verify(t.Context(), raw); err == nil {
				t.Error("go-oidc accepts the ID token for another client")
			}
		})
	}
}

func TestIDTokenFromKeyRing(t *testing.T) {
	ring, err := keys.NewRing(keys.Options{Clock: fixedClock(t0), MaxTokenLifetime: time.Hour, Algorithms: []jose.Algorithm{jose.RS256, jose.EdDSA}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Reconcile(); err != nil {
		t.Fatal(err)
	}
	mint := IDTokens{Issuer: testIssuer, Keys: ring, Now: fixedClock(t0)}
	in := sampleIDToken()
	v, err := jwt.NewVerifier(ring, jwt.Config{Issuer: testIssuer, Audience: in.ClientID, Type: jwt.TypeJWT, Now: fixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	// No algorithm registered: RS256 (OIDC Registration §2); otherwise the
	// client's choice, with that algorithm's active key.
	for _, tc := range []struct{ asked, want jose.Algorithm }{{"", jose.RS256}, {jose.ES256, jose.ES256}, {jose.EdDSA, jose.EdDSA}, {jose.RS256, jose.RS256}} {
		in.Algorithm = tc.asked
		raw, err := mint.Mint(in)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := v.Verify(t.Context(), raw)
		if err != nil {
			t.Fatal(err)
		}
		active, _ := ring.SignerFor(tc.want)
		if h := tok.Header(); h.Algorithm != tc.want || h.KeyID != active.KeyID() {
			t.Errorf("asked %q: alg %s kid %q, want %s and the active key %q", tc.asked, h.Algorithm, h.KeyID, tc.want, active.KeyID())
		}
	}
	// An algorithm the ring has no key for is an error, not a fallback.
	in.Algorithm = jose.PS256
	if _, err := mint.Mint(in); !errors.Is(err, keys.ErrNoActiveKey) {
		t.Errorf("PS256 without a PS256 key: %v, want ErrNoActiveKey", err)
	}
	in.Algorithm = ""
	// A TTL beyond the ring's maximum token lifetime would outlive the
	// key's publication.
	in.TTL = 2 * time.Hour
	if _, err := mint.Mint(in); err == nil {
		t.Error("TTL above the ring's MaxTokenLifetime accepted")
	}
}

func TestIDTokenOptionalClaimsOmitted(t *testing.T) {
	key := genKey(t, jose.ES256)
	mint := IDTokens{Issuer: testIssuer, Keys: staticKeys{key}, Now: fixedClock(t0)}
	raw, err := mint.Mint(IDToken{Subject: "u", ClientID: "c", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := verifier(t, key, jwt.TypeJWT, "c", t0).Verify(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	got := payload(t, tok)
	for _, name := range []string{"auth_time", "nonce", "acr", "amr", "sid", "at_hash"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s present without a value", name)
		}
	}
	for _, name := range []string{"iss", "sub", "aud", "azp", "exp", "iat", "jti"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	// Two tokens never share a jti.
	raw2, _ := mint.Mint(IDToken{Subject: "u", ClientID: "c", TTL: time.Minute})
	tok2, _ := verifier(t, key, jwt.TypeJWT, "c", t0).Verify(t.Context(), raw2)
	if tok2.Claims().ID == tok.Claims().ID {
		t.Error("jti repeated")
	}
}

func TestIDTokenReservedClaimsCannotBeOverridden(t *testing.T) {
	key := genKey(t, jose.ES256)
	mint := IDTokens{Issuer: testIssuer, Keys: staticKeys{key}, Now: fixedClock(t0)}
	names := []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "at_hash", "jti",
		"nbf", "c_hash", "events", "cnf", "_claim_names", "_claim_sources",
		// Equal under case folding: encoding/json would match them.
		"SUB", "Iss", "NONCE", "Aud", "\u017fid" /* ſid folds to sid */, "At_Hash", ""}
	for _, name := range names {
		in := sampleIDToken()
		in.Claims = map[string]any{name: "evil"}
		if _, err := mint.Mint(in); err == nil {
			t.Errorf("claim %q accepted", name)
		}
	}
	// Nested duplicates under case folding are refused too.
	in := sampleIDToken()
	in.Claims = map[string]any{"groups": json.RawMessage(`{"a":1,"A":2}`)}
	if _, err := mint.Mint(in); err == nil {
		t.Error("nested case-folded duplicates accepted")
	}
}

func TestIDTokenRefusesBadInput(t *testing.T) {
	key := genKey(t, jose.ES256)
	mint := IDTokens{Issuer: testIssuer, Keys: staticKeys{key}, Now: fixedClock(t0)}
	for name, mod := range map[string]func(*IDToken){
		"no subject":   func(t *IDToken) { t.Subject = "" },
		"no client":    func(t *IDToken) { t.ClientID = "" },
		"zero TTL":     func(t *IDToken) { t.TTL = 0 },
		"negative TTL": func(t *IDToken) { t.TTL = -time.Second },
		"bad UTF-8":    func(t *IDToken) { t.Nonce = "\xff" },
		"bad claim":    func(t *IDToken) { t.Claims = map[string]any{"x": func() {}} },
	} {
		in := sampleIDToken()
		mod(&in)
		if _, err := mint.Mint(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	bounded := IDTokens{Issuer: testIssuer, Keys: boundedKeys{staticKeys{key}, time.Minute}}
	in := sampleIDToken()
	if _, err := bounded.Mint(in); err == nil {
		t.Error("TTL above MaxTokenLifetime accepted")
	}
	in.TTL = time.Minute
	if _, err := bounded.Mint(in); err != nil {
		t.Errorf("TTL at MaxTokenLifetime: %v", err)
	}
	noKey := IDTokens{Issuer: testIssuer, Keys: failingKeys{}}
	if _, err := noKey.Mint(sampleIDToken()); !errors.Is(err, keys.ErrNoActiveKey) {
		t.Errorf("no key: %v", err)
	}
}

type failingKeys struct{}

func (failingKeys) SignerFor(jose.Algorithm) (*jose.Key, error) { return nil, keys.ErrNoActiveKey }

func TestAccessTokenHashVectors(t *testing.T) {
	// Published vectors: OpenID Connect Core 1.0 Appendix A.3 (RS256), and
	// Google's token as used by coreos/go-oidc's tests (RS256), with the
	// SHA-384 and SHA-512 values those tests carry.
	const google = "ya29.CjHSA1l5WUn8xZ6HanHFzzdHdbXm-14rxnC7JHch9eFIsZkQEGoWzaYG4o7k5f6BnPLj"
	vectors := []struct {
		alg   jose.Algorithm
		token string
		want  string
	}{
		{jose.RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "77QmUPtjPfzWtF2AnpK9RQ"},
		{jose.RS256, google, "piwt8oCH-K2D9pXlaS1Y-w"},
		{jose.ES256, google, "piwt8oCH-K2D9pXlaS1Y-w"},
		{jose.PS256, google, "piwt8oCH-K2D9pXlaS1Y-w"},
		{jose.ES384, google, "_ILKVQjbEzFKNJjUKC2kz9eReYi0A9Of"},
		{jose.RS384, google, "_ILKVQjbEzFKNJjUKC2kz9eReYi0A9Of"},
		{jose.PS512, google, "Spa_APgwBrarSeQbxI-rbragXho6dqFpH5x9PqaPfUI"},
		{jose.ES512, google, "Spa_APgwBrarSeQbxI-rbragXho6dqFpH5x9PqaPfUI"},
		{jose.EdDSA, google, "Spa_APgwBrarSeQbxI-rbragXho6dqFpH5x9PqaPfUI"},
	}
	for _, v := range vectors {
		got, err := AccessTokenHash(v.alg, v.token)
		if err != nil || got != v.want {
			t.Errorf("%s %.12s...: %q, %v; want %q", v.alg, v.token, got, err, v.want)
		}
	}
	// Independently: the left half of the digest.
	s256 := sha256.Sum256([]byte("abc"))
	s384 := sha512.Sum384([]byte("abc"))
	s512 := sha512.Sum512([]byte("abc"))
	b := base64.RawURLEncoding.EncodeToString
	for alg, want := range map[jose.Algorithm]string{
		jose.ES256: b(s256[:16]), jose.ES384: b(s384[:24]), jose.ES512: b(s512[:32]), jose.EdDSA: b(s512[:32]),
	} {
		if got, _ := AccessTokenHash(alg, "abc"); got != want {
			t.Errorf("%s: %q, want %q", alg, got, want)
		}
	}
	if _, err := AccessTokenHash("none", "abc"); err == nil {
		t.Error("alg none has an at_hash")
	}
	if _, err := AccessTokenHash(jose.RSAOAEP256, "abc"); err == nil {
		t.Error("an encryption algorithm has an at_hash")
	}
}

func TestReservedClaim(t *testing.T) {
	for _, name := range []string{"sub", "SUB", "nonce", "events", "_claim_names", UserinfoClaimsClaim, "Client_ID"} {
		if !ReservedClaim(name) {
			t.Errorf("%q not reserved", name)
		}
	}
	for _, name := range []string{"email", "groups", "subject", "roles", "department"} {
		if ReservedClaim(name) {
			t.Errorf("%q reserved", name)
		}
	}
	if !strings.EqualFold("\u017fid", "sid") || !ReservedClaim("\u017fid") {
		t.Error("ſid is not treated as sid")
	}
}

// TestLogoutTokenAlgorithm: a logout token is signed with the algorithm
// the client verifies its ID tokens with, RS256 by default.
func TestLogoutTokenAlgorithm(t *testing.T) {
	ring, err := keys.NewRing(keys.Options{Clock: fixedClock(t0), MaxTokenLifetime: time.Hour, Algorithms: []jose.Algorithm{jose.RS256}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Reconcile(); err != nil {
		t.Fatal(err)
	}
	lt := LogoutTokens{Issuer: testIssuer, Keys: ring, Now: fixedClock(t0)}
	for _, tc := range []struct{ asked, want jose.Algorithm }{{"", jose.RS256}, {jose.ES256, jose.ES256}} {
		raw, err := lt.MintAlg(tc.asked, "rp", "u", "")
		if err != nil {
			t.Fatal(err)
		}
		j, err := jose.ParseCompact(raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		if j.Header.Algorithm != tc.want {
			t.Fatalf("asked %q: alg %v, want %s", tc.asked, j.Header.Algorithm, tc.want)
		}
	}
	if raw, err := lt.Mint("rp", "u", ""); err != nil || !strings.HasPrefix(raw, "ey") {
		t.Fatalf("Mint: %v", err)
	}
}
