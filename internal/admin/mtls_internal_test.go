package admin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

func TestMTLSMetadata(t *testing.T) {
	jwks := []byte(`{"keys":[]}`)
	tests := []struct {
		name   string
		method string
		fields map[string]string // member → JSON value
		jwks   bool
		bad    string // part of the error; "" = accepted
	}{
		{name: "subject dn", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSubjectDN: `"CN=orders,O=Example"`}},
		{name: "san dns", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSANDNS: `"orders.example.com"`}},
		{name: "san uri", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSANURI: `"spiffe://example.com/orders"`}},
		{name: "san ip", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSANIP: `"2001:db8::7"`}},
		{name: "san email", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSANEmail: `"ops@example.com"`}},
		{name: "none given", method: oauth.MethodTLSClientAuth, bad: "needs exactly one of"},
		{name: "two given", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSANDNS: `"a.example"`, fieldTLSSANIP: `"192.0.2.1"`}, bad: "needs exactly one of"},
		{name: "nulled", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSANDNS: `null`}, bad: "needs exactly one of"},
		{name: "bad dn", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSubjectDN: `"orders"`}, bad: "RFC 4514"},
		{name: "unknown dn attribute", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSubjectDN: `"XX=1"`}, bad: "unknown attribute type"},
		{name: "bad ip", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSANIP: `"192.0.2"`}, bad: "IPv4 or IPv6"},
		{name: "relative uri", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSANURI: `"orders"`}, bad: "absolute URI"},
		{name: "bad email", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSANEmail: `"ops"`}, bad: "email"},
		{name: "bad dns", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSANDNS: `"a b"`}, bad: "DNS name"},
		{name: "not a string", method: oauth.MethodTLSClientAuth, fields: map[string]string{fieldTLSSANDNS: `1`}, bad: fieldTLSSANDNS},
		{name: "identity on another method", method: oauth.AuthSecretBasic, fields: map[string]string{fieldTLSSANDNS: `"a.example"`}, bad: "tls_client_auth only"},
		{name: "self-signed with jwks", method: oauth.MethodSelfSignedTLSClientAuth, jwks: true},
		{name: "self-signed without keys", method: oauth.MethodSelfSignedTLSClientAuth, bad: "jwks or jwks_uri"},
		{name: "bound tokens", method: oauth.AuthSecretBasic, fields: map[string]string{fieldCertBound: `true`}},
		{name: "bound tokens not a bool", method: oauth.AuthSecretBasic, fields: map[string]string{fieldCertBound: `"yes"`}, bad: fieldCertBound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := store.Client{TokenEndpointAuthMethod: tc.method}
			if tc.jwks {
				c.JWKS = jwks
			}
			raw := map[string]json.RawMessage{}
			for k, v := range tc.fields {
				raw[k] = json.RawMessage(v)
			}
			err := applyEach(&c, fieldNames(), raw, applyField)
			if err == nil {
				err = validateMTLS(&c)
			}
			switch {
			case tc.bad == "" && err != nil:
				t.Fatal(err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("err = %v, want one saying %q", err, tc.bad)
			}
			if tc.bad == "" && tc.fields[fieldCertBound] == "true" && !c.TLSClientCertificateBoundAccessTokens {
				t.Fatal("tls_client_certificate_bound_access_tokens not set")
			}
		})
	}
}
