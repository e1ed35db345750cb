package mint_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

const issuer = "https://as.example.test"

// now has a fraction of a second, which minted times drop.
var now = time.Date(2031, 5, 6, 7, 8, 9, 987654321, time.UTC)

type staticSigner struct{ k *jose.Key }

func (s staticSigner) Signer() (*jose.Key, error) {
	if s.k == nil {
		return nil, errors.New("no active key")
	}
	return s.k, nil
}

type memTokens struct {
	recs []store.TokenRecord
	err  error
}

func (m *memTokens) CreateToken(_ context.Context, r store.TokenRecord) error {
	if m.err != nil {
		return m.err
	}
	m.recs = append(m.recs, r)
	return nil
}

type fixture struct {
	key    *jose.Key
	tokens *memTokens
	m      *mint.Minter
	v      *jwt.Verifier
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &memTokens{}
	v, err := jwt.NewVerifier(jwt.StaticKeys(jose.NewKeySet(key.Public())), jwt.Config{
		Issuer: issuer, SkipAudienceCheck: true, Type: jwt.TypeAccessToken,
		RequiredClaims: []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id"},
		Now:            func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{key: key, tokens: tokens, m: mint.New(issuer, staticSigner{key}, tokens, func() time.Time { return now }), v: v}
}

func TestJWTAccessToken(t *testing.T) {
	f := newFixture(t)
	if f.m.Issuer() != issuer {
		t.Errorf("Issuer = %q", f.m.Issuer())
	}
	tests := []struct {
		name    string
		at      mint.AccessToken
		wantAud string // the raw JSON of aud
		noScope bool
	}{
		{"one audience", mint.AccessToken{ClientID: "svc", Subject: "svc", Scopes: []string{"read", "write"}, Audience: []string{"https://api.test"}, TTL: 15 * time.Minute, Format: store.AccessTokenJWT}, `"https://api.test"`, false},
		{"two audiences", mint.AccessToken{ClientID: "svc", Subject: "user-1", Scopes: []string{"read"}, Audience: []string{"https://a.test", "https://b.test"}, TTL: time.Hour}, `["https://a.test","https://b.test"]`, false},
		{"no scope", mint.AccessToken{ClientID: "svc", Subject: "svc", Audience: []string{issuer}, TTL: time.Second}, `"` + issuer + `"`, true},
	}
	jtis := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := f.m.Access(context.Background(), tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.tokens.recs) != 0 {
				t.Error("a JWT was written to the store")
			}
			tok, err := f.v.Verify(context.Background(), iss.Value)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if tok.Header().Type != "at+jwt" || tok.Header().Algorithm != jose.ES256 || tok.Header().KeyID != f.key.KeyID() {
				t.Errorf("header %+v", tok.Header())
			}
			var c map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tok.Payload()), &c); err != nil {
				t.Fatal(err)
			}
			str := func(name string) string {
				var s string
				_ = json.Unmarshal(c[name], &s)
				return s
			}
			sec := now.Truncate(time.Second)
			if str("iss") != issuer || str("sub") != tc.at.Subject || str("client_id") != tc.at.ClientID {
				t.Errorf("iss %q sub %q client_id %q", str("iss"), str("sub"), str("client_id"))
			}
			if string(c["aud"]) != tc.wantAud {
				t.Errorf("aud = %s, want %s", c["aud"], tc.wantAud)
			}
			if string(c["iat"]) != jsonInt(sec.Unix()) || string(c["exp"]) != jsonInt(sec.Add(tc.at.TTL).Unix()) {
				t.Errorf("iat %s exp %s, want %d and %d", c["iat"], c["exp"], sec.Unix(), sec.Add(tc.at.TTL).Unix())
			}
			if _, ok := c["scope"]; ok == tc.noScope {
				t.Errorf("scope present = %v, want %v", ok, !tc.noScope)
			} else if ok && str("scope") != strings.Join(tc.at.Scopes, " ") {
				t.Errorf("scope = %q", str("scope"))
			}
			jti := str("jti")
			raw, err := base64.RawURLEncoding.DecodeString(jti)
			if err != nil || len(raw) != 16 || jtis[jti] {
				t.Errorf("jti %q: want 128 random bits, unique", jti)
			}
			jtis[jti] = true
			if _, ok := c["nbf"]; ok {
				t.Error("nbf is set")
			}
			if len(c) != 8-boolInt(tc.noScope) {
				t.Errorf("claims %s, want exactly the RFC 9068 set", tok.Payload())
			}
			if iss.ID != jti || iss.Format != store.AccessTokenJWT || !iss.IssuedAt.Equal(sec) || !iss.ExpiresAt.Equal(sec.Add(tc.at.TTL)) {
				t.Errorf("Issued %+v", iss)
			}
			if iss.ExpiresIn() != int64(tc.at.TTL/time.Second) {
				t.Errorf("ExpiresIn = %d", iss.ExpiresIn())
			}
			if opaque.IsAccessToken(iss.Value) {
				t.Error("IsOpaque(JWT) = true")
			}
		})
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestJSONEscaping: client ids, subjects, audiences and scopes with
// characters JSON must escape produce tokens that any JSON parser, and
// writ's strict one, reads back exactly.
func TestJSONEscaping(t *testing.T) {
	f := newFixture(t)
	odd := []string{
		`quote"inside`,
		`back\slash`,
		`\"`,
		"control\x00\x01\x1f",
		"newline\n\r\ttab",
		"DEL\x7f",
		"üñíçødé 日本 🙂",
		"line\u2028para\u2029",
		"</script><!--&amp;",
		`{"iss":"evil"}`,
		`","iss":"https://evil.test`,
	}
	for _, id := range odd {
		t.Run(id, func(t *testing.T) {
			iss, err := f.m.Access(context.Background(), mint.AccessToken{
				ClientID: id, Subject: id, Audience: []string{id, "x"}, Scopes: []string{id}, TTL: time.Minute,
			})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := f.v.Verify(context.Background(), iss.Value)
			if err != nil {
				t.Fatalf("writ's verifier rejects the token: %v", err)
			}
			if !json.Valid([]byte(tok.Payload())) {
				t.Fatalf("payload is not JSON: %s", tok.Payload())
			}
			var c struct {
				Iss      string   `json:"iss"`
				Sub      string   `json:"sub"`
				Aud      []string `json:"aud"`
				ClientID string   `json:"client_id"`
				Scope    string   `json:"scope"`
			}
			var all map[string]any
			if err := json.Unmarshal([]byte(tok.Payload()), &all); err != nil || len(all) != 8 {
				t.Fatalf("payload %s has %d members (%v), want 8", tok.Payload(), len(all), err)
			}
			if err := json.Unmarshal([]byte(tok.Payload()), &c); err != nil {
				t.Fatal(err)
			}
			if c.Iss != issuer || c.Sub != id || c.ClientID != id || c.Scope != id || !slices.Equal(c.Aud, []string{id, "x"}) {
				t.Errorf("decoded %+v", c)
			}
			if s, _ := tok.StringClaim("client_id"); s != id || tok.Claims().Subject != id || tok.Claims().Issuer != issuer {
				t.Errorf("writ reads client_id %q sub %q iss %q", s, tok.Claims().Subject, tok.Claims().Issuer)
			}
		})
	}
}

func TestOpaqueAccessToken(t *testing.T) {
	f := newFixture(t)
	at := mint.AccessToken{
		ClientID: "svc", Subject: "user-7", Scopes: []string{"read"}, Audience: []string{"https://a.test", "https://b.test"},
		TTL: 30 * time.Minute, Format: store.AccessTokenOpaque, Extra: map[string]any{"act": map[string]string{"sub": "agent"}},
	}
	a, err := f.m.Access(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.m.Access(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	if a.Value == b.Value {
		t.Fatal("two opaque tokens are equal")
	}
	secret, ok := strings.CutPrefix(a.Value, opaque.AccessTokenPrefix)
	if raw, err := base64.RawURLEncoding.DecodeString(secret); !ok || err != nil || len(raw) != 32 {
		t.Fatalf("opaque token %q: want the prefix and 256 random bits", a.Value)
	}
	if !opaque.IsAccessToken(a.Value) || opaque.IsAccessToken(secret) {
		t.Error("IsOpaque")
	}
	if len(f.tokens.recs) != 2 {
		t.Fatalf("%d records stored, want 2", len(f.tokens.recs))
	}
	rec := f.tokens.recs[0]
	sum := sha256.Sum256([]byte(a.Value))
	if !bytes.Equal(rec.Hash, sum[:]) || !bytes.Equal(opaque.Hash(a.Value), sum[:]) {
		t.Error("the stored hash is not SHA-256 of the token")
	}
	if bytes.Contains([]byte(rec.Hash), []byte(secret)) {
		t.Error("the record holds the token")
	}
	sec := now.Truncate(time.Second)
	if rec.Kind != store.KindAccessToken || rec.ClientID != "svc" || rec.Subject != "user-7" ||
		!slices.Equal(rec.Scopes, at.Scopes) || !slices.Equal(rec.Audience, at.Audience) ||
		!rec.IssuedAt.Equal(sec) || !rec.ExpiresAt.Equal(sec.Add(at.TTL)) || rec.Revoked {
		t.Errorf("record %+v", rec)
	}
	if string(rec.Extra) != `{"act":{"sub":"agent"}}` {
		t.Errorf("extra = %s", rec.Extra)
	}
	if err := rec.Validate(); err != nil {
		t.Errorf("the record does not validate: %v", err)
	}
	if a.Format != store.AccessTokenOpaque || a.ID != "" || a.ExpiresIn() != 1800 {
		t.Errorf("Issued %+v", a)
	}
	// A known vector pins the hash: SHA-256 of the whole token, prefix
	// included.
	want, _ := base64.StdEncoding.DecodeString("aakSriYm8vCwivQEWMlW8ytUL8XZTpU56m+LsHOwvRU=")
	if got := opaque.Hash("writ_at_abc"); !bytes.Equal(got, want) {
		t.Errorf("HashOpaque(writ_at_abc) = %x", got)
	}
}

func TestExtraClaims(t *testing.T) {
	reserved := []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"}
	for _, format := range []string{store.AccessTokenJWT, store.AccessTokenOpaque} {
		for _, name := range reserved {
			t.Run(format+"/"+name, func(t *testing.T) {
				f := newFixture(t)
				_, err := f.m.Access(context.Background(), mint.AccessToken{
					ClientID: "svc", Subject: "svc", Audience: []string{"a"}, TTL: time.Minute, Format: format,
					Extra: map[string]any{"act": "ok", name: "https://evil.test"},
				})
				if err == nil {
					t.Fatalf("extra claim %q was accepted", name)
				}
				if len(f.tokens.recs) != 0 {
					t.Error("a record was stored")
				}
			})
		}
	}
	t.Run("allowed extras", func(t *testing.T) {
		f := newFixture(t)
		iss, err := f.m.Access(context.Background(), mint.AccessToken{
			ClientID: "svc", Subject: "user", Audience: []string{"a"}, TTL: time.Minute,
			Extra: map[string]any{"act": map[string]any{"sub": "svc"}, "auth_time": 42, "cnf": map[string]string{"jkt": "abc"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := f.v.Verify(context.Background(), iss.Value)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"act": `{"sub":"svc"}`, "auth_time": "42", "cnf": `{"jkt":"abc"}`, "sub": `"user"`} {
			if got, _ := tok.Claim(name); got != want {
				t.Errorf("%s = %s, want %s", name, got, want)
			}
		}
	})
}

func TestAccessErrors(t *testing.T) {
	ok := mint.AccessToken{ClientID: "svc", Subject: "svc", Audience: []string{"a"}, TTL: time.Minute}
	tests := []struct {
		name   string
		signer staticSigner
		store  error
		mod    func(*mint.AccessToken)
	}{
		{"zero TTL", staticSigner{}, nil, func(a *mint.AccessToken) { a.TTL = 0 }},
		{"negative TTL", staticSigner{}, nil, func(a *mint.AccessToken) { a.TTL = -time.Second }},
		{"unknown format", staticSigner{}, nil, func(a *mint.AccessToken) { a.Format = "paseto" }},
		{"no signing key", staticSigner{}, nil, func(a *mint.AccessToken) {}},
		{"store fails", staticSigner{}, errors.New("disk full"), func(a *mint.AccessToken) { a.Format = store.AccessTokenOpaque }},
		{"unencodable extra", staticSigner{}, nil, func(a *mint.AccessToken) { a.Extra = map[string]any{"x": func() {}} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.name == "unencodable extra" {
				tc.signer = staticSigner{f.key}
			}
			f.tokens.err = tc.store
			m := mint.New(issuer, tc.signer, f.tokens, nil)
			at := ok
			tc.mod(&at)
			if iss, err := m.Access(context.Background(), at); err == nil {
				t.Fatalf("Access = %+v, want an error", iss)
			}
		})
	}
}

// TestPrepareWritesNothing: Prepare mints in memory and leaves the record
// of an opaque token to the caller's transaction; Access stores it.
func TestPrepareWritesNothing(t *testing.T) {
	f := newFixture(t)
	at := mint.AccessToken{ClientID: "svc", Subject: "u", TTL: time.Minute, Format: store.AccessTokenOpaque}
	iss, err := f.m.Prepare(at)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.tokens.recs) != 0 {
		t.Fatal("Prepare stored a record")
	}
	if iss.Record == nil || string(iss.Record.Hash) != string(opaque.Hash(iss.Value)) || iss.Record.ClientID != "svc" || !iss.Record.ExpiresAt.Equal(iss.ExpiresAt) {
		t.Fatalf("Prepare's record %+v does not describe %q", iss.Record, iss.Value)
	}
	jwtIss, err := f.m.Prepare(mint.AccessToken{ClientID: "svc", Subject: "u", TTL: time.Minute})
	if err != nil || jwtIss.Record != nil || jwtIss.ID == "" {
		t.Fatalf("Prepare of a JWT: record %v, jti %q, %v", jwtIss.Record, jwtIss.ID, err)
	}
	if _, err := f.m.Access(context.Background(), at); err != nil || len(f.tokens.recs) != 1 {
		t.Fatalf("Access stored %d records, %v", len(f.tokens.recs), err)
	}
}
