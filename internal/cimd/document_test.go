package cimd_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/cimd"
)

const docURL = "https://app.example.com/oauth/client.json"

func TestCheckClientID(t *testing.T) {
	good := []string{
		docURL,
		"https://app.example.com/",
		"https://app.example.com:8443/c",
		"https://[2001:db8::1]/c", // syntax only: the guard refuses the address
		"https://app.example.com/a%2Fb",
	}
	for _, id := range good {
		if err := cimd.CheckClientID(id); err != nil {
			t.Errorf("CheckClientID(%q) = %v, want nil", id, err)
		}
	}
	bad := []string{
		"http://app.example.com/c",
		"HTTPS://app.example.com/c",
		"https://app.example.com",
		"https://user@app.example.com/c",
		"https://user:pw@app.example.com/c",
		"https://app.example.com/c#frag",
		"https://app.example.com/c?x=1",
		"https://app.example.com/./c",
		"https://app.example.com/a/../c",
		"https://app.example.com/a/%2e%2E/c",
		"https://app.example.com/a/%2E",
		"https://app.example.com/c d",
		"https://app.example.com/c\x00",
		"https://app.example.com/é",
		"https://app.example.com\\@evil.example/c",
		"https:///c",
		"https://app.example.com:0/c",
		"https://app.example.com:99999/c",
		"https://" + strings.Repeat("a", 600) + ".example/c",
		"https://app.example.com/" + strings.Repeat("c", 240),
		"",
		"client-123",
	}
	for _, id := range bad {
		err := cimd.CheckClientID(id)
		if !errors.Is(err, cimd.ErrInvalidClientID) {
			t.Errorf("CheckClientID(%q) = %v, want ErrInvalidClientID", id, err)
		}
	}
}

func TestParseDocument(t *testing.T) {
	const jwk = `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","alg":"ES256","use":"sig"}`
	const privJWK = `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI","alg":"ES256"}`
	base := `"client_id":"` + docURL + `","redirect_uris":["https://app.example.com/cb"]`
	tests := []struct {
		name string
		body string
		ok   bool
		want string // part of the error
	}{
		{"minimal", `{` + base + `}`, true, ""},
		{"full public", `{` + base + `,"client_name":"App","client_uri":"https://app.example.com","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"openid profile","token_endpoint_auth_method":"none","logo_uri":"https://x","unknown":{"a":[1]}}`, true, ""},
		{"private_key_jwt jwks", `{` + base + `,"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[` + jwk + `]}}`, true, ""},
		{"private_key_jwt jwks_uri", `{` + base + `,"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example.com/jwks"}`, true, ""},
		{"loopback and native redirects", `{"client_id":"` + docURL + `","redirect_uris":["http://127.0.0.1/cb","com.example.app:/cb"]}`, true, ""},
		{"client_id mismatch", `{"client_id":"https://app.example.com/other","redirect_uris":["https://a.example/cb"]}`, false, "not the URL"},
		{"client_id with default port", `{"client_id":"https://app.example.com:443/oauth/client.json","redirect_uris":["https://a.example/cb"]}`, false, "not the URL"},
		{"client_id missing", `{"redirect_uris":["https://a.example/cb"]}`, false, "client_id is missing"},
		{"client_id case variant is not client_id", `{"Client_ID":"` + docURL + `","redirect_uris":["https://a.example/cb"]}`, false, "client_id is missing"},
		{"client_id not string", `{"client_id":1,"redirect_uris":["https://a.example/cb"]}`, false, "must be a string"},
		{"duplicate member", `{` + base + `,"client_id":"` + docURL + `"}`, false, "strict JSON"},
		{"nested duplicate", `{` + base + `,"x":{"a":1,"a":2}}`, false, "strict JSON"},
		{"not an object", `[` + base + `]`, false, "strict JSON"},
		{"trailing bytes", `{` + base + `} {}`, false, "strict JSON"},
		{"client_secret", `{` + base + `,"client_secret":"s"}`, false, "client_secret"},
		{"client_secret_expires_at", `{` + base + `,"client_secret_expires_at":0}`, false, "client_secret_expires_at"},
		{"secret auth method", `{` + base + `,"token_endpoint_auth_method":"client_secret_basic"}`, false, "not allowed"},
		{"client_secret_jwt", `{` + base + `,"token_endpoint_auth_method":"client_secret_jwt"}`, false, "not allowed"},
		{"private_key_jwt without keys", `{` + base + `,"token_endpoint_auth_method":"private_key_jwt"}`, false, "exactly one"},
		{"private_key_jwt both", `{` + base + `,"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[` + jwk + `]},"jwks_uri":"https://a.example/j"}`, false, "exactly one"},
		{"private key in jwks", `{` + base + `,"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[` + privJWK + `]}}`, false, "private"},
		{"keys with none", `{` + base + `,"jwks_uri":"https://a.example/j"}`, false, "private_key_jwt"},
		{"jwks_uri http", `{` + base + `,"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://a.example/j"}`, false, "https"},
		{"no redirect_uris", `{"client_id":"` + docURL + `"}`, false, "redirect_uris is required"},
		{"empty redirect_uris", `{"client_id":"` + docURL + `","redirect_uris":[]}`, false, "redirect_uris is required"},
		{"redirect http", `{"client_id":"` + docURL + `","redirect_uris":["http://evil.example/cb"]}`, false, "loopback"},
		{"redirect fragment", `{"client_id":"` + docURL + `","redirect_uris":["https://a.example/cb#x"]}`, false, "fragment"},
		{"redirect javascript", `{"client_id":"` + docURL + `","redirect_uris":["javascript:alert(1)"]}`, false, "private-use"},
		{"redirect twice", `{"client_id":"` + docURL + `","redirect_uris":["https://a.example/cb","https://a.example/cb"]}`, false, "twice"},
		{"client_credentials", `{` + base + `,"grant_types":["client_credentials"]}`, false, "not allowed"},
		{"token exchange", `{` + base + `,"grant_types":["authorization_code","urn:ietf:params:oauth:grant-type:token-exchange"]}`, false, "not allowed"},
		{"refresh only", `{` + base + `,"grant_types":["refresh_token"]}`, false, "authorization_code"},
		{"implicit", `{` + base + `,"response_types":["token"]}`, false, "response_types"},
		{"name with newline", `{` + base + `,"client_name":"a\nb"}`, false, "control"},
		{"bad scope", `{` + base + `,"scope":"a  b"}`, false, "scope"},
		{"client_uri javascript", `{` + base + `,"client_uri":"javascript:x"}`, false, "https"},
		{"dpop_bound_access_tokens not a bool", `{` + base + `,"dpop_bound_access_tokens":"yes"}`, false, "true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := cimd.ParseDocument(docURL, []byte(tt.body))
			if tt.ok {
				if err != nil {
					t.Fatalf("ParseDocument: %v", err)
				}
				if d.ClientID != docURL || len(d.RedirectURIs) == 0 || d.TokenEndpointAuthMethod == "" || len(d.GrantTypes) == 0 {
					t.Fatalf("document = %+v", d)
				}
				return
			}
			if !errors.Is(err, cimd.ErrInvalidDocument) {
				t.Fatalf("ParseDocument = %v, want ErrInvalidDocument", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestParseDocumentDPoP: dpop_bound_access_tokens (RFC 9449 §5.2) is
// read; absent or null, it is false.
func TestParseDocumentDPoP(t *testing.T) {
	base := `{"client_id":"` + docURL + `","redirect_uris":["https://a.example/cb"]`
	for body, want := range map[string]bool{
		base + `}`: false,
		base + `,"dpop_bound_access_tokens":null}`:  false,
		base + `,"dpop_bound_access_tokens":false}`: false,
		base + `,"dpop_bound_access_tokens":true}`:  true,
	} {
		d, err := cimd.ParseDocument(docURL, []byte(body))
		if err != nil || d.DPoPBoundAccessTokens != want {
			t.Errorf("%s: %+v, %v; want dpop_bound_access_tokens %v", body, d, err, want)
		}
	}
}

func TestParseDocumentDefaults(t *testing.T) {
	d, err := cimd.ParseDocument(docURL, []byte(`{"client_id":"`+docURL+`","redirect_uris":["https://a.example/cb"],"scope":"openid mcp:tools"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.TokenEndpointAuthMethod != "none" {
		t.Errorf("auth method = %q, want none", d.TokenEndpointAuthMethod)
	}
	if strings.Join(d.GrantTypes, " ") != "authorization_code" || strings.Join(d.ResponseTypes, " ") != "code" {
		t.Errorf("grant types %v, response types %v", d.GrantTypes, d.ResponseTypes)
	}
	if strings.Join(d.Scopes, " ") != "openid mcp:tools" {
		t.Errorf("scopes = %v", d.Scopes)
	}
}

func FuzzParseDocument(f *testing.F) {
	f.Add([]byte(`{"client_id":"` + docURL + `","redirect_uris":["https://a.example/cb"]}`))
	f.Add([]byte(`{"client_id":"` + docURL + `","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://a.example/j"}`))
	f.Add([]byte(`{"client_id":"` + docURL + `","redirect_uris":["x"],"jwks":{"keys":[{"kty":"oct","k":"AA"}]}}`))
	f.Add([]byte(`{"a":{"b":{"c":[1,2,{"d":null}]}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := cimd.ParseDocument(docURL, body)
		if err != nil {
			if !errors.Is(err, cimd.ErrInvalidDocument) {
				t.Fatalf("error %v does not wrap ErrInvalidDocument", err)
			}
			if d != nil {
				t.Fatal("document returned with an error")
			}
			return
		}
		if d.ClientID != docURL || len(d.RedirectURIs) == 0 {
			t.Fatalf("accepted %+v", d)
		}
		if d.TokenEndpointAuthMethod != "none" && d.TokenEndpointAuthMethod != "private_key_jwt" {
			t.Fatalf("accepted auth method %q", d.TokenEndpointAuthMethod)
		}
		for _, u := range d.RedirectURIs {
			if cimd.CheckRedirectURI(u) != nil {
				t.Fatalf("accepted redirect %q", u)
			}
		}
	})
}

func FuzzCheckClientID(f *testing.F) {
	f.Add(docURL)
	f.Add("https://a/%2e%2e/b")
	f.Fuzz(func(t *testing.T, id string) {
		if cimd.CheckClientID(id) == nil {
			if !strings.HasPrefix(id, "https://") || strings.ContainsAny(id, "#? \\") || len(id) > cimd.MaxClientIDLength {
				t.Fatalf("accepted %q", id)
			}
		}
	})
}
