package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

func TestObjectParams(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		want          url.Values
		refused       bool
	}{
		{name: "strings", payload: `{"scope":"openid","state":"s\u00e9"}`, want: url.Values{"scope": {"openid"}, "state": {"sé"}}},
		{name: "JWT claims dropped", payload: `{"iss":"c","aud":"i","exp":1,"nbf":1,"iat":1,"jti":"j","sub":"s","nonce":"n"}`, want: url.Values{"nonce": {"n"}}},
		{name: "max_age number", payload: `{"max_age":300}`, want: url.Values{"max_age": {"300"}}},
		{name: "max_age string", payload: `{"max_age":"300"}`, want: url.Values{"max_age": {"300"}}},
		{name: "claims object", payload: `{"claims":{"userinfo":{"email":null}}}`, want: url.Values{"claims": {`{"userinfo":{"email":null}}`}}},
		{name: "unknown non-string ignored", payload: `{"display":1,"x":[1],"y":{"a":1}}`, want: url.Values{}},
		{name: "max_age fraction", payload: `{"max_age":1.5}`, refused: true},
		{name: "max_age negative", payload: `{"max_age":-1}`, refused: true},
		{name: "scope array", payload: `{"scope":["openid"]}`, refused: true},
		{name: "resource array", payload: `{"resource":["https://a.example"]}`, refused: true},
		{name: "nested request", payload: `{"request":"x.y.z"}`, refused: true},
		{name: "nested request_uri", payload: `{"request_uri":"urn:x"}`, refused: true},
		{name: "duplicate member", payload: `{"scope":"a","scope":"b"}`, refused: true},
		{name: "not an object", payload: `["scope"]`, refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := authz.ObjectParams(tc.payload)
			var oe *authz.RequestObjectError
			if tc.refused {
				if !errors.As(err, &oe) {
					t.Fatalf("got %v, %v; want a RequestObjectError", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Encode() != tc.want.Encode() {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzObjectParams: any payload gives parameters (one value each, none of
// the JWT's own claims, never request or request_uri) or a
// RequestObjectError; never a panic.
func FuzzObjectParams(f *testing.F) {
	for _, s := range []string{
		`{"scope":"openid","max_age":30,"claims":{"id_token":{"acr":{"essential":true}}}}`,
		`{"iss":"a","request":"b"}`, `{"max_age":1e3}`, `{"state":"\ud800"}`, `{}`, `[`, `{"a":{"b":[1,2,{"c":null}]}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		params, err := authz.ObjectParams(payload)
		if err != nil {
			var oe *authz.RequestObjectError
			if !errors.As(err, &oe) {
				t.Fatalf("error %v is not a RequestObjectError", err)
			}
			return
		}
		for name, vs := range params {
			if len(vs) != 1 {
				t.Errorf("%s has %d values", name, len(vs))
			}
			switch name {
			case "iss", "aud", "exp", "nbf", "iat", "jti", "sub", "request", "request_uri":
				t.Errorf("%s passed through", name)
			}
		}
	})
}

// staticKeys is a client key source with one key set.
type staticKeys struct{ ks *jose.KeySet }

func (s staticKeys) ClientKeys(context.Context, *store.Client, *jose.Header) (*jose.KeySet, error) {
	return s.ks, nil
}

// FuzzRequestObjectVerify: whatever a request carries in request, Verify
// returns parameters only for an object signed by the client's key, and
// otherwise a RequestObjectError; never a panic. The seeds include a valid
// object, so that the fuzzer mutates signed input too.
func FuzzRequestObjectVerify(f *testing.F) {
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	ro := &authz.RequestObjects{Keys: staticKeys{jose.NewKeySet(key.Public())}, Issuer: "https://as.example", Now: func() time.Time { return now }}
	client := &store.Client{ID: "app", JWKS: []byte(`{"keys":[]}`)}
	payload, _ := json.Marshal(map[string]any{
		"iss": "app", "aud": "https://as.example", "exp": now.Add(time.Minute).Unix(),
		"client_id": "app", "scope": "openid", "max_age": 60, "claims": map[string]any{"userinfo": map[string]any{"email": nil}},
	})
	valid, err := jose.Sign(key, payload, &jose.SignOptions{Type: authz.RequestObjectType})
	if err != nil {
		f.Fatal(err)
	}
	if params, err := ro.Verify(context.Background(), valid, client); err != nil || params.Get("scope") != "openid" || params.Get("client_id") != "app" {
		f.Fatalf("the valid seed: %v, %v", params, err)
	}
	for _, s := range []string{valid, valid[:len(valid)-2], "eyJhbGciOiJub25lIn0.e30.", "a.b.c", "", "...."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		params, err := ro.Verify(context.Background(), raw, client)
		if err != nil {
			var oe *authz.RequestObjectError
			if !errors.As(err, &oe) {
				t.Fatalf("error %v is not a RequestObjectError", err)
			}
			return
		}
		if params.Get("client_id") != "app" {
			t.Fatalf("accepted with client_id %q", params.Get("client_id"))
		}
	})
}
