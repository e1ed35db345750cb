package dpop_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

// t0 is the instant the tests' clocks stand at.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

const (
	testURL   = "https://api.example.com/orders/7"
	testToken = "writ_at_example-access-token"
)

func genKey(tb testing.TB, alg jose.Algorithm) *jose.Key {
	tb.Helper()
	k, err := jose.GenerateKey(alg)
	if err != nil {
		tb.Fatalf("GenerateKey(%s): %v", alg, err)
	}
	return k
}

func newVerifier(tb testing.TB, clock *clocktest.Clock, edit func(*dpop.Config)) *dpop.Verifier {
	tb.Helper()
	cfg := dpop.Config{Now: clock.Now, Replay: dpop.NewMemoryReplayCache(1000, clock.Now)}
	if edit != nil {
		edit(&cfg)
	}
	v, err := dpop.NewVerifier(cfg)
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func newProof(tb testing.TB, k *jose.Key, method, url, token, nonce string, now time.Time) string {
	tb.Helper()
	p, err := dpop.NewProof(k, method, url, token, nonce, now)
	if err != nil {
		tb.Fatalf("NewProof: %v", err)
	}
	return p
}

// claims are the members of a valid proof's payload for testURL and
// testToken at t0; tests edit them.
func claims() map[string]any {
	return map[string]any{
		"jti": "a-unique-identifier-0001",
		"htm": http.MethodGet,
		"htu": testURL,
		"iat": t0.Unix(),
		"ath": dpop.AccessTokenHash(testToken),
	}
}

func publicJWK(tb testing.TB, k *jose.Key) json.RawMessage {
	tb.Helper()
	b, err := json.Marshal(k.Public())
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// craft signs payload with k under typ and the given jwk header member
// (nil: none), the way a client that gets things wrong would.
func craft(tb testing.TB, k *jose.Key, typ string, jwk json.RawMessage, payload []byte) string {
	tb.Helper()
	opts := &jose.SignOptions{Type: typ, OmitKeyID: true}
	if jwk != nil {
		opts.Extra = map[string]any{"jwk": jwk}
	}
	s, err := jose.Sign(k, payload, opts)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return s
}

func craftClaims(tb testing.TB, k *jose.Key, c map[string]any) string {
	tb.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return craft(tb, k, dpop.ProofType, publicJWK(tb, k), b)
}

// unsigned builds a compact JWS from raw header and payload JSON and a
// signature, without signing.
func unsigned(header, payload string, sig []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

// request returns a GET for testURL carrying proofs in DPoP headers.
func request(proofs ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, testURL, nil)
	for _, p := range proofs {
		r.Header.Add(dpop.Header, p)
	}
	return r
}

// check runs CheckDPoP for a GET of testURL with testToken and jkt.
func check(v *dpop.Verifier, proof, jkt string) error {
	return v.CheckDPoP(context.Background(), request(proof), testToken, jkt)
}

// wantInvalid fails unless err is the rule's error and an invalid proof,
// and tells nothing of the proof or the token.
func wantInvalid(tb testing.TB, err, rule error, secrets ...string) {
	tb.Helper()
	if !errors.Is(err, rule) {
		tb.Fatalf("err = %v, want %v", err, rule)
	}
	if !errors.Is(err, rs.ErrInvalidDPoPProof) {
		tb.Fatalf("err = %v does not wrap rs.ErrInvalidDPoPProof", err)
	}
	for _, s := range append(secrets, testToken) {
		if len(s) > 8 && strings.Contains(err.Error(), s) {
			tb.Fatalf("err %q quotes the proof or the token", err)
		}
	}
}
