package dpop_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

// FuzzVerify feeds arbitrary proofs to a verifier: it must never panic,
// every refusal must be an invalid proof, and what it accepts must match
// the request.
func FuzzVerify(f *testing.F) {
	k := genKey(f, jose.ES256)
	f.Add(newProof(f, k, http.MethodGet, testURL, testToken, "", t0))
	f.Add(rfcProof)
	f.Add(rfcResourceProof)
	f.Add(unsigned(`{"typ":"dpop+jwt","alg":"none"}`, `{}`, nil))
	f.Add(unsigned(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"","y":""}}`, `{"jti":"a","htm":"GET","htu":"`+testURL+`","iat":1}`, []byte{1, 2}))
	f.Add("a.b.c")
	clock := clocktest.New(t0)
	v := newVerifier(f, clock, nil)
	f.Fuzz(func(t *testing.T, proof string) {
		p, err := v.Verify(context.Background(), dpop.Params{Proof: proof, Method: http.MethodGet, URL: testURL, AccessToken: testToken})
		if err != nil {
			if !errors.Is(err, rs.ErrInvalidDPoPProof) {
				t.Fatalf("err = %v, not an invalid proof", err)
			}
			return
		}
		if p.Method != http.MethodGet || p.Key == nil || p.Key.IsPrivate() || p.JKT != p.Key.ThumbprintSHA256() ||
			p.AccessTokenHash != dpop.AccessTokenHash(testToken) {
			t.Fatalf("accepted %+v", p)
		}
		if u, err := dpop.NormalizeURL(p.URL); err != nil || u != testURL {
			t.Fatalf("accepted htu %q", p.URL)
		}
	})
}

// FuzzNormalizeURL: never panics, output is stable under a second pass, is
// an absolute http(s) URL without query or fragment, and never longer
// than three times the input.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{testURL, "HTTP://A:80", "https://[::1]:443/a/../%7e?q#f", "https://h/%zz", "https://h/a/./b/../../c", "http://h:/é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := dpop.NormalizeURL(in)
		if err != nil {
			return
		}
		again, err := dpop.NormalizeURL(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeURL(%q) = %q, then %q, %v", in, out, again, err)
		}
		if !strings.HasPrefix(out, "http://") && !strings.HasPrefix(out, "https://") || strings.ContainsAny(out, "?# ") {
			t.Fatalf("NormalizeURL(%q) = %q", in, out)
		}
		if len(out) > 3*len(in)+1 {
			t.Fatalf("NormalizeURL(%q) grew to %d bytes", in, len(out))
		}
	})
}
