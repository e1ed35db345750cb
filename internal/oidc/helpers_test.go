package oidc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

const testIssuer = "https://id.example.com"

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// staticKeys is a SigningKeys with one key, which it returns for any
// algorithm asked (tests of the ring's choice use a keys.Ring).
type staticKeys struct{ key *jose.Key }

func (s staticKeys) SignerFor(jose.Algorithm) (*jose.Key, error) { return s.key, nil }

// Signer makes staticKeys a mint.SigningKeys too.
func (s staticKeys) Signer() (*jose.Key, error) { return s.key, nil }

// boundedKeys is a SigningKeys that also bounds token lifetimes, like
// keys.Ring.
type boundedKeys struct {
	staticKeys
	max time.Duration
}

func (b boundedKeys) MaxTokenLifetime() time.Duration { return b.max }

func genKey(t testing.TB, alg jose.Algorithm) *jose.Key {
	t.Helper()
	k, err := jose.GenerateKey(alg)
	if err != nil {
		t.Fatalf("generate %s key: %v", alg, err)
	}
	return k
}

// verifier returns writ's verifier for tokens of type typ signed by key,
// addressed to aud (empty skips the audience check).
func verifier(t testing.TB, key *jose.Key, typ, aud string, now time.Time) *jwt.Verifier {
	t.Helper()
	v, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(key.Public())), jwt.Config{
		Issuer:            testIssuer,
		Audience:          aud,
		SkipAudienceCheck: aud == "",
		Type:              typ,
		Algorithms:        []jose.Algorithm{key.Algorithm()},
		Leeway:            -1,
		Now:               fixedClock(now),
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// payload decodes a verified token's claims into a generic map, numbers
// kept exact.
func payload(t testing.TB, tok *jwt.Token) map[string]any {
	t.Helper()
	var m map[string]any
	if err := decodeJSON(tok.Payload(), &m); err != nil {
		t.Fatalf("decode payload: %v", err)
	}
	return m
}

func num(n int64) json.Number { return json.Number(jsonInt(n)) }

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
