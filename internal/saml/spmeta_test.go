package saml

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestParseSPMetadata(t *testing.T) {
	_, cert := testKey(t, 1)
	good := string(spMetadataXML(cert, true))
	m, err := ParseSPMetadata([]byte(good), false)
	if err != nil {
		t.Fatal(err)
	}
	if m.EntityID != spEntity || !m.AuthnRequestsSigned || !m.WantAssertionsSigned {
		t.Errorf("metadata = %+v", m)
	}
	if len(m.ACS) != 2 || len(m.SLO) != 1 || len(m.SigningCerts) != 1 || len(m.EncryptionCerts) != 1 {
		t.Errorf("ACS %d, SLO %d, signing %d, encryption %d", len(m.ACS), len(m.SLO), len(m.SigningCerts), len(m.EncryptionCerts))
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallCert := selfSigned(t, &small.PublicKey, small)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecCert := selfSigned(t, &ecKey.PublicKey, ecKey)
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct{ name, doc, want string }{
		{"javascript ACS (CVE-2023-45683)", strings.Replace(good, spACS, "javascript:alert(document.domain)//", 1), "scheme must be https"},
		{"data ACS", strings.Replace(good, spACS, "data:text/html,x", 1), "scheme must be https"},
		{"http ACS", strings.Replace(good, spACS, "http://sp.example/acs", 1), "loopback"},
		{"ACS with fragment", strings.Replace(good, spACS, spACS+"#x", 1), "fragment"},
		{"ACS with user", strings.Replace(good, spACS, "https://u:p@sp.example/acs", 1), "user information"},
		{"no POST ACS", strings.NewReplacer(`HTTP-POST" Location="`+spACS, `HTTP-Artifact" Location="`+spACS, `HTTP-POST" Location="https://sp.example/acs2"`, `HTTP-Artifact" Location="https://sp.example/acs2"`).Replace(good), "no AssertionConsumerService"},
		{"DTD", strings.Replace(good, `<?xml version="1.0"?>`, `<?xml version="1.0"?><!DOCTYPE md [<!ENTITY x SYSTEM "file:///etc/passwd">]>`, 1), "DTD"},
		{"entities descriptor", `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>`, "EntityDescriptor"},
		{"no entity ID", strings.Replace(good, `entityID="`+spEntity+`"`, `entityID=""`, 1), "entityID"},
		{"signed requests, no cert", strings.NewReplacer(b64(cert), "").Replace(good), "X509Certificate"},
		{"small RSA key", strings.ReplaceAll(good, b64(cert), b64(smallCert)), "at least 2048"},
		{"EC encryption key", strings.ReplaceAll(good, b64(cert), b64(ecCert)), "must be RSA"},
		{"not SAML 2.0", strings.Replace(good, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"`, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol"`, 1), "SAML 2.0"},
		{"too large", good + strings.Repeat(" ", MaxMetadataSize), "bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSPMetadata([]byte(tc.doc), false)
			mustContain(t, err, tc.want)
			if !errors.Is(err, ErrInvalidMetadata) {
				t.Errorf("%v does not wrap ErrInvalidMetadata", err)
			}
		})
	}
	loop := strings.Replace(good, spACS, "http://127.0.0.1:8000/acs", 1)
	if _, err := ParseSPMetadata([]byte(loop), true); err != nil {
		t.Errorf("loopback http in development: %v", err)
	}
	if _, err := ParseSPMetadata([]byte(loop), false); err == nil {
		t.Error("loopback http accepted outside development")
	}
	// The loopback rule of client registration (oauth.IsLoopbackHost).
	for host, ok := range map[string]bool{"localhost": true, "LOCALHOST": true, "[::1]": true, "127.0.0.2": false, "sp.example": false} {
		doc := strings.Replace(good, spACS, "http://"+host+":8000/acs", 1)
		if _, err := ParseSPMetadata([]byte(doc), true); (err == nil) != ok {
			t.Errorf("http ACS on %s in development: error %v, want accepted %t", host, err, ok)
		}
	}
}

func selfSigned(t *testing.T, pub, priv any) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestScan(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		comments  bool
		want      string
	}{
		{"ok", `<?xml version="1.0"?><a><b/></a>`, false, ""},
		{"comment allowed", `<a><!-- c --></a>`, true, ""},
		{"comment refused", `<a><!-- c --></a>`, false, "comments"},
		{"DTD", `<!DOCTYPE a><a/>`, false, "DTD"},
		{"entity use", `<a>&xxe;</a>`, false, "malformed"},
		{"PI", `<a><?php x?></a>`, false, "processing instruction"},
		{"late declaration", `<a/><?xml version="1.0"?>`, false, "processing instruction"},
		{"two roots", `<a/><b/>`, false, "2 root"},
		{"text outside", `<a/>x`, false, "outside"},
		{"deep", strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1), false, "deeper"},
		{"many", "<a>" + strings.Repeat("<b/>", maxElements) + "</a>", false, "more than"},
		{"unclosed", `<a>`, false, "malformed"},
		{"latin1", `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, false, "UTF-8"},
		{"empty", ``, false, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := scan([]byte(tc.doc), scanOptions{maxSize: MaxMetadataSize, allowComments: tc.comments})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			mustContain(t, err, tc.want)
		})
	}
}
