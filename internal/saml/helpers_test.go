package saml

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

var (
	keyOnce sync.Once
	keys    []*rsa.PrivateKey
)

// testKey returns one of a few RSA keys generated once per test binary.
func testKey(t testing.TB, i int) (*rsa.PrivateKey, []byte) {
	t.Helper()
	keyOnce.Do(func() {
		for range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys = append(keys, k)
		}
	})
	cert, err := SigningCertificate(keys[i], fmt.Sprintf("test-key-%d", i), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return keys[i], cert
}

var testNow = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

const (
	testIssuer = "https://id.example"
	spEntity   = "https://sp.example/metadata"
	spACS      = "https://sp.example/acs"
)

func testIdP() IdP { return NewIdP(testIssuer) }

// spMetadataXML is an SP's metadata with the given signing certificate.
func spMetadataXML(cert []byte, signed bool) []byte {
	c := base64.StdEncoding.EncodeToString(cert)
	return []byte(fmt.Sprintf(`<?xml version="1.0"?>
<!-- an SP's metadata -->
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="%s">
  <md:SPSSODescriptor AuthnRequestsSigned="%t" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example/slo"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://sp.example/soap"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.example/artifact" index="0"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="%s" index="1" isDefault="true"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example/acs2" index="2"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>`, spEntity, signed, c, c, spACS))
}

func testSP(t testing.TB, signed bool) *SPMetadata {
	t.Helper()
	_, cert := testKey(t, 1)
	m, err := ParseSPMetadata(spMetadataXML(cert, signed), false)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// authnRequestXML returns an AuthnRequest; extra is inserted after the
// Issuer.
func authnRequestXMLFor(id, destination, acs, extra string, at time.Time) string {
	dest := ""
	if destination != "" {
		dest = fmt.Sprintf(` Destination="%s"`, destination)
	}
	acsAttr := ""
	if acs != "" {
		acsAttr = fmt.Sprintf(` AssertionConsumerServiceURL="%s" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"`, acs)
	}
	return fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" IssueInstant="%s"%s%s><saml:Issuer>%s</saml:Issuer>%s<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/></samlp:AuthnRequest>`,
		id, at.UTC().Format(time.RFC3339), dest, acsAttr, spEntity, extra)
}

func deflate(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// redirectQuery encodes a request for the HTTP-Redirect binding, signed
// with key when key is not nil.
func redirectQuery(t testing.TB, xmlDoc, relay string, key *rsa.PrivateKey) string {
	t.Helper()
	q := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(deflate(t, []byte(xmlDoc))))
	if relay != "" {
		q += "&RelayState=" + url.QueryEscape(relay)
	}
	if key == nil {
		return q
	}
	q += "&SigAlg=" + url.QueryEscape(AlgRSASHA256)
	sum := sha256.Sum256([]byte(q))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

// signEnveloped signs the root of doc as an SP would (signature after the
// Issuer) and returns the serialised document.
func signEnveloped(t testing.TB, doc string, key *rsa.PrivateKey, cert []byte) string {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromString(doc); err != nil {
		t.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(key, [][]byte{cert})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		t.Fatal(err)
	}
	sig, err := ctx.ConstructSignature(d.Root(), true)
	if err != nil {
		t.Fatal(err)
	}
	d.Root().InsertChildAt(1, sig)
	s, err := d.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustContain(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want an error containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func x509MarshalPKCS1(k *rsa.PrivateKey) []byte { return x509.MarshalPKCS1PrivateKey(k) }
