package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
)

// The attack tokens below are built by hand with the standard library's
// crypto, not with writ's signer, so that the CLI is judged on tokens it
// did not produce.

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64json(t testing.TB, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return b64url([]byte(s))
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64url(b)
}

// signES256 signs header.payload with a P-256 key in the JWS r||s form.
func signES256(t testing.TB, k *ecdsa.PrivateKey, header, payload any) string {
	t.Helper()
	input := b64json(t, header) + "." + b64json(t, payload)
	h := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64url(sig)
}

// signHS256 signs header.payload with an HMAC-SHA-256 secret.
func signHS256(t testing.TB, secret []byte, header, payload any) string {
	t.Helper()
	input := b64json(t, header) + "." + b64json(t, payload)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + b64url(m.Sum(nil))
}

// signRS256 signs header.payload with RSASSA-PKCS1-v1_5 SHA-256.
func signRS256(t testing.TB, k *rsa.PrivateKey, header, payload any) string {
	t.Helper()
	input := b64json(t, header) + "." + b64json(t, payload)
	h := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64url(sig)
}

// attackFixture holds the trusted keys and an attacker's key.
type attackFixture struct {
	dir      string
	jwks     string // trusted JWK Set: one EC P-256 key and one RSA key
	ec       *ecdsa.PrivateKey
	ecKID    string
	rsa      *rsa.PrivateKey
	rsaKID   string
	attacker *ecdsa.PrivateKey
}

func newAttackFixture(t *testing.T) *attackFixture {
	t.Helper()
	dir := t.TempDir()
	ec := genKey(t, dir, jose.ES256)
	rs := genKey(t, dir, jose.RS256)
	var sets [2]struct {
		Keys []json.RawMessage `json:"keys"`
	}
	for i, f := range []string{ec.jwks, rs.jwks} {
		data, _ := os.ReadFile(f)
		if err := json.Unmarshal(data, &sets[i]); err != nil {
			t.Fatal(err)
		}
	}
	both, _ := json.Marshal(map[string]any{"keys": append(sets[0].Keys, sets[1].Keys...)})
	jwks := filepath.Join(dir, "trusted.jwks.json")
	if err := os.WriteFile(jwks, both, 0o644); err != nil {
		t.Fatal(err)
	}
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &attackFixture{
		dir: dir, jwks: jwks,
		ec: ec.key.CryptoKey().(*ecdsa.PrivateKey), ecKID: ec.key.KeyID(),
		rsa: rs.key.CryptoKey().(*rsa.PrivateKey), rsaKID: rs.key.KeyID(),
		attacker: attacker,
	}
}

// claims returns valid claims with changes applied (a nil value deletes).
func validClaims(changes map[string]any) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "user-1", "client_id": "app",
		"iat": now, "exp": now + 3600, "jti": "id-1",
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestVerifyAttackTable(t *testing.T) {
	f := newAttackFixture(t)
	hdr := func(extra ...any) map[string]any {
		h := map[string]any{"alg": "ES256", "kid": f.ecKID, "typ": "at+jwt"}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == nil {
				delete(h, extra[i].(string))
			} else {
				h[extra[i].(string)] = extra[i+1]
			}
		}
		return h
	}
	valid := signES256(t, f.ec, hdr(), validClaims(nil))
	parts := strings.Split(valid, ".")

	rsaPub, _ := x509.MarshalPKIXPublicKey(&f.rsa.PublicKey)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	attackerJWK := map[string]any{
		"kty": "EC", "crv": "P-256",
		"x": b64url(f.attacker.X.FillBytes(make([]byte, 32))),
		"y": b64url(f.attacker.Y.FillBytes(make([]byte, 32))),
	}
	tamperedClaims := b64json(t, validClaims(map[string]any{"sub": "admin"}))
	zeroSig := parts[0] + "." + parts[1] + "." + b64url(make([]byte, 64))
	derSig := func() string {
		input := parts[0] + "." + parts[1]
		h := sha256.Sum256([]byte(input))
		der, _ := ecdsa.SignASN1(rand.Reader, f.ec, h[:])
		return input + "." + b64url(der)
	}()
	sigBytes, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	truncated := parts[0] + "." + parts[1] + "." + b64url(sigBytes[:60])
	noneHeader := b64json(t, map[string]any{"alg": "none", "typ": "at+jwt"})

	tests := []struct {
		name  string
		token string
		args  []string // extra verify flags
		want  string   // in the reason; "" means the token is valid
	}{
		{"valid", valid, nil, ""},
		{"valid with aud array", signES256(t, f.ec, hdr(), validClaims(map[string]any{"aud": []string{"other", testAudience}})), nil, ""},
		{"valid without kid", signES256(t, f.ec, hdr("kid", nil), validClaims(nil)), nil, ""},
		{"valid RS256", signRS256(t, f.rsa, hdr("alg", "RS256", "kid", f.rsaKID), validClaims(nil)), nil, ""},
		{"valid within leeway", signES256(t, f.ec, hdr(), validClaims(map[string]any{"exp": time.Now().Unix() - 5})), nil, ""},
		{"valid application/at+jwt", signES256(t, f.ec, hdr("typ", "application/at+jwt"), validClaims(nil)), nil, ""},

		{"expired", signES256(t, f.ec, hdr(), validClaims(map[string]any{"exp": time.Now().Unix() - 3600})), nil, "jwt: token expired"},
		{"expired, no leeway", signES256(t, f.ec, hdr(), validClaims(map[string]any{"exp": time.Now().Unix() - 5})), []string{"--leeway", "0s"}, "jwt: token expired"},
		{"not yet valid", signES256(t, f.ec, hdr(), validClaims(map[string]any{"nbf": time.Now().Unix() + 3600})), nil, "jwt: token not yet valid"},
		{"iat in the future", signES256(t, f.ec, hdr(), validClaims(map[string]any{"iat": time.Now().Unix() + 3600})), nil, "jwt: token not yet valid"},
		{"missing exp", signES256(t, f.ec, hdr(), validClaims(map[string]any{"exp": nil})), nil, "exp is required"},
		{"exp of the wrong type", signES256(t, f.ec, hdr(), validClaims(map[string]any{"exp": "tomorrow"})), nil, "jwt: invalid claim"},
		{"wrong issuer", signES256(t, f.ec, hdr(), validClaims(map[string]any{"iss": "https://evil.test"})), nil, "jwt: wrong issuer"},
		{"issuer prefix", signES256(t, f.ec, hdr(), validClaims(map[string]any{"iss": testIssuer + "/"})), nil, "jwt: wrong issuer"},
		{"missing issuer", signES256(t, f.ec, hdr(), validClaims(map[string]any{"iss": nil})), nil, "jwt: wrong issuer"},
		{"wrong audience", signES256(t, f.ec, hdr(), validClaims(map[string]any{"aud": "https://other.test"})), nil, "jwt: wrong audience"},
		{"audience array without ours", signES256(t, f.ec, hdr(), validClaims(map[string]any{"aud": []string{"a", "b"}})), nil, "jwt: wrong audience"},
		{"wrong type (ID token as access token)", signES256(t, f.ec, hdr("typ", "JWT"), validClaims(nil)), []string{"--type", "at+jwt"}, "jwt: wrong token type"},
		{"missing type", signES256(t, f.ec, hdr("typ", nil), validClaims(nil)), []string{"--type", "at+jwt"}, "jwt: wrong token type"},

		{"alg none, empty signature", noneHeader + "." + parts[1] + ".", nil, "alg none|jose: malformed token"},
		{"alg none, with signature", noneHeader + "." + parts[1] + "." + parts[2], nil, "alg none"},
		{"alg NoNe", b64json(t, map[string]any{"alg": "NoNe"}) + "." + parts[1] + "." + parts[2], nil, "jose: algorithm not accepted"},
		{"HS256 with the RSA public key as secret", signHS256(t, rsaPEM, hdr("alg", "HS256", "kid", f.rsaKID), validClaims(nil)), nil, "jose: algorithm not accepted"},
		{"HS256 with the RSA public key, no kid", signHS256(t, rsaPEM, hdr("alg", "HS256", "kid", nil), validClaims(nil)), nil, "jose: no matching key"},
		{"algorithm substitution ES384 on ES256 key", signES256(t, f.ec, hdr("alg", "ES384"), validClaims(nil)), nil, "jose: algorithm not accepted"},
		{"RS256 not in --alg", signRS256(t, f.rsa, hdr("alg", "RS256", "kid", f.rsaKID), validClaims(nil)), []string{"--alg", "ES256"}, "jose: algorithm not accepted"},
		{"embedded jwk", signES256(t, f.attacker, hdr("kid", nil, "jwk", attackerJWK), validClaims(nil)), nil, "jose: invalid signature"},
		{"embedded jwk with trusted kid", signES256(t, f.attacker, hdr("jwk", attackerJWK), validClaims(nil)), nil, "jose: invalid signature"},
		{"jku", signES256(t, f.attacker, hdr("kid", "attacker", "jku", "https://evil.test/jwks.json"), validClaims(nil)), nil, "jose: no matching key"},
		{"x5u", signES256(t, f.attacker, hdr("kid", nil, "x5u", "https://evil.test/cert.pem"), validClaims(nil)), nil, "jose: invalid signature"},
		{"kid injection", signES256(t, f.attacker, hdr("kid", "../../../dev/null"), validClaims(nil)), nil, "jose: no matching key"},
		{"kid SQL injection", signES256(t, f.attacker, hdr("kid", "x' OR '1'='1"), validClaims(nil)), nil, "jose: no matching key"},
		{"signed by an untrusted key", signES256(t, f.attacker, hdr(), validClaims(nil)), nil, "jose: invalid signature"},
		{"tampered payload", parts[0] + "." + tamperedClaims + "." + parts[2], nil, "jose: invalid signature"},
		{"tampered header", b64json(t, hdr("typ", "JWT")) + "." + parts[1] + "." + parts[2], nil, "jose: invalid signature"},
		{"truncated signature", truncated, nil, "jose: invalid signature"},
		{"truncated signature, bad base64", valid[:len(valid)-1], nil, "jose: malformed token"},
		{"signature removed", parts[0] + "." + parts[1] + ".", nil, "jose: malformed token"},
		{"ECDSA r=s=0", zeroSig, nil, "jose: invalid signature"},
		{"ECDSA DER signature", derSig, nil, "jose: invalid signature"},
		{"duplicate claim", signES256(t, f.ec, hdr(), `{"iss":"https://evil.test","iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":`+fmt.Sprint(time.Now().Unix()+3600)+`}`), nil, "duplicate member"},
		{"duplicate header member", signES256(t, f.ec, `{"alg":"ES256","alg":"HS256","kid":"`+f.ecKID+`"}`, validClaims(nil)), nil, "jose: malformed token"},
		{"unknown crit", signES256(t, f.ec, hdr("crit", []string{"exp-ext"}, "exp-ext", true), validClaims(nil)), nil, "jose: unsupported critical header"},
		{"b64 false", signES256(t, f.ec, hdr("b64", false), validClaims(nil)), nil, "jose: malformed token"},
		{"nested JWT", signES256(t, f.ec, hdr("cty", "JWT"), validClaims(nil)), nil, "jose: malformed token"},
		{"claims not an object", signES256(t, f.ec, hdr(), `["not","an","object"]`), nil, "jose: malformed token"},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], nil, "jose: malformed token"},
		{"standard base64 alphabet", parts[0] + "." + parts[1] + ".+" + parts[2][1:], nil, "jose: malformed token"},
		{"four segments", valid + ".AAAA", nil, "jose: malformed token"},
		{"JWE-shaped", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.AAAA.AAAA", nil, "jose: malformed token"},
		{"Bearer prefix", "Bearer " + valid, nil, "jose: malformed token"},
		{"garbage", "hello world", nil, "jose: malformed token"},
		{"garbage binary", "\x00\xff\xfe", nil, "jose: malformed token"},
		{"two dots", "..", nil, "jose: malformed token"},
		{"empty", "", nil, "jose: malformed token"},
		{"oversized", strings.Repeat("a", 20<<10), nil, "jose: token too large"},
		{"oversized for --max-size", valid, []string{"--max-size", "100"}, "jose: token too large"},
		{"deep nesting", signES256(t, f.ec, hdr(), `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":`+fmt.Sprint(time.Now().Unix()+3600)+`,"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`), nil, "jose: malformed token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := verifyArgs(f.jwks, tc.args...)
			// Once on standard input, once as the argument.
			results := []result{
				writ(t, tc.token+"\n", args...),
				writ(t, "", append(args, "--", tc.token)...),
			}
			for i, r := range results {
				if tc.want == "" {
					r.mustSucceed(t)
					parseVerified(t, r.stdout)
					if r.stderr != "" {
						t.Fatalf("valid token, stderr %q", r.stderr)
					}
					continue
				}
				if i == 1 && tc.token == "" {
					continue // an empty argument is covered by the stdin run
				}
				r.rejectedWith(t, tc.want)
			}
		})
	}
}

func TestVerifyFromStdin(t *testing.T) {
	dir := t.TempDir()
	g := genKey(t, dir, jose.EdDSA)
	token := mint(t, g.keyFile, "--subject", "alice")
	for _, in := range []string{token, token + "\n", "  \r\n" + token + "\r\n\t "} {
		r := writ(t, in, verifyArgs(g.jwks)...).mustSucceed(t)
		if v := parseVerified(t, r.stdout); v.Claims["sub"] != "alice" {
			t.Fatalf("claims %v", v.Claims)
		}
	}
	// "-" as the argument also means standard input.
	writ(t, token, verifyArgs(g.jwks, "-")...).mustSucceed(t)
	// A token at the limit is read; more than the limit plus a little white
	// space is rejected without reading it all.
	atLimit := strings.Repeat("a", jose.DefaultMaxSize)
	writ(t, atLimit+"\n", verifyArgs(g.jwks)...).rejectedWith(t, "jose: malformed token")
	big := strings.Repeat("a", jose.DefaultMaxSize+tokenWhitespaceSlack+1)
	writ(t, big, verifyArgs(g.jwks)...).rejectedWith(t, "jose: token too large")
}

func TestVerifyOutputKeepsClaimsExact(t *testing.T) {
	dir := t.TempDir()
	g := genKey(t, dir, jose.HS256)
	token := mint(t, g.keyFile, "--claims", `{"n":12345678901234567890,"url":"https://x.test/?a=1&b=<2>","nested":{"z":1,"a":[true,null]}}`)
	r := writ(t, token, verifyArgs(g.jwks)...).mustSucceed(t)
	for _, want := range []string{`"n": 12345678901234567890`, `"url": "https://x.test/?a=1&b=<2>"`, `"z": 1`} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("output lacks %s:\n%s", want, r.stdout)
		}
	}
	if !strings.HasPrefix(r.stdout, "{\n  \"header\": {\n    \"alg\": \"HS256\"") {
		t.Fatalf("output is not indented as expected:\n%s", r.stdout)
	}
}

func TestVerifyRemoteJWKS(t *testing.T) {
	dir := t.TempDir()
	g := genKey(t, dir, jose.ES256)
	jwks, _ := os.ReadFile(g.jwks)
	token := mint(t, g.keyFile)

	mux := http.NewServeMux()
	mux.HandleFunc("/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(jwks)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jwks.json", http.StatusFound)
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		w.Write(jwks)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys":[`))
		w.Write([]byte(strings.Repeat(" ", 2<<20)))
	})
	mux.HandleFunc("/private", func(w http.ResponseWriter, r *http.Request) {
		data, _ := os.ReadFile(g.keyFile)
		fmt.Fprintf(w, `{"keys":[%s]}`, data)
	})
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>hello</html>"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server is not on 127.0.0.1: %s", srv.URL)
	}

	writ(t, token, verifyArgs(srv.URL+"/jwks.json", "--type", "at+jwt")...).mustSucceed(t)
	writ(t, token, verifyArgs(srv.URL+"/redirect")...).mustSucceed(t)
	writ(t, token, verifyArgs(srv.URL+"/jwks.json", "--issuer", "https://other.test")...).rejectedWith(t, "jwt: wrong issuer")

	for _, tc := range []struct{ path, want string }{
		{"/missing", "404"},
		{"/created", "201"},
		{"/huge", "larger than"},
		{"/private", "private key material"},
		{"/garbage", "invalid"},
	} {
		r := writ(t, token, verifyArgs(srv.URL+tc.path)...).mustFail(t, exitUsage, tc.want)
		if r.stdout != "" {
			t.Fatalf("%s: stdout %q", tc.path, r.stdout)
		}
	}
	writ(t, token, verifyArgs("ftp://127.0.0.1/jwks.json")...).mustFail(t, exitUsage, "http")
	writ(t, token, verifyArgs("file:///etc/passwd")...).mustFail(t, exitUsage, "http")

	// A closed port is a fetch error, not a verdict.
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	writ(t, token, verifyArgs(closedURL+"/jwks.json")...).mustFail(t, exitUsage, "cannot fetch")
}

func TestVerifyKeySources(t *testing.T) {
	dir := t.TempDir()
	ec := genKey(t, dir, jose.ES256)
	hs := genKey(t, dir, jose.HS512)
	ecToken := mint(t, ec.keyFile)
	hsToken := mint(t, hs.keyFile)

	// A public JWK on its own.
	pubJWK := filepath.Join(dir, "pub.jwk.json")
	pub, _ := json.Marshal(ec.key.Public())
	os.WriteFile(pubJWK, pub, 0o644)
	writ(t, ecToken, verifyArgs(pubJWK)...).mustSucceed(t)

	// A PEM public key.
	pubPEM := filepath.Join(dir, "pub.pem")
	pemData, err := ec.key.Public().MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pubPEM, pemData, 0o644)
	writ(t, ecToken, verifyArgs(pubPEM)...).mustSucceed(t)

	// The HMAC secret verifies its own tokens, and nothing else.
	writ(t, hsToken, verifyArgs(hs.keyFile)...).mustSucceed(t)
	writ(t, ecToken, verifyArgs(hs.keyFile)...).rejectedWith(t, "jose: no matching key")
	writ(t, hsToken, verifyArgs(ec.jwks)...).rejectedWith(t, "jose: no matching key")

	// Configuration errors exit 2 with one line.
	secretSet := filepath.Join(dir, "secret-set.json")
	secret, _ := os.ReadFile(hs.keyFile)
	os.WriteFile(secretSet, []byte(`{"keys":[`+string(secret)+`]}`), 0o644)
	notJSON := filepath.Join(dir, "not.json")
	os.WriteFile(notJSON, []byte("hello"), 0o644)
	neither := filepath.Join(dir, "neither.json")
	os.WriteFile(neither, []byte(`{"hello":"world"}`), 0o644)
	unknownOnly := filepath.Join(dir, "unknown.json")
	os.WriteFile(unknownOnly, []byte(`{"keys":[{"kty":"OKP","crv":"X448","x":"AAAA"}]}`), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "verify", "--issuer", testIssuer, "--audience", testAudience}, "--jwks is required"},
		{[]string{"token", "verify", "--jwks", ec.jwks, "--audience", testAudience}, "--issuer is required"},
		{[]string{"token", "verify", "--jwks", ec.jwks, "--issuer", testIssuer}, "--audience is required"},
		{verifyArgs(filepath.Join(dir, "missing.json")), "no such file"},
		{verifyArgs(dir), "directory"},
		{verifyArgs(secretSet), "public keys only"},
		{verifyArgs(notJSON), "neither"},
		{verifyArgs(neither), "neither"},
		{verifyArgs(unknownOnly), "no key writ can use"},
		{verifyArgs(ec.jwks, "--alg", "RS256"), "allows none of the trusted keys"},
		{verifyArgs(ec.jwks, "--alg", "none"), "never accepted"},
		{verifyArgs(ec.jwks, "--alg", "es256"), "did you mean ES256"},
		{verifyArgs(ec.jwks, "--leeway", "-1s"), "--leeway"},
		{verifyArgs(ec.jwks, "--leeway", "2h"), "--leeway"},
		{verifyArgs(ec.jwks, "--leeway", "1500ms"), "whole seconds"},
		{verifyArgs(ec.jwks, "--max-size", "0"), "--max-size"},
		{verifyArgs(ec.jwks, "--ttl", "1m"), "unknown flag"},
		{verifyArgs(ec.jwks, "a", "b"), "too many arguments"},
	} {
		r := writ(t, ecToken, tc.args...).mustFail(t, exitUsage, tc.want)
		if r.stdout != "" {
			t.Fatalf("%v: stdout %q", tc.args, r.stdout)
		}
	}
}

// RSA keys published without "alg" are bound by exactly one --alg.
func TestVerifyRSAWithoutAlg(t *testing.T) {
	dir := t.TempDir()
	g := genKey(t, dir, jose.RS256)
	token := mint(t, g.keyFile)
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	data, _ := os.ReadFile(g.jwks)
	json.Unmarshal(data, &doc)
	delete(doc.Keys[0], "alg")
	set, _ := json.Marshal(doc)
	setFile := filepath.Join(dir, "noalg.jwks.json")
	os.WriteFile(setFile, set, 0o644)
	single, _ := json.Marshal(doc.Keys[0])
	keyFile := filepath.Join(dir, "noalg.jwk.json")
	os.WriteFile(keyFile, single, 0o644)

	for _, f := range []string{setFile, keyFile} {
		writ(t, token, verifyArgs(f)...).mustFail(t, exitUsage, `"alg"`, "--alg RS256")
		writ(t, token, verifyArgs(f, "--alg", "RS256")...).mustSucceed(t)
		writ(t, token, verifyArgs(f, "--alg", "PS256")...).rejectedWith(t, "jose: algorithm not accepted")
		writ(t, token, verifyArgs(f, "--alg", "RS256,PS256")...).mustFail(t, exitUsage, `"alg"`)
	}
	// Duplicate members are still caught: binding never re-encodes them away.
	dup := strings.Replace(string(set), `"kty":"RSA"`, `"kty":"RSA","kty":"RSA"`, 1)
	os.WriteFile(setFile, []byte(dup), 0o644)
	writ(t, token, verifyArgs(setFile, "--alg", "RS256")...).mustFail(t, exitUsage, "duplicate")
}

func TestVerifyAllowMissingExp(t *testing.T) {
	dir := t.TempDir()
	g := genKey(t, dir, jose.ES256)
	token := mint(t, g.keyFile, "--ttl", "0", "--no-exp")
	writ(t, token, verifyArgs(g.jwks)...).rejectedWith(t, "exp is required")
	v := parseVerified(t, writ(t, token, verifyArgs(g.jwks, "--allow-missing-exp")...).mustSucceed(t).stdout)
	if _, ok := v.Claims["exp"]; ok {
		t.Fatal("exp present")
	}
}

func TestVerifyInterrupted(t *testing.T) {
	dir := t.TempDir()
	g := genKey(t, dir, jose.ES256)
	pr, pw := io.Pipe() // standard input that never delivers anything
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	r := writCtx(t, ctx, pr, verifyArgs(g.jwks)...)
	r.mustFail(t, exitInterrupted, "interrupted")
}

// Ed25519 keys from elsewhere (PEM, not generated by writ) verify too.
func TestVerifyForeignEd25519PEM(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pubFile := filepath.Join(dir, "ed.pem")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	input := b64json(t, map[string]any{"alg": "EdDSA", "typ": "at+jwt"}) + "." + b64json(t, validClaims(nil))
	token := input + "." + b64url(ed25519.Sign(priv, []byte(input)))
	writ(t, token, verifyArgs(pubFile, "--type", "at+jwt")...).mustSucceed(t)
	bad := input + "." + b64url(ed25519.Sign(priv, []byte(input+"x")))
	writ(t, bad, verifyArgs(pubFile)...).rejectedWith(t, "jose: invalid signature")
}
