package saml

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// ErrInvalidAssertion wraps every refusal of an assertion presented to
// writ (as a token exchange subject token).
var ErrInvalidAssertion = errors.New("saml: invalid assertion")

// ErrUntrustedIssuer is returned (wrapped) when no keys are trusted for an
// assertion's issuer.
var ErrUntrustedIssuer = errors.New("saml: the assertion's issuer is not trusted")

// maxAssertionClockSkew is the skew allowed on an assertion's times.
const maxAssertionClockSkew = time.Minute

// Assertion is a verified SAML 2.0 assertion.
type Assertion struct {
	// ID is the assertion's ID (single use: the caller keeps it until
	// NotOnOrAfter).
	ID string
	// Issuer is the IdP's entity ID.
	Issuer string
	// NameID and NameIDFormat identify the subject.
	NameID string
	// NameIDFormat: see NameID.
	NameIDFormat string
	// IssueInstant is when it was issued.
	IssueInstant time.Time
	// NotOnOrAfter is when it stops being valid: the earliest of the
	// Conditions' and the bearer subject confirmations'.
	NotOnOrAfter time.Time
	// Audiences are the AudienceRestriction's audiences.
	Audiences []string
	// SessionIndex is the AuthnStatement's session index, or empty.
	SessionIndex string
}

// AssertionPolicy says which assertions VerifyAssertion accepts.
type AssertionPolicy struct {
	// Keys returns the public keys trusted for an issuer's signatures, or
	// an error wrapping ErrUntrustedIssuer. Trust is in the keys: a
	// certificate is a container, its dates and chain are not checked
	// (SAML V2.0 Metadata Interoperability Profile).
	Keys func(issuer string) ([]crypto.PublicKey, error)
	// Audiences are the audiences that make an assertion meant for writ;
	// the AudienceRestriction must name one of them.
	Audiences []string
	// Now is the current time.
	Now time.Time
}

type assertionXML struct {
	XMLName      xml.Name    `xml:"urn:oasis:names:tc:SAML:2.0:assertion Assertion"`
	ID           string      `xml:"ID,attr"`
	Version      string      `xml:"Version,attr"`
	IssueInstant string      `xml:"IssueInstant,attr"`
	Issuers      []issuerXML `xml:"urn:oasis:names:tc:SAML:2.0:assertion Issuer"`
	Subjects     []struct {
		NameIDs       []issuerXML `xml:"urn:oasis:names:tc:SAML:2.0:assertion NameID"`
		Confirmations []struct {
			Method string `xml:"Method,attr"`
			Data   []struct {
				NotOnOrAfter string `xml:"NotOnOrAfter,attr"`
			} `xml:"urn:oasis:names:tc:SAML:2.0:assertion SubjectConfirmationData"`
		} `xml:"urn:oasis:names:tc:SAML:2.0:assertion SubjectConfirmation"`
	} `xml:"urn:oasis:names:tc:SAML:2.0:assertion Subject"`
	Conditions []struct {
		NotBefore    string `xml:"NotBefore,attr"`
		NotOnOrAfter string `xml:"NotOnOrAfter,attr"`
		Restrictions []struct {
			Audiences []string `xml:"urn:oasis:names:tc:SAML:2.0:assertion Audience"`
		} `xml:"urn:oasis:names:tc:SAML:2.0:assertion AudienceRestriction"`
	} `xml:"urn:oasis:names:tc:SAML:2.0:assertion Conditions"`
	AuthnStatements []struct {
		SessionIndex string `xml:"SessionIndex,attr"`
	} `xml:"urn:oasis:names:tc:SAML:2.0:assertion AuthnStatement"`
}

// DecodeAssertionToken decodes a token exchange subject token of type
// urn:ietf:params:oauth:token-type:saml2: the assertion, base64url encoded
// (RFC 8693 §3), padded or not.
func DecodeAssertionToken(raw string) ([]byte, error) {
	if len(raw) > 2*MaxMessageSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidAssertion, 2*MaxMessageSize)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(raw, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url: %v", ErrInvalidAssertion, err)
	}
	return b, nil
}

// VerifyAssertion checks a bare saml:Assertion strictly: the document's
// form (bounds, no DTD, no comments — a comment inside a NameID is how
// canonical and parsed text are made to differ); exactly one signature, a
// direct child of the root, enveloped over the root, by a key trusted for
// the Issuer; no other Assertion inside; then, reading only what the
// signature covers: version 2.0, an ID, the Issuer, one Subject with one
// NameID, Conditions with a time window that holds now and an
// AudienceRestriction naming one of the policy's audiences, bearer
// subject confirmations not expired.
func VerifyAssertion(doc []byte, p AssertionPolicy) (*Assertion, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidAssertion, fmt.Sprintf(format, args...))
	}
	if err := scan(doc, scanOptions{maxSize: MaxMessageSize}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidAssertion, err)
	}
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(doc); err != nil {
		return nil, bad("%v", err)
	}
	root := tree.Root()
	if root == nil || root.Tag != "Assertion" || root.NamespaceURI() != NSAssertion {
		return nil, bad("want a saml:Assertion as the document")
	}
	if n := countElements(root, "Assertion", NSAssertion); n != 1 {
		return nil, bad("%d Assertion elements, want exactly one", n)
	}
	if countElements(root, "EncryptedAssertion", NSAssertion) != 0 {
		return nil, bad("an encrypted assertion inside is not accepted")
	}
	sigs := countElements(root, "Signature", NSDSig)
	sig := root.SelectElement("Signature")
	if sigs != 1 || sig == nil || sig.NamespaceURI() != NSDSig {
		return nil, bad("want exactly one signature, a direct child of the Assertion")
	}
	issuerEl := root.SelectElement("Issuer")
	if issuerEl == nil {
		return nil, bad("no Issuer")
	}
	issuer := strings.TrimSpace(issuerEl.Text())
	keys, err := p.Keys(issuer)
	if err != nil {
		return nil, err
	}
	cert, err := signatureCertificate(sig)
	if err != nil {
		return nil, bad("%v", err)
	}
	if !slices.ContainsFunc(keys, func(k crypto.PublicKey) bool {
		eq, ok := k.(interface{ Equal(crypto.PublicKey) bool })
		return ok && eq.Equal(cert.PublicKey)
	}) {
		return nil, bad("the signing key is not one trusted for %q", issuer)
	}
	// Trust is in the key: check the signature at a time the container
	// certificate is valid.
	validated, err := validateEnveloped(root, []*x509.Certificate{cert}, cert.NotBefore.Add(time.Second))
	if err != nil {
		return nil, bad("%v", err)
	}
	content, err := elementXML(validated)
	if err != nil {
		return nil, bad("%v", err)
	}
	var x assertionXML
	if err := xml.Unmarshal(content, &x); err != nil {
		return nil, bad("%v", err)
	}
	return checkAssertion(&x, issuer, p)
}

func checkAssertion(x *assertionXML, issuer string, p AssertionPolicy) (*Assertion, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidAssertion, fmt.Sprintf(format, args...))
	}
	if x.Version != "2.0" {
		return nil, bad("Version %q, want 2.0", x.Version)
	}
	if err := checkID(x.ID); err != nil {
		return nil, bad("ID: %v", err)
	}
	if len(x.Issuers) != 1 || strings.TrimSpace(x.Issuers[0].Value) != issuer {
		return nil, bad("the signed Issuer is not %q", issuer)
	}
	a := &Assertion{ID: x.ID, Issuer: issuer}
	var err error
	if a.IssueInstant, err = parseInstant(x.IssueInstant); err != nil {
		return nil, bad("IssueInstant: %v", err)
	}
	if a.IssueInstant.After(p.Now.Add(maxAssertionClockSkew)) {
		return nil, bad("issued in the future")
	}
	if len(x.Subjects) != 1 || len(x.Subjects[0].NameIDs) != 1 || strings.TrimSpace(x.Subjects[0].NameIDs[0].Value) == "" {
		return nil, bad("want one Subject with one NameID")
	}
	a.NameID = strings.TrimSpace(x.Subjects[0].NameIDs[0].Value)
	a.NameIDFormat = x.Subjects[0].NameIDs[0].Format
	if len(x.Conditions) != 1 {
		return nil, bad("want one Conditions element")
	}
	c := x.Conditions[0]
	if c.NotOnOrAfter == "" {
		return nil, bad("Conditions without NotOnOrAfter: an assertion must expire")
	}
	if a.NotOnOrAfter, err = parseInstant(c.NotOnOrAfter); err != nil {
		return nil, bad("NotOnOrAfter: %v", err)
	}
	if c.NotBefore != "" {
		nb, err := parseInstant(c.NotBefore)
		if err != nil {
			return nil, bad("NotBefore: %v", err)
		}
		if p.Now.Add(maxAssertionClockSkew).Before(nb) {
			return nil, bad("not valid yet (NotBefore %s)", c.NotBefore)
		}
	}
	bearer := false
	for _, sc := range x.Subjects[0].Confirmations {
		if sc.Method != cmBearer {
			continue
		}
		bearer = true
		for _, d := range sc.Data {
			if d.NotOnOrAfter == "" {
				continue
			}
			t, err := parseInstant(d.NotOnOrAfter)
			if err != nil {
				return nil, bad("SubjectConfirmationData NotOnOrAfter: %v", err)
			}
			if t.Before(a.NotOnOrAfter) {
				a.NotOnOrAfter = t
			}
		}
	}
	if !bearer {
		return nil, bad("no bearer SubjectConfirmation")
	}
	if !p.Now.Add(-maxAssertionClockSkew).Before(a.NotOnOrAfter) {
		return nil, bad("expired at %s", samlTime(a.NotOnOrAfter))
	}
	if len(c.Restrictions) == 0 {
		return nil, bad("no AudienceRestriction")
	}
	// Every AudienceRestriction must be met (SAML Core §2.5.1.4).
	for _, r := range c.Restrictions {
		ok := false
		for _, aud := range r.Audiences {
			aud = strings.TrimSpace(aud)
			a.Audiences = append(a.Audiences, aud)
			ok = ok || slices.Contains(p.Audiences, aud)
		}
		if !ok {
			return nil, bad("the assertion is not meant for writ (AudienceRestriction)")
		}
	}
	if len(x.AuthnStatements) > 0 {
		a.SessionIndex = x.AuthnStatements[0].SessionIndex
	}
	return a, nil
}

// signatureCertificate reads the certificate of a signature's KeyInfo.
func signatureCertificate(sig *etree.Element) (*x509.Certificate, error) {
	c := sig.FindElement("./KeyInfo/X509Data/X509Certificate")
	if c == nil {
		return nil, errors.New("the signature carries no X509Certificate in its KeyInfo")
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Text()), ""))
	if err != nil {
		return nil, errors.New("the signature's certificate is not base64")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("the signature's certificate: %v", err)
	}
	return cert, nil
}

// countElements counts the elements named tag in namespace ns in the
// tree of el, el included.
func countElements(el *etree.Element, tag, ns string) int {
	n := 0
	if el.Tag == tag && el.NamespaceURI() == ns {
		n++
	}
	for _, c := range el.ChildElements() {
		n += countElements(c, tag, ns)
	}
	return n
}
