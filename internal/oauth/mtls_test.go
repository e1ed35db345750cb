package oauth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/testcert"
	"github.com/writ-dev/writ/jose"
)

func TestParseDN(t *testing.T) {
	tests := []struct {
		in      string
		want    DN
		wantErr bool
	}{
		{in: "CN=client,O=Example,C=SE", want: DN{{{"2.5.4.3", "client"}}, {{"2.5.4.10", "example"}}, {{"2.5.4.6", "se"}}}},
		{in: " cn = Client  One , o=Ex", want: DN{{{"2.5.4.3", "client one"}}, {{"2.5.4.10", "ex"}}}},
		{in: `CN=a\,b,O=x`, want: DN{{{"2.5.4.3", "a,b"}}, {{"2.5.4.10", "x"}}}},
		{in: `CN=a\2Cb`, want: DN{{{"2.5.4.3", "a,b"}}}},
		{in: `CN=\ lead`, want: DN{{{"2.5.4.3", "lead"}}}},
		{in: "OU=b+CN=a", want: DN{{{"2.5.4.11", "b"}, {"2.5.4.3", "a"}}}},
		{in: "CN=a+OU=b", want: DN{{{"2.5.4.11", "b"}, {"2.5.4.3", "a"}}}},
		{in: "2.5.4.3=x", want: DN{{{"2.5.4.3", "x"}}}},
		{in: "OID.2.5.4.3=x", want: DN{{{"2.5.4.3", "x"}}}},
		{in: "CN=#0c0378797a", want: DN{{{"2.5.4.3", "xyz"}}}},
		{in: "emailAddress=A@B.example;DC=com", want: DN{{{"1.2.840.113549.1.9.1", "a@b.example"}}, {{"0.9.2342.19200300.100.1.25", "com"}}}},
		{in: "", wantErr: true},
		{in: "CN", wantErr: true},
		{in: "=x", wantErr: true},
		{in: "XX=y", wantErr: true},
		{in: "1.x=y", wantErr: true},
		{in: `CN=a\`, wantErr: true},
		{in: `CN=a\zz`, wantErr: true},
		{in: `CN=a"b`, wantErr: true},
		{in: "CN=#zz", wantErr: true},
		{in: "CN=#020101", wantErr: true}, // an INTEGER, not a string
		{in: "CN=\xff", wantErr: true},
		{in: "CN=" + strings.Repeat("a", maxDNLen), wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseDN(tc.in)
		if tc.wantErr {
			if !errors.Is(err, ErrDN) {
				t.Errorf("ParseDN(%q) = %v, %v; want ErrDN", tc.in, got, err)
			}
			continue
		}
		if err != nil || !dnEqual(got, tc.want) {
			t.Errorf("ParseDN(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseDN(f *testing.F) {
	for _, s := range []string{"CN=a,O=b", `CN=a\,b+OU=c`, "CN=#0c0178", "2.5.4.3=x;C=SE", `CN=\41`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dn, err := ParseDN(s)
		if err != nil {
			return
		}
		for _, rdn := range dn {
			if len(rdn) == 0 {
				t.Fatalf("ParseDN(%q): an empty RDN", s)
			}
		}
	})
}

func TestMatchTLSClientAuth(t *testing.T) {
	ca := testcert.NewCA(t, "test CA")
	u, _ := url.Parse("spiffe://example.org/client")
	multi := pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "a"},
	}}
	cert := ca.Client(t, x509.Certificate{
		Subject:        pkix.Name{CommonName: "Client One", Organization: []string{"Example AB"}, Country: []string{"SE"}},
		DNSNames:       []string{"client.example.com"},
		URIs:           []*url.URL{u},
		IPAddresses:    []net.IP{net.ParseIP("192.0.2.7"), net.ParseIP("2001:db8::1")},
		EmailAddresses: []string{"Ops@Example.com"},
	}).Leaf
	multiCert := ca.Client(t, x509.Certificate{Subject: multi}).Leaf
	tests := []struct {
		name string
		id   *store.TLSClientAuth
		cert *x509.Certificate
		want bool
	}{
		{"dn exact", &store.TLSClientAuth{SubjectDN: "CN=Client One,O=Example AB,C=SE"}, cert, true},
		{"dn case and spaces", &store.TLSClientAuth{SubjectDN: "cn=client  one, o=EXAMPLE AB, c=se"}, cert, true},
		{"dn by oid", &store.TLSClientAuth{SubjectDN: "2.5.4.3=Client One,2.5.4.10=Example AB,2.5.4.6=SE"}, cert, true},
		{"dn reversed order", &store.TLSClientAuth{SubjectDN: "C=SE,O=Example AB,CN=Client One"}, cert, false},
		{"dn missing rdn", &store.TLSClientAuth{SubjectDN: "CN=Client One,O=Example AB"}, cert, false},
		{"dn other cn", &store.TLSClientAuth{SubjectDN: "CN=Client Two,O=Example AB,C=SE"}, cert, false},
		{"dn malformed", &store.TLSClientAuth{SubjectDN: "CN"}, cert, false},
		{"dn single", &store.TLSClientAuth{SubjectDN: "CN=a"}, multiCert, true},
		{"dns", &store.TLSClientAuth{SANDNS: "CLIENT.example.com"}, cert, true},
		{"dns other", &store.TLSClientAuth{SANDNS: "other.example.com"}, cert, false},
		{"uri", &store.TLSClientAuth{SANURI: "spiffe://example.org/client"}, cert, true},
		{"uri other", &store.TLSClientAuth{SANURI: "spiffe://example.org/other"}, cert, false},
		{"ipv4", &store.TLSClientAuth{SANIP: "192.0.2.7"}, cert, true},
		{"ipv6 spelled out", &store.TLSClientAuth{SANIP: "2001:0db8:0:0:0:0:0:1"}, cert, true},
		{"ip other", &store.TLSClientAuth{SANIP: "192.0.2.8"}, cert, false},
		{"ip malformed", &store.TLSClientAuth{SANIP: "192.0.2"}, cert, false},
		{"email domain case", &store.TLSClientAuth{SANEmail: "Ops@example.COM"}, cert, true},
		{"email local part case", &store.TLSClientAuth{SANEmail: "ops@example.com"}, cert, false},
		{"nothing registered", &store.TLSClientAuth{}, cert, false},
		{"nil", nil, cert, false},
		{"two set, one wrong", &store.TLSClientAuth{SANDNS: "client.example.com", SANIP: "192.0.2.8"}, cert, false},
	}
	for _, tc := range tests {
		if got := MatchTLSClientAuth(tc.id, tc.cert); got != tc.want {
			t.Errorf("%s: MatchTLSClientAuth = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAuthenticateMTLS(t *testing.T) {
	ca := testcert.NewCA(t, "client CA")
	other := testcert.NewCA(t, "other CA")
	good := ca.Client(t, x509.Certificate{Subject: pkix.Name{CommonName: "svc", Organization: []string{"Example"}}})
	wrongName := ca.Client(t, x509.Certificate{Subject: pkix.Name{CommonName: "intruder", Organization: []string{"Example"}}})
	wrongCA := other.Client(t, x509.Certificate{Subject: pkix.Name{CommonName: "svc", Organization: []string{"Example"}}})
	serverOnly := ca.Client(t, x509.Certificate{Subject: pkix.Name{CommonName: "svc", Organization: []string{"Example"}}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	self := testcert.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "self"}})
	stranger := testcert.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "self"}})
	selfKey, err := jose.NewKey(jose.ES256, self.Leaf.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := jose.NewKeySet(selfKey).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewSecretHasher(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]store.Client{
		"pki":    {ID: "pki", TokenEndpointAuthMethod: MethodTLSClientAuth, TLSClientAuth: &store.TLSClientAuth{SubjectDN: "CN=svc,O=Example"}},
		"self":   {ID: "self", TokenEndpointAuthMethod: MethodSelfSignedTLSClientAuth, JWKS: jwks},
		"public": {ID: "public", TokenEndpointAuthMethod: AuthNone},
	}
	a := &Authenticator{Clients: fakeClients{m: clients}, Hasher: h, Replay: &fakeReplay{used: map[string]time.Time{}},
		Keys: registeredKeys{}, ClientCAs: ca.Pool()}
	leaf := func(c tls.Certificate) *ClientCertificate { return NewClientCertificate([]*x509.Certificate{c.Leaf}) }
	tests := []struct {
		name     string
		form     url.Values
		cert     *ClientCertificate
		noCAs    bool
		wantCode string
	}{
		{name: "tls_client_auth", form: url.Values{"client_id": {"pki"}}, cert: leaf(good)},
		{name: "tls_client_auth without a certificate", form: url.Values{"client_id": {"pki"}}, wantCode: CodeInvalidClient},
		{name: "tls_client_auth wrong subject", form: url.Values{"client_id": {"pki"}}, cert: leaf(wrongName), wantCode: CodeInvalidClient},
		{name: "tls_client_auth other CA", form: url.Values{"client_id": {"pki"}}, cert: leaf(wrongCA), wantCode: CodeInvalidClient},
		{name: "tls_client_auth server-only certificate", form: url.Values{"client_id": {"pki"}}, cert: leaf(serverOnly), wantCode: CodeInvalidClient},
		{name: "tls_client_auth self-signed", form: url.Values{"client_id": {"pki"}}, cert: leaf(self), wantCode: CodeInvalidClient},
		{name: "tls_client_auth without client CAs", form: url.Values{"client_id": {"pki"}}, cert: leaf(good), noCAs: true, wantCode: CodeInvalidClient},
		{name: "tls_client_auth with a secret", form: url.Values{"client_id": {"pki"}, "client_secret": {"x"}}, cert: leaf(good), wantCode: CodeInvalidClient},
		{name: "self_signed_tls_client_auth", form: url.Values{"client_id": {"self"}}, cert: leaf(self)},
		{name: "self_signed other key", form: url.Values{"client_id": {"self"}}, cert: leaf(stranger), wantCode: CodeInvalidClient},
		{name: "self_signed CA-issued other key", form: url.Values{"client_id": {"self"}}, cert: leaf(good), wantCode: CodeInvalidClient},
		{name: "self_signed without a certificate", form: url.Values{"client_id": {"self"}}, wantCode: CodeInvalidClient},
		{name: "public client with a certificate stays public", form: url.Values{"client_id": {"public"}}, cert: leaf(good)},
		{name: "unknown client", form: url.Values{"client_id": {"nobody"}}, cert: leaf(good), wantCode: CodeInvalidClient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			if tc.cert != nil {
				r = r.WithContext(WithClientCertificate(r.Context(), tc.cert))
			}
			auth := *a
			if tc.noCAs {
				auth.ClientCAs = nil
			}
			got, err := auth.Authenticate(r.Context(), r, Form{values: tc.form})
			if tc.wantCode != "" {
				e := AsError(err)
				if err == nil || e.Code != tc.wantCode || e.Status != http.StatusUnauthorized {
					t.Fatalf("got %+v, %v; want %s 401", got, err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Client.ID != tc.form.Get("client_id") || got.Method != got.Client.TokenEndpointAuthMethod {
				t.Fatalf("got %s by %s", got.Client.ID, got.Method)
			}
		})
	}
}

func TestCertThumbprint(t *testing.T) {
	// RFC 4648 base64url of SHA-256("") without padding.
	if got := CertThumbprint(nil); got != "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU" {
		t.Fatalf("CertThumbprint = %q", got)
	}
	if ThumbprintsEqual("", "") || !ThumbprintsEqual("a", "a") || ThumbprintsEqual("a", "b") {
		t.Fatal("ThumbprintsEqual")
	}
}
