package jose_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
)

// The helpers of this file and jwk_test.go are prefixed with vt so that
// they do not collide with other test files of the package.

func vtB64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func vtUnB64(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		tb.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func vtGen(tb testing.TB, alg jose.Algorithm, opts ...jose.KeyOption) *jose.Key {
	tb.Helper()
	k, err := jose.GenerateKey(alg, opts...)
	if err != nil {
		tb.Fatalf("GenerateKey(%s): %v", alg, err)
	}
	return k
}

func vtNewKey(tb testing.TB, alg jose.Algorithm, key any, opts ...jose.KeyOption) *jose.Key {
	tb.Helper()
	k, err := jose.NewKey(alg, key, opts...)
	if err != nil {
		tb.Fatalf("NewKey(%s): %v", alg, err)
	}
	return k
}

func vtHash(alg jose.Algorithm) crypto.Hash {
	switch alg[2:] {
	case "384":
		return crypto.SHA384
	case "512":
		return crypto.SHA512
	}
	return crypto.SHA256
}

// vtRawSig signs msg with the private half of k by hand, without jose.Sign,
// so that tests can sign any header.
func vtRawSig(tb testing.TB, k *jose.Key, msg []byte) []byte {
	tb.Helper()
	alg := k.Algorithm()
	switch c := k.CryptoKey().(type) {
	case []byte:
		m := hmac.New(vtHash(alg).New, c)
		m.Write(msg)
		return m.Sum(nil)
	case *ecdsa.PrivateKey:
		h := vtHash(alg).New()
		h.Write(msg)
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
		h.Write(msg)
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
		return ed25519.Sign(c, msg)
	}
	tb.Fatalf("vtRawSig: %s key holds no private material", alg)
	return nil
}

// vtSignRaw returns a compact JWS of exactly header and payload, signed
// with k.
func vtSignRaw(tb testing.TB, k *jose.Key, header, payload string) string {
	tb.Helper()
	in := vtB64(header) + "." + vtB64(payload)
	return in + "." + base64.RawURLEncoding.EncodeToString(vtRawSig(tb, k, []byte(in)))
}

// vtSign signs payload with jose.Sign.
func vtSign(tb testing.TB, k *jose.Key, payload string, opts *jose.SignOptions) string {
	tb.Helper()
	tok, err := jose.Sign(k, []byte(payload), opts)
	if err != nil {
		tb.Fatalf("Sign(%s): %v", k.Algorithm(), err)
	}
	return tok
}

// vtIs reports whether err matches want, where a nil want means success.
func vtIs(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func vtSegments(tb testing.TB, tok string) (h, p, s string) {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("token has %d segments", len(parts))
	}
	return parts[0], parts[1], parts[2]
}

// vtSetTrailingBits makes seg non-canonical by setting unused low bits of
// its last character. It reports false when seg has no unused bits.
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
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last|mask]), true
}

const vtPayload = `{"iss":"https://issuer.example","sub":"user-1"}`

func TestParseCompactTable(t *testing.T) {
	k := vtGen(t, jose.HS256, jose.WithKeyID("k1"))
	good := vtSign(t, k, vtPayload, &jose.SignOptions{Type: "at+jwt"})
	gh, gp, gs := vtSegments(t, good)
	// tok builds a token from a header JSON text, with the good payload and
	// a signature segment (parsing never checks the signature).
	tok := func(header string) string { return vtB64(header) + "." + gp + "." + gs }
	badBits, ok := vtSetTrailingBits(gs)
	if !ok {
		t.Fatal("HS256 signature segment has no unused bits")
	}
	// A header whose length leaves unused bits, for the trailing-bit case.
	hdr := `{"alg":"HS256"}`
	for len(vtB64(hdr))%4 == 0 {
		hdr += " "
	}
	badHdrBits, _ := vtSetTrailingBits(vtB64(hdr))

	tests := []struct {
		name  string
		token string
		max   int
		want  error
	}{
		// Positive controls.
		{"good", good, 0, nil},
		{"good minimal header", tok(`{"alg":"HS256"}`), 0, nil},
		{"unknown members ignored", tok(`{"alg":"HS256","foo":{"bar":[1,2]}}`), 0, nil},
		{"key members ignored", tok(`{"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"},"jku":"https://evil.example/jwks","x5u":"https://evil.example/x5u","x5c":["MIIB"],"x5t":"abc"}`), 0, nil},
		{"b64 true", tok(`{"alg":"HS256","b64":true}`), 0, nil},
		{"header whitespace", tok(" {\n\"alg\" : \"HS256\" }\t"), 0, nil},
		{"header depth at bound", tok(`{"alg":"HS256","x":` + strings.Repeat("[", jose.DefaultMaxDepth-1) + strings.Repeat("]", jose.DefaultMaxDepth-1) + `}`), 0, nil},
		{"other signature alg", tok(`{"alg":"EdDSA"}`), 0, nil},

		// Segments.
		{"empty", "", 0, jose.ErrMalformed},
		{"one segment", gh, 0, jose.ErrMalformed},
		{"two segments", gh + "." + gp, 0, jose.ErrMalformed},
		{"two segments trailing dot", gh + "." + gp + ".", 0, jose.ErrMalformed},
		{"four segments", good + "." + gs, 0, jose.ErrMalformed},
		{"four segments empty", good + ".", 0, jose.ErrMalformed},
		{"five segments (JWE)", good + "." + gs + "." + gs, 0, jose.ErrMalformed},
		{"dots only", "..", 0, jose.ErrMalformed},
		{"empty header", "." + gp + "." + gs, 0, jose.ErrMalformed},
		{"empty signature", gh + "." + gp + ".", 0, jose.ErrMalformed},
		{"leading dot", "." + good, 0, jose.ErrMalformed},

		// Base64url canonical form.
		{"padding on header", gh + "==." + gp + "." + gs, 0, jose.ErrMalformed},
		{"padding on payload", gh + "." + gp + "=." + gs, 0, jose.ErrMalformed},
		{"padding on signature", gh + "." + gp + "." + gs + "=", 0, jose.ErrMalformed},
		{"trailing bits in signature", gh + "." + gp + "." + badBits, 0, jose.ErrMalformed},
		{"trailing bits in header", badHdrBits + "." + gp + "." + gs, 0, jose.ErrMalformed},
		{"plus", gh + "." + gp + "." + gs[:4] + "+" + gs[5:], 0, jose.ErrMalformed},
		{"slash", gh + "." + gp + "." + gs[:4] + "/" + gs[5:], 0, jose.ErrMalformed},
		{"newline in payload", gh + "." + gp[:5] + "\n" + gp[5:] + "." + gs, 0, jose.ErrMalformed},
		{"CRLF in header", gh[:4] + "\r\n" + gh[4:] + "." + gp + "." + gs, 0, jose.ErrMalformed},
		{"space in signature", gh + "." + gp + "." + gs[:4] + " " + gs[4:], 0, jose.ErrMalformed},
		{"tab in signature", gh + "." + gp + "." + gs[:4] + "\t" + gs[4:], 0, jose.ErrMalformed},
		{"leading space", " " + good, 0, jose.ErrMalformed},
		{"trailing newline", good + "\n", 0, jose.ErrMalformed},
		{"impossible length", gh + "." + gp + "." + gs + "AA", 0, jose.ErrMalformed},
		{"non-ASCII", gh + "." + gp + "." + gs[:4] + "é" + gs[4:], 0, jose.ErrMalformed},
		{"NUL", gh + "." + gp + "\x00." + gs, 0, jose.ErrMalformed},

		// Header JSON.
		{"header not JSON", tok(`alg=HS256`), 0, jose.ErrMalformed},
		{"header array", tok(`["HS256"]`), 0, jose.ErrMalformed},
		{"header string", tok(`"HS256"`), 0, jose.ErrMalformed},
		{"header null", tok(`null`), 0, jose.ErrMalformed},
		{"header trailing bytes", tok(`{"alg":"HS256"}x`), 0, jose.ErrMalformed},
		{"header two objects", tok(`{"alg":"HS256"}{}`), 0, jose.ErrMalformed},
		{"header trailing comma", tok(`{"alg":"HS256",}`), 0, jose.ErrMalformed},
		{"header duplicate alg", tok(`{"alg":"HS256","alg":"HS256"}`), 0, jose.ErrMalformed},
		{"header duplicate alg escaped", tok(`{"alg":"HS256","\u0061lg":"RS256"}`), 0, jose.ErrMalformed},
		{"header duplicate kid", tok(`{"alg":"HS256","kid":"a","kid":"b"}`), 0, jose.ErrMalformed},
		{"header nested duplicate", tok(`{"alg":"HS256","x":{"a":1,"a":2}}`), 0, jose.ErrMalformed},
		{"header depth past bound", tok(`{"alg":"HS256","x":` + strings.Repeat("[", jose.DefaultMaxDepth) + strings.Repeat("]", jose.DefaultMaxDepth) + `}`), 0, jose.ErrMalformed},
		{"header depth 1000", tok(`{"alg":"HS256","x":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`), 0, jose.ErrMalformed},
		{"header invalid UTF-8", tok("{\"alg\":\"HS256\",\"x\":\"\xff\"}"), 0, jose.ErrMalformed},
		{"header lone surrogate", tok(`{"alg":"HS256","kid":"\udc00"}`), 0, jose.ErrMalformed},

		// Header member types and values.
		{"no alg", tok(`{"typ":"JWT"}`), 0, jose.ErrMalformed},
		{"empty header object", tok(`{}`), 0, jose.ErrMalformed},
		{"alg number", tok(`{"alg":256}`), 0, jose.ErrMalformed},
		{"alg null", tok(`{"alg":null}`), 0, jose.ErrMalformed},
		{"alg array", tok(`{"alg":["HS256"]}`), 0, jose.ErrMalformed},
		{"alg object", tok(`{"alg":{"name":"HS256"}}`), 0, jose.ErrMalformed},
		{"alg bool", tok(`{"alg":true}`), 0, jose.ErrMalformed},
		{"kid number", tok(`{"alg":"HS256","kid":1}`), 0, jose.ErrMalformed},
		{"kid null", tok(`{"alg":"HS256","kid":null}`), 0, jose.ErrMalformed},
		{"typ number", tok(`{"alg":"HS256","typ":1}`), 0, jose.ErrMalformed},
		{"cty bool", tok(`{"alg":"HS256","cty":false}`), 0, jose.ErrMalformed},
		{"b64 false", tok(`{"alg":"HS256","b64":false}`), 0, jose.ErrMalformed},
		{"b64 string", tok(`{"alg":"HS256","b64":"false"}`), 0, jose.ErrMalformed},
		{"b64 null", tok(`{"alg":"HS256","b64":null}`), 0, jose.ErrMalformed},
		{"JWE enc", tok(`{"alg":"HS256","enc":"A256GCM"}`), 0, jose.ErrMalformed},
		{"zip", tok(`{"alg":"HS256","zip":"DEF"}`), 0, jose.ErrMalformed},
		{"crit unknown", tok(`{"alg":"HS256","crit":["exp"],"exp":1}`), 0, jose.ErrCritical},
		{"crit empty", tok(`{"alg":"HS256","crit":[]}`), 0, jose.ErrCritical},
		{"crit b64", tok(`{"alg":"HS256","crit":["b64"],"b64":true}`), 0, jose.ErrCritical},
		{"crit not array", tok(`{"alg":"HS256","crit":"exp"}`), 0, jose.ErrCritical},

		// Algorithms.
		{"alg none", tok(`{"alg":"none"}`), 0, jose.ErrAlgorithm},
		{"alg None", tok(`{"alg":"None"}`), 0, jose.ErrAlgorithm},
		{"alg NONE", tok(`{"alg":"NONE"}`), 0, jose.ErrAlgorithm},
		{"alg nOnE", tok(`{"alg":"nOnE"}`), 0, jose.ErrAlgorithm},
		{"alg none escaped", tok(`{"alg":"\u006eone"}`), 0, jose.ErrAlgorithm},
		{"alg empty", tok(`{"alg":""}`), 0, jose.ErrAlgorithm},
		{"alg lower case", tok(`{"alg":"hs256"}`), 0, jose.ErrAlgorithm},
		{"alg trailing space", tok(`{"alg":"HS256 "}`), 0, jose.ErrAlgorithm},
		{"alg NUL", tok(`{"alg":"HS256\u0000"}`), 0, jose.ErrAlgorithm},
		{"alg unknown", tok(`{"alg":"HS1"}`), 0, jose.ErrAlgorithm},
		{"alg Ed25519", tok(`{"alg":"Ed25519"}`), 0, jose.ErrAlgorithm},
		{"alg ES256K", tok(`{"alg":"ES256K"}`), 0, jose.ErrAlgorithm},
		{"alg JWE", tok(`{"alg":"RSA-OAEP-256"}`), 0, jose.ErrAlgorithm},
		{"alg dir", tok(`{"alg":"dir"}`), 0, jose.ErrAlgorithm},

		// Size is checked before decoding.
		{"at custom limit", good, len(good), nil},
		{"past custom limit", good, len(good) - 1, jose.ErrTooLarge},
		{"garbage past limit", strings.Repeat("!", 100), 99, jose.ErrTooLarge},
		{"garbage at limit", strings.Repeat("!", 99), 99, jose.ErrMalformed},
		{"default limit", strings.Repeat("A", jose.DefaultMaxSize+1), 0, jose.ErrTooLarge},
		{"negative means default", strings.Repeat("A", jose.DefaultMaxSize+1), -1, jose.ErrTooLarge},
		{"huge", strings.Repeat(".", 1<<20), 0, jose.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := jose.ParseCompact(tt.token, tt.max)
			if !vtIs(err, tt.want) {
				t.Fatalf("ParseCompact = %v, want %v", err, tt.want)
			}
			if err != nil {
				if j != nil {
					t.Fatal("ParseCompact returned a JWS with an error")
				}
				return
			}
			if !j.Header.Algorithm.IsSignature() {
				t.Fatalf("accepted alg %q", j.Header.Algorithm)
			}
		})
	}
}

func TestParseCompactDefaultSizeBoundary(t *testing.T) {
	k := vtGen(t, jose.HS256)
	// Grow the payload until the token is as close to the default limit as
	// the base64url lengths allow, without passing it.
	var tok string
	for n := jose.DefaultMaxSize * 3 / 4; ; n++ {
		next := vtSign(t, k, `{"p":"`+strings.Repeat("a", n-200)+`"}`, nil)
		if len(next) > jose.DefaultMaxSize {
			break
		}
		tok = next
	}
	if len(tok) < jose.DefaultMaxSize-3 {
		t.Fatalf("test token is %d bytes", len(tok))
	}
	if _, err := jose.ParseCompact(tok, 0); err != nil {
		t.Fatalf("%d-byte token: %v", len(tok), err)
	}
	bigger := vtSign(t, k, `{"p":"`+strings.Repeat("a", jose.DefaultMaxSize*3/4)+`"}`, nil)
	if _, err := jose.ParseCompact(bigger, 0); !errors.Is(err, jose.ErrTooLarge) {
		t.Fatalf("%d-byte token: %v, want ErrTooLarge", len(bigger), err)
	}
	if _, err := jose.ParseCompact(bigger, len(bigger)); err != nil {
		t.Fatalf("%d-byte token with a raised limit: %v", len(bigger), err)
	}
}

func TestParseCompactHeaderFields(t *testing.T) {
	k := vtGen(t, jose.ES256, jose.WithKeyID("key-1"))
	tests := []struct {
		name    string
		header  string
		alg     jose.Algorithm
		kid     string
		hasKID  bool
		typ     string
		cty     string
		payload string
	}{
		{"all", `{"alg":"ES256","kid":"key-1","typ":"at+jwt","cty":"json"}`, jose.ES256, "key-1", true, "at+jwt", "json", `{"a":1}`},
		{"no kid", `{"alg":"ES256"}`, jose.ES256, "", false, "", "", `{}`},
		{"empty kid", `{"alg":"ES256","kid":""}`, jose.ES256, "", true, "", "", `{}`},
		{"escaped kid", `{"alg":"ES256","kid":"a\/b\u00e9\"","typ":"\u0061t+jwt"}`, jose.ES256, `a/bé"`, true, "at+jwt", "", `{}`},
		{"payload not parsed", `{"alg":"ES256"}`, jose.ES256, "", false, "", "", `not json at all`},
		{"empty payload", `{"alg":"ES256"}`, jose.ES256, "", false, "", "", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := vtSignRaw(t, k, tt.header, tt.payload)
			j, err := jose.ParseCompact(tok, 0)
			if err != nil {
				t.Fatal(err)
			}
			h := j.Header
			if h.Algorithm != tt.alg || h.KeyID != tt.kid || h.HasKeyID != tt.hasKID || h.Type != tt.typ || h.ContentType != tt.cty || h.Raw != tt.header {
				t.Fatalf("header %+v", h)
			}
			if j.Payload() != tt.payload {
				t.Fatalf("payload %q", j.Payload())
			}
			// Parse alone does not check the signature; Verify does.
			if _, err := j.Verify(jose.NewKeySet(k.Public())); tt.hasKID && tt.kid != "key-1" {
				if !errors.Is(err, jose.ErrKeyNotFound) {
					t.Fatalf("Verify = %v, want ErrKeyNotFound", err)
				}
			} else if err != nil {
				t.Fatalf("Verify = %v", err)
			}
		})
	}
	t.Run("Parse reuses a JWS", func(t *testing.T) {
		var j jose.JWS
		if err := j.Parse(vtSignRaw(t, k, `{"alg":"ES256","kid":"x"}`, `{}`), 0); err != nil {
			t.Fatal(err)
		}
		if err := j.Parse(vtSignRaw(t, k, `{"alg":"ES256"}`, `{"b":2}`), 0); err != nil {
			t.Fatal(err)
		}
		if j.Header.HasKeyID || j.Payload() != `{"b":2}` {
			t.Fatalf("stale state after second Parse: %+v %q", j.Header, j.Payload())
		}
	})
}

// vtFixture holds one key of each kind, private, and a key set of their
// public halves (and the HMAC secrets).
type vtFixture struct {
	hs, hs384, es, es384, es512, rs, ps, ed *jose.Key
	set                                     *jose.KeySet
}

func vtNewFixture(t testing.TB) *vtFixture {
	f := &vtFixture{
		hs:    vtGen(t, jose.HS256),
		hs384: vtGen(t, jose.HS384),
		es:    vtGen(t, jose.ES256),
		es384: vtGen(t, jose.ES384),
		es512: vtGen(t, jose.ES512),
		rs:    vtGen(t, jose.RS256),
		ed:    vtGen(t, jose.EdDSA),
	}
	f.ps = vtGen(t, jose.PS256)
	f.set = jose.NewKeySet(f.hs, f.hs384, f.es.Public(), f.es384.Public(), f.es512.Public(), f.rs.Public(), f.ps.Public(), f.ed.Public())
	return f
}

func (f *vtFixture) all() []*jose.Key {
	return []*jose.Key{f.hs, f.hs384, f.es, f.es384, f.es512, f.rs, f.ps, f.ed}
}

func TestSignVerifyEveryAlgorithm(t *testing.T) {
	f := vtNewFixture(t)
	for _, k := range f.all() {
		t.Run(string(k.Algorithm()), func(t *testing.T) {
			for _, opts := range []*jose.SignOptions{nil, {OmitKeyID: true}, {Type: "at+jwt", ContentType: "json", Extra: map[string]any{"x5t": "abc"}}} {
				tok := vtSign(t, k, vtPayload, opts)
				j, err := jose.ParseCompact(tok, 0)
				if err != nil {
					t.Fatal(err)
				}
				got, err := j.Verify(f.set)
				if err != nil {
					t.Fatalf("Verify(%+v): %v", opts, err)
				}
				if got.KeyID() != k.KeyID() || got.Algorithm() != k.Algorithm() {
					t.Fatalf("verified with %s/%s", got.KeyID(), got.Algorithm())
				}
				if j.Payload() != vtPayload {
					t.Fatalf("payload %q", j.Payload())
				}
				if opts != nil && opts.OmitKeyID == j.Header.HasKeyID {
					t.Fatalf("OmitKeyID %v but HasKeyID %v", opts.OmitKeyID, j.Header.HasKeyID)
				}
			}
			// Hand-made signatures of the same form also verify: the
			// test helper agrees with jose.Sign.
			raw := vtSignRaw(t, k, `{"alg":"`+string(k.Algorithm())+`"}`, vtPayload)
			if j, err := jose.ParseCompact(raw, 0); err != nil {
				t.Fatal(err)
			} else if _, err := j.Verify(f.set); err != nil {
				t.Fatalf("hand-signed: %v", err)
			}
		})
	}
}

func TestSignOptionsHeader(t *testing.T) {
	k := vtGen(t, jose.HS256, jose.WithKeyID(`k"1`))
	tok := vtSign(t, k, `{}`, &jose.SignOptions{Type: "at+jwt", ContentType: "json", Extra: map[string]any{"foo": []int{1}}})
	h, _, _ := vtSegments(t, tok)
	var got map[string]any
	if err := json.Unmarshal(vtUnB64(t, h), &got); err != nil {
		t.Fatal(err)
	}
	if got["alg"] != "HS256" || got["kid"] != `k"1` || got["typ"] != "at+jwt" || got["cty"] != "json" || got["foo"] == nil || len(got) != 5 {
		t.Fatalf("header %v", got)
	}
}

func TestSignRefusals(t *testing.T) {
	f := vtNewFixture(t)
	encKey := vtNewKey(t, jose.RS256, f.rs.CryptoKey(), jose.WithUse(jose.UseEncryption))
	verifyOnly, err := jose.ParseKey(vtJWK(t, f.es, func(m map[string]any) { m["key_ops"] = []string{"verify"} }))
	if err != nil {
		t.Fatal(err)
	}
	signOnly, err := jose.ParseKey(vtJWK(t, f.es, func(m map[string]any) { m["key_ops"] = []string{"sign"} }))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  *jose.Key
		opts *jose.SignOptions
		want error // with fail: the sentinel, or nil for an error without one
		fail bool
	}{
		{"private key", f.es, nil, nil, false},
		{"key_ops sign", signOnly, nil, nil, false},
		{"public key", f.es.Public(), nil, jose.ErrKeyNotForSigning, true},
		{"public RSA key", f.rs.Public(), nil, jose.ErrKeyNotForSigning, true},
		{"use enc", encKey, nil, jose.ErrKeyNotForSigning, true},
		{"key_ops without sign", verifyOnly, nil, jose.ErrKeyNotForSigning, true},
		{"encryption algorithm", vtGen(t, jose.ECDHES), nil, jose.ErrKeyNotForSigning, true},
		{"dir key", vtGen(t, jose.Direct), nil, jose.ErrKeyNotForSigning, true},
		{"extra alg", f.es, &jose.SignOptions{Extra: map[string]any{"alg": "none"}}, nil, true},
		{"extra kid", f.es, &jose.SignOptions{Extra: map[string]any{"kid": "x"}}, nil, true},
		{"extra typ", f.es, &jose.SignOptions{Extra: map[string]any{"typ": "x"}}, nil, true},
		{"extra cty", f.es, &jose.SignOptions{Extra: map[string]any{"cty": "x"}}, nil, true},
		{"extra crit", f.es, &jose.SignOptions{Extra: map[string]any{"crit": []string{"x"}}}, nil, true},
		{"extra b64", f.es, &jose.SignOptions{Extra: map[string]any{"b64": false}}, nil, true},
		{"extra not JSON", f.es, &jose.SignOptions{Extra: map[string]any{"x": func() {}}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := jose.Sign(tt.key, []byte(vtPayload), tt.opts)
			switch {
			case !tt.fail:
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				j, err := jose.ParseCompact(tok, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := j.Verify(f.set); err != nil {
					t.Fatalf("Verify: %v", err)
				}
			case tt.want != nil:
				if !errors.Is(err, tt.want) {
					t.Fatalf("Sign = %v, want %v", err, tt.want)
				}
			default:
				if err == nil {
					t.Fatal("Sign succeeded")
				}
			}
			if err != nil && tok != "" {
				t.Fatal("Sign returned a token with an error")
			}
		})
	}
}

func TestVerifyKeySelection(t *testing.T) {
	f := vtNewFixture(t)
	rsPriv := f.rs.CryptoKey().(*rsa.PrivateKey)
	// Keys that share f.rs's kid (the thumbprint depends only on n and e)
	// but must never verify signatures.
	encUse := vtNewKey(t, jose.RS256, &rsPriv.PublicKey, jose.WithUse(jose.UseEncryption))
	parse := func(k *jose.Key, edit func(map[string]any)) *jose.Key {
		t.Helper()
		pk, err := jose.ParseKey(vtJWK(t, k.Public(), edit))
		if err != nil {
			t.Fatal(err)
		}
		return pk
	}
	opsSign := parse(f.rs, func(m map[string]any) { m["key_ops"] = []string{"sign"} })
	opsEncrypt := parse(f.rs, func(m map[string]any) { delete(m, "use"); m["key_ops"] = []string{"encrypt"} })
	opsVerify := parse(f.rs, func(m map[string]any) { m["key_ops"] = []string{"verify"} })
	jwkUseEnc := parse(f.rs, func(m map[string]any) { m["use"] = "enc" })
	noUse := parse(f.rs, func(m map[string]any) { delete(m, "use") })
	psSameMaterial := vtNewKey(t, jose.PS256, rsPriv)
	other := vtGen(t, jose.ES256, jose.WithKeyID(f.es.KeyID())) // same kid, other key
	es2 := vtGen(t, jose.ES256)

	rsTok := vtSign(t, f.rs, vtPayload, nil)
	rsNoKID := vtSign(t, f.rs, vtPayload, &jose.SignOptions{OmitKeyID: true})
	esTok := vtSign(t, f.es, vtPayload, nil)
	es2NoKID := vtSign(t, es2, vtPayload, &jose.SignOptions{OmitKeyID: true})
	kidHeader := func(alg jose.Algorithm, kid string) string {
		b, _ := json.Marshal(map[string]string{"alg": string(alg), "kid": kid})
		return string(b)
	}

	tests := []struct {
		name  string
		set   *jose.KeySet
		token string
		want  error
		key   *jose.Key // the key expected to verify
	}{
		{"kid exact", f.set, rsTok, nil, f.rs},
		{"no kid, matched by alg", f.set, rsNoKID, nil, f.rs},
		{"no kid, second key of the alg", jose.NewKeySet(f.es.Public(), es2.Public()), es2NoKID, nil, es2},
		{"no kid, no key of the alg", jose.NewKeySet(f.es.Public()), rsNoKID, jose.ErrKeyNotFound, nil},
		{"kid case differs", f.set, vtSignRaw(t, f.rs, kidHeader(jose.RS256, strings.ToUpper(f.rs.KeyID())), vtPayload), jose.ErrKeyNotFound, nil},
		{"kid prefix", f.set, vtSignRaw(t, f.rs, kidHeader(jose.RS256, f.rs.KeyID()[:10]), vtPayload), jose.ErrKeyNotFound, nil},
		{"kid with suffix", f.set, vtSignRaw(t, f.rs, kidHeader(jose.RS256, f.rs.KeyID()+" "), vtPayload), jose.ErrKeyNotFound, nil},
		{"kid with NUL", f.set, vtSignRaw(t, f.rs, kidHeader(jose.RS256, f.rs.KeyID()+"\x00"), vtPayload), jose.ErrKeyNotFound, nil},
		{"empty kid", f.set, vtSignRaw(t, f.rs, kidHeader(jose.RS256, ""), vtPayload), jose.ErrKeyNotFound, nil},
		{"kid path", f.set, vtSignRaw(t, f.rs, kidHeader(jose.RS256, "../../../../dev/null"), vtPayload), jose.ErrKeyNotFound, nil},
		{"kid of HMAC key, RS256 token", f.set, vtSignRaw(t, f.rs, kidHeader(jose.RS256, f.hs.KeyID()), vtPayload), jose.ErrAlgorithm, nil},
		{"kid of RSA key, HS256 token", f.set, vtSignRaw(t, f.hs, kidHeader(jose.HS256, f.rs.KeyID()), vtPayload), jose.ErrAlgorithm, nil},
		{"empty set", jose.NewKeySet(), rsTok, jose.ErrKeyNotFound, nil},
		{"same kid, other key", jose.NewKeySet(other.Public()), esTok, jose.ErrSignature, nil},
		{"same kid and alg twice: ambiguous", jose.NewKeySet(other.Public(), f.es.Public()), esTok, jose.ErrKeyNotFound, nil},
		{"same kid and alg twice, no kid in token", jose.NewKeySet(other.Public(), f.es.Public()), vtSign(t, f.es, vtPayload, &jose.SignOptions{OmitKeyID: true}), nil, f.es},

		{"use enc", jose.NewKeySet(encUse), rsTok, jose.ErrKeyNotFound, nil},
		{"use enc from JWK", jose.NewKeySet(jwkUseEnc), rsTok, jose.ErrKeyNotFound, nil},
		{"use enc, no kid", jose.NewKeySet(encUse), rsNoKID, jose.ErrKeyNotFound, nil},
		{"key_ops sign only", jose.NewKeySet(opsSign), rsTok, jose.ErrKeyNotFound, nil},
		{"key_ops encrypt", jose.NewKeySet(opsEncrypt), rsTok, jose.ErrKeyNotFound, nil},
		{"key_ops verify", jose.NewKeySet(opsVerify), rsTok, nil, opsVerify},
		{"no use", jose.NewKeySet(noUse), rsTok, nil, noUse},
		{"enc key beside good key", jose.NewKeySet(encUse, f.rs.Public()), rsTok, nil, f.rs},

		{"RS256 token, PS256 key", jose.NewKeySet(psSameMaterial.Public()), rsTok, jose.ErrAlgorithm, nil},
		{"PS256 token, RS256 key", jose.NewKeySet(f.rs.Public()), vtSign(t, psSameMaterial, vtPayload, nil), jose.ErrAlgorithm, nil},
		{"PS256 token, both bindings", jose.NewKeySet(f.rs.Public(), psSameMaterial.Public()), vtSign(t, psSameMaterial, vtPayload, nil), nil, psSameMaterial},
		{"RS256 relabelled PS256", f.set, vtB64(kidHeader(jose.PS256, f.rs.KeyID())) + rsTok[strings.IndexByte(rsTok, '.'):], jose.ErrAlgorithm, nil},
		{"ES256 token, ES384 key kid", f.set, vtSignRaw(t, f.es, kidHeader(jose.ES256, f.es384.KeyID()), vtPayload), jose.ErrAlgorithm, nil},
		{"ES384 label, ES256 key kid", f.set, vtSignRaw(t, f.es, kidHeader(jose.ES384, f.es.KeyID()), vtPayload), jose.ErrAlgorithm, nil},
		{"HS384 label, HS256 kid", f.set, vtSignRaw(t, f.hs, kidHeader(jose.HS384, f.hs.KeyID()), vtPayload), jose.ErrAlgorithm, nil},

		{"tampered payload", f.set, func() string { h, _, s := vtSegments(t, rsTok); return h + "." + vtB64(`{"iss":"evil"}`) + "." + s }(), jose.ErrSignature, nil},
		{"signature of another token", f.set, func() string {
			h, p, _ := vtSegments(t, rsTok)
			_, _, s := vtSegments(t, vtSign(t, f.rs, `{}`, nil))
			return h + "." + p + "." + s
		}(), jose.ErrSignature, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := jose.ParseCompact(tt.token, 0)
			if err != nil {
				t.Fatalf("ParseCompact: %v", err)
			}
			got, err := j.Verify(tt.set)
			if !vtIs(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil {
				if got != nil {
					t.Fatal("Verify returned a key with an error")
				}
				return
			}
			if got != tt.key && got.ThumbprintSHA256() != tt.key.ThumbprintSHA256() {
				t.Fatalf("verified with the wrong key")
			}
			if got.Algorithm() != j.Header.Algorithm {
				t.Fatalf("key alg %s, token alg %s", got.Algorithm(), j.Header.Algorithm)
			}
		})
	}
}

func TestVerifyKey(t *testing.T) {
	f := vtNewFixture(t)
	rsPriv := f.rs.CryptoKey().(*rsa.PrivateKey)
	tok := vtSign(t, f.rs, vtPayload, nil)
	j, err := jose.ParseCompact(tok, 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  *jose.Key
		want error
	}{
		{"right key", f.rs.Public(), nil},
		{"private key", f.rs, nil},
		{"other RSA key", vtGen(t, jose.RS256).Public(), jose.ErrSignature},
		{"same material bound to PS256", vtNewKey(t, jose.PS256, &rsPriv.PublicKey), jose.ErrAlgorithm},
		{"HMAC key", f.hs, jose.ErrAlgorithm},
		{"use enc", vtNewKey(t, jose.RS256, &rsPriv.PublicKey, jose.WithUse(jose.UseEncryption)), jose.ErrKeyNotForSigning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := j.VerifyKey(tt.key); !vtIs(err, tt.want) {
				t.Fatalf("VerifyKey = %v, want %v", err, tt.want)
			}
		})
	}
}

// vtCurveOrder returns the group order of k's curve.
func vtCurveOrder(k *jose.Key) *big.Int {
	return k.PublicKey().(*ecdsa.PublicKey).Curve.Params().N
}

// vtECDSASig returns r and s of an ECDSA token's signature, and the
// coordinate size.
func vtECDSASig(t *testing.T, tok string) (r, s *big.Int, size int) {
	_, _, sig := vtSegments(t, tok)
	b := vtUnB64(t, sig)
	size = len(b) / 2
	return new(big.Int).SetBytes(b[:size]), new(big.Int).SetBytes(b[size:]), size
}

func vtFixed(size int, ints ...*big.Int) []byte {
	out := make([]byte, 0, size*len(ints))
	for _, v := range ints {
		out = append(out, v.FillBytes(make([]byte, size))...)
	}
	return out
}

// TestVerifyECDSASignatureForms checks the r||s encoding of RFC 7518 §3.4
// on every curve. ECDSA signatures are malleable: (r, n-s) verifies
// whenever (r, s) does, and RFC 7518 does not ask verifiers to require low
// s, so writ (like the Go standard library) accepts the high-S twin. That
// is safe for JWTs: the twin carries the same signed content, and nothing
// in writ uses the signature bytes as an identifier (use jti).
func TestVerifyECDSASignatureForms(t *testing.T) {
	for _, alg := range []jose.Algorithm{jose.ES256, jose.ES384, jose.ES512} {
		t.Run(string(alg), func(t *testing.T) {
			k := vtGen(t, alg)
			set := jose.NewKeySet(k.Public())
			tok := vtSign(t, k, vtPayload, nil)
			h, p, sigSeg := vtSegments(t, tok)
			r, s, size := vtECDSASig(t, tok)
			n := vtCurveOrder(k)
			zero := new(big.Int)
			der, err := ecdsa.SignASN1(rand.Reader, k.CryptoKey().(*ecdsa.PrivateKey), func() []byte {
				hh := vtHash(alg).New()
				hh.Write([]byte(h + "." + p))
				return hh.Sum(nil)
			}())
			if err != nil {
				t.Fatal(err)
			}
			sigBytes := vtUnB64(t, sigSeg)
			tests := []struct {
				name string
				sig  []byte
				want error
			}{
				{"good", sigBytes, nil},
				{"high S", vtFixed(size, r, new(big.Int).Sub(n, s)), nil},
				{"r=s=0", make([]byte, 2*size), jose.ErrSignature},
				{"r=0", vtFixed(size, zero, s), jose.ErrSignature},
				{"s=0", vtFixed(size, r, zero), jose.ErrSignature},
				{"r=n", vtFixed(size, n, s), jose.ErrSignature},
				{"s=n", vtFixed(size, r, n), jose.ErrSignature},
				{"s+n", func() []byte {
					sn := new(big.Int).Add(s, n)
					if sn.BitLen() > 8*size {
						return make([]byte, 2*size) // does not fit: still a rejection
					}
					return vtFixed(size, r, sn)
				}(), jose.ErrSignature},
				{"r=s=n", vtFixed(size, n, n), jose.ErrSignature},
				{"r=s=1", vtFixed(size, big.NewInt(1), big.NewInt(1)), jose.ErrSignature},
				{"DER encoded", der, jose.ErrSignature},
				{"one byte short", sigBytes[:2*size-1], jose.ErrSignature},
				{"one byte long", append(append([]byte{}, sigBytes...), 0), jose.ErrSignature},
				{"leading zero added", append([]byte{0}, sigBytes...), jose.ErrSignature},
				{"r and s minimal", append(r.Bytes(), s.Bytes()...), func() error {
					if len(r.Bytes())+len(s.Bytes()) == 2*size {
						return nil // nothing was trimmed: same as good
					}
					return jose.ErrSignature
				}()},
				{"swapped", vtFixed(size, s, r), jose.ErrSignature},
				{"empty-ish", []byte{0}, jose.ErrSignature},
				{"other curve size", make([]byte, 2*size+2), jose.ErrSignature},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					j, err := jose.ParseCompact(h+"."+p+"."+base64.RawURLEncoding.EncodeToString(tt.sig), 0)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := j.Verify(set); !vtIs(err, tt.want) {
						t.Fatalf("Verify = %v, want %v", err, tt.want)
					}
				})
			}
		})
	}
}

func TestVerifyOtherSignatureForms(t *testing.T) {
	f := vtNewFixture(t)
	for _, k := range []*jose.Key{f.hs, f.hs384, f.rs, f.ps, f.ed} {
		t.Run(string(k.Algorithm()), func(t *testing.T) {
			tok := vtSign(t, k, vtPayload, nil)
			h, p, s := vtSegments(t, tok)
			sig := vtUnB64(t, s)
			flip := append([]byte{}, sig...)
			flip[len(flip)/2] ^= 1
			tests := []struct {
				name string
				sig  []byte
				want error
			}{
				{"good", sig, nil},
				{"bit flipped", flip, jose.ErrSignature},
				{"truncated", sig[:len(sig)-1], jose.ErrSignature},
				{"extended", append(append([]byte{}, sig...), 0), jose.ErrSignature},
				{"leading zero", append([]byte{0}, sig...), jose.ErrSignature},
				{"zeros", make([]byte, len(sig)), jose.ErrSignature},
				{"one byte", []byte{1}, jose.ErrSignature},
				{"half", sig[:len(sig)/2], jose.ErrSignature},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					j, err := jose.ParseCompact(h+"."+p+"."+base64.RawURLEncoding.EncodeToString(tt.sig), 0)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := j.Verify(f.set); !vtIs(err, tt.want) {
						t.Fatalf("Verify = %v, want %v", err, tt.want)
					}
				})
			}
		})
	}
}

// TestHMACKeyConfusion signs HS256 tokens with the RSA public key in every
// form an attacker could obtain it, against a set that trusts that RSA key.
func TestHMACKeyConfusion(t *testing.T) {
	f := vtNewFixture(t)
	set := jose.NewKeySet(f.rs.Public())
	secrets := vtRSAPublicForms(t, f.rs)
	for name, secret := range secrets {
		t.Run(name, func(t *testing.T) {
			hk := vtNewKey(t, jose.HS256, secret, jose.WithKeyID(f.rs.KeyID()))
			for _, tok := range []string{
				vtSign(t, hk, vtPayload, nil),
				vtSign(t, hk, vtPayload, &jose.SignOptions{OmitKeyID: true}),
			} {
				j, err := jose.ParseCompact(tok, 0)
				if err != nil {
					t.Fatal(err)
				}
				want := jose.ErrAlgorithm
				if !j.Header.HasKeyID {
					want = jose.ErrKeyNotFound
				}
				if _, err := j.Verify(set); !errors.Is(err, want) {
					t.Fatalf("Verify = %v, want %v", err, want)
				}
			}
		})
	}
	// Positive control: the same set accepts a genuine RS256 token.
	j, err := jose.ParseCompact(vtSign(t, f.rs, vtPayload, nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Verify(set); err != nil {
		t.Fatal(err)
	}
	// An HMAC key is never built from an asymmetric key.
	if _, err := jose.NewKey(jose.HS256, f.rs.PublicKey()); !errors.Is(err, jose.ErrKeyAlgMismatch) {
		t.Fatalf("NewKey(HS256, *rsa.PublicKey) = %v, want ErrKeyAlgMismatch", err)
	}
	if _, err := jose.NewKey(jose.RS256, []byte(strings.Repeat("k", 64))); !errors.Is(err, jose.ErrKeyAlgMismatch) {
		t.Fatalf("NewKey(RS256, []byte) = %v, want ErrKeyAlgMismatch", err)
	}
}

// vtRSAPublicForms returns the public half of an RSA key in every encoding
// an attacker could find published, for use as an HMAC secret.
func vtRSAPublicForms(t *testing.T, k *jose.Key) map[string][]byte {
	pub := k.PublicKey().(*rsa.PublicKey)
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PublicKey(pub)
	jwk, err := json.Marshal(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"PKIX PEM":       pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}),
		"PKIX PEM no NL": bytes.TrimSpace(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})),
		"PKCS1 PEM":      pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}),
		"PKIX DER":       pkix,
		"PKCS1 DER":      pkcs1,
		"JWK JSON":       jwk,
		"modulus bytes":  pub.N.Bytes(),
	}
}
