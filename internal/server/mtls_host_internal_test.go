package server

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/testcert"
)

// TestCertHeaderHost: with HeaderHost, a trusted proxy's certificate
// header is believed only on requests for the mTLS host; a header a client
// sent to another host name the proxy serves is ignored.
func TestCertHeaderHost(t *testing.T) {
	cert := testcert.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "orders"}})
	header := url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
	for _, tc := range []struct {
		name, headerHost, host string
		believed               bool
	}{
		{"no host rule", "", "id.example.com", true},
		{"the mTLS host", "mtls.id.example.com", "mtls.id.example.com", true},
		{"the mTLS host, other case and a trailing dot", "mtls.id.example.com", "MTLS.id.example.com.", true},
		{"another host the proxy serves", "mtls.id.example.com", "id.example.com", false},
		{"the mTLS host on another port", "mtls.id.example.com:8443", "mtls.id.example.com", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{opts: Options{MTLS: &MTLSOptions{Header: "X-SSL-Client-Cert", HeaderHost: tc.headerHost,
				TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}}}}
			r := httptest.NewRequest("POST", "http://"+tc.host+"/oauth2/token", nil)
			r.Host = tc.host
			r.RemoteAddr = "10.0.0.5:4444"
			r.Header.Set("X-SSL-Client-Cert", header)
			got, err := s.clientCert(r)
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tc.believed {
				t.Errorf("certificate believed = %v, want %v", got != nil, tc.believed)
			}
		})
	}
}

// TestCertHeaderRepeated: a trusted proxy's certificate header that
// appears twice is invalid_request, never one of the two picked.
func TestCertHeaderRepeated(t *testing.T) {
	cert := testcert.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "orders"}})
	header := url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
	s := &Server{opts: Options{MTLS: &MTLSOptions{Header: "X-SSL-Client-Cert",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}}}}
	r := httptest.NewRequest("POST", "http://id.example.com/oauth2/token", nil)
	r.RemoteAddr = "10.0.0.5:4444"
	r.Header.Add("X-SSL-Client-Cert", header)
	r.Header.Add("X-SSL-Client-Cert", header)
	got, err := s.clientCert(r)
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != oauth.CodeInvalidRequest || got != nil {
		t.Fatalf("clientCert = %v, %v; want invalid_request", got, err)
	}
}
