package rs

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestResourceMetadataJSON pins the JSON member names to those of
// RFC 9728 §2 and §2.2, every one of them.
func TestResourceMetadataJSON(t *testing.T) {
	md := ResourceMetadata{
		Resource:                              "https://api.example.com",
		AuthorizationServers:                  []string{"https://id.example.com"},
		JWKSURI:                               "https://api.example.com/jwks.json",
		ScopesSupported:                       []string{"read"},
		BearerMethodsSupported:                []string{"header"},
		ResourceSigningAlgValuesSupported:     []string{"ES256"},
		ResourceName:                          "Example API",
		ResourceDocumentation:                 "https://api.example.com/docs",
		ResourcePolicyURI:                     "https://api.example.com/policy",
		ResourceTOSURI:                        "https://api.example.com/tos",
		TLSClientCertificateBoundAccessTokens: true,
		AuthorizationDetailsTypesSupported:    []string{"payment_initiation"},
		DPoPSigningAlgValuesSupported:         []string{"ES256"},
		DPoPBoundAccessTokensRequired:         true,
		SignedMetadata:                        "eyJ.eyJ.sig",
	}
	if n := reflect.TypeFor[ResourceMetadata]().NumField(); n != 15 {
		t.Fatalf("ResourceMetadata has %d fields; update this test", n)
	}
	b, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"resource", "authorization_servers", "jwks_uri", "scopes_supported", "bearer_methods_supported",
		"resource_signing_alg_values_supported", "resource_name", "resource_documentation", "resource_policy_uri",
		"resource_tos_uri", "tls_client_certificate_bound_access_tokens", "authorization_details_types_supported",
		"dpop_signing_alg_values_supported", "dpop_bound_access_tokens_required", "signed_metadata",
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("members\n got %q\nwant %q", got, want)
	}
	// Empty optional members are left out; resource is always there.
	b, _ = json.Marshal(ResourceMetadata{Resource: "https://api.example.com"})
	if string(b) != `{"resource":"https://api.example.com"}` {
		t.Errorf("minimal metadata %s", b)
	}
}

func TestResourceMetadataHandler(t *testing.T) {
	md := ResourceMetadata{
		Resource:               "https://api.example.com/v1",
		AuthorizationServers:   []string{"https://id.example.com"},
		BearerMethodsSupported: []string{"header"},
	}
	srv := httptest.NewServer(md.Handler())
	defer srv.Close()
	tests := []struct {
		method string
		status int
		body   string
	}{
		{"GET", 200, `{"resource":"https://api.example.com/v1","authorization_servers":["https://id.example.com"],"bearer_methods_supported":["header"]}` + "\n"},
		{"HEAD", 200, ""},
		{"POST", 405, "Method Not Allowed\n"},
		{"OPTIONS", 405, "Method Not Allowed\n"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+WellKnownResourceMetadata+"/v1", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tt.status || string(body) != tt.body {
			t.Errorf("%s: %d %q, want %d %q", tt.method, resp.StatusCode, body, tt.status, tt.body)
		}
		if tt.status == 200 {
			for h, want := range map[string]string{
				"Content-Type":                "application/json",
				"Cache-Control":               "public, max-age=3600",
				"Access-Control-Allow-Origin": "*",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s: %s %q, want %q", tt.method, h, got, want)
				}
			}
			if resp.ContentLength != int64(len(tests[0].body)) {
				t.Errorf("%s: Content-Length %d", tt.method, resp.ContentLength)
			}
		} else if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
			t.Errorf("%s: Allow %q", tt.method, got)
		}
	}
}

func TestMetadataURL(t *testing.T) {
	tests := []struct {
		resource, want, err string
	}{
		{"https://resource.example.com", "https://resource.example.com/.well-known/oauth-protected-resource", ""},
		{"https://resource.example.com/", "https://resource.example.com/.well-known/oauth-protected-resource", ""},
		{"https://resource.example.com/resource1", "https://resource.example.com/.well-known/oauth-protected-resource/resource1", ""},
		{"https://resource.example.com/a/b/", "https://resource.example.com/.well-known/oauth-protected-resource/a/b", ""},
		{"https://resource.example.com:8443/a%20b", "https://resource.example.com:8443/.well-known/oauth-protected-resource/a%20b", ""},
		{"https://resource.example.com/r?tenant=1", "https://resource.example.com/.well-known/oauth-protected-resource/r?tenant=1", ""},
		{"http://127.0.0.1:9000/mcp", "http://127.0.0.1:9000/.well-known/oauth-protected-resource/mcp", ""},
		{"", "", "empty"},
		{"resource.example.com", "", "not an https URL"},
		{"ftp://resource.example.com", "", "not an https URL"},
		{"https:///path", "", "no host"},
		{"https://user@resource.example.com", "", "user information"},
		{"https://resource.example.com/#frag", "", "fragment"},
		{"https://resource.example.com/#", "", "fragment"},
		{"https://[::1", "", "resource identifier"},
	}
	for _, tt := range tests {
		got, err := MetadataURL(tt.resource)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("MetadataURL(%q) = %q, %v; want %q, %q", tt.resource, got, err, tt.want, tt.err)
		}
	}
}

func TestResourceMetadataValidate(t *testing.T) {
	ok := ResourceMetadata{Resource: "https://api.example.com", AuthorizationServers: []string{"https://id.example.com"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, md := range []ResourceMetadata{
		{},
		{Resource: "https://api.example.com#x"},
		{Resource: "https://api.example.com", AuthorizationServers: []string{"id.example.com"}},
		{Resource: "https://api.example.com", JWKSURI: "/jwks"},
		{Resource: "https://api.example.com", ResourceTOSURI: "javascript:alert(1)"},
	} {
		if err := md.Validate(); err == nil {
			t.Errorf("%+v: valid", md)
		}
	}
}
