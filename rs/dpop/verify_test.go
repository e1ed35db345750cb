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

func TestValidProofEveryAlgorithm(t *testing.T) {
	for _, alg := range dpop.DefaultAlgorithms() {
		t.Run(string(alg), func(t *testing.T) {
			if testing.Short() && strings.HasPrefix(string(alg), "RS") {
				t.Skip("RSA key generation in -short")
			}
			clock := clocktest.New(t0)
			v := newVerifier(t, clock, nil)
			k := genKey(t, alg)
			proof := newProof(t, k, http.MethodGet, testURL, testToken, "", t0)
			if err := check(v, proof, k.ThumbprintSHA256()); err != nil {
				t.Fatalf("CheckDPoP: %v", err)
			}
		})
	}
}

// TestHeaderCount: exactly one DPoP header (RFC 9449 §4.3 check 1).
func TestHeaderCount(t *testing.T) {
	clock := clocktest.New(t0)
	k := genKey(t, jose.ES256)
	p1 := newProof(t, k, http.MethodGet, testURL, testToken, "", t0)
	p2 := newProof(t, k, http.MethodGet, testURL, testToken, "", t0)
	for _, tc := range []struct {
		name   string
		proofs []string
		want   error
	}{
		{"none", nil, dpop.ErrMissing},
		{"empty", []string{""}, dpop.ErrMissing},
		{"two", []string{p1, p2}, dpop.ErrMultiple},
		{"two, one empty", []string{p1, ""}, dpop.ErrMultiple},
		{"one", []string{p1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clock, nil)
			err := v.CheckDPoP(context.Background(), request(tc.proofs...), testToken, k.ThumbprintSHA256())
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, tc.want)
		})
	}
}

// TestMalformed: a compact JWS of bounded size (check 2).
func TestMalformed(t *testing.T) {
	k := genKey(t, jose.ES256)
	good := newProof(t, k, http.MethodGet, testURL, testToken, "", t0)
	big := claims()
	big["pad"] = strings.Repeat("x", dpop.DefaultMaxSize)
	for _, tc := range []struct {
		name  string
		proof string
	}{
		{"not a JWS", "not-a-jws"},
		{"two segments", good[:strings.LastIndexByte(good, '.')]},
		{"four segments", good + ".x"},
		{"JWE-like five segments", "a.b.c.d.e"},
		{"padded base64", strings.Replace(good, ".", "=.", 1)},
		{"no signature", good[:strings.LastIndexByte(good, '.')+1]},
		{"header not JSON", unsigned(`{"typ":"dpop+jwt"`, `{}`, []byte{1})},
		{"header duplicate member", unsigned(`{"typ":"dpop+jwt","alg":"ES256","alg":"ES256"}`, `{}`, []byte{1})},
		{"claims not an object", craft(t, k, dpop.ProofType, publicJWK(t, k), []byte(`["jti"]`))},
		{"claims duplicate member", craft(t, k, dpop.ProofType, publicJWK(t, k), []byte(`{"jti":"a","jti":"b","htm":"GET","htu":"`+testURL+`","iat":1}`))},
		{"too large", craftClaims(t, k, big)},
		{"crit header", unsigned(`{"typ":"dpop+jwt","alg":"ES256","crit":["x"],"x":1}`, `{}`, []byte{1})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(t0), nil)
			wantInvalid(t, check(v, tc.proof, ""), dpop.ErrMalformed, tc.proof)
		})
	}
	t.Run("MaxSize", func(t *testing.T) {
		v := newVerifier(t, clocktest.New(t0), func(c *dpop.Config) { c.MaxSize = len(good) - 1 })
		wantInvalid(t, check(v, good, ""), dpop.ErrMalformed)
	})
}

// TestType: typ is exactly dpop+jwt (check 4).
func TestType(t *testing.T) {
	k := genKey(t, jose.ES256)
	payload, _ := json.Marshal(claims())
	for _, typ := range []string{"", "JWT", "at+jwt", "DPoP+JWT", "dpop+jwt ", "application/dpop+jwt"} {
		t.Run(typ, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(t0), nil)
			wantInvalid(t, check(v, craft(t, k, typ, publicJWK(t, k), payload), ""), dpop.ErrType)
		})
	}
}

// TestAlgorithm: an allow-listed asymmetric alg, never none or HS* (check 5).
func TestAlgorithm(t *testing.T) {
	payload, _ := json.Marshal(claims())
	hs := genKey(t, jose.HS256)
	hsJWK, _ := json.Marshal(hs)
	ed := genKey(t, jose.EdDSA)
	es := genKey(t, jose.ES256)
	for _, tc := range []struct {
		name  string
		algs  []jose.Algorithm
		proof string
	}{
		{"none", nil, unsigned(`{"typ":"dpop+jwt","alg":"none","jwk":`+string(publicJWK(t, es))+`}`, string(payload), nil)},
		{"None", nil, unsigned(`{"typ":"dpop+jwt","alg":"None","jwk":`+string(publicJWK(t, es))+`}`, string(payload), []byte{1})},
		{"HS256 with its secret as jwk", nil, craft(t, hs, dpop.ProofType, hsJWK, payload)},
		{"unknown alg", nil, unsigned(`{"typ":"dpop+jwt","alg":"ES256K","jwk":`+string(publicJWK(t, es))+`}`, string(payload), []byte{1})},
		{"encryption alg", nil, unsigned(`{"typ":"dpop+jwt","alg":"RSA-OAEP-256","jwk":`+string(publicJWK(t, es))+`}`, string(payload), []byte{1})},
		{"not in the allow-list", []jose.Algorithm{jose.ES256}, craft(t, ed, dpop.ProofType, publicJWK(t, ed), payload)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(t0), func(c *dpop.Config) { c.Algorithms = tc.algs })
			wantInvalid(t, check(v, tc.proof, ""), dpop.ErrAlgorithm)
		})
	}
}

// TestKey: a jwk header that is a public asymmetric key of alg (check 6).
func TestKey(t *testing.T) {
	payload, _ := json.Marshal(claims())
	es := genKey(t, jose.ES256)
	es384 := genKey(t, jose.ES384)
	ed := genKey(t, jose.EdDSA)
	hs := genKey(t, jose.HS256)
	private, _ := json.Marshal(es)
	secret, _ := json.Marshal(hs)
	withMember := func(k *jose.Key, name string, value any) json.RawMessage {
		var m map[string]any
		src, _ := json.Marshal(k) // a symmetric key has no public half
		if !k.IsSymmetric() {
			src = publicJWK(t, k)
		}
		_ = json.Unmarshal(src, &m)
		m[name] = value
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name string
		jwk  json.RawMessage
	}{
		{"absent", nil},
		{"private EC key", private},
		{"private member d alone", withMember(es, "d", "AAAA")},
		{"symmetric key", secret},
		{"symmetric key with alg ES256", withMember(hs, "alg", "ES256")},
		{"key of another alg", publicJWK(t, es384)},
		{"jwk names another alg", withMember(es, "alg", "ES384")},
		{"Ed25519 key under ES256", publicJWK(t, ed)},
		{"encryption key", withMember(es, "use", "enc")},
		{"string", json.RawMessage(`"` + es.ThumbprintSHA256() + `"`)},
		{"array", json.RawMessage(`[` + string(publicJWK(t, es)) + `]`)},
		{"point not on the curve", withMember(es, "y", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
		{"unknown kty", json.RawMessage(`{"kty":"client-chosen-kty"}`)},
		{"unknown curve", json.RawMessage(`{"kty":"EC","crv":"client-chosen-curve","x":"AA","y":"AA"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(t0), nil)
			proof := craft(t, es, dpop.ProofType, tc.jwk, payload)
			wantInvalid(t, check(v, proof, ""), dpop.ErrKey, proof, "client-chosen")
		})
	}
}

// TestSignature: signed by the key in jwk (check 7).
func TestSignature(t *testing.T) {
	payload, _ := json.Marshal(claims())
	k, other := genKey(t, jose.ES256), genKey(t, jose.ES256)
	good := craft(t, k, dpop.ProofType, publicJWK(t, k), payload)
	otherJTI := claims()
	otherJTI["jti"] = "another-jti"
	dot := strings.LastIndexByte(good, '.')
	sig, err := base64.RawURLEncoding.DecodeString(good[dot+1:])
	if err != nil {
		t.Fatal(err)
	}
	sig[5] ^= 1
	for _, tc := range []struct {
		name  string
		proof string
	}{
		{"another key's jwk", craft(t, k, dpop.ProofType, publicJWK(t, other), payload)},
		{"tampered signature", good[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)},
		{"signature of other claims", swapSig(craftClaims(t, k, otherJTI), good)},
		{"claims of another proof", swapSig(newProof(t, k, "GET", testURL, testToken, "", t0), good)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(t0), nil)
			wantInvalid(t, check(v, tc.proof, ""), dpop.ErrSignature, tc.proof)
		})
	}
}

// swapSig returns a's header and claims with b's signature.
func swapSig(a, b string) string {
	return a[:strings.LastIndexByte(a, '.')] + b[strings.LastIndexByte(b, '.'):]
}

// TestClaims: jti (bounded), htm, htu and iat present and well typed
// (check 3 and 8).
func TestClaims(t *testing.T) {
	k := genKey(t, jose.ES256)
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
	}{
		{"no jti", func(c map[string]any) { delete(c, "jti") }},
		{"empty jti", func(c map[string]any) { c["jti"] = "" }},
		{"jti too long", func(c map[string]any) { c["jti"] = strings.Repeat("j", dpop.MaxJTILength+1) }},
		{"jti number", func(c map[string]any) { c["jti"] = 12345 }},
		{"no htm", func(c map[string]any) { delete(c, "htm") }},
		{"htm array", func(c map[string]any) { c["htm"] = []string{"GET"} }},
		{"no htu", func(c map[string]any) { delete(c, "htu") }},
		{"htu object", func(c map[string]any) { c["htu"] = map[string]string{"url": testURL} }},
		{"no iat", func(c map[string]any) { delete(c, "iat") }},
		{"iat string", func(c map[string]any) { c["iat"] = "1962262616" }},
		{"iat negative", func(c map[string]any) { c["iat"] = -1 }},
		{"iat beyond 9999", func(c map[string]any) { c["iat"] = 1e12 }},
		{"ath number", func(c map[string]any) { c["ath"] = 1 }},
		{"nonce too long", func(c map[string]any) { c["nonce"] = strings.Repeat("n", dpop.MaxNonceLength+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims()
			tc.edit(c)
			v := newVerifier(t, clocktest.New(t0), nil)
			wantInvalid(t, check(v, craftClaims(t, k, c), ""), dpop.ErrClaims)
		})
	}
	t.Run("jti of MaxJTILength", func(t *testing.T) {
		c := claims()
		c["jti"] = strings.Repeat("j", dpop.MaxJTILength)
		v := newVerifier(t, clocktest.New(t0), nil)
		if err := check(v, craftClaims(t, k, c), ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fractional iat", func(t *testing.T) {
		c := claims()
		c["iat"] = float64(t0.Unix()) + 0.5
		v := newVerifier(t, clocktest.New(t0), nil)
		p, err := v.Verify(context.Background(), dpop.Params{Proof: craftClaims(t, k, c), Method: "GET", URL: testURL})
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(500 * time.Millisecond); !p.IssuedAt.Equal(want) {
			t.Errorf("IssuedAt = %v, want %v", p.IssuedAt, want)
		}
	})
}

// TestMethod: htm is the request's method, exactly (check 9).
func TestMethod(t *testing.T) {
	k := genKey(t, jose.ES256)
	for _, m := range []string{"get", "POST", "GET ", "HEAD"} {
		t.Run(m, func(t *testing.T) {
			c := claims()
			c["htm"] = m
			v := newVerifier(t, clocktest.New(t0), nil)
			wantInvalid(t, check(v, craftClaims(t, k, c), ""), dpop.ErrMethod)
		})
	}
}

// TestURL: htu is the request's URL after normalisation, its query and
// fragment ignored (check 10).
func TestURL(t *testing.T) {
	k := genKey(t, jose.ES256)
	for _, tc := range []struct {
		htu string
		ok  bool
	}{
		{testURL, true},
		{"HTTPS://API.Example.COM:443/orders/7", true},
		{"https://api.example.com/orders/%37", true},
		{"https://api.example.com/orders/./7", true},
		{"https://api.example.com/orders/7?page=2", true},
		{"https://api.example.com/orders/7#frag", true},
		{"http://api.example.com/orders/7", false},
		{"https://api.example.com:8443/orders/7", false},
		{"https://api.example.org/orders/7", false},
		{"https://api.example.com/orders/8", false},
		{"https://api.example.com/Orders/7", false},
		{"https://api.example.com/orders/7/", false},
		{"https://api.example.com/orders", false},
		{"/orders/7", false},
		{"https://user@api.example.com/orders/7", false},
		{"https://api.example.com/orders/%zz", false},
	} {
		t.Run(tc.htu, func(t *testing.T) {
			c := claims()
			c["htu"] = tc.htu
			v := newVerifier(t, clocktest.New(t0), nil)
			err := check(v, craftClaims(t, k, c), "")
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, dpop.ErrURL)
		})
	}
}

// TestRequestURLSources: the URL htu is compared with comes from the
// connection and the request line, or from the configured function; the
// X-Forwarded headers count only when the configuration says so.
func TestRequestURLSources(t *testing.T) {
	k := genKey(t, jose.ES256)
	const public = "https://api.example.com/orders/7"
	behindProxy := func() *http.Request {
		// As a plain-HTTP backend behind a TLS-terminating proxy sees it.
		r := httptest.NewRequest(http.MethodGet, "http://10.0.0.5:8080/orders/7?x=1", nil)
		r.RequestURI = "/orders/7?x=1"
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "api.example.com")
		return r
	}
	for _, tc := range []struct {
		name string
		url  func(*http.Request) string
		ok   bool
	}{
		{"default ignores X-Forwarded", nil, false},
		{"ForwardedURL", dpop.ForwardedURL, true},
		{"OriginURL", dpop.OriginURL("https://api.example.com/"), true},
		{"empty URL refuses", func(*http.Request) string { return "" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(t0), func(c *dpop.Config) { c.URL = tc.url })
			r := behindProxy()
			r.Header.Set(dpop.Header, newProof(t, k, http.MethodGet, public, testToken, "", t0))
			err := v.CheckDPoP(context.Background(), r, testToken, "")
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, dpop.ErrURL)
		})
	}
	t.Run("path as sent, whatever a router did to r.URL", func(t *testing.T) {
		v := newVerifier(t, clocktest.New(t0), nil)
		var got error
		h := http.StripPrefix("/orders", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = v.CheckDPoP(r.Context(), r, testToken, "")
		}))
		r := request(newProof(t, k, http.MethodGet, testURL, testToken, "", t0))
		r.RequestURI = "/orders/7"
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != nil {
			t.Fatal(got)
		}
	})
}

func TestRequestURL(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    func() *http.Request
		fn   func(*http.Request) string
		want string
	}{
		{"origin-form over TLS", func() *http.Request {
			r := httptest.NewRequest("GET", "https://api.example.com/a/b?q", nil)
			r.RequestURI = "/a/b?q"
			return r
		}, dpop.RequestURL, "https://api.example.com/a/b?q"},
		{"plain HTTP", func() *http.Request { return httptest.NewRequest("GET", "/a", nil) }, dpop.RequestURL, "http://example.com/a"},
		{"absolute-form", func() *http.Request { return httptest.NewRequest("GET", "http://h.example:81/p?q", nil) }, dpop.RequestURL, "http://h.example:81/p?q"},
		{"client request", func() *http.Request {
			r, _ := http.NewRequest("GET", "http://h.example/a%2Fb", nil)
			return r
		}, dpop.RequestURL, "http://h.example/a%2Fb"},
		{"forwarded, first values", func() *http.Request {
			r := httptest.NewRequest("GET", "/a", nil)
			r.Header.Set("X-Forwarded-Proto", " https , http")
			r.Header.Set("X-Forwarded-Host", "api.example.com, proxy.internal")
			return r
		}, dpop.ForwardedURL, "https://api.example.com/a"},
		{"forwarded, absent", func() *http.Request { return httptest.NewRequest("GET", "/a", nil) }, dpop.ForwardedURL, "http://example.com/a"},
		{"origin", func() *http.Request { return httptest.NewRequest("GET", "http://internal:8080/a", nil) }, dpop.OriginURL("https://api.example.com"), "https://api.example.com/a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.fn(tc.r()); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestIssuedAt: iat within [now-MaxAge, now+Leeway] on the injected clock
// (check 11).
func TestIssuedAt(t *testing.T) {
	k := genKey(t, jose.ES256)
	const maxAge, leeway = time.Minute, 5 * time.Second
	for _, tc := range []struct {
		name string
		iat  time.Time
		ok   bool
	}{
		{"now", t0, true},
		{"MaxAge ago", t0.Add(-maxAge), true},
		{"older than MaxAge", t0.Add(-maxAge - time.Second), false},
		{"Leeway ahead", t0.Add(leeway), true},
		{"beyond Leeway", t0.Add(leeway + time.Second), false},
		{"epoch", time.Unix(0, 0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(t0), func(c *dpop.Config) { c.MaxAge, c.Leeway = maxAge, leeway })
			err := check(v, newProof(t, k, http.MethodGet, testURL, testToken, "", tc.iat), "")
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, dpop.ErrIssuedAt)
		})
	}
}

// TestAccessTokenHash: ath is the hash of the presented token (§7.1).
func TestAccessTokenHash(t *testing.T) {
	k := genKey(t, jose.ES256)
	for _, tc := range []struct {
		name  string
		token string // in the proof
		ok    bool
	}{
		{"same token", testToken, true},
		{"no ath", "", false},
		{"another token", testToken + "2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(t0), nil)
			err := check(v, newProof(t, k, http.MethodGet, testURL, tc.token, "", t0), "")
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, dpop.ErrAccessTokenHash)
		})
	}
	t.Run("no token presented: ath not required", func(t *testing.T) {
		v := newVerifier(t, clocktest.New(t0), nil)
		_, err := v.Verify(context.Background(), dpop.Params{Proof: newProof(t, k, "POST", testURL, "", "", t0), Method: "POST", URL: testURL})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestKeyBinding: the token's cnf.jkt is the proof key's thumbprint.
func TestKeyBinding(t *testing.T) {
	k, other := genKey(t, jose.ES256), genKey(t, jose.ES256)
	for _, tc := range []struct {
		name string
		jkt  string
		ok   bool
	}{
		{"bound to the proof key", k.ThumbprintSHA256(), true},
		{"not bound", "", true},
		{"bound to another key", other.ThumbprintSHA256(), false},
		{"thumbprint prefix", k.ThumbprintSHA256()[:20], false},
		{"thumbprint in another case", strings.ToUpper(k.ThumbprintSHA256()), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(t0), nil)
			err := check(v, newProof(t, k, http.MethodGet, testURL, testToken, "", t0), tc.jkt)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, dpop.ErrKeyBinding)
		})
	}
}

// TestReplay: each proof is accepted once; the replay key covers the key
// and the jti.
func TestReplay(t *testing.T) {
	clock := clocktest.New(t0)
	v := newVerifier(t, clock, nil)
	k, other := genKey(t, jose.ES256), genKey(t, jose.ES256)
	proof := newProof(t, k, http.MethodGet, testURL, testToken, "", t0)
	if err := check(v, proof, ""); err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, check(v, proof, ""), dpop.ErrReplay, proof)
	// Still a replay at the very end of its window.
	clock.Advance(dpop.DefaultMaxAge)
	wantInvalid(t, check(v, proof, ""), dpop.ErrReplay, proof)

	// One jti under two keys: two different proofs.
	c := claims()
	c["iat"] = clock.Now().Unix()
	if err := check(v, craftClaims(t, k, c), ""); err != nil {
		t.Fatal(err)
	}
	if err := check(v, craftClaims(t, other, c), ""); err != nil {
		t.Fatalf("same jti under another key: %v", err)
	}
	// A refused proof does not use up its jti.
	c["jti"] = "refused-first"
	p := craftClaims(t, k, c)
	if err := v.CheckDPoP(context.Background(), request(p), testToken, other.ThumbprintSHA256()); !errors.Is(err, dpop.ErrKeyBinding) {
		t.Fatalf("err = %v, want ErrKeyBinding", err)
	}
	if err := check(v, p, ""); err != nil {
		t.Fatalf("after a refusal: %v", err)
	}
}

// stubReplay answers every Use with err.
type stubReplay struct{ err error }

func (s stubReplay) Use(context.Context, string, time.Time) (bool, error) { return s.err == nil, s.err }

// TestReplayCacheFailure: a replay cache that cannot answer refuses the
// proof as unavailable (503), never as fresh and never as a bad proof.
func TestReplayCacheFailure(t *testing.T) {
	k := genKey(t, jose.ES256)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"plain error", errors.New("connection refused")},
		{"already unavailable", rs.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, clocktest.New(t0), func(c *dpop.Config) { c.Replay = stubReplay{tc.err} })
			err := check(v, newProof(t, k, http.MethodGet, testURL, testToken, "", t0), "")
			if !errors.Is(err, rs.ErrUnavailable) || errors.Is(err, rs.ErrInvalidDPoPProof) {
				t.Fatalf("err = %v, want rs.ErrUnavailable only", err)
			}
		})
	}
}

// TestNonceRequired: with nonces on, a proof without the current or the
// previous window's nonce gets an *rs.NonceError carrying the current one.
func TestNonceRequired(t *testing.T) {
	clock := clocktest.New(t0)
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("s", 32)), time.Minute, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, clock, func(c *dpop.Config) { c.Nonces = nonces })
	k := genKey(t, jose.ES256)
	proofWith := func(nonce string) string {
		return newProof(t, k, http.MethodGet, testURL, testToken, nonce, clock.Now())
	}
	wantNonce := func(err error) {
		t.Helper()
		var ne *rs.NonceError
		if !errors.As(err, &ne) || !errors.Is(err, rs.ErrUseDPoPNonce) {
			t.Fatalf("err = %v, want *rs.NonceError", err)
		}
		if ne.Nonce != nonces.Current() {
			t.Fatalf("NonceError.Nonce = %q, want the current nonce %q", ne.Nonce, nonces.Current())
		}
	}
	wantNonce(check(v, proofWith(""), ""))
	wantNonce(check(v, proofWith("made-up"), ""))
	first := nonces.Current()
	if err := check(v, proofWith(first), ""); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if nonces.Current() == first {
		t.Fatal("the nonce did not rotate")
	}
	if err := check(v, proofWith(first), ""); err != nil {
		t.Fatalf("previous window's nonce: %v", err)
	}
	clock.Advance(time.Minute)
	wantNonce(check(v, proofWith(first), ""))
	if err := check(v, proofWith(nonces.Current()), ""); err != nil {
		t.Fatal(err)
	}
	// A bad signature is refused as such, not answered with a nonce.
	bad := proofWith("")
	wantInvalid(t, check(v, bad[:len(bad)-4]+"AAAA", ""), dpop.ErrSignature)
}

func TestNewVerifierConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  dpop.Config
		ok   bool
	}{
		{"zero", dpop.Config{}, true},
		{"HS256", dpop.Config{Algorithms: []jose.Algorithm{jose.ES256, jose.HS256}}, false},
		{"none", dpop.Config{Algorithms: []jose.Algorithm{"none"}}, false},
		{"encryption alg", dpop.Config{Algorithms: []jose.Algorithm{jose.RSAOAEP256}}, false},
		{"negative MaxAge", dpop.Config{MaxAge: -time.Second}, false},
		{"negative Leeway", dpop.Config{Leeway: -time.Second}, false},
		{"huge MaxSize", dpop.Config{MaxSize: 1 << 20}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dpop.NewVerifier(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("NewVerifier: err = %v, want ok %v", err, tc.ok)
			}
		})
	}
	v, _ := dpop.NewVerifier(dpop.Config{})
	algs := v.Algorithms()
	for _, a := range algs {
		if a.IsSymmetric() || !a.IsSignature() {
			t.Errorf("default algorithm %s", a)
		}
	}
	algs[0] = jose.HS256
	if v.Algorithms()[0] == jose.HS256 {
		t.Error("Algorithms returned the verifier's own slice")
	}
}

func TestNewProof(t *testing.T) {
	es := genKey(t, jose.ES256)
	hs := genKey(t, jose.HS256)
	for _, tc := range []struct {
		name string
		key  *jose.Key
		m, u string
	}{
		{"nil key", nil, "GET", testURL},
		{"public key", es.Public(), "GET", testURL},
		{"symmetric key", hs, "GET", testURL},
		{"no method", es, "", testURL},
		{"no URL", es, "GET", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := dpop.NewProof(tc.key, tc.m, tc.u, "", "", t0); err == nil {
				t.Fatal("NewProof succeeded")
			}
		})
	}
	t.Run("claims and header", func(t *testing.T) {
		p := newProof(t, es, "POST", testURL+"?q=1#f", testToken, "n-1", t0)
		j, err := jose.ParseCompact(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		if j.Header.Type != dpop.ProofType || j.Header.Algorithm != jose.ES256 || j.Header.HasKeyID {
			t.Errorf("header = %+v", j.Header)
		}
		var c map[string]any
		if err := json.Unmarshal([]byte(j.Payload()), &c); err != nil {
			t.Fatal(err)
		}
		if c["htm"] != "POST" || c["htu"] != testURL || c["iat"] != float64(t0.Unix()) ||
			c["ath"] != dpop.AccessTokenHash(testToken) || c["nonce"] != "n-1" || len(c["jti"].(string)) != 22 {
			t.Errorf("claims = %v", c)
		}
		if strings.Contains(j.Header.Raw, `"d"`) {
			t.Error("the proof carries the private key")
		}
		if q := newProof(t, es, "POST", testURL, testToken, "", t0); q == p {
			t.Error("two proofs are equal: jti is not random")
		}
	})
}
