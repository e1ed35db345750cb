package jwt_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// fzKeys returns fixed private keys (HS256, ES256, EdDSA), so that seed
// tokens signed by the fuzzing coordinator verify in its workers.
func fzKeys(tb testing.TB) []*jose.Key {
	tb.Helper()
	seed := func(label string) []byte {
		s := sha256.Sum256([]byte("writ jwt fuzz " + label))
		return s[:]
	}
	es, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed("es256"))
	if err != nil {
		tb.Fatal(err)
	}
	var keys []*jose.Key
	for _, kv := range []struct {
		alg jose.Algorithm
		key any
	}{{jose.HS256, seed("hs256")}, {jose.ES256, es}, {jose.EdDSA, ed25519.NewKeyFromSeed(seed("ed25519"))}} {
		k, err := jose.NewKey(kv.alg, kv.key)
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func fzSet(keys []*jose.Key) *jose.KeySet {
	var pub []*jose.Key
	for _, k := range keys {
		if p := k.Public(); p != nil {
			pub = append(pub, p)
		} else {
			pub = append(pub, k)
		}
	}
	return jose.NewKeySet(pub...)
}

func fzVerifier(tb testing.TB, keys []*jose.Key) *jwt.Verifier {
	v, err := jwt.NewVerifier(jwt.StaticKeys(fzSet(keys)), vtConfig())
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// fzSentinel checks that err wraps exactly one Verify sentinel.
func fzSentinel(t *testing.T, err error) {
	n := 0
	for _, s := range vtSentinels() {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
	}
}

// FuzzVerify fuzzes token strings through the whole jwt.Verifier with a
// fixed key set and clock. A token verifies only when its signed content is
// that of a known good token (byte for byte unless ECDSA, whose signatures
// are malleable), and then its claims satisfy the policy. Every failure
// wraps exactly one sentinel.
func FuzzVerify(f *testing.F) {
	keys := fzKeys(f)
	v := fzVerifier(f, keys)
	good := map[string]bool{}
	goodInput := map[string]bool{}
	add := func(tok string) {
		good[tok] = true
		goodInput[tok[:strings.LastIndexByte(tok, '.')]] = true
		f.Add(tok)
	}
	for _, k := range keys {
		add(vtTok(f, k, vtHeader(k.Algorithm(), k.KeyID(), jwt.TypeAccessToken), vtGoodClaims()))
		add(vtTok(f, k, vtHeader(k.Algorithm(), "", "application/at+jwt"), vtClaims(func(m map[string]any) {
			m["aud"] = []string{"x", vtAud}
			m["nbf"] = vtNowUnix - 5
			m["scope"] = "a b"
		})))
		// Signed but invalid: expired, wrong audience, ID token.
		f.Add(vtTok(f, k, vtHeader(k.Algorithm(), k.KeyID(), jwt.TypeAccessToken), vtClaims(func(m map[string]any) { m["exp"] = vtNowUnix - 3600 })))
		f.Add(vtTok(f, k, vtHeader(k.Algorithm(), k.KeyID(), jwt.TypeAccessToken), vtClaims(func(m map[string]any) { m["aud"] = "other" })))
		f.Add(vtTok(f, k, vtHeader(k.Algorithm(), k.KeyID(), jwt.TypeJWT), vtGoodClaims()))
	}
	f.Add(vtB64(`{"alg":"none","typ":"at+jwt"}`) + "." + vtB64(vtGoodClaims()) + ".")
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := v.Verify(context.Background(), token)
		if err != nil {
			if tok != nil {
				t.Fatal("token returned with an error")
			}
			fzSentinel(t, err)
			return
		}
		if !goodInput[token[:strings.LastIndexByte(token, '.')]] {
			t.Fatalf("forged token verified: %q", token)
		}
		if !good[token] && tok.Header().Algorithm != jose.ES256 {
			t.Fatalf("a second %s signature verified: %q", tok.Header().Algorithm, token)
		}
		if tok.Claims().Issuer != vtIss || !tok.Claims().Audience.Contains(vtAud) || int64(tok.Claims().ExpiresAt) <= vtNowUnix-30 {
			t.Fatalf("verified claims %+v", tok.Claims())
		}
	})
}

// fzRef is an independent statement of the policy of vtConfig, written
// with encoding/json, for a header and payload that strictjson accepted.
// It reports whether Verify must accept the token.
func fzRef(header, payload, hsKID string) bool {
	var h map[string]any
	if json.Unmarshal([]byte(header), &h) != nil {
		return false
	}
	if h["alg"] != "HS256" {
		return false
	}
	if kid, ok := h["kid"]; ok && kid != hsKID {
		return false
	}
	typ, ok := h["typ"].(string)
	if !ok {
		return false
	}
	if len(typ) > 12 && strings.EqualFold(typ[:12], "application/") {
		typ = typ[12:]
	}
	if !strings.EqualFold(typ, jwt.TypeAccessToken) {
		return false
	}
	for _, name := range []string{"crit", "enc", "zip"} {
		if _, ok := h[name]; ok {
			return false
		}
	}
	if b64, ok := h["b64"]; ok && b64 != true {
		return false
	}
	if cty, ok := h["cty"]; ok {
		s, isStr := cty.(string)
		if !isStr || strings.EqualFold(s, "JWT") {
			return false
		}
	}

	dec := json.NewDecoder(strings.NewReader(payload))
	dec.UseNumber()
	var c map[string]any
	if dec.Decode(&c) != nil {
		return false
	}
	for _, name := range []string{"sub", "jti"} {
		if v, ok := c[name]; ok {
			if _, isStr := v.(string); !isStr {
				return false
			}
		}
	}
	date := func(name string) (int64, bool, bool) { // value, present, well-typed
		v, ok := c[name]
		if !ok {
			return 0, false, true
		}
		n, isNum := v.(json.Number)
		if !isNum {
			return 0, true, false
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return 0, true, false
		}
		switch {
		case f >= math.MaxInt64:
			return math.MaxInt64, true, true
		case f <= math.MinInt64:
			return math.MinInt64, true, true
		}
		return int64(math.Floor(f)), true, true
	}
	const now, leeway = vtNowUnix, int64(jwt.DefaultLeeway / time.Second)
	exp, hasExp, okExp := date("exp")
	nbf, hasNbf, okNbf := date("nbf")
	iat, hasIat, okIat := date("iat")
	if !okExp || !okNbf || !okIat {
		return false
	}
	iss, issOK := c["iss"].(string)
	var aud []string
	switch a := c["aud"].(type) {
	case string:
		aud = []string{a}
	case []any:
		if len(a) == 0 {
			return false
		}
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return false
			}
			aud = append(aud, s)
		}
	case nil:
		if _, present := c["aud"]; present {
			return false // null
		}
	default:
		return false
	}
	if !hasExp || now-leeway >= exp {
		return false
	}
	if hasNbf && nbf > now+leeway || hasIat && iat > now+leeway {
		return false
	}
	if !issOK || iss != vtIss {
		return false
	}
	for _, a := range aud {
		if a == vtAud {
			return true
		}
	}
	return false
}

// FuzzVerifySigned fuzzes the header and claims JSON of tokens that are
// correctly HMAC-signed by the trusted key, so that every input reaches the
// header, JSON and claim validation. Verify must agree with fzRef, an
// encoding/json statement of the same policy, on every input whose header
// and payload are strict JSON (strictjson, itself fuzzed against
// encoding/json); it must never accept anything else.
func FuzzVerifySigned(f *testing.F) {
	keys := fzKeys(f)
	hs := keys[0]
	v := fzVerifier(f, keys)
	hdr := vtHeader(jose.HS256, hs.KeyID(), jwt.TypeAccessToken)
	f.Add(hdr, vtGoodClaims())
	f.Add(`{"alg":"HS256","typ":"application/AT+JWT","cty":"json"}`, vtClaims(func(m map[string]any) { m["aud"] = []string{"a", vtAud}; m["nbf"] = vtNowUnix }))
	f.Add(hdr, vtClaims(func(m map[string]any) { delete(m, "exp") }))
	f.Add(hdr, vtClaims(func(m map[string]any) { m["exp"] = 1.7e9 }))
	f.Add(hdr, vtClaims(func(m map[string]any) { m["iat"] = "x" }))
	f.Add(hdr, vtClaims(func(m map[string]any) { m["aud"] = []any{vtAud, 1} }))
	f.Add(hdr, `{"iss":"https://issuer.example","iss":"x"}`)
	f.Add(hdr, `{"iss":"https://issuer.example","\u0069ss":"x"}`)
	f.Add(`{"alg":"HS256","crit":["x"]}`, vtGoodClaims())
	f.Add(`{"alg":"HS256","typ":"JWT"}`, vtGoodClaims())
	f.Add(`{"alg":"HS256","typ":"at+jwt","b64":false}`, vtGoodClaims())
	f.Add(`{"alg":"HS256","typ":"at+jwt","kid":"x"}`, vtGoodClaims())
	f.Add(`{"alg":"none","typ":"at+jwt"}`, vtGoodClaims())
	f.Add(hdr, `[`+vtGoodClaims()+`]`)
	f.Add(hdr, `{"a":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}`)
	f.Fuzz(func(t *testing.T, header, payload string) {
		h, p := base64.RawURLEncoding.EncodeToString([]byte(header)), base64.RawURLEncoding.EncodeToString([]byte(payload))
		token := h + "." + p + "." + base64.RawURLEncoding.EncodeToString(vtHMAC(jose.HS256, hs.CryptoKey().([]byte), h+"."+p))
		tok, err := v.Verify(context.Background(), token)
		strict := len(token) <= jose.DefaultMaxSize &&
			strictjson.Validate(header, jose.DefaultMaxDepth) == nil && strings.HasPrefix(strings.TrimLeft(header, " \t\r\n"), "{") &&
			strictjson.Validate(payload, jose.DefaultMaxDepth) == nil && strings.HasPrefix(strings.TrimLeft(payload, " \t\r\n"), "{")
		if err != nil {
			if tok != nil {
				t.Fatal("token returned with an error")
			}
			fzSentinel(t, err)
			if strict && fzRef(header, payload, hs.KeyID()) {
				t.Fatalf("Verify refused a valid token: %v\nheader:  %s\npayload: %s", err, header, payload)
			}
			return
		}
		if !strict {
			t.Fatalf("Verify accepted non-strict JSON\nheader:  %q\npayload: %q", header, payload)
		}
		if !fzRef(header, payload, hs.KeyID()) {
			t.Fatalf("Verify accepted a token the policy refuses\nheader:  %s\npayload: %s", header, payload)
		}
		if !bytes.Equal([]byte(tok.Payload()), []byte(payload)) || tok.Claims().Issuer != vtIss {
			t.Fatalf("token %+v", tok.Claims())
		}
		// DecodeClaims into Claims either agrees with the claims Verify
		// checked or refuses a case-ambiguous payload.
		var c jwt.Claims
		if err := tok.DecodeClaims(&c); err != nil {
			if !errors.Is(err, jwt.ErrMalformed) {
				t.Fatalf("DecodeClaims: %v\npayload: %s", err, payload)
			}
			return
		}
		if fmt.Sprintf("%#v", c) != fmt.Sprintf("%#v", tok.Claims()) {
			t.Fatalf("DecodeClaims %+v, Verify %+v\npayload: %s", c, tok.Claims(), payload)
		}
	})
}
