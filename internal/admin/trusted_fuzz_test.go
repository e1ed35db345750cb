package admin

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecodeTrusted: any body either decodes to a registration that
// passes the checks again, or is refused with a 400; never a panic.
func FuzzDecodeTrusted(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://idp.example","jwks_uri":"https://idp.example/jwks","uses":["id_jag"],"rules":[{"client_id":"*","audiences":["https://a.example"],"scopes":["read"]}]}`))
	f.Add([]byte(`{"issuer":"https://idp.example","jwks":{"keys":[]},"uses":["jwt_bearer"]}`))
	f.Add([]byte(`{"rules":[{"client_id":"a","client_id":"b"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeTrusted(body)
		if err != nil {
			var e *apiError
			if !errors.As(err, &e) || e.status != 400 {
				t.Fatalf("refusal %v is not a 400", err)
			}
			return
		}
		if got.Issuer == "" || len(got.Uses) == 0 || (len(got.JWKS) > 0) == (got.JWKSURI != "") {
			t.Fatalf("accepted an incomplete registration %+v", got)
		}
		again, _ := json.Marshal(trustedToJSON(got))
		if _, err := decodeTrusted(filterSettable(t, again)); err != nil {
			t.Fatalf("the accepted registration does not decode again: %v\n%s", err, again)
		}
	})
}

// filterSettable drops the server-set members of a response.
func filterSettable(t *testing.T, b []byte) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "created_at")
	delete(m, "updated_at")
	out, _ := json.Marshal(m)
	return out
}
