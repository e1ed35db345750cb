package saml

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // the OAEP digest of rsa-oaep-mgf1p, as XML Encryption defines it
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// XML Encryption identifiers writ encrypts assertions with.
const (
	nsXMLEnc       = "http://www.w3.org/2001/04/xmlenc#"
	encTypeElement = "http://www.w3.org/2001/04/xmlenc#Element"
	encAES128GCM   = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
	encRSAOAEP     = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	digestSHA1     = "http://www.w3.org/2000/09/xmldsig#sha1"
	cmBearer       = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
)

// AssertionLifetime is how long an assertion and its subject confirmation
// are valid after issue.
const AssertionLifetime = 5 * time.Minute

// Signer is the IdP's signing key and the certificate it is published in.
type Signer struct {
	// Key is the RSA private key (the ring's active RS256 key).
	Key *rsa.PrivateKey
	// Cert is the DER certificate of the key, sent in KeyInfo.
	Cert []byte
}

// Attribute is one SAML attribute of the AttributeStatement.
type Attribute struct {
	// Name is the attribute's Name.
	Name string
	// NameFormat is AttrNameFormatURI, AttrNameFormatBasic or empty.
	NameFormat string
	// FriendlyName is an optional human-readable name.
	FriendlyName string
	// Values are its string values.
	Values []string
}

// ResponseParams is what one successful response asserts.
type ResponseParams struct {
	// IdP is the issuer of the response.
	IdP IdP
	// Audience is the SP's entity ID.
	Audience string
	// ACSURL is the Destination and the subject confirmation's Recipient.
	ACSURL string
	// InResponseTo is the AuthnRequest's ID, or empty when IdP-initiated.
	InResponseTo string
	// NameID and NameIDFormat identify the subject.
	NameID string
	// NameIDFormat: see NameID.
	NameIDFormat string
	// SessionIndex names the IdP session, for single logout.
	SessionIndex string
	// AuthnInstant is when the user signed in.
	AuthnInstant time.Time
	// AuthnContextClassRef is how the user signed in.
	AuthnContextClassRef string
	// Attributes are released to the SP.
	Attributes []Attribute
	// Now is the issue time.
	Now time.Time
	// SignResponse signs the Response too (the Assertion is always
	// signed).
	SignResponse bool
	// EncryptTo, when set, is the SP's DER certificate whose RSA key the
	// assertion is encrypted to (AES-128-GCM, RSA-OAEP).
	EncryptTo []byte
}

// NewID returns a fresh xs:ID for a message or assertion: "_" and 160
// random bits in hex.
func NewID() (string, error) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("saml: random ID: %w", err)
	}
	return "_" + hex.EncodeToString(b[:]), nil
}

// BuildResponse returns a successful samlp:Response holding one signed
// Assertion (RSA-SHA256, exclusive canonicalisation, the signature right
// after the Issuer as the schema requires): Subject with NameID and a
// bearer SubjectConfirmationData (Recipient, NotOnOrAfter, InResponseTo),
// Conditions (NotBefore, NotOnOrAfter, AudienceRestriction), an
// AuthnStatement (AuthnInstant, SessionIndex, AuthnContextClassRef) and
// the AttributeStatement; the assertion encrypted and the Response signed
// when asked.
func BuildResponse(p ResponseParams, s Signer) ([]byte, error) {
	if p.Audience == "" || p.ACSURL == "" || p.NameID == "" || p.NameIDFormat == "" {
		return nil, errors.New("saml: response needs an audience, an ACS URL and a NameID")
	}
	assertion, err := buildAssertion(p)
	if err != nil {
		return nil, err
	}
	if err := signAfterIssuer(assertion, s); err != nil {
		return nil, err
	}
	resp, err := newResponse(p.IdP, p.ACSURL, p.InResponseTo, p.Now, StatusSuccess, "")
	if err != nil {
		return nil, err
	}
	if p.EncryptTo != nil {
		enc, err := encryptAssertion(assertion, p.EncryptTo)
		if err != nil {
			return nil, err
		}
		resp.AddChild(enc)
	} else {
		resp.AddChild(assertion)
	}
	if p.SignResponse {
		if err := signAfterIssuer(resp, s); err != nil {
			return nil, err
		}
	}
	return write(resp)
}

// BuildErrorResponse returns a signed samlp:Response without an assertion
// that tells the SP why: status is StatusRequester, StatusResponder,
// StatusNoPassive, … and message a short text for its logs.
func BuildErrorResponse(idp IdP, acsURL, inResponseTo, status, message string, now time.Time, s Signer) ([]byte, error) {
	resp, err := newResponse(idp, acsURL, inResponseTo, now, status, message)
	if err != nil {
		return nil, err
	}
	if err := signAfterIssuer(resp, s); err != nil {
		return nil, err
	}
	return write(resp)
}

func newResponse(idp IdP, acsURL, inResponseTo string, now time.Time, status, message string) (*etree.Element, error) {
	id, err := NewID()
	if err != nil {
		return nil, err
	}
	resp := etree.NewElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", NSProtocol)
	resp.CreateAttr("xmlns:saml", NSAssertion)
	resp.CreateAttr("ID", id)
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", samlTime(now))
	resp.CreateAttr("Destination", acsURL)
	if inResponseTo != "" {
		resp.CreateAttr("InResponseTo", inResponseTo)
	}
	resp.CreateElement("saml:Issuer").SetText(idp.EntityID)
	st := resp.CreateElement("samlp:Status")
	top := status
	if status != StatusSuccess && status != StatusRequester && status != StatusResponder {
		top = StatusRequester
	}
	code := st.CreateElement("samlp:StatusCode")
	code.CreateAttr("Value", top)
	if top != status {
		code.CreateElement("samlp:StatusCode").CreateAttr("Value", status)
	}
	if message != "" {
		st.CreateElement("samlp:StatusMessage").SetText(message)
	}
	return resp, nil
}

func buildAssertion(p ResponseParams) (*etree.Element, error) {
	id, err := NewID()
	if err != nil {
		return nil, err
	}
	notOnOrAfter := samlTime(p.Now.Add(AssertionLifetime))
	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", NSAssertion)
	a.CreateAttr("ID", id)
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", samlTime(p.Now))
	a.CreateElement("saml:Issuer").SetText(p.IdP.EntityID)

	subj := a.CreateElement("saml:Subject")
	nameID := subj.CreateElement("saml:NameID")
	nameID.CreateAttr("Format", p.NameIDFormat)
	if p.NameIDFormat == NameIDPersistent || p.NameIDFormat == NameIDTransient {
		nameID.CreateAttr("NameQualifier", p.IdP.EntityID)
		nameID.CreateAttr("SPNameQualifier", p.Audience)
	}
	nameID.SetText(p.NameID)
	sc := subj.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", cmBearer)
	scd := sc.CreateElement("saml:SubjectConfirmationData")
	if p.InResponseTo != "" {
		scd.CreateAttr("InResponseTo", p.InResponseTo)
	}
	scd.CreateAttr("NotOnOrAfter", notOnOrAfter)
	scd.CreateAttr("Recipient", p.ACSURL)

	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", samlTime(p.Now.Add(-time.Minute)))
	cond.CreateAttr("NotOnOrAfter", notOnOrAfter)
	cond.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(p.Audience)

	as := a.CreateElement("saml:AuthnStatement")
	as.CreateAttr("AuthnInstant", samlTime(p.AuthnInstant))
	if p.SessionIndex != "" {
		as.CreateAttr("SessionIndex", p.SessionIndex)
	}
	classRef := p.AuthnContextClassRef
	if classRef == "" {
		classRef = AuthnContextPassword
	}
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText(classRef)

	if len(p.Attributes) > 0 {
		st := a.CreateElement("saml:AttributeStatement")
		for _, at := range p.Attributes {
			el := st.CreateElement("saml:Attribute")
			el.CreateAttr("Name", at.Name)
			if at.NameFormat != "" {
				el.CreateAttr("NameFormat", at.NameFormat)
			}
			if at.FriendlyName != "" {
				el.CreateAttr("FriendlyName", at.FriendlyName)
			}
			for _, v := range at.Values {
				// No xsi:type: a QName in an attribute value loses its
				// namespace under exclusive canonicalisation, and
				// AttributeValue is xs:anyType.
				el.CreateElement("saml:AttributeValue").SetText(v)
			}
		}
	}
	return a, nil
}

// signAfterIssuer signs el (enveloped, exclusive canonicalisation,
// RSA-SHA256, the certificate in KeyInfo) and places the signature right
// after its Issuer, where the SAML schema wants it.
func signAfterIssuer(el *etree.Element, s Signer) error {
	if s.Key == nil || s.Cert == nil {
		return errors.New("saml: no signing key")
	}
	ctx, err := dsig.NewSigningContext(s.Key, [][]byte{s.Cert})
	if err != nil {
		return fmt.Errorf("saml: signing context: %w", err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return fmt.Errorf("saml: signature method: %w", err)
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		return fmt.Errorf("saml: sign %s: %w", el.Tag, err)
	}
	el.InsertChildAt(1, sig)
	return nil
}

// encryptAssertion wraps a signed assertion in a saml:EncryptedAssertion:
// AES-128-GCM content encryption under a fresh key, the key transported
// with RSA-OAEP (MGF1 with SHA-1, the XML Encryption default) to the SP's
// certificate.
func encryptAssertion(assertion *etree.Element, certDER []byte) (*etree.Element, error) {
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("saml: encryption certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("saml: the encryption certificate's key is not RSA")
	}
	doc := etree.NewDocument()
	doc.SetRoot(assertion.Copy())
	plain, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("saml: serialise assertion: %w", err)
	}
	key := make([]byte, 16)
	nonce := make([]byte, 12)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sealed := gcm.Seal(append([]byte(nil), nonce...), nonce, plain, nil)
	wrapped, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, key, nil)
	if err != nil {
		return nil, fmt.Errorf("saml: wrap content key: %w", err)
	}
	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.CreateAttr("xmlns:saml", NSAssertion)
	ed := ea.CreateElement("xenc:EncryptedData")
	ed.CreateAttr("xmlns:xenc", nsXMLEnc)
	ed.CreateAttr("Type", encTypeElement)
	ed.CreateElement("xenc:EncryptionMethod").CreateAttr("Algorithm", encAES128GCM)
	ki := ed.CreateElement("ds:KeyInfo")
	ki.CreateAttr("xmlns:ds", NSDSig)
	ek := ki.CreateElement("xenc:EncryptedKey")
	em := ek.CreateElement("xenc:EncryptionMethod")
	em.CreateAttr("Algorithm", encRSAOAEP)
	em.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", digestSHA1)
	ek.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").SetText(base64.StdEncoding.EncodeToString(wrapped))
	ed.CreateElement("xenc:CipherData").CreateElement("xenc:CipherValue").SetText(base64.StdEncoding.EncodeToString(sealed))
	return ea, nil
}

func write(el *etree.Element) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(el)
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("saml: write response: %w", err)
	}
	return b, nil
}
