package oauth_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/testcert"
)

func TestParseCertHeader(t *testing.T) {
	ca := testcert.NewCA(t, "hdr CA")
	leaf := ca.Client(t, x509.Certificate{Subject: pkix.Name{CommonName: "client"}}).Leaf
	pemLeaf := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	pemCA := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	b64 := base64.StdEncoding.EncodeToString(leaf.Raw)
	tests := []struct {
		name    string
		value   string
		want    int // certificates; 0: an error
		wantErr bool
	}{
		{name: "nginx escaped", value: url.QueryEscape(pemLeaf), want: 1},
		{name: "nginx escaped, %20 spaces", value: strings.ReplaceAll(url.PathEscape(pemLeaf), "+", "%2B"), want: 1},
		{name: "nginx escaped with chain", value: url.QueryEscape(pemLeaf + pemCA), want: 2},
		{name: "pem with spaces for line breaks", value: strings.ReplaceAll(strings.TrimSpace(pemLeaf), "\n", " "), want: 1},
		{name: "pem with tabs", value: strings.ReplaceAll(strings.TrimSpace(pemLeaf), "\n", "\n\t"), want: 1},
		{name: "envoy xfcc", value: `By=spiffe://as;Hash=abc;Cert="` + url.QueryEscape(pemLeaf) + `";Subject="CN=client"`, want: 1},
		{name: "envoy xfcc, last element", value: `Hash=x;Cert="` + url.QueryEscape(pemCA) + `",By=spiffe://as;Cert="` + url.QueryEscape(pemLeaf) + `"`, want: 1},
		{name: "envoy xfcc chain", value: `Hash=abc;Chain="` + url.QueryEscape(pemLeaf+pemCA) + `"`, want: 2},
		{name: "rfc 9440", value: ":" + b64 + ":", want: 1},
		{name: "bare base64 der", value: b64, want: 1},
		{name: "duplicate leaf kept once", value: url.QueryEscape(pemLeaf + pemLeaf), want: 1},
		{name: "empty", value: "  ", wantErr: true},
		{name: "garbage", value: "not a certificate", wantErr: true},
		{name: "bad escape", value: "%zz", wantErr: true},
		{name: "pem without end", value: "-----BEGIN CERTIFICATE----- MIIB", wantErr: true},
		{name: "der that is not a certificate", value: base64.StdEncoding.EncodeToString([]byte("hello")), wantErr: true},
		{name: "xfcc without cert", value: `By=spiffe://as;Hash=abc`, wantErr: true},
		{name: "too large", value: strings.Repeat("A", 17<<10), wantErr: true},
	}
	for _, tc := range tests {
		got, err := oauth.ParseCertHeader(tc.value)
		if tc.wantErr {
			if !errors.Is(err, oauth.ErrCertHeader) {
				t.Errorf("%s: got %d certificates, %v; want ErrCertHeader", tc.name, len(got), err)
			}
			continue
		}
		if err != nil || len(got) != tc.want || !got[0].Equal(leaf) {
			t.Errorf("%s: got %d certificates, %v; want %d with the leaf first", tc.name, len(got), err, tc.want)
		}
	}
}

func FuzzParseCertHeader(f *testing.F) {
	ca := testcert.NewCA(f, "fuzz CA")
	leaf := ca.Client(f, x509.Certificate{Subject: pkix.Name{CommonName: "client"}}).Leaf
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	for _, s := range []string{url.QueryEscape(p), strings.ReplaceAll(p, "\n", " "), `Cert="` + url.QueryEscape(p) + `"`,
		":" + base64.StdEncoding.EncodeToString(leaf.Raw) + ":", "-----BEGIN CERTIFICATE-----", `a="b,c";d`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		certs, err := oauth.ParseCertHeader(s)
		if err != nil {
			if !errors.Is(err, oauth.ErrCertHeader) {
				t.Fatalf("an error that is not ErrCertHeader: %v", err)
			}
			return
		}
		if len(certs) == 0 || len(certs) > 8 {
			t.Fatalf("%d certificates", len(certs))
		}
	})
}
