package jwt_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// Helpers of this file are prefixed with vt; smoke_test.go owns mint.

const (
	vtIss     = "https://issuer.example"
	vtAud     = "https://api.example"
	vtNowUnix = 1_700_000_000
)

func vtNow() time.Time { return time.Unix(vtNowUnix, 0) }

// vtSentinels returns the errors every Verify failure must wrap exactly
// one of.
func vtSentinels() []error {
	return []error{
		jwt.ErrMalformed, jwt.ErrTooLarge, jwt.ErrAlgorithm, jwt.ErrCritical, jwt.ErrKeyNotFound,
		jwt.ErrSignature, jwt.ErrExpired, jwt.ErrNotYetValid, jwt.ErrIssuer, jwt.ErrAudience,
		jwt.ErrType, jwt.ErrClaim,
	}
}

func vtB64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func vtHash(alg jose.Algorithm) crypto.Hash {
	switch alg[2:] {
	case "384":
		return crypto.SHA384
	case "512":
		return crypto.SHA512
	}
	return crypto.SHA256
}

// vtRawSig signs msg with k's private material by hand, so that tests can
// sign any header and any segment bytes.
func vtRawSig(tb testing.TB, k *jose.Key, msg string) []byte {
	tb.Helper()
	alg := k.Algorithm()
	switch c := k.CryptoKey().(type) {
	case []byte:
		return vtHMAC(alg, c, msg)
	case *ecdsa.PrivateKey:
		h := vtHash(alg).New()
		h.Write([]byte(msg))
		r, s, err := ecdsa.Sign(rand.Reader, c, h.Sum(nil))
		if err != nil {
			tb.Fatal(err)
		}
		size := (c.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	case *rsa.PrivateKey:
		h := vtHash(alg).New()
		h.Write([]byte(msg))
		var sig []byte
		var err error
		if alg[0] == 'P' {
			sig, err = rsa.SignPSS(rand.Reader, c, vtHash(alg), h.Sum(nil), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(nil, c, vtHash(alg), h.Sum(nil))
		}
		if err != nil {
			tb.Fatal(err)
		}
		return sig
	case ed25519.PrivateKey:
		return ed25519.Sign(c, []byte(msg))
	}
	tb.Fatalf("vtRawSig: %s key has no private material", alg)
	return nil
}

func vtHMAC(alg jose.Algorithm, secret []byte, msg string) []byte {
	m := hmac.New(vtHash(alg).New, secret)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// vtSegs signs the exact segment text h.p with k (the segments need not be
// canonical base64url).
func vtSegs(tb testing.TB, k *jose.Key, h, p string) string {
	tb.Helper()
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(vtRawSig(tb, k, h+"."+p))
}

// vtTok signs header and payload JSON texts with k.
func vtTok(tb testing.TB, k *jose.Key, header, payload string) string {
	tb.Helper()
	return vtSegs(tb, k, vtB64(header), vtB64(payload))
}

// vtHeader returns a header JSON text; empty kid or typ are left out.
func vtHeader(alg jose.Algorithm, kid, typ string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"alg":%q`, alg)
	if kid != "" {
		fmt.Fprintf(&b, `,"kid":%q`, kid)
	}
	if typ != "" {
		fmt.Fprintf(&b, `,"typ":%q`, typ)
	}
	for _, e := range extra {
		b.WriteString("," + e)
	}
	b.WriteByte('}')
	return b.String()
}

// vtClaims returns the JSON of a valid claim set after edit changed it.
func vtClaims(edit func(map[string]any)) string {
	m := map[string]any{
		"iss": vtIss,
		"aud": vtAud,
		"sub": "user-1",
		"exp": vtNowUnix + 3600,
		"iat": vtNowUnix,
		"jti": "id-1",
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// vtGoodClaims is vtClaims(nil).
func vtGoodClaims() string { return vtClaims(nil) }

// vtEnv holds the trusted keys (private halves) and the key set a verifier
// trusts (public halves and the HMAC secret).
type vtEnv struct {
	hs, es, es384, rs, ed *jose.Key
	set                   *jose.KeySet
}

func vtNewEnv(tb testing.TB) *vtEnv {
	tb.Helper()
	gen := func(alg jose.Algorithm) *jose.Key {
		k, err := jose.GenerateKey(alg)
		if err != nil {
			tb.Fatal(err)
		}
		return k
	}
	e := &vtEnv{hs: gen(jose.HS256), es: gen(jose.ES256), es384: gen(jose.ES384), rs: gen(jose.RS256), ed: gen(jose.EdDSA)}
	e.set = jose.NewKeySet(e.hs, e.es.Public(), e.es384.Public(), e.rs.Public(), e.ed.Public())
	return e
}

// good returns a valid access token signed by k.
func (e *vtEnv) good(tb testing.TB, k *jose.Key) string {
	tb.Helper()
	return vtTok(tb, k, vtHeader(k.Algorithm(), k.KeyID(), jwt.TypeAccessToken), vtGoodClaims())
}

// tok signs payload with k under the default header of k.
func (e *vtEnv) tok(tb testing.TB, k *jose.Key, payload string) string {
	tb.Helper()
	return vtTok(tb, k, vtHeader(k.Algorithm(), k.KeyID(), jwt.TypeAccessToken), payload)
}

func vtConfig() jwt.Config {
	return jwt.Config{Issuer: vtIss, Audience: vtAud, Type: jwt.TypeAccessToken, Now: vtNow}
}

func (e *vtEnv) verifier(tb testing.TB, edit func(*jwt.Config)) *jwt.Verifier {
	tb.Helper()
	return vtVerifier(tb, e.set, edit)
}

func vtVerifier(tb testing.TB, ks *jose.KeySet, edit func(*jwt.Config)) *jwt.Verifier {
	tb.Helper()
	cfg := vtConfig()
	if edit != nil {
		edit(&cfg)
	}
	v, err := jwt.NewVerifier(jwt.StaticKeys(ks), cfg)
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// vtCase is one row of a Verify table. want nil is a positive control.
type vtCase struct {
	name  string
	token string
	cfg   func(*jwt.Config) // nil: vtConfig
	want  error
}

// vtCheck verifies token and asserts the outcome: success, or an error that
// wraps want and exactly one sentinel, leaks no secret, and no Token.
func vtCheck(t *testing.T, v *jwt.Verifier, token string, want error, secrets ...[]byte) *jwt.Token {
	t.Helper()
	tok, err := v.Verify(context.Background(), token)
	if want == nil {
		if err != nil {
			t.Fatalf("Verify = %v, want success", err)
		}
		if tok == nil {
			t.Fatal("Verify returned neither a token nor an error")
		}
		return tok
	}
	if !errors.Is(err, want) {
		t.Fatalf("Verify = %v, want %v", err, want)
	}
	if tok != nil {
		t.Fatal("Verify returned a token with an error")
	}
	n := 0
	for _, s := range vtSentinels() {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %q wraps %d sentinels, want 1", err, n)
	}
	for _, s := range secrets {
		for _, enc := range []string{string(s), base64.RawURLEncoding.EncodeToString(s), fmt.Sprintf("%x", s)} {
			if len(s) > 0 && strings.Contains(err.Error(), enc) {
				t.Fatalf("error %q carries key material", err)
			}
		}
	}
	return nil
}

func (e *vtEnv) run(t *testing.T, cases []vtCase) {
	t.Helper()
	var secret []byte
	if b, ok := e.hs.CryptoKey().([]byte); ok {
		secret = b
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vtCheck(t, e.verifier(t, c.cfg), c.token, c.want, secret)
		})
	}
}

func TestVerifyAlgNone(t *testing.T) {
	e := vtNewEnv(t)
	hsSig := strings.Split(e.good(t, e.hs), ".")[2]
	payload := vtB64(vtGoodClaims())
	cases := []vtCase{
		{"positive control ES256", e.good(t, e.es), nil, nil},
		{"positive control HS256", e.good(t, e.hs), nil, nil},
	}
	for _, none := range []string{"none", "None", "NONE", "nOnE", `\u006eone`} {
		h := `{"alg":"` + none + `","typ":"at+jwt"}`
		hk := `{"alg":"` + none + `","kid":"` + e.hs.KeyID() + `","typ":"at+jwt"}`
		cases = append(cases,
			// The header is judged before the empty signature segment.
			vtCase{none + " unsigned", vtB64(h) + "." + payload + ".", nil, jwt.ErrAlgorithm},
			vtCase{none + " with a signature", vtB64(h) + "." + payload + "." + hsSig, nil, jwt.ErrAlgorithm},
			vtCase{none + " with kid", vtB64(hk) + "." + payload + "." + hsSig, nil, jwt.ErrAlgorithm},
			vtCase{none + " HMAC-signed", vtB64(hk) + "." + payload + "." + base64.RawURLEncoding.EncodeToString(vtHMAC(jose.HS256, e.hs.CryptoKey().([]byte), vtB64(hk)+"."+payload)), nil, jwt.ErrAlgorithm},
			vtCase{none + " with every algorithm allowed", vtB64(h) + "." + payload + "." + hsSig, func(c *jwt.Config) { c.Algorithms = jose.SignatureAlgorithms() }, jwt.ErrAlgorithm},
		)
	}
	e.run(t, cases)
	if _, err := jwt.NewVerifier(jwt.StaticKeys(e.set), jwt.Config{Issuer: vtIss, Audience: vtAud, Algorithms: []jose.Algorithm{"none"}}); err == nil {
		t.Fatal(`NewVerifier accepted Algorithms ["none"]`)
	}
}

// vtRSAPublicForms returns the RSA public key in every published form an
// attacker could use as an HMAC secret.
func vtRSAPublicForms(t *testing.T, k *jose.Key) map[string][]byte {
	pub := k.PublicKey().(*rsa.PublicKey)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := json.Marshal(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	pemPKIX := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return map[string][]byte{
		"PKIX PEM":            pemPKIX,
		"PKIX PEM trimmed":    []byte(strings.TrimSpace(string(pemPKIX))),
		"PKCS1 PEM":           pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)}),
		"PKIX DER":            der,
		"PKCS1 DER":           x509.MarshalPKCS1PublicKey(pub),
		"JWK":                 jwk,
		"modulus":             pub.N.Bytes(),
		"modulus base64url":   []byte(base64.RawURLEncoding.EncodeToString(pub.N.Bytes())),
		"empty (null secret)": {},
	}
}

// TestVerifyHMACKeyConfusion: HS256 tokens whose HMAC secret is the
// trusted RSA public key, against a set holding that RSA key.
func TestVerifyHMACKeyConfusion(t *testing.T) {
	e := vtNewEnv(t)
	rsOnly := jose.NewKeySet(e.rs.Public())
	payload := vtB64(vtGoodClaims())
	type row struct {
		name   string
		token  string
		set    *jose.KeySet
		allow  []jose.Algorithm
		want   error
		secret []byte
	}
	rows := []row{
		{"positive control RS256", e.good(t, e.rs), rsOnly, nil, nil, nil},
		{"positive control RS256 allow-list", e.good(t, e.rs), rsOnly, []jose.Algorithm{jose.RS256}, nil, nil},
	}
	for name, secret := range vtRSAPublicForms(t, e.rs) {
		for _, withKID := range []bool{true, false} {
			kid := ""
			want := jwt.ErrKeyNotFound // no kid: no trusted HS256 key
			if withKID {
				kid, want = e.rs.KeyID(), jwt.ErrAlgorithm // kid names the RS256 key
			}
			h := vtB64(vtHeader(jose.HS256, kid, jwt.TypeAccessToken))
			tok := h + "." + payload + "." + base64.RawURLEncoding.EncodeToString(vtHMAC(jose.HS256, secret, h+"."+payload))
			suffix := fmt.Sprintf("%s kid=%v", name, withKID)
			rows = append(rows,
				row{"RSA-only set " + suffix, tok, rsOnly, nil, want, secret},
				row{"full set " + suffix, tok, e.set, nil, func() error {
					if withKID {
						return jwt.ErrAlgorithm
					}
					return jwt.ErrSignature // the trusted HS256 secret is tried and fails
				}(), secret},
				row{"allow-list RS256 " + suffix, tok, rsOnly, []jose.Algorithm{jose.RS256}, jwt.ErrAlgorithm, secret},
			)
		}
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			v := vtVerifier(t, r.set, func(c *jwt.Config) { c.Algorithms = r.allow })
			vtCheck(t, v, r.token, r.want, r.secret)
		})
	}
}

// vtSelfSignedCert returns a DER certificate for k's public key.
func vtSelfSignedCert(t *testing.T, k *jose.Key) []byte {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "attacker"},
		NotBefore:    vtNow().Add(-time.Hour),
		NotAfter:     vtNow().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.PublicKey(), k.CryptoKey())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestVerifyKeyHeadersNeverUsed: "jwk", "jku", "x5u" and "x5c" never supply
// or locate a key. The URLs point at a local server that fails the test
// if anything fetches from it.
func TestVerifyKeyHeadersNeverUsed(t *testing.T) {
	e := vtNewEnv(t)
	attacker, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	attackerHS, err := jose.GenerateKey(jose.HS256)
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	jwksDoc, err := json.Marshal(jose.NewKeySet(attacker.Public()))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		t.Errorf("the verifier fetched %s", r.URL)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwksDoc) // a fetched key would make the token verify
	}))
	defer srv.Close()

	attackerJWK, err := json.Marshal(attacker.Public())
	if err != nil {
		t.Fatal(err)
	}
	octJWK, err := json.Marshal(attackerHS)
	if err != nil {
		t.Fatal(err)
	}
	cert := base64.StdEncoding.EncodeToString(vtSelfSignedCert(t, attacker))
	jku := `"jku":"` + srv.URL + `/jwks.json"`
	x5u := `"x5u":"` + srv.URL + `/cert.pem"`
	x5c := `"x5c":["` + cert + `"]`
	jwk := `"jwk":` + string(attackerJWK)
	claims := vtGoodClaims()
	at := jwt.TypeAccessToken
	cases := []vtCase{
		{"positive control", e.good(t, e.es), nil, nil},
		{"trusted key, jwk header ignored", vtTok(t, e.es, vtHeader(jose.ES256, e.es.KeyID(), at, jwk), claims), nil, nil},
		{"trusted key, jku header ignored", vtTok(t, e.es, vtHeader(jose.ES256, e.es.KeyID(), at, jku), claims), nil, nil},
		{"trusted key, x5u header ignored", vtTok(t, e.es, vtHeader(jose.ES256, e.es.KeyID(), at, x5u), claims), nil, nil},
		{"trusted key, x5c header ignored", vtTok(t, e.es, vtHeader(jose.ES256, e.es.KeyID(), at, x5c), claims), nil, nil},

		{"embedded jwk with its kid", vtTok(t, attacker, vtHeader(jose.ES256, attacker.KeyID(), at, jwk), claims), nil, jwt.ErrKeyNotFound},
		{"embedded jwk without kid", vtTok(t, attacker, vtHeader(jose.ES256, "", at, jwk), claims), nil, jwt.ErrSignature},
		{"embedded jwk with trusted kid", vtTok(t, attacker, vtHeader(jose.ES256, e.es.KeyID(), at, jwk), claims), nil, jwt.ErrSignature},
		{"embedded oct jwk", vtTok(t, attackerHS, vtHeader(jose.HS256, "", at, `"jwk":`+string(octJWK)), claims), nil, jwt.ErrSignature},
		{"embedded oct jwk with its kid", vtTok(t, attackerHS, vtHeader(jose.HS256, attackerHS.KeyID(), at, `"jwk":`+string(octJWK)), claims), nil, jwt.ErrKeyNotFound},
		{"jku with attacker kid", vtTok(t, attacker, vtHeader(jose.ES256, attacker.KeyID(), at, jku), claims), nil, jwt.ErrKeyNotFound},
		{"jku without kid", vtTok(t, attacker, vtHeader(jose.ES256, "", at, jku), claims), nil, jwt.ErrSignature},
		{"jku with trusted kid", vtTok(t, attacker, vtHeader(jose.ES256, e.es.KeyID(), at, jku), claims), nil, jwt.ErrSignature},
		{"x5u with attacker kid", vtTok(t, attacker, vtHeader(jose.ES256, attacker.KeyID(), at, x5u), claims), nil, jwt.ErrKeyNotFound},
		{"x5u without kid", vtTok(t, attacker, vtHeader(jose.ES256, "", at, x5u), claims), nil, jwt.ErrSignature},
		{"x5c with attacker kid", vtTok(t, attacker, vtHeader(jose.ES256, attacker.KeyID(), at, x5c), claims), nil, jwt.ErrKeyNotFound},
		{"x5c without kid", vtTok(t, attacker, vtHeader(jose.ES256, "", at, x5c), claims), nil, jwt.ErrSignature},
		{"all of them", vtTok(t, attacker, vtHeader(jose.ES256, "", at, jwk, jku, x5u, x5c), claims), nil, jwt.ErrSignature},
		{"jku with unknown kid", vtTok(t, attacker, vtHeader(jose.ES256, "attacker-kid", at, jku), claims), nil, jwt.ErrKeyNotFound},
	}
	e.run(t, cases)
	if n := hits.Load(); n != 0 {
		t.Fatalf("the test server was hit %d times", n)
	}
}

func TestVerifyKidInjection(t *testing.T) {
	e := vtNewEnv(t)
	claims := vtGoodClaims()
	payload := vtB64(claims)
	at := jwt.TypeAccessToken
	// hmacWith signs an HS256 token with any secret, bypassing the minimum
	// key size of jose.NewKey.
	hmacWith := func(kid string, secret []byte) string {
		b, _ := json.Marshal(map[string]string{"alg": "HS256", "kid": kid, "typ": at})
		h := vtB64(string(b))
		return h + "." + payload + "." + base64.RawURLEncoding.EncodeToString(vtHMAC(jose.HS256, secret, h+"."+payload))
	}
	withKID := func(k *jose.Key, kid string) string {
		b, _ := json.Marshal(map[string]string{"alg": string(k.Algorithm()), "kid": kid, "typ": at})
		return vtTok(t, k, string(b), claims)
	}
	cases := []vtCase{
		{"positive control HS256", e.good(t, e.hs), nil, nil},
		{"positive control RS256", e.good(t, e.rs), nil, nil},
		{"positive control escaped kid", vtTok(t, e.hs, `{"alg":"HS256","kid":"`+strings.Replace(e.hs.KeyID(), e.hs.KeyID()[:1], fmt.Sprintf(`\u%04x`, e.hs.KeyID()[0]), 1)+`","typ":"at+jwt"}`, claims), nil, nil},
	}
	for _, kid := range []string{
		"../../dev/null", "/dev/null", "../../../../../../etc/passwd", "file:///dev/null",
		"' OR '1'='1", "x' UNION SELECT 'secret' --", "1; DROP TABLE keys", `{"$ne":null}`,
		"*", ".*", "%", "", " ", "\x00", e.hs.KeyID() + "\x00", strings.ToUpper(e.hs.KeyID()),
		e.hs.KeyID()[1:], e.hs.KeyID() + " ", "http://127.0.0.1/jwks",
	} {
		cases = append(cases,
			vtCase{fmt.Sprintf("kid %q, empty secret", kid), hmacWith(kid, nil), nil, jwt.ErrKeyNotFound},
			vtCase{fmt.Sprintf("kid %q, zero secret", kid), hmacWith(kid, make([]byte, 32)), nil, jwt.ErrKeyNotFound},
			vtCase{fmt.Sprintf("kid %q, trusted secret", kid), withKID(e.hs, kid), nil, jwt.ErrKeyNotFound},
		)
	}
	cases = append(cases,
		vtCase{"kid of HMAC key, RS256 token", withKID(e.rs, e.hs.KeyID()), nil, jwt.ErrAlgorithm},
		vtCase{"kid of HMAC key, ES256 token", withKID(e.es, e.hs.KeyID()), nil, jwt.ErrAlgorithm},
		vtCase{"kid of RSA key, HS256 token", withKID(e.hs, e.rs.KeyID()), nil, jwt.ErrAlgorithm},
		vtCase{"kid of HMAC key, empty secret", hmacWith(e.hs.KeyID(), nil), nil, jwt.ErrSignature},
		vtCase{"kid number", vtTok(t, e.hs, `{"alg":"HS256","kid":0,"typ":"at+jwt"}`, claims), nil, jwt.ErrMalformed},
		vtCase{"kid array", vtTok(t, e.hs, `{"alg":"HS256","kid":["`+e.hs.KeyID()+`"],"typ":"at+jwt"}`, claims), nil, jwt.ErrMalformed},
		vtCase{"kid null", vtTok(t, e.hs, `{"alg":"HS256","kid":null,"typ":"at+jwt"}`, claims), nil, jwt.ErrMalformed},
	)
	e.run(t, cases)
}

// vtSigParts returns the header.payload prefix and the r, s of an ECDSA
// token.
func vtSigParts(t *testing.T, tok string) (prefix string, r, s *big.Int) {
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	n := len(sig) / 2
	return tok[:i], new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
}

func vtWithSig(prefix string, sig []byte) string {
	return prefix + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func vtRS(size int, r, s *big.Int) []byte {
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out
}

// TestVerifyECDSASignatures covers the ECDSA attack classes. High-S: ECDSA
// is malleable, (r, n-s) verifies whenever (r, s) does, and neither RFC 7518
// nor RFC 8725 asks a JWS verifier to require low s. writ accepts the
// high-S twin, as the Go standard library does: the twin authenticates the
// same header and claims, so nothing an attacker could not already present
// is accepted. Code that needs a unique token identifier must use jti, not
// the signature bytes.
func TestVerifyECDSASignatures(t *testing.T) {
	e := vtNewEnv(t)
	good := e.good(t, e.es)
	prefix, r, s := vtSigParts(t, good)
	n := e.es.PublicKey().(*ecdsa.PublicKey).Curve.Params().N
	h := sha256.Sum256([]byte(prefix))
	der, err := ecdsa.SignASN1(rand.Reader, e.es.CryptoKey().(*ecdsa.PrivateKey), h[:])
	if err != nil {
		t.Fatal(err)
	}
	zero := new(big.Int)
	rs := vtRS(32, r, s)
	cases := []vtCase{
		{"positive control", good, nil, nil},
		{"high S accepted", vtWithSig(prefix, vtRS(32, r, new(big.Int).Sub(n, s))), nil, nil},
		{"r=s=0", vtWithSig(prefix, make([]byte, 64)), nil, jwt.ErrSignature},
		{"r=0", vtWithSig(prefix, vtRS(32, zero, s)), nil, jwt.ErrSignature},
		{"s=0", vtWithSig(prefix, vtRS(32, r, zero)), nil, jwt.ErrSignature},
		{"r=s=n", vtWithSig(prefix, vtRS(32, n, n)), nil, jwt.ErrSignature},
		{"s=n", vtWithSig(prefix, vtRS(32, r, n)), nil, jwt.ErrSignature},
		{"r=n", vtWithSig(prefix, vtRS(32, n, s)), nil, jwt.ErrSignature},
		{"DER encoded", vtWithSig(prefix, der), nil, jwt.ErrSignature},
		{"r||s 63 bytes", vtWithSig(prefix, rs[:63]), nil, jwt.ErrSignature},
		{"r||s 65 bytes", vtWithSig(prefix, append(append([]byte{}, rs...), 0)), nil, jwt.ErrSignature},
		{"r||s with leading zero", vtWithSig(prefix, append([]byte{0}, rs...)), nil, jwt.ErrSignature},
		{"r||s 96 bytes (ES384 size)", vtWithSig(prefix, vtRS(48, r, s)), nil, jwt.ErrSignature},
		{"r||s 132 bytes (ES512 size)", vtWithSig(prefix, vtRS(66, r, s)), nil, jwt.ErrSignature},
		{"r only", vtWithSig(prefix, rs[:32]), nil, jwt.ErrSignature},
		{"s and r swapped", vtWithSig(prefix, vtRS(32, s, r)), nil, jwt.ErrSignature},
		{"one byte", vtWithSig(prefix, []byte{0}), nil, jwt.ErrSignature},
	}
	e.run(t, cases)
}

func TestVerifyAlgorithmSubstitution(t *testing.T) {
	e := vtNewEnv(t)
	claims := vtGoodClaims()
	at := jwt.TypeAccessToken
	rsPriv := e.rs.CryptoKey().(*rsa.PrivateKey)
	ps, err := jose.NewKey(jose.PS256, rsPriv) // same RSA key, same kid (thumbprint)
	if err != nil {
		t.Fatal(err)
	}
	if ps.KeyID() != e.rs.KeyID() {
		t.Fatal("RS256 and PS256 bindings of one key have different kids")
	}
	psSet := jose.NewKeySet(ps.Public())
	relabel := func(tok string, alg jose.Algorithm, kid string) string {
		_, rest, _ := strings.Cut(tok, ".")
		return vtB64(vtHeader(alg, kid, at)) + "." + rest
	}
	rsGood, psGood := e.good(t, e.rs), e.good(t, ps)
	cases := []vtCase{
		{"positive control RS256", rsGood, nil, nil},
		{"positive control ES384", e.good(t, e.es384), nil, nil},
		{"ES256 token, ES384 key kid", vtTok(t, e.es, vtHeader(jose.ES256, e.es384.KeyID(), at), claims), nil, jwt.ErrAlgorithm},
		{"ES384 label, ES256 signature and kid", vtTok(t, e.es, vtHeader(jose.ES384, e.es.KeyID(), at), claims), nil, jwt.ErrAlgorithm},
		{"ES256 token relabelled ES384", relabel(e.good(t, e.es), jose.ES384, e.es384.KeyID()), nil, jwt.ErrSignature},
		{"ES512 label, ES256 kid", relabel(e.good(t, e.es), jose.ES512, e.es.KeyID()), nil, jwt.ErrAlgorithm},
		{"PS256 token, RS256 key", psGood, nil, jwt.ErrAlgorithm},
		{"RS256 relabelled PS256", relabel(rsGood, jose.PS256, e.rs.KeyID()), nil, jwt.ErrAlgorithm},
		{"RS256 relabelled RS512", relabel(rsGood, jose.RS512, e.rs.KeyID()), nil, jwt.ErrAlgorithm},
		{"PS256 without kid, RS256 key", vtTok(t, ps, vtHeader(jose.PS256, "", at), claims), nil, jwt.ErrKeyNotFound},
		{"EdDSA label, ES256 kid", vtTok(t, e.ed, vtHeader(jose.EdDSA, e.es.KeyID(), at), claims), nil, jwt.ErrAlgorithm},
		{"HS384 label, HS256 kid", relabel(e.good(t, e.hs), jose.HS384, e.hs.KeyID()), nil, jwt.ErrAlgorithm},
		{"HS512 label without kid", relabel(e.good(t, e.hs), jose.HS512, ""), nil, jwt.ErrKeyNotFound},
	}
	e.run(t, cases)
	// The same substitution against a set bound to PS256.
	for _, c := range []vtCase{
		{"PS256 set, positive control", psGood, nil, nil},
		{"PS256 set, RS256 token", rsGood, nil, jwt.ErrAlgorithm},
		{"PS256 set, RS256 token without kid", vtTok(t, e.rs, vtHeader(jose.RS256, "", at), claims), nil, jwt.ErrKeyNotFound},
	} {
		t.Run(c.name, func(t *testing.T) { vtCheck(t, vtVerifier(t, psSet, nil), c.token, c.want) })
	}
}

func TestVerifyAllowList(t *testing.T) {
	e := vtNewEnv(t)
	es, hs, rs, ed := e.good(t, e.es), e.good(t, e.hs), e.good(t, e.rs), e.good(t, e.ed)
	only := func(algs ...jose.Algorithm) func(*jwt.Config) {
		return func(c *jwt.Config) { c.Algorithms = algs }
	}
	unknownKID := vtTok(t, e.hs, vtHeader(jose.HS256, "nobody", jwt.TypeAccessToken), vtGoodClaims())
	e.run(t, []vtCase{
		{"default allows ES256", es, nil, nil},
		{"default allows HS256", hs, nil, nil},
		{"default allows RS256", rs, nil, nil},
		{"default allows EdDSA", ed, nil, nil},
		{"empty list allows the key bindings", hs, only(), nil},
		{"ES256 only: ES256", es, only(jose.ES256), nil},
		{"ES256 only: HS256", hs, only(jose.ES256), jwt.ErrAlgorithm},
		{"ES256 only: RS256", rs, only(jose.ES256), jwt.ErrAlgorithm},
		{"ES256 only: EdDSA", ed, only(jose.ES256), jwt.ErrAlgorithm},
		{"ES256 only: checked before key lookup", unknownKID, only(jose.ES256), jwt.ErrAlgorithm},
		{"ES256 and EdDSA: EdDSA", ed, only(jose.ES256, jose.EdDSA), nil},
		{"RS384 only: RS256", rs, only(jose.RS384), jwt.ErrAlgorithm},
		{"PS256 only: RS256", rs, only(jose.PS256), jwt.ErrAlgorithm},
	})
	for _, bad := range [][]jose.Algorithm{{"none"}, {"None"}, {""}, {"HS1"}, {jose.RSAOAEP256}, {jose.Direct}, {jose.ES256, "none"}} {
		if _, err := jwt.NewVerifier(jwt.StaticKeys(e.set), jwt.Config{Issuer: vtIss, Audience: vtAud, Algorithms: bad}); err == nil {
			t.Errorf("NewVerifier accepted Algorithms %q", bad)
		}
	}
}

func TestVerifyDuplicateMembers(t *testing.T) {
	e := vtNewEnv(t)
	k := e.es
	at := jwt.TypeAccessToken
	kid := k.KeyID()
	exp := fmt.Sprint(vtNowUnix + 3600)
	base := `"iss":"` + vtIss + `","aud":"` + vtAud + `","exp":` + exp
	obj := func(members ...string) string { return "{" + base + "," + strings.Join(members, ",") + "}" }
	var many []string
	for i := range 20 {
		many = append(many, fmt.Sprintf(`"c%d":%d`, i, i))
	}
	cases := []vtCase{
		{"positive control", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(`"sub":"a"`)), nil, nil},
		{"positive control many members", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(many...)), nil, nil},
		{"positive control same name nested elsewhere", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(`"a":{"iss":1}`, `"b":[{"iss":2}]`)), nil, nil},

		{"header alg twice", vtTok(t, k, `{"alg":"ES256","alg":"ES256","kid":"`+kid+`","typ":"at+jwt"}`, obj(`"sub":"a"`)), nil, jwt.ErrMalformed},
		{"header alg twice, different", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt","alg":"none"}`, obj(`"sub":"a"`)), nil, jwt.ErrMalformed},
		{"header kid twice", vtTok(t, k, `{"alg":"ES256","kid":"x","kid":"`+kid+`","typ":"at+jwt"}`, obj(`"sub":"a"`)), nil, jwt.ErrMalformed},
		{"header typ twice", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","typ":"JWT","typ":"at+jwt"}`, obj(`"sub":"a"`)), nil, jwt.ErrMalformed},
		{"header escaped alg", vtTok(t, k, `{"alg":"ES256","\u0061lg":"HS256","kid":"`+kid+`","typ":"at+jwt"}`, obj(`"sub":"a"`)), nil, jwt.ErrMalformed},
		{"header escaped kid", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","k\u0069d":"x","typ":"at+jwt"}`, obj(`"sub":"a"`)), nil, jwt.ErrMalformed},
		{"header nested", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt","jwk":{"kty":"EC","kty":"RSA"}}`, obj(`"sub":"a"`)), nil, jwt.ErrMalformed},

		{"iss twice", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(`"iss":"https://evil.example"`)), nil, jwt.ErrMalformed},
		{"iss and \\u0069ss", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(`"\u0069ss":"https://evil.example"`)), nil, jwt.ErrMalformed},
		{"iss and i\\u0073\\u0073", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(`"i\u0073\u0073":"https://evil.example"`)), nil, jwt.ErrMalformed},
		{"aud twice", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(`"aud":"other"`)), nil, jwt.ErrMalformed},
		{"exp twice", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(`"exp":99999999999`)), nil, jwt.ErrMalformed},
		{"sub twice", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(`"sub":"a"`, `"sub":"admin"`)), nil, jwt.ErrMalformed},
		{"custom claim twice", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(`"scope":"read"`, `"scope":"admin"`)), nil, jwt.ErrMalformed},
		{"nested duplicate", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(`"cnf":{"jkt":"a","jkt":"b"}`)), nil, jwt.ErrMalformed},
		{"duplicate in array", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(`"act":[{"sub":"a","sub":"b"}]`)), nil, jwt.ErrMalformed},
		{"duplicate after 20 members", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(append(many, `"c3":3`)...)), nil, jwt.ErrMalformed},
		{"escaped duplicate after 20 members", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(append(many, `"c\u0031\u0039":0`)...)), nil, jwt.ErrMalformed},
		{"iss duplicated after 20 members", vtTok(t, k, vtHeader(jose.ES256, kid, at), obj(append(many, `"iss":"https://evil.example"`)...)), nil, jwt.ErrMalformed},
	}
	e.run(t, cases)
}

func TestVerifyCritAndB64(t *testing.T) {
	e := vtNewEnv(t)
	k := e.es
	claims := vtGoodClaims()
	h := func(extra ...string) string { return vtHeader(jose.ES256, k.KeyID(), jwt.TypeAccessToken, extra...) }
	e.run(t, []vtCase{
		{"positive control", vtTok(t, k, h(), claims), nil, nil},
		{"b64 true accepted", vtTok(t, k, h(`"b64":true`), claims), nil, nil},
		{"unknown member accepted", vtTok(t, k, h(`"x-ext":1`), claims), nil, nil},
		{"crit unknown", vtTok(t, k, h(`"crit":["x-ext"]`, `"x-ext":1`), claims), nil, jwt.ErrCritical},
		{"crit exp", vtTok(t, k, h(`"crit":["exp"]`, `"exp":1`), claims), nil, jwt.ErrCritical},
		{"crit empty", vtTok(t, k, h(`"crit":[]`), claims), nil, jwt.ErrCritical},
		{"crit b64", vtTok(t, k, h(`"crit":["b64"]`, `"b64":true`), claims), nil, jwt.ErrCritical},
		{"crit alg", vtTok(t, k, h(`"crit":["alg"]`), claims), nil, jwt.ErrCritical},
		{"crit string", vtTok(t, k, h(`"crit":"x-ext"`), claims), nil, jwt.ErrCritical},
		{"b64 false", vtTok(t, k, h(`"b64":false`), claims), nil, jwt.ErrMalformed},
		{"b64 false unencoded payload", vtB64(h(`"b64":false`)) + "." + claims + ".AAAA", nil, jwt.ErrMalformed},
		{"b64 string", vtTok(t, k, h(`"b64":"false"`), claims), nil, jwt.ErrMalformed},
		{"b64 number", vtTok(t, k, h(`"b64":0`), claims), nil, jwt.ErrMalformed},
	})
}

// vtSetTrailingBits sets the unused low bits of seg's last character, or
// reports false when seg has none.
func vtSetTrailingBits(seg string) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var mask int
	switch len(seg) % 4 {
	case 2:
		mask = 0x0f
	case 3:
		mask = 0x03
	default:
		return seg, false
	}
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[i|mask]), true
}

// TestVerifyNonCanonicalBase64 signs the non-canonical segment text itself,
// so that the encoding is the only defect of each token.
func TestVerifyNonCanonicalBase64(t *testing.T) {
	e := vtNewEnv(t)
	k := e.hs
	hdr := vtHeader(jose.HS256, k.KeyID(), jwt.TypeAccessToken)
	// A header whose base64url holds both '-' and '_' (standard base64 has
	// '+' and '/' there), and a payload whose length leaves unused bits.
	var hdrDash string
	for i := 0; hdrDash == ""; i++ {
		cand := vtHeader(jose.HS256, k.KeyID(), jwt.TypeAccessToken, fmt.Sprintf(`"x":"%s%s"`, strings.Repeat("?", i%7), strings.Repeat(">", i/7)))
		if enc := vtB64(cand); strings.Contains(enc, "-") && strings.Contains(enc, "_") {
			hdrDash = cand
		}
		if i > 1000 {
			t.Fatal("no header with - and _ found")
		}
	}
	claims := vtGoodClaims()
	for len(vtB64(claims))%4 == 0 {
		claims = claims[:len(claims)-1] + " }"
	}
	h, hd, p := vtB64(hdr), vtB64(hdrDash), vtB64(claims)
	pBits, _ := vtSetTrailingBits(p)
	good := vtSegs(t, k, h, p)
	sigSeg := good[strings.LastIndexByte(good, '.')+1:]
	sigBits, ok := vtSetTrailingBits(sigSeg)
	if !ok {
		t.Fatal("HS256 signature segment has no unused bits")
	}
	std := strings.NewReplacer("-", "+", "_", "/")
	hPadded := base64.URLEncoding.EncodeToString([]byte(hdr))
	for pad := " "; !strings.HasSuffix(hPadded, "="); pad += " " {
		hPadded = base64.URLEncoding.EncodeToString([]byte(hdr + pad))
	}
	// A payload segment of length 1 mod 4, which no byte string encodes to.
	pLong := p + "AAAA"[:(5-len(p)%4)%4]
	if len(pLong)%4 != 1 {
		pLong += "AAAA"
	}
	e.run(t, []vtCase{
		{"positive control", good, nil, nil},
		{"positive control header with - and _", vtSegs(t, k, hd, p), nil, nil},
		{"payload padded", vtSegs(t, k, h, p+strings.Repeat("=", (4-len(p)%4)%4)), nil, jwt.ErrMalformed},
		{"header padded", vtSegs(t, k, hPadded, p), nil, jwt.ErrMalformed},
		{"signature padded", good + "=", nil, jwt.ErrMalformed},
		{"payload trailing bits", vtSegs(t, k, h, pBits), nil, jwt.ErrMalformed},
		{"signature trailing bits", good[:strings.LastIndexByte(good, '.')+1] + sigBits, nil, jwt.ErrMalformed},
		{"header + and /", vtSegs(t, k, std.Replace(hd), p), nil, jwt.ErrMalformed},
		{"standard alphabet signature", vtSegs(t, k, hd, p)[:len(hd)+1+len(p)+1] + base64.RawStdEncoding.EncodeToString(vtRawSig(t, k, hd+"."+p)) + "+/", nil, jwt.ErrMalformed},
		{"newline in payload", vtSegs(t, k, h, p[:10]+"\n"+p[10:]), nil, jwt.ErrMalformed},
		{"CRLF in payload", vtSegs(t, k, h, p[:10]+"\r\n"+p[10:]), nil, jwt.ErrMalformed},
		{"space in header", vtSegs(t, k, h[:5]+" "+h[5:], p), nil, jwt.ErrMalformed},
		{"tab in payload", vtSegs(t, k, h, p[:7]+"\t"+p[7:]), nil, jwt.ErrMalformed},
		{"newline in signature", good[:len(good)-5] + "\n" + good[len(good)-5:], nil, jwt.ErrMalformed},
		{"leading space", " " + good, nil, jwt.ErrMalformed},
		{"trailing newline", good + "\n", nil, jwt.ErrMalformed},
		{"Bearer prefix", "Bearer " + good, nil, jwt.ErrMalformed},
		{"impossible length", vtSegs(t, k, h, pLong), nil, jwt.ErrMalformed},
	})
}

func TestVerifySegments(t *testing.T) {
	e := vtNewEnv(t)
	k := e.hs
	good := e.good(t, k)
	parts := strings.Split(good, ".")
	h, p, s := parts[0], parts[1], parts[2]
	e.run(t, []vtCase{
		{"positive control", good, nil, nil},
		{"empty", "", nil, jwt.ErrMalformed},
		{"one segment", h, nil, jwt.ErrMalformed},
		{"two segments", h + "." + p, nil, jwt.ErrMalformed},
		{"four segments", good + "." + s, nil, jwt.ErrMalformed},
		{"four segments, trailing dot", good + ".", nil, jwt.ErrMalformed},
		{"five segments (JWE shape)", h + "." + p + "." + s + "." + s + "." + s, nil, jwt.ErrMalformed},
		{"empty header", "." + p + "." + s, nil, jwt.ErrMalformed},
		{"empty signature", h + "." + p + ".", nil, jwt.ErrMalformed},
		{"empty payload, signed", vtSegs(t, k, h, ""), nil, jwt.ErrMalformed},
		{"empty payload, unsigned", h + ".." + s, nil, jwt.ErrSignature},
		{"all empty", "..", nil, jwt.ErrMalformed},
		{"dot", ".", nil, jwt.ErrMalformed},
	})
}

func TestVerifySize(t *testing.T) {
	e := vtNewEnv(t)
	k := e.es
	// pad returns a token whose claims carry n bytes of padding.
	pad := func(n int) string {
		return e.tok(t, k, vtClaims(func(m map[string]any) { m["pad"] = strings.Repeat("a", n) }))
	}
	// The largest token within the default limit that padding can make.
	var atLimit string
	lo, hi := 0, jose.DefaultMaxSize
	for lo < hi { // the token length grows with n
		mid := (lo + hi + 1) / 2
		if len(pad(mid)) <= jose.DefaultMaxSize {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	atLimit = pad(lo)
	over := pad(lo + 3)
	if len(atLimit) < jose.DefaultMaxSize-3 || len(over) <= jose.DefaultMaxSize {
		t.Fatalf("sizes %d and %d do not bracket the limit", len(atLimit), len(over))
	}
	small := e.good(t, k)
	e.run(t, []vtCase{
		{"positive control", small, nil, nil},
		{fmt.Sprintf("default limit, %d bytes", len(atLimit)), atLimit, nil, nil},
		{fmt.Sprintf("default limit, %d bytes", len(over)), over, nil, jwt.ErrTooLarge},
		{"configured limit, exact", small, func(c *jwt.Config) { c.MaxSize = len(small) }, nil},
		{"configured limit, one byte over", small, func(c *jwt.Config) { c.MaxSize = len(small) - 1 }, jwt.ErrTooLarge},
		{"configured limit raised", over, func(c *jwt.Config) { c.MaxSize = 1 << 20 }, nil},
		{"garbage over the limit", strings.Repeat("\x00", jose.DefaultMaxSize+1), nil, jwt.ErrTooLarge},
		{"1 MiB of dots", strings.Repeat(".", 1<<20), nil, jwt.ErrTooLarge},
		{"garbage over a configured limit", strings.Repeat("!", 101), func(c *jwt.Config) { c.MaxSize = 100 }, jwt.ErrTooLarge},
	})
}

func TestVerifyNesting(t *testing.T) {
	e := vtNewEnv(t)
	k := e.es
	deep := func(n int) func(map[string]any) {
		return func(m map[string]any) {
			m["deep"] = json.RawMessage(strings.Repeat("[", n) + strings.Repeat("]", n))
		}
	}
	deepObj := func(n int) func(map[string]any) {
		return func(m map[string]any) {
			m["deep"] = json.RawMessage(strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n))
		}
	}
	// The payload object is depth 1, so a claim may nest DefaultMaxDepth-1.
	limit := jose.DefaultMaxDepth - 1
	h := vtHeader(jose.ES256, k.KeyID(), jwt.TypeAccessToken)
	e.run(t, []vtCase{
		{"positive control", e.good(t, k), nil, nil},
		{"claim at the depth bound", e.tok(t, k, vtClaims(deep(limit))), nil, nil},
		{"claim objects at the depth bound", e.tok(t, k, vtClaims(deepObj(limit))), nil, nil},
		{"claim one past the bound", e.tok(t, k, vtClaims(deep(limit+1))), nil, jwt.ErrMalformed},
		{"claim objects one past the bound", e.tok(t, k, vtClaims(deepObj(limit+1))), nil, jwt.ErrMalformed},
		{"claim depth 1000", e.tok(t, k, vtClaims(deep(1000))), nil, jwt.ErrMalformed},
		{"claim depth 1000 objects", e.tok(t, k, vtClaims(deepObj(1000))), nil, jwt.ErrMalformed},
		{"unclosed depth 5000", e.tok(t, k, `{"a":`+strings.Repeat("[", 5000)), nil, jwt.ErrMalformed},
		{"header at the depth bound", vtTok(t, k, h[:len(h)-1]+`,"x":`+strings.Repeat("[", limit)+strings.Repeat("]", limit)+"}", vtGoodClaims()), nil, nil},
		{"header depth 1000", vtTok(t, k, h[:len(h)-1]+`,"x":`+strings.Repeat("[", 1000)+strings.Repeat("]", 1000)+"}", vtGoodClaims()), nil, jwt.ErrMalformed},
	})
}

func TestVerifyType(t *testing.T) {
	e := vtNewEnv(t)
	k := e.es
	withTyp := func(typ string) string { return vtTok(t, k, vtHeader(jose.ES256, k.KeyID(), typ), vtGoodClaims()) }
	typ := func(t string) func(*jwt.Config) { return func(c *jwt.Config) { c.Type = t } }
	e.run(t, []vtCase{
		{"at+jwt", withTyp("at+jwt"), nil, nil},
		{"application/at+jwt", withTyp("application/at+jwt"), nil, nil},
		{"AT+JWT", withTyp("AT+JWT"), nil, nil},
		{"Application/AT+JWT", withTyp("Application/AT+JWT"), nil, nil},
		{"config application/at+jwt", withTyp("at+jwt"), typ("application/at+jwt"), nil},
		{"config AT+JWT", withTyp("application/at+jwt"), typ("AT+JWT"), nil},
		{"ID token typ JWT", withTyp("JWT"), nil, jwt.ErrType},
		{"typ jwt", withTyp("jwt"), nil, jwt.ErrType},
		{"typ application/jwt", withTyp("application/jwt"), nil, jwt.ErrType},
		{"missing typ", withTyp(""), nil, jwt.ErrType},
		{"empty typ", vtTok(t, k, `{"alg":"ES256","kid":"`+k.KeyID()+`","typ":""}`, vtGoodClaims()), nil, jwt.ErrType},
		{"typ with space", withTyp("at+jwt "), nil, jwt.ErrType},
		{"typ application/ only", withTyp("application/"), nil, jwt.ErrType},
		{"typ at+jwt+jwt", withTyp("at+jwt+jwt"), nil, jwt.ErrType},
		{"typ double prefix", withTyp("application/application/at+jwt"), nil, jwt.ErrType},
		{"typ secevent+jwt", withTyp("secevent+jwt"), nil, jwt.ErrType},
		{"typ number", vtTok(t, k, `{"alg":"ES256","kid":"`+k.KeyID()+`","typ":1}`, vtGoodClaims()), nil, jwt.ErrMalformed},
		{"no type required: JWT", withTyp("JWT"), typ(""), nil},
		{"no type required: missing", withTyp(""), typ(""), nil},
		{"JWT required: JWT", withTyp("JWT"), typ(jwt.TypeJWT), nil},
		{"JWT required: at+jwt", withTyp("at+jwt"), typ(jwt.TypeJWT), jwt.ErrType},
	})
}

func TestVerifyHeaderShape(t *testing.T) {
	e := vtNewEnv(t)
	k := e.es
	kid := k.KeyID()
	claims := vtGoodClaims()
	e.run(t, []vtCase{
		{"positive control", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt"}`, claims), nil, nil},
		{"cty json accepted", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt","cty":"json"}`, claims), nil, nil},
		{"cty JWT nested refused", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt","cty":"JWT"}`, claims), nil, jwt.ErrMalformed},
		{"cty jwt nested refused", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt","cty":"jwt"}`, claims), nil, jwt.ErrMalformed},
		{"cty number", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt","cty":1}`, claims), nil, jwt.ErrMalformed},
		{"header array", vtTok(t, k, `["ES256"]`, claims), nil, jwt.ErrMalformed},
		{"header string", vtTok(t, k, `"ES256"`, claims), nil, jwt.ErrMalformed},
		{"header null", vtTok(t, k, `null`, claims), nil, jwt.ErrMalformed},
		{"header empty object", vtTok(t, k, `{}`, claims), nil, jwt.ErrMalformed},
		{"header not JSON", vtTok(t, k, `alg=ES256`, claims), nil, jwt.ErrMalformed},
		{"header trailing bytes", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt"}x`, claims), nil, jwt.ErrMalformed},
		{"no alg", vtTok(t, k, `{"kid":"`+kid+`","typ":"at+jwt"}`, claims), nil, jwt.ErrMalformed},
		{"alg number", vtTok(t, k, `{"alg":256,"kid":"`+kid+`","typ":"at+jwt"}`, claims), nil, jwt.ErrMalformed},
		{"alg null", vtTok(t, k, `{"alg":null,"kid":"`+kid+`","typ":"at+jwt"}`, claims), nil, jwt.ErrMalformed},
		{"alg array", vtTok(t, k, `{"alg":["ES256"],"kid":"`+kid+`","typ":"at+jwt"}`, claims), nil, jwt.ErrMalformed},
		{"alg empty", vtTok(t, k, `{"alg":"","kid":"`+kid+`","typ":"at+jwt"}`, claims), nil, jwt.ErrAlgorithm},
		{"alg lower case", vtTok(t, k, `{"alg":"es256","kid":"`+kid+`","typ":"at+jwt"}`, claims), nil, jwt.ErrAlgorithm},
		{"JWE enc member", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt","enc":"A256GCM"}`, claims), nil, jwt.ErrMalformed},
		{"zip member", vtTok(t, k, `{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt","zip":"DEF"}`, claims), nil, jwt.ErrMalformed},
		{"header invalid UTF-8", vtTok(t, k, "{\"alg\":\"ES256\",\"kid\":\""+kid+"\",\"typ\":\"at+jwt\",\"x\":\"\xc3\"}", claims), nil, jwt.ErrMalformed},
	})
}

func TestVerifyPayloadShape(t *testing.T) {
	e := vtNewEnv(t)
	k := e.es
	good := vtGoodClaims()
	inner := good[1 : len(good)-1]
	noSub := vtClaims(func(m map[string]any) { delete(m, "sub") })
	e.run(t, []vtCase{
		{"positive control", e.tok(t, k, good), nil, nil},
		{"positive control, sub last", e.tok(t, k, noSub[:len(noSub)-1]+`,"sub":"\ud83d\ude00x"}`), nil, nil},
		{"trailing whitespace", e.tok(t, k, good+" \n\t\r"), nil, nil},
		{"leading whitespace", e.tok(t, k, "\n "+good), nil, nil},
		{"surrogate pair", e.tok(t, k, "{"+inner+`,"name":"\ud83d\ude00"}`), nil, nil},
		{"raw UTF-8", e.tok(t, k, "{"+inner+`,"name":"Zoë 😀"}`), nil, nil},
		{"array", e.tok(t, k, "["+good+"]"), nil, jwt.ErrMalformed},
		{"string", e.tok(t, k, `"`+vtIss+`"`), nil, jwt.ErrMalformed},
		{"number", e.tok(t, k, `1`), nil, jwt.ErrMalformed},
		{"null", e.tok(t, k, `null`), nil, jwt.ErrMalformed},
		{"empty", e.tok(t, k, ``), nil, jwt.ErrMalformed},
		{"whitespace only", e.tok(t, k, `  `), nil, jwt.ErrMalformed},
		{"BOM", e.tok(t, k, "\ufeff"+good), nil, jwt.ErrMalformed},
		{"trailing bytes", e.tok(t, k, good+"x"), nil, jwt.ErrMalformed},
		{"trailing object", e.tok(t, k, good+"{}"), nil, jwt.ErrMalformed},
		{"trailing NUL", e.tok(t, k, good+"\x00"), nil, jwt.ErrMalformed},
		{"trailing comma", e.tok(t, k, "{"+inner+",}"), nil, jwt.ErrMalformed},
		{"unclosed", e.tok(t, k, "{"+inner), nil, jwt.ErrMalformed},
		{"single quotes", e.tok(t, k, "{"+inner+`,'a':1}`), nil, jwt.ErrMalformed},
		{"invalid UTF-8 in claim", e.tok(t, k, "{"+inner+",\"name\":\"\xff\"}"), nil, jwt.ErrMalformed},
		{"invalid UTF-8 in name", e.tok(t, k, "{"+inner+",\"\xfe\":1}"), nil, jwt.ErrMalformed},
		{"UTF-8 surrogate", e.tok(t, k, "{"+inner+",\"name\":\"\xed\xa0\x80\"}"), nil, jwt.ErrMalformed},
		{"lone high surrogate", e.tok(t, k, "{"+inner+`,"name":"\ud800"}`), nil, jwt.ErrMalformed},
		{"lone low surrogate", e.tok(t, k, "{"+inner+`,"name":"\udc00"}`), nil, jwt.ErrMalformed},
		{"lone surrogate in sub", e.tok(t, k, noSub[:len(noSub)-1]+`,"sub":"\ud800x"}`), nil, jwt.ErrMalformed},
		{"raw control character", e.tok(t, k, "{"+inner+",\"name\":\"a\nb\"}"), nil, jwt.ErrMalformed},
		{"NaN", e.tok(t, k, "{"+inner+`,"n":NaN}`), nil, jwt.ErrMalformed},
		{"leading zero", e.tok(t, k, "{"+inner+`,"n":01}`), nil, jwt.ErrMalformed},
	})
}

func TestVerifyClaimTypes(t *testing.T) {
	e := vtNewEnv(t)
	k := e.es
	set := func(name string, raw string) string {
		return e.tok(t, k, vtClaims(func(m map[string]any) { m[name] = json.RawMessage(raw) }))
	}
	e.run(t, []vtCase{
		{"positive control", e.good(t, k), nil, nil},
		{"aud array", set("aud", `["other","`+vtAud+`"]`), nil, nil},
		{"exp fractional", set("exp", fmt.Sprintf("%d.75", vtNowUnix+60)), nil, nil},
		{"exp exponent", set("exp", "1.7000036e9"), nil, nil},
		{"sub empty string", set("sub", `""`), nil, nil},
		{"custom claims any type", e.tok(t, k, vtClaims(func(m map[string]any) { m["n"] = 1; m["o"] = map[string]any{}; m["l"] = []any{nil} })), nil, nil},

		{"iss number", set("iss", `1`), nil, jwt.ErrClaim},
		{"iss null", set("iss", `null`), nil, jwt.ErrClaim},
		{"iss array", set("iss", `["`+vtIss+`"]`), nil, jwt.ErrClaim},
		{"aud number", set("aud", `1`), nil, jwt.ErrClaim},
		{"aud null", set("aud", `null`), nil, jwt.ErrClaim},
		{"aud object", set("aud", `{"aud":"`+vtAud+`"}`), nil, jwt.ErrClaim},
		{"aud array with a number", set("aud", `["`+vtAud+`",1]`), nil, jwt.ErrClaim},
		{"aud array with null", set("aud", `[null,"`+vtAud+`"]`), nil, jwt.ErrClaim},
		{"aud nested array", set("aud", `[["`+vtAud+`"]]`), nil, jwt.ErrClaim},
		{"aud empty array", set("aud", `[]`), nil, jwt.ErrClaim},
		{"aud bool", set("aud", `true`), nil, jwt.ErrClaim},
		{"exp string", set("exp", fmt.Sprintf(`"%d"`, vtNowUnix+3600)), nil, jwt.ErrClaim},
		{"exp true", set("exp", `true`), nil, jwt.ErrClaim},
		{"exp null", set("exp", `null`), nil, jwt.ErrClaim},
		{"exp array", set("exp", fmt.Sprintf(`[%d]`, vtNowUnix+3600)), nil, jwt.ErrClaim},
		{"exp overflowing float", set("exp", `1e400`), nil, jwt.ErrClaim},
		{"nbf object", set("nbf", `{}`), nil, jwt.ErrClaim},
		{"nbf string", set("nbf", `"0"`), nil, jwt.ErrClaim},
		{"iat string", set("iat", `"now"`), nil, jwt.ErrClaim},
		{"iat false", set("iat", `false`), nil, jwt.ErrClaim},
		{"sub array", set("sub", `["user-1"]`), nil, jwt.ErrClaim},
		{"sub number", set("sub", `12345`), nil, jwt.ErrClaim},
		{"sub object", set("sub", `{"id":1}`), nil, jwt.ErrClaim},
		{"jti number", set("jti", `42`), nil, jwt.ErrClaim},
		{"jti null", set("jti", `null`), nil, jwt.ErrClaim},
	})
}

func TestVerifyTimes(t *testing.T) {
	e := vtNewEnv(t)
	k := e.es
	now := int64(vtNowUnix)
	claims := func(edit func(map[string]any)) string { return e.tok(t, k, vtClaims(edit)) }
	exp := func(v any) string { return claims(func(m map[string]any) { m["exp"] = v }) }
	nbf := func(v any) string { return claims(func(m map[string]any) { m["nbf"] = v }) }
	iat := func(v any) string { return claims(func(m map[string]any) { m["iat"] = v }) }
	noExp := claims(func(m map[string]any) { delete(m, "exp") })
	noLeeway := func(c *jwt.Config) { c.Leeway = -1 }
	leeway := func(d time.Duration) func(*jwt.Config) { return func(c *jwt.Config) { c.Leeway = d } }
	at := func(sec int64) func(*jwt.Config) {
		return func(c *jwt.Config) { c.Now = func() time.Time { return time.Unix(sec, 0) } }
	}
	lw := int64(jwt.DefaultLeeway / time.Second)
	e.run(t, []vtCase{
		{"positive control", e.good(t, k), nil, nil},

		{"exp missing", noExp, nil, jwt.ErrClaim},
		{"exp missing, AllowMissingExpiry", noExp, func(c *jwt.Config) { c.AllowMissingExpiry = true }, nil},
		{"exp present, AllowMissingExpiry still checks it", exp(now - 3600), func(c *jwt.Config) { c.AllowMissingExpiry = true }, jwt.ErrExpired},

		// exp: valid while now < exp + leeway.
		{"exp = now, default leeway", exp(now), nil, nil},
		{"exp = now-leeway+1", exp(now - lw + 1), nil, nil},
		{"exp = now-leeway", exp(now - lw), nil, jwt.ErrExpired},
		{"exp long past", exp(now - 86400), nil, jwt.ErrExpired},
		{"exp = now+1, no leeway", exp(now + 1), noLeeway, nil},
		{"exp = now, no leeway", exp(now), noLeeway, jwt.ErrExpired},
		{"exp now+0.5 truncates to now, no leeway", exp(float64(now) + 0.5), noLeeway, jwt.ErrExpired},
		{"exp = now-119, leeway 2m", exp(now - 119), leeway(2 * time.Minute), nil},
		{"exp = now-120, leeway 2m", exp(now - 120), leeway(2 * time.Minute), jwt.ErrExpired},
		{"clock at exp-1, no leeway", exp(now + 100), func(c *jwt.Config) { noLeeway(c); at(now + 99)(c) }, nil},
		{"clock at exp, no leeway", exp(now + 100), func(c *jwt.Config) { noLeeway(c); at(now + 100)(c) }, jwt.ErrExpired},
		{"exp 0", exp(0), nil, jwt.ErrExpired},
		{"exp negative", exp(-1), nil, jwt.ErrExpired},
		{"exp huge negative", exp(json.RawMessage("-1e300")), nil, jwt.ErrExpired},
		{"exp far future", exp(json.RawMessage("9.3e18")), nil, nil},
		{"exp max int64", exp(int64(1<<63 - 1)), nil, nil},
		{"exp 1e300", exp(json.RawMessage("1e300")), nil, nil},

		// nbf: not yet valid while nbf > now + leeway.
		{"nbf = now", nbf(now), nil, nil},
		{"nbf past", nbf(now - 3600), nil, nil},
		{"nbf = now+leeway", nbf(now + lw), nil, nil},
		{"nbf = now+leeway+1", nbf(now + lw + 1), nil, jwt.ErrNotYetValid},
		{"nbf = now+1, no leeway", nbf(now + 1), noLeeway, jwt.ErrNotYetValid},
		{"nbf = now, no leeway", nbf(now), noLeeway, nil},
		{"nbf far future", nbf(json.RawMessage("1e300")), nil, jwt.ErrNotYetValid},
		{"nbf = now+120, leeway 2m", nbf(now + 120), leeway(2 * time.Minute), nil},
		{"nbf = now+121, leeway 2m", nbf(now + 121), leeway(2 * time.Minute), jwt.ErrNotYetValid},

		// iat in the future is refused like nbf.
		{"iat past", iat(now - 60), nil, nil},
		{"iat = now+leeway", iat(now + lw), nil, nil},
		{"iat = now+leeway+1", iat(now + lw + 1), nil, jwt.ErrNotYetValid},
		{"iat = now+1, no leeway", iat(now + 1), noLeeway, jwt.ErrNotYetValid},
		{"iat missing", claims(func(m map[string]any) { delete(m, "iat") }), nil, nil},
		{"iat far future", iat(json.RawMessage("1e300")), nil, jwt.ErrNotYetValid},
	})
}

func TestVerifyIssuerAudience(t *testing.T) {
	e := vtNewEnv(t)
	k := e.es
	with := func(name string, v any) string {
		return e.tok(t, k, vtClaims(func(m map[string]any) {
			if v == nil {
				delete(m, name)
			} else {
				m[name] = v
			}
		}))
	}
	skipIss := func(c *jwt.Config) { c.Issuer, c.SkipIssuerCheck = "", true }
	skipAud := func(c *jwt.Config) { c.Audience, c.SkipAudienceCheck = "", true }
	e.run(t, []vtCase{
		{"positive control", e.good(t, k), nil, nil},
		{"iss case differs", with("iss", strings.ToUpper(vtIss)), nil, jwt.ErrIssuer},
		{"iss host case differs", with("iss", "https://Issuer.example"), nil, jwt.ErrIssuer},
		{"iss trailing slash", with("iss", vtIss+"/"), nil, jwt.ErrIssuer},
		{"iss prefix", with("iss", vtIss[:len(vtIss)-1]), nil, jwt.ErrIssuer},
		{"iss http", with("iss", "http://issuer.example"), nil, jwt.ErrIssuer},
		{"iss with NUL", with("iss", vtIss+"\x00"), nil, jwt.ErrIssuer},
		{"iss empty", with("iss", ""), nil, jwt.ErrIssuer},
		{"iss missing", with("iss", nil), nil, jwt.ErrIssuer},
		{"iss escaped equal", e.tok(t, k, strings.Replace(vtGoodClaims(), `"iss":"https://`, `"iss":"https:\/\/`, 1)), nil, nil},
		{"iss skipped", with("iss", "https://anyone.example"), skipIss, nil},
		{"iss missing, skipped", with("iss", nil), skipIss, nil},

		{"aud string", with("aud", vtAud), nil, nil},
		{"aud array single", with("aud", []string{vtAud}), nil, nil},
		{"aud array contains", with("aud", []string{"https://other.example", vtAud}), nil, nil},
		{"aud array lacks", with("aud", []string{"https://other.example", vtAud + "/"}), nil, jwt.ErrAudience},
		{"aud other", with("aud", "https://other.example"), nil, jwt.ErrAudience},
		{"aud case differs", with("aud", strings.ToUpper(vtAud)), nil, jwt.ErrAudience},
		{"aud trailing slash", with("aud", vtAud+"/"), nil, jwt.ErrAudience},
		{"aud empty string", with("aud", ""), nil, jwt.ErrAudience},
		{"aud array of empty string", with("aud", []string{""}), nil, jwt.ErrAudience},
		{"aud missing", with("aud", nil), nil, jwt.ErrAudience},
		{"aud missing, skipped", with("aud", nil), skipAud, nil},
		{"aud other, skipped", with("aud", "https://other.example"), skipAud, nil},
		{"aud wrong type, skipped", e.tok(t, k, vtClaims(func(m map[string]any) { m["aud"] = 1 })), skipAud, jwt.ErrClaim},
	})
}

func TestVerifyRequiredClaims(t *testing.T) {
	e := vtNewEnv(t)
	k := e.es
	required := func(names ...string) func(*jwt.Config) {
		return func(c *jwt.Config) { c.RequiredClaims = names }
	}
	rfc9068 := required("sub", "client_id", "iat", "jti")
	full := e.tok(t, k, vtClaims(func(m map[string]any) { m["client_id"] = "billing" }))
	e.run(t, []vtCase{
		{"positive control", full, rfc9068, nil},
		{"client_id missing", e.good(t, k), rfc9068, jwt.ErrClaim},
		{"sub missing", e.tok(t, k, vtClaims(func(m map[string]any) { m["client_id"] = "b"; delete(m, "sub") })), rfc9068, jwt.ErrClaim},
		{"jti missing", e.tok(t, k, vtClaims(func(m map[string]any) { m["client_id"] = "b"; delete(m, "jti") })), rfc9068, jwt.ErrClaim},
		{"nested name does not count", e.tok(t, k, vtClaims(func(m map[string]any) { m["act"] = map[string]any{"client_id": "x"} })), rfc9068, jwt.ErrClaim},
		{"name is exact", e.tok(t, k, vtClaims(func(m map[string]any) { m["Client_ID"] = "x" })), rfc9068, jwt.ErrClaim},
		{"none required", e.good(t, k), required(), nil},
	})
}

func TestNewVerifierPolicy(t *testing.T) {
	e := vtNewEnv(t)
	keys := jwt.StaticKeys(e.set)
	tests := []struct {
		name string
		keys jwt.KeySource
		cfg  jwt.Config
		ok   bool
		msg  string // part of the error message
	}{
		{"complete", keys, jwt.Config{Issuer: vtIss, Audience: vtAud}, true, ""},
		{"empty issuer", keys, jwt.Config{Audience: vtAud}, false, "Issuer"},
		{"empty audience", keys, jwt.Config{Issuer: vtIss}, false, "Audience"},
		{"both empty", keys, jwt.Config{}, false, "Issuer"},
		{"issuer skipped", keys, jwt.Config{Audience: vtAud, SkipIssuerCheck: true}, true, ""},
		{"audience skipped", keys, jwt.Config{Issuer: vtIss, SkipAudienceCheck: true}, true, ""},
		{"both skipped", keys, jwt.Config{SkipIssuerCheck: true, SkipAudienceCheck: true}, true, ""},
		{"skip audience, issuer still required", keys, jwt.Config{SkipAudienceCheck: true}, false, "Issuer"},
		{"nil key source", nil, jwt.Config{Issuer: vtIss, Audience: vtAud}, false, "key source"},
		{"unsupported algorithm", keys, jwt.Config{Issuer: vtIss, Audience: vtAud, Algorithms: []jose.Algorithm{"XS256"}}, false, "XS256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := jwt.NewVerifier(tt.keys, tt.cfg)
			if tt.ok {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier = %v", err)
				}
				return
			}
			if err == nil || v != nil {
				t.Fatal("NewVerifier accepted an incomplete policy")
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
	// A skipped check really is skipped, and only that one.
	v := vtVerifier(t, e.set, func(c *jwt.Config) { c.Issuer, c.SkipIssuerCheck = "", true })
	vtCheck(t, v, e.tok(t, e.es, vtClaims(func(m map[string]any) { m["iss"] = "anyone" })), nil)
	vtCheck(t, v, e.tok(t, e.es, vtClaims(func(m map[string]any) { m["iss"] = "anyone"; m["aud"] = "other" })), jwt.ErrAudience)
}

type vtKeySource struct {
	ks  *jose.KeySet
	err error
	got *jose.Header
	mu  sync.Mutex
}

func (s *vtKeySource) KeySet(_ context.Context, h *jose.Header) (*jose.KeySet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hc := *h
	s.got = &hc
	return s.ks, s.err
}

func TestVerifyKeySource(t *testing.T) {
	e := vtNewEnv(t)
	good := e.good(t, e.es)
	cfg := vtConfig()

	src := &vtKeySource{ks: e.set}
	v, err := jwt.NewVerifier(src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatalf("positive control: %v", err)
	}
	if src.got == nil || src.got.KeyID != e.es.KeyID() || src.got.Algorithm != jose.ES256 {
		t.Fatalf("key source saw header %+v", src.got)
	}

	boom := errors.New("jwks endpoint down")
	v, err = jwt.NewVerifier(&vtKeySource{err: boom}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), good); !errors.Is(err, boom) || !errors.Is(err, jwt.ErrKeySource) {
		t.Fatalf("Verify = %v, want the key source error wrapped in ErrKeySource", err)
	}

	v, err = jwt.NewVerifier(&vtKeySource{}, cfg) // no set, no error
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), good); !errors.Is(err, jwt.ErrKeyNotFound) {
		t.Fatalf("Verify with a nil key set = %v, want ErrKeyNotFound", err)
	}

	// Malformed tokens are refused before the key source is asked.
	src = &vtKeySource{ks: e.set}
	v, _ = jwt.NewVerifier(src, cfg)
	for _, bad := range []string{"", "a.b", vtTok(t, e.es, `{"alg":"none"}`, vtGoodClaims())} {
		if _, err := v.Verify(context.Background(), bad); err == nil {
			t.Fatalf("Verify(%q) succeeded", bad)
		}
	}
	if src.got != nil {
		t.Fatal("the key source was asked for a malformed token")
	}
}

// TestTokenCannotBeAltered: a verified Token offers no field or method
// through which its header, payload or claims could be replaced, so what
// DecodeClaims and Claim read is always what Verify checked.
func TestTokenCannotBeAltered(t *testing.T) {
	typ := reflect.TypeFor[jwt.Token]()
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() || f.Anonymous {
			t.Errorf("Token has the exported or embedded field %s", f.Name)
		}
	}
	ptr := reflect.PointerTo(typ)
	for i := range ptr.NumMethod() {
		switch m := ptr.Method(i); m.Name {
		case "Claim", "StringClaim", "DecodeClaims", "Claims", "Header", "Key", "Payload", "Raw":
		default:
			t.Errorf("Token has the unexpected method %s", m.Name)
		}
	}

	e := vtNewEnv(t)
	raw := e.tok(t, e.es, vtClaims(func(m map[string]any) { m["aud"] = []string{vtAud, "x"} }))
	tok := vtCheck(t, e.verifier(t, nil), raw, nil)
	c := tok.Claims()
	c.Subject = "mallory"
	c.Audience[0] = "https://evil.example"
	h := tok.Header()
	h.Algorithm, h.KeyID = jose.HS256, "other"
	var decoded jwt.Claims
	if err := tok.DecodeClaims(&decoded); err != nil {
		t.Fatal(err)
	}
	if got := tok.Claims(); got.Subject != "user-1" || got.Audience[0] != vtAud || decoded.Subject != got.Subject {
		t.Errorf("Claims after changing a copy: %+v (decoded %+v)", got, decoded)
	}
	if got := tok.Header(); got.Algorithm != jose.ES256 || got.KeyID != e.es.KeyID() {
		t.Errorf("Header after changing a copy: %+v", got)
	}
	if tok.Raw() != raw {
		t.Errorf("Raw = %q, want the verified token", tok.Raw())
	}
}

// customClaims embeds jwt.Claims as documented.
type customClaims struct {
	jwt.Claims
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
	Roles    []string
}

func TestTokenAccessors(t *testing.T) {
	e := vtNewEnv(t)
	payload := vtClaims(func(m map[string]any) {
		m["scope"] = "orders:read"
		m["client_id"] = "billing"
		m["n"] = 42
		m["esc"] = "a\"b"
		m["obj"] = map[string]any{"k": []int{1, 2}}
		m["Roles"] = []string{"admin"}
		m["nbf"] = vtNowUnix - 10
		m["aud"] = []string{"x", vtAud}
	})
	tok := vtCheck(t, e.verifier(t, nil), e.tok(t, e.es, payload), nil)

	c := tok.Claims()
	if c.Issuer != vtIss || c.Subject != "user-1" || c.ID != "id-1" ||
		c.ExpiresAt != vtNowUnix+3600 || c.IssuedAt != vtNowUnix || c.NotBefore != vtNowUnix-10 ||
		len(c.Audience) != 2 || !c.Audience.Contains(vtAud) || c.Audience.Contains("y") {
		t.Fatalf("Claims %+v", c)
	}
	if k := tok.Key(); k == nil || k.KeyID() != e.es.KeyID() || k.IsPrivate() {
		t.Fatalf("Key %v", k)
	}
	if h := tok.Header(); h.Algorithm != jose.ES256 || h.Type != jwt.TypeAccessToken || tok.Payload() != payload {
		t.Fatalf("Header %+v", h)
	}

	for _, tc := range []struct {
		name    string
		raw     string
		ok      bool
		str     string
		strOK   bool
		comment string
	}{
		{"scope", `"orders:read"`, true, "orders:read", true, ""},
		{"esc", `"a\"b"`, true, `a"b`, true, "escapes decoded"},
		{"n", `42`, true, "", false, "not a string"},
		{"obj", `{"k":[1,2]}`, true, "", false, "raw JSON"},
		{"missing", ``, false, "", false, ""},
		{"Scope", ``, false, "", false, "names are exact"},
		{"k", ``, false, "", false, "nested members are not claims"},
	} {
		raw, ok := tok.Claim(tc.name)
		if raw != tc.raw || ok != tc.ok {
			t.Errorf("Claim(%q) = %q, %v; want %q, %v", tc.name, raw, ok, tc.raw, tc.ok)
		}
		s, ok := tok.StringClaim(tc.name)
		if s != tc.str || ok != tc.strOK {
			t.Errorf("StringClaim(%q) = %q, %v; want %q, %v", tc.name, s, ok, tc.str, tc.strOK)
		}
	}

	var cc customClaims
	if err := tok.DecodeClaims(&cc); err != nil {
		t.Fatal(err)
	}
	if cc.Issuer != vtIss || cc.Scope != "orders:read" || cc.ClientID != "billing" || len(cc.Roles) != 1 || cc.ExpiresAt != vtNowUnix+3600 || len(cc.Audience) != 2 {
		t.Fatalf("DecodeClaims %+v", cc)
	}
	var m map[string]any
	if err := tok.DecodeClaims(&m); err != nil || m["n"] != float64(42) {
		t.Fatalf("DecodeClaims map %v, %v", m, err)
	}
	var wrong struct {
		Scope int `json:"scope"`
	}
	if err := tok.DecodeClaims(&wrong); err == nil {
		t.Fatal("DecodeClaims into a mistyped field succeeded")
	}
}

// TestDecodeClaimsCaseFoldedNames: encoding/json matches "ISS" and "iſs"
// to a field tagged "iss" and keeps the last one, so DecodeClaims refuses a
// payload whose names differ only in case; the exact-name registered claims
// that Verify checked are not affected.
func TestDecodeClaimsCaseFoldedNames(t *testing.T) {
	e := vtNewEnv(t)
	v := e.verifier(t, nil)
	base := vtGoodClaims()
	inner := base[1 : len(base)-1]
	for _, tc := range []struct {
		name    string
		payload string
		want    error
	}{
		{"positive control", base, nil},
		{"positive control, same name in different objects", "{" + inner + `,"a":{"iss":1},"b":{"ISS":2}}`, nil},
		{"ISS after iss", "{" + inner + `,"ISS":"https://evil.example"}`, jwt.ErrMalformed},
		{"long s", "{" + inner + `,"iſs":"https://evil.example"}`, jwt.ErrMalformed},
		{"escaped long s", "{" + inner + `,"i\u017fs":"https://evil.example"}`, jwt.ErrMalformed},
		{"Kelvin sign", "{" + inner + `,"scope":"read","\u212aey":1,"key":2}`, jwt.ErrMalformed},
		{"nested", "{" + inner + `,"cnf":{"jkt":"a","JKT":"b"}}`, jwt.ErrMalformed},
		// A lone case variant of a registered claim would be decoded into
		// Claims although Verify did not read it.
		{"Sub without sub", vtClaims(func(m map[string]any) { delete(m, "sub"); m["Sub"] = "admin" }), jwt.ErrMalformed},
		{"IAT without iat", vtClaims(func(m map[string]any) { delete(m, "iat"); m["IAT"] = vtNowUnix + 1e6 }), jwt.ErrMalformed},
		{"ſub without sub", vtClaims(func(m map[string]any) { delete(m, "sub"); m["ſub"] = "admin" }), jwt.ErrMalformed},
		{"positive control, subject", "{" + inner + `,"subject":"x","Scope":"a"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := vtCheck(t, v, e.tok(t, e.es, tc.payload), nil)
			if tok.Claims().Issuer != vtIss {
				t.Fatalf("Claims.Issuer %q", tok.Claims().Issuer)
			}
			var cc customClaims
			err := tok.DecodeClaims(&cc)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("DecodeClaims = %v", err)
				}
				if cc.Issuer != vtIss {
					t.Fatalf("decoded iss %q", cc.Issuer)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeClaims = %v (iss %q), want %v", err, cc.Issuer, tc.want)
			}
		})
	}
}

func TestClaimsJSON(t *testing.T) {
	t.Run("NumericDate", func(t *testing.T) {
		for _, tc := range []struct {
			in   string
			want jwt.NumericDate
			err  bool
		}{
			{`1700000000`, 1700000000, false},
			{`1700000000.999`, 1700000000, false},
			{`1.7e9`, 1700000000, false},
			{`-1.5`, -2, false},
			{`1e300`, math.MaxInt64, false},
			{`-1e300`, math.MinInt64, false},
			{`null`, 7, false}, // no-op: keeps the previous value
			{`"1700000000"`, 0, true},
			{`true`, 0, true},
			{`1e400`, 0, true},
			{`{}`, 0, true},
		} {
			d := jwt.NumericDate(7)
			err := json.Unmarshal([]byte(tc.in), &d)
			if (err != nil) != tc.err || (!tc.err && d != tc.want) {
				t.Errorf("Unmarshal(%s) = %d, %v; want %d, error %v", tc.in, d, err, tc.want, tc.err)
			}
		}
		if b, err := json.Marshal(jwt.NumericDate(1700000000)); err != nil || string(b) != "1700000000" {
			t.Errorf("Marshal = %s, %v", b, err)
		}
		now := vtNow()
		if d := jwt.NewNumericDate(now); d != vtNowUnix || !d.Time().Equal(now) {
			t.Errorf("NewNumericDate/Time: %d %v", d, d.Time())
		}
	})
	t.Run("Audience", func(t *testing.T) {
		for _, tc := range []struct {
			in   string
			want jwt.Audience
			err  bool
		}{
			{`"a"`, jwt.Audience{"a"}, false},
			{`["a","b"]`, jwt.Audience{"a", "b"}, false},
			{`[]`, jwt.Audience{}, false},
			{`null`, jwt.Audience{"keep"}, false},
			{`1`, nil, true},
			{`["a",1]`, nil, true},
			{`{"a":1}`, nil, true},
		} {
			a := jwt.Audience{"keep"}
			err := json.Unmarshal([]byte(tc.in), &a)
			if (err != nil) != tc.err || (!tc.err && fmt.Sprintf("%q", a) != fmt.Sprintf("%q", tc.want)) {
				t.Errorf("Unmarshal(%s) = %q, %v; want %q, error %v", tc.in, a, err, tc.want, tc.err)
			}
		}
		for _, tc := range []struct {
			a    jwt.Audience
			want string
		}{
			{jwt.Audience{"a"}, `"a"`},
			{jwt.Audience{"a", "b"}, `["a","b"]`},
			{jwt.Audience{}, `[]`},
		} {
			if b, err := json.Marshal(tc.a); err != nil || string(b) != tc.want {
				t.Errorf("Marshal(%q) = %s, %v; want %s", tc.a, b, err, tc.want)
			}
		}
		var c jwt.Claims
		if err := json.Unmarshal([]byte(`{"aud":null,"exp":null}`), &c); err != nil || c.Audience != nil || c.ExpiresAt != 0 {
			t.Errorf("null aud and exp decode to %+v, %v", c, err)
		}
	})
	t.Run("DecodeClaims agrees with Verify", func(t *testing.T) {
		e := vtNewEnv(t)
		v := e.verifier(t, nil)
		for _, exp := range []string{"1.7000036e9", "1700003600.75", "17000036e2"} {
			payload := `{"iss":"` + vtIss + `","aud":["` + vtAud + `"],"exp":` + exp + `,"nbf":1.6e9,"iat":1699999999.5}`
			tok := vtCheck(t, v, e.tok(t, e.es, payload), nil)
			var cc customClaims
			if err := tok.DecodeClaims(&cc); err != nil {
				t.Fatalf("exp %s: DecodeClaims: %v", exp, err)
			}
			if fmt.Sprintf("%+v", cc.Claims) != fmt.Sprintf("%+v", tok.Claims()) {
				t.Fatalf("exp %s: DecodeClaims %+v, Verify %+v", exp, cc.Claims, tok.Claims())
			}
		}
	})
}

func TestVerifyConcurrent(t *testing.T) {
	e := vtNewEnv(t)
	v := e.verifier(t, nil)
	goods := []string{e.good(t, e.hs), e.good(t, e.es), e.good(t, e.rs), e.good(t, e.ed)}
	bad := e.tok(t, e.hs, vtClaims(func(m map[string]any) { m["aud"] = "other" }))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				tok, err := v.Verify(context.Background(), goods[(g+i)%len(goods)])
				if err != nil || tok.Claims().Subject != "user-1" {
					errs <- fmt.Errorf("good token: %v", err)
					return
				}
				if _, err := v.Verify(context.Background(), bad); !errors.Is(err, jwt.ErrAudience) {
					errs <- fmt.Errorf("bad token: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSignerRoundTrip checks jwt.Signer output against the strict verifier.
func TestSignerRoundTrip(t *testing.T) {
	e := vtNewEnv(t)
	v := e.verifier(t, nil)
	for _, k := range []*jose.Key{e.hs, e.es, e.es384, e.rs, e.ed} {
		s, err := jwt.NewSigner(k, jwt.TypeAccessToken)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Sign(customClaims{Claims: jwt.Claims{Issuer: vtIss, Audience: jwt.Audience{vtAud}, ExpiresAt: vtNowUnix + 60, Subject: "s"}, Scope: "x"})
		if err != nil {
			t.Fatal(err)
		}
		got := vtCheck(t, v, tok, nil)
		if sc, _ := got.StringClaim("scope"); sc != "x" {
			t.Fatalf("%s: scope %q", k.Algorithm(), sc)
		}
	}
	if _, err := jwt.NewSigner(e.es.Public(), jwt.TypeAccessToken); err == nil {
		t.Fatal("NewSigner accepted a public key")
	}
	s, _ := jwt.NewSigner(e.hs, "")
	for _, bad := range []any{[]string{"a"}, "claims", 1, nil} {
		if _, err := s.Sign(bad); err == nil {
			t.Fatalf("Sign(%v) succeeded", bad)
		}
	}
}
