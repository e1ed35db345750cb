package oidc

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// TestClaimsRequestRoundTrip: a parsed claims request encodes to a claims
// request that decodes to the same value, inside other JSON too (a sealed
// authorization request) and with characters an encoder escapes.
func TestClaimsRequestRoundTrip(t *testing.T) {
	for _, raw := range []string{
		`{}`,
		`{"userinfo":null,"id_token":null}`,
		`{"userinfo":{}}`,
		`{"userinfo":{"email":null,"email_verified":{"essential":true}},"id_token":{"auth_time":{"essential":true},"acr":{"values":["urn:a","urn:b"]}}}`,
		`{"id_token":{"sub":{"value":"248289761001"},"n":{"value":12345678901234567890.5},"o":{"value":{"k":[1,{"x":null}]}},"e":{"values":[]}}}`,
		`{"userinfo":{"nickname":{"value":"<a & b> \u2028 \"q\" é"}},"other":{"ignored":true}}`,
		`{"userinfo":{"given_name":{"essential":false,"value":null}}}`,
	} {
		want, err := ParseClaimsRequest(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		enc, err := want.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeClaimsRequest(enc)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s\n encoded %s\n decoded %+v, %v\n want %+v", raw, enc, got, err, want)
		}
		if again, _ := got.MarshalJSON(); string(again) != string(enc) {
			t.Errorf("encoding is not stable: %s, then %s", enc, again)
		}
		// Inside a struct, as authz seals it (json.Marshal escapes HTML).
		type carrier struct {
			Claims *ClaimsRequest `json:"cl,omitempty"`
		}
		b, err := json.Marshal(carrier{want})
		if err != nil {
			t.Fatal(err)
		}
		var c carrier
		if err := json.Unmarshal(b, &c); err != nil || !reflect.DeepEqual(c.Claims, want) {
			t.Errorf("%s: through a struct %s: %+v, %v", raw, b, c.Claims, err)
		}
	}
	var c struct {
		Claims *ClaimsRequest `json:"cl"`
	}
	if err := json.Unmarshal([]byte(`{"cl":null}`), &c); err != nil || c.Claims != nil {
		t.Errorf("null: %+v, %v", c.Claims, err)
	}
	if b, _ := (*ClaimsRequest)(nil).MarshalJSON(); string(b) != "null" {
		t.Errorf("nil encodes as %s", b)
	}
	if err := json.Unmarshal([]byte(`{"cl":{"id_token":5}}`), &c); !errors.Is(err, ErrInvalidClaimsRequest) {
		t.Errorf("an invalid stored request: %v, want ErrInvalidClaimsRequest", err)
	}
	if r, err := DecodeClaimsRequest(nil); r != nil || err != nil {
		t.Errorf("DecodeClaimsRequest(nil) = %v, %v", r, err)
	}
}
