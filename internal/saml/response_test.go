package saml

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // rsa-oaep-mgf1p
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

func testParams() ResponseParams {
	return ResponseParams{
		IdP: testIdP(), Audience: spEntity, ACSURL: spACS, InResponseTo: "_req1",
		NameID: "pairwise-123", NameIDFormat: NameIDPersistent, SessionIndex: "_sess1",
		AuthnInstant: testNow.Add(-time.Minute), Now: testNow,
		Attributes: []Attribute{{Name: "email", NameFormat: AttrNameFormatBasic, Values: []string{"ada@example.com"}},
			{Name: "groups", Values: []string{"eng", "<ops & co>"}}},
	}
}

// assertionOf returns the first saml:Assertion of a response, checking its
// signature with the IdP certificate the way an SP does.
func assertionOf(t *testing.T, resp []byte, cert []byte) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(resp); err != nil {
		t.Fatal(err)
	}
	a := doc.Root().SelectElement("Assertion")
	if a == nil {
		t.Fatalf("no Assertion in %s", resp)
	}
	v, err := verifyEnveloped(a, [][]byte{cert}, testNow)
	if err != nil {
		t.Fatalf("assertion signature: %v", err)
	}
	return v
}

func TestBuildResponse(t *testing.T) {
	key, cert := testKey(t, 0)
	resp, err := BuildResponse(testParams(), Signer{Key: key, Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	if err := scan(resp, scanOptions{maxSize: MaxMessageSize}); err != nil {
		t.Fatal(err)
	}
	a := assertionOf(t, resp, cert)
	raw := etree.NewDocument()
	if err := raw.ReadFromBytes(resp); err != nil {
		t.Fatal(err)
	}
	if kids := raw.Root().SelectElement("Assertion").ChildElements(); kids[0].Tag != "Issuer" || kids[1].Tag != "Signature" {
		t.Error("the signature is not right after the Issuer")
	}
	checks := map[string]string{
		"Subject/NameID": "pairwise-123",
		"Conditions/AudienceRestriction/Audience":                        spEntity,
		"AuthnStatement/AuthnContext/AuthnContextClassRef":               AuthnContextPassword,
		"AttributeStatement/Attribute[@Name='groups']/AttributeValue[2]": "<ops & co>",
	}
	for path, want := range checks {
		el := a.FindElement(path)
		if el == nil || el.Text() != want {
			t.Errorf("%s = %v, want %q", path, el, want)
		}
	}
	scd := a.FindElement("Subject/SubjectConfirmation/SubjectConfirmationData")
	if scd.SelectAttrValue("Recipient", "") != spACS || scd.SelectAttrValue("InResponseTo", "") != "_req1" ||
		scd.SelectAttrValue("NotOnOrAfter", "") != "2026-12-02T12:05:00Z" {
		t.Errorf("SubjectConfirmationData = %v", scd.Attr)
	}
	if got := a.FindElement("AuthnStatement").SelectAttrValue("SessionIndex", ""); got != "_sess1" {
		t.Errorf("SessionIndex = %q", got)
	}
	// A changed assertion no longer verifies.
	tampered := strings.Replace(string(resp), "pairwise-123", "pairwise-999", 1)
	doc := etree.NewDocument()
	if err := doc.ReadFromString(tampered); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyEnveloped(doc.Root().SelectElement("Assertion"), [][]byte{cert}, testNow); err == nil {
		t.Fatal("a changed NameID still verifies")
	}
	xmlsecVerify(t, resp, cert, "urn:oasis:names:tc:SAML:2.0:assertion:Assertion")
}

func TestBuildResponseSigned(t *testing.T) {
	key, cert := testKey(t, 0)
	p := testParams()
	p.SignResponse = true
	resp, err := BuildResponse(p, Signer{Key: key, Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(resp); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyEnveloped(doc.Root(), [][]byte{cert}, testNow); err != nil {
		t.Fatalf("response signature: %v", err)
	}
	assertionOf(t, resp, cert)
	xmlsecVerify(t, resp, cert, "urn:oasis:names:tc:SAML:2.0:protocol:Response")
}

func TestBuildResponseEncrypted(t *testing.T) {
	key, cert := testKey(t, 0)
	spKey, spCert := testKey(t, 1)
	p := testParams()
	p.EncryptTo = spCert
	resp, err := BuildResponse(p, Signer{Key: key, Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(resp), "pairwise-123") || strings.Contains(string(resp), "ada@example.com") {
		t.Fatal("the encrypted response shows the subject")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(resp); err != nil {
		t.Fatal(err)
	}
	ed := doc.Root().FindElement("EncryptedAssertion/EncryptedData")
	wrapped, _ := base64.StdEncoding.DecodeString(ed.FindElement("KeyInfo/EncryptedKey/CipherData/CipherValue").Text())
	sealed, _ := base64.StdEncoding.DecodeString(ed.FindElement("CipherData/CipherValue").Text())
	cek, err := rsa.DecryptOAEP(sha1.New(), nil, spKey, wrapped, nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, sealed[:12], sealed[12:], nil)
	if err != nil {
		t.Fatal(err)
	}
	inner := etree.NewDocument()
	if err := inner.ReadFromBytes(plain); err != nil {
		t.Fatal(err)
	}
	v, err := verifyEnveloped(inner.Root(), [][]byte{cert}, testNow)
	if err != nil {
		t.Fatalf("decrypted assertion's signature: %v", err)
	}
	if v.FindElement("Subject/NameID").Text() != "pairwise-123" {
		t.Error("decrypted assertion lost its subject")
	}
	xmlsecDecrypt(t, resp, spKey)
}

func TestBuildErrorResponse(t *testing.T) {
	key, cert := testKey(t, 0)
	resp, err := BuildErrorResponse(testIdP(), spACS, "_req1", StatusNoPassive, "sign-in needed", testNow, Signer{Key: key, Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(resp); err != nil {
		t.Fatal(err)
	}
	if doc.Root().SelectElement("Assertion") != nil {
		t.Fatal("an error response carries an assertion")
	}
	top := doc.Root().FindElement("Status/StatusCode")
	if top.SelectAttrValue("Value", "") != StatusRequester || top.SelectElement("StatusCode").SelectAttrValue("Value", "") != StatusNoPassive {
		t.Errorf("status = %v", top)
	}
	if _, err := verifyEnveloped(doc.Root(), [][]byte{cert}, testNow); err != nil {
		t.Fatal(err)
	}
}

// xmlsec1 is an independent implementation of XML Signature and
// Encryption (Debian's xmlsec1); CI installs it, elsewhere the check is
// skipped when it is missing.
func xmlsec1(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("xmlsec1 is not installed (apt-get install xmlsec1)")
		}
		t.Skip("xmlsec1 is not installed (apt-get install xmlsec1)")
	}
	return p
}

func xmlsecVerify(t *testing.T, doc, cert []byte, node string) {
	t.Helper()
	bin := xmlsec1(t)
	dir := t.TempDir()
	certPath, docPath := filepath.Join(dir, "idp.pem"), filepath.Join(dir, "resp.xml")
	writeFile(t, certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}))
	writeFile(t, docPath, doc)
	out, err := exec.Command(bin, "--verify", "--pubkey-cert-pem", certPath, "--id-attr:ID", node, docPath).CombinedOutput()
	if err != nil {
		t.Fatalf("xmlsec1 --verify: %v\n%s", err, out)
	}
}

func xmlsecDecrypt(t *testing.T, doc []byte, key *rsa.PrivateKey) {
	t.Helper()
	bin := xmlsec1(t)
	dir := t.TempDir()
	keyPath, docPath := filepath.Join(dir, "sp.key"), filepath.Join(dir, "resp.xml")
	der := x509MarshalPKCS1(key)
	writeFile(t, keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}))
	writeFile(t, docPath, doc)
	out, err := exec.Command(bin, "--decrypt", "--privkey-pem", keyPath, docPath).CombinedOutput()
	if err != nil {
		t.Fatalf("xmlsec1 --decrypt: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "pairwise-123") {
		t.Fatalf("xmlsec1 decrypted something else:\n%s", out)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
