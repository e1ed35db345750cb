package bench

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// BenchmarkVerify measures parse + signature check + iss/aud/exp validation
// of one token per algorithm, the same token for every implementation. The
// floor is the raw standard-library signature check without any claims.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range benchAlgs() {
		fx := mustFixture(b, alg)
		for _, impl := range benchImpls() {
			b.Run(impl+"/"+string(alg), func(b *testing.B) {
				verify, err := newVerify(impl, fx, fx.token, false)
				if err != nil {
					b.Fatal(err)
				}
				if err := verify(); err != nil {
					b.Fatalf("token rejected: %v", err)
				}
				measure(b, verify)
			})
		}
	}
}

// BenchmarkVerifyScope is BenchmarkVerify/*/HS256 plus reading the scope
// and client_id claims as Go strings, as an API does after verification:
// golang-jwt and go-jose decode them into a struct, jwx reads them from its
// token, writ reads them with Token.StringClaim.
func BenchmarkVerifyScope(b *testing.B) {
	fx := mustFixture(b, jose.HS256)
	for _, impl := range claimImpls() {
		b.Run(impl+"/HS256", func(b *testing.B) {
			verify, err := newVerify(impl, fx, fx.token, true)
			if err != nil {
				b.Fatal(err)
			}
			if err := verify(); err != nil {
				b.Fatalf("token rejected: %v", err)
			}
			measure(b, verify)
		})
	}
}

// BenchmarkSign measures encoding the benchmark claims, building the header
// (alg, kid, typ) and signing. The floor hashes a prepared signing input
// and makes the raw signature only.
func BenchmarkSign(b *testing.B) {
	for _, alg := range benchAlgs() {
		fx := mustFixture(b, alg)
		for _, impl := range benchImpls() {
			b.Run(impl+"/"+string(alg), func(b *testing.B) {
				s, err := newSign(impl, fx)
				if err != nil {
					b.Fatal(err)
				}
				measure(b, s.run)
			})
		}
	}
}

// measure runs op in the benchmark loop, reporting allocations and, where
// the platform tells, the process CPU time per operation as "cpu-ns/op".
// On a shared machine the wall-clock ns/op includes the time the process
// waited for a core; the CPU time does not, so it is the steadier figure
// (it does include the garbage collector's work on other threads).
func measure(b *testing.B, op func() error) {
	b.ReportAllocs()
	cpu0, ok := processCPUTime()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	if cpu1, ok1 := processCPUTime(); ok && ok1 && b.N > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// TestBenchToken checks that the benchmark token is the advertised size.
func TestBenchToken(t *testing.T) {
	fx := mustFixture(t, jose.HS256)
	parts := strings.Split(fx.token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	j, err := jose.ParseCompact(fx.token, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := len(j.Payload())
	t.Logf("payload %d bytes, token %d bytes: %s", n, len(fx.token), j.Payload())
	if n < 280 || n > 320 {
		t.Errorf("payload is %d bytes, want about 300", n)
	}
	for _, name := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id", "tenant", "roles"} {
		if !strings.Contains(j.Payload(), `"`+name+`":`) {
			t.Errorf("payload lacks %q", name)
		}
	}
}

// TestBenchImplementations makes sure every benchmarked implementation does
// the work it is credited with: it accepts the benchmark token, rejects a
// wrong issuer, a wrong audience, an expired token and a bad signature, and
// its signed tokens verify with writ.
func TestBenchImplementations(t *testing.T) {
	for _, alg := range benchAlgs() {
		fx := mustFixture(t, alg)
		bad := badTokens(t, fx)
		for _, impl := range benchImpls() {
			t.Run(impl+"/"+string(alg), func(t *testing.T) {
				for _, scope := range []bool{false, true} {
					if scope && impl == "floor" {
						continue
					}
					verify, err := newVerify(impl, fx, fx.token, scope)
					if err != nil {
						t.Fatal(err)
					}
					if err := verify(); err != nil {
						t.Fatalf("scope=%v: valid token rejected: %v", scope, err)
					}
				}
				for _, bt := range bad {
					if impl == "floor" && !bt.sig {
						continue // the floor checks the signature only
					}
					verify, err := newVerify(impl, fx, bt.token, false)
					if err != nil {
						t.Fatal(err)
					}
					err = verify()
					if bt.optional[impl] {
						t.Logf("%s: %s accepted=%v (not required by its defaults)", bt.name, impl, err == nil)
						continue
					}
					if err == nil {
						t.Errorf("%s: accepted", bt.name)
					}
				}

				s, err := newSign(impl, fx)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.run(); err != nil {
					t.Fatalf("sign: %v", err)
				}
				tok, err := s.token()
				if err != nil {
					t.Fatal(err)
				}
				if err := fx.checkWrit(tok); err != nil {
					t.Errorf("token signed by %s does not verify with writ: %v\n%s", impl, err, tok)
				}
			})
		}
	}
}

type badToken struct {
	name     string
	token    string
	sig      bool            // the signature is what is wrong
	want     error           // writ's sentinel for it
	optional map[string]bool // implementations whose defaults allow it
}

// badTokens returns tokens, signed with the fixture's key unless the
// signature is the flaw, that a correct verifier with the benchmark policy
// rejects.
func badTokens(tb testing.TB, fx *fixture) []badToken {
	tb.Helper()
	mint := func(edit func(*writClaims)) string {
		c := fx.claims.writ()
		edit(c)
		tok, err := fx.mint(c)
		if err != nil {
			tb.Fatal(err)
		}
		return tok
	}
	past := time.Now().Add(-2 * time.Hour)
	tampered := []byte(fx.token)
	i := strings.LastIndexByte(fx.token, '.') + 3
	if tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	return []badToken{
		{name: "wrong issuer", want: jwt.ErrIssuer, token: mint(func(c *writClaims) { c.Issuer = "https://evil.example" })},
		{name: "wrong audience", want: jwt.ErrAudience, token: mint(func(c *writClaims) { c.Audience = jwt.Audience{"https://other.example"} })},
		{name: "expired", want: jwt.ErrExpired, token: mint(func(c *writClaims) {
			c.ExpiresAt = jwt.NewNumericDate(past)
			c.IssuedAt = jwt.NewNumericDate(past.Add(-time.Hour))
			c.NotBefore = c.IssuedAt
		})},
		// go-jose and jwx only check exp when it is present.
		{name: "no exp", want: jwt.ErrClaim, token: mint(func(c *writClaims) { c.ExpiresAt = 0 }), optional: map[string]bool{"go-jose": true, "jwx": true}},
		{name: "bad signature", want: jwt.ErrSignature, token: string(tampered), sig: true},
	}
}

// TestBadTokensAreBad checks that each bad token fails for the reason it
// was made for, so that the rejections above are not accidental.
func TestBadTokensAreBad(t *testing.T) {
	fx := mustFixture(t, jose.ES256)
	for _, bt := range badTokens(t, fx) {
		if err := fx.checkWrit(bt.token); !errors.Is(err, bt.want) {
			t.Errorf("%s: writ returned %v, want %v", bt.name, err, bt.want)
		}
	}
}
