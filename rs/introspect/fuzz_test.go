package introspect

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/writ-dev/writ/internal/strictjson"
)

// FuzzParseResponse feeds arbitrary bodies to the response parser: it
// must never panic, and must keep its promises: a token only for a strict
// JSON object whose active member is the boolean true, with claims that
// agree with encoding/json and fields that agree with the claims.
func FuzzParseResponse(f *testing.F) {
	for _, seed := range []string{
		`{"active":true}`,
		`{"active":false}`,
		`{"active":"true"}`,
		`{"active":true,"active":true}`,
		`{"active":true,"scope":"a b  c","aud":["x","y"],"exp":1e9,"iat":1.5,"cnf":{"jkt":"k","x5t#S256":"t"}}`,
		`{"active":true,"aud":"x","client_id":"c","azp":"p","sub":"s","iss":"i","jti":"j","nbf":0}`,
		`{"active":true,"x":{"a":[1,{"b":null}]},"sub":"\u00e9\ud83d\ude00"}`,
		`{"active":true,"exp":-1}`,
		`{"active":true,"client_id":"","azp":"p"}`,
		`{"active":true,"cnf":{"jkt":1}}`,
		`{"active":true}{}`,
		`[true]`,
		``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		tok, active, err := parseResponse(body)
		if err != nil {
			if tok != nil || active {
				t.Fatalf("error %v with a token or active", err)
			}
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if strictjson.Validate(body, maxDepth) != nil {
			t.Fatalf("accepted a body strictjson refuses: %q", body)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("accepted a body encoding/json refuses: %v", err)
		}
		if !active {
			if tok != nil || m["active"] != false {
				t.Fatalf("inactive with token %v, active member %v", tok, m["active"])
			}
			return
		}
		if tok == nil || m["active"] != true {
			t.Fatalf("active without a token, or active member %v", m["active"])
		}
		if len(tok.Claims) != len(m) {
			t.Fatalf("claims %v, want %v", tok.Claims, m)
		}
		for name, field := range map[string]string{"sub": tok.Subject, "iss": tok.Issuer, "jti": tok.ID} {
			if v, ok := m[name]; ok && v != field {
				t.Fatalf("%s = %q, claim %v", name, field, v)
			}
		}
		if _, ok := m["client_id"]; ok && m["client_id"] != tok.ClientID {
			t.Fatalf("client_id = %q, claim %v", tok.ClientID, m["client_id"])
		}
		if exp, ok := m["exp"].(float64); ok && tok.Expiry.Unix() != int64(exp) {
			t.Fatalf("Expiry %v, exp %v", tok.Expiry, exp)
		}
		for _, s := range tok.Scopes {
			if s == "" {
				t.Fatalf("empty scope in %q", tok.Scopes)
			}
		}
	})
}
