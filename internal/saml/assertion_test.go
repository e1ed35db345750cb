package saml

import (
	"crypto"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// signedAssertion returns a signed assertion writ would issue for the
// audience, as a standalone document.
func signedAssertion(t *testing.T, keyIndex int, audience string) string {
	t.Helper()
	key, cert := testKey(t, keyIndex)
	p := testParams()
	p.Audience = audience
	resp, err := BuildResponse(p, Signer{Key: key, Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(resp); err != nil {
		t.Fatal(err)
	}
	out := etree.NewDocument()
	out.SetRoot(doc.Root().SelectElement("Assertion").Copy())
	s, err := out.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func assertionPolicy(t *testing.T, now time.Time) AssertionPolicy {
	key, _ := testKey(t, 0)
	return AssertionPolicy{
		Keys: func(issuer string) ([]crypto.PublicKey, error) {
			if issuer != testIdP().EntityID {
				return nil, ErrUntrustedIssuer
			}
			return []crypto.PublicKey{&key.PublicKey}, nil
		},
		Audiences: []string{"https://writ.example/oauth2/token"},
		Now:       now,
	}
}

func TestVerifyAssertion(t *testing.T) {
	const aud = "https://writ.example/oauth2/token"
	good := signedAssertion(t, 0, aud)
	a, err := VerifyAssertion([]byte(good), assertionPolicy(t, testNow))
	if err != nil {
		t.Fatal(err)
	}
	if a.NameID != "pairwise-123" || a.Issuer != testIdP().EntityID || a.ID == "" ||
		!a.NotOnOrAfter.Equal(testNow.Add(AssertionLifetime)) || a.SessionIndex != "_sess1" {
		t.Errorf("assertion = %+v", a)
	}
	// The token form: base64url, padded or not.
	for _, enc := range []string{base64.RawURLEncoding.EncodeToString([]byte(good)), base64.URLEncoding.EncodeToString([]byte(good))} {
		b, err := DecodeAssertionToken(enc)
		if err != nil || string(b) != good {
			t.Errorf("DecodeAssertionToken: %v", err)
		}
	}

	signedElsewhere := signedAssertion(t, 2, aud)
	withoutRootSig := strings.Replace(good, `<ds:Signature`, `<saml:Advice><ds:Signature`, 1)
	withoutRootSig = strings.Replace(withoutRootSig, `</ds:Signature>`, `</ds:Signature></saml:Advice>`, 1)
	inner := strings.TrimPrefix(good, `<?xml version="1.0" encoding="UTF-8"?>`)
	tests := []struct {
		name, doc string
		now       time.Time
		want      string
	}{
		{"wrong audience", signedAssertion(t, 0, "https://other.example"), testNow, "not meant for writ"},
		{"expired", good, testNow.Add(AssertionLifetime + 2*time.Minute), "expired"},
		{"not yet valid", good, testNow.Add(-10 * time.Minute), "future"},
		{"untrusted key", signedElsewhere, testNow, "not one trusted"},
		{"changed NameID", strings.Replace(good, "pairwise-123", "pairwise-999", 1), testNow, "signature"},
		{"comment inside NameID", strings.Replace(good, "pairwise-123", "pairwise<!---->-123", 1), testNow, "comments"},
		{"DTD", `<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + inner, testNow, "DTD"},
		{"extra unsigned Assertion inside", strings.Replace(good, "</saml:Assertion>",
			`<saml:Advice><saml:Assertion ID="_evil" Version="2.0" IssueInstant="2026-12-02T12:00:00Z"/></saml:Advice></saml:Assertion>`, 1), testNow, "2 Assertion elements"},
		{"signed assertion wrapped in another", `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_outer" Version="2.0" IssueInstant="2026-12-02T12:00:00Z"><saml:Issuer>` +
			testIdP().EntityID + `</saml:Issuer><saml:Advice>` + inner + `</saml:Advice></saml:Assertion>`, testNow, "2 Assertion elements"},
		{"signature not a child of the root", withoutRootSig, testNow, "direct child"},
		{"signature in Object", strings.Replace(good, "</ds:Signature>", `<ds:Object><ds:Signature/></ds:Object></ds:Signature>`, 1), testNow, "exactly one signature"},
		{"signature over another element", strings.Replace(good, `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="`, `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_renamed`, 1), testNow, "signature"},
		{"a response, not an assertion", `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`, testNow, "want a saml:Assertion"},
		{"untrusted issuer", strings.ReplaceAll(good, testIdP().EntityID, "https://evil.example"), testNow, "not trusted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyAssertion([]byte(tc.doc), assertionPolicy(t, tc.now))
			mustContain(t, err, tc.want)
			if !errors.Is(err, ErrInvalidAssertion) && !errors.Is(err, ErrUntrustedIssuer) {
				t.Errorf("%v wraps neither ErrInvalidAssertion nor ErrUntrustedIssuer", err)
			}
		})
	}
	// Doubly encoded: the token decodes to base64 text, not XML.
	twice := base64.RawURLEncoding.EncodeToString([]byte(base64.RawURLEncoding.EncodeToString([]byte(good))))
	b, err := DecodeAssertionToken(twice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyAssertion(b, assertionPolicy(t, testNow)); err == nil {
		t.Fatal("a doubly encoded assertion was accepted")
	}
}

func FuzzVerifyAssertion(f *testing.F) {
	key, cert := testKey(f, 0)
	p := testParams()
	p.Audience = "https://writ.example/oauth2/token"
	resp, err := BuildResponse(p, Signer{Key: key, Cert: cert})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(resp)
	f.Add([]byte(`<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/>`))
	pol := AssertionPolicy{
		Keys:      func(string) ([]crypto.PublicKey, error) { return []crypto.PublicKey{&key.PublicKey}, nil },
		Audiences: []string{"https://writ.example/oauth2/token"}, Now: testNow,
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := VerifyAssertion(b, pol)
		if err == nil && (a.NameID == "" || a.ID == "") {
			t.Fatalf("accepted an assertion without subject or ID: %+v", a)
		}
	})
}
