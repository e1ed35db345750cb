package saml

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/oauth"
)

// ErrInvalidMetadata wraps every refusal of an SP's metadata.
var ErrInvalidMetadata = errors.New("saml: invalid service provider metadata")

// Bounds of what one SP's metadata may register.
const (
	maxEndpoints    = 16
	maxCertificates = 4
	maxURLLength    = 2048
	maxEntityID     = 1024
)

// Endpoint is an assertion consumer or single logout service of an SP.
type Endpoint struct {
	// Binding is BindingPOST or BindingRedirect.
	Binding string
	// Location is the endpoint's URL.
	Location string
	// Index is the ACS index (AssertionConsumerServiceIndex), or 0.
	Index int
	// Default marks the default ACS (isDefault).
	Default bool
}

// SPMetadata is what writ takes from a service provider's metadata.
type SPMetadata struct {
	// EntityID is the SP's entity ID.
	EntityID string
	// ACS are the assertion consumer services; writ posts responses to
	// HTTP-POST ones only.
	ACS []Endpoint
	// SLO are the single logout services.
	SLO []Endpoint
	// SigningCerts are the DER certificates whose keys sign the SP's
	// requests.
	SigningCerts [][]byte
	// EncryptionCerts are the DER certificates of RSA keys writ may
	// encrypt assertions to.
	EncryptionCerts [][]byte
	// NameIDFormats are the formats the SP lists, in its order.
	NameIDFormats []string
	// AuthnRequestsSigned is the SP's AuthnRequestsSigned attribute.
	AuthnRequestsSigned bool
	// WantAssertionsSigned is the SP's WantAssertionsSigned attribute
	// (writ always signs the assertion).
	WantAssertionsSigned bool
}

type mdEntity struct {
	XMLName  xml.Name `xml:"urn:oasis:names:tc:SAML:2.0:metadata EntityDescriptor"`
	EntityID string   `xml:"entityID,attr"`
	SPs      []mdSP   `xml:"urn:oasis:names:tc:SAML:2.0:metadata SPSSODescriptor"`
}

type mdSP struct {
	AuthnRequestsSigned  string       `xml:"AuthnRequestsSigned,attr"`
	WantAssertionsSigned string       `xml:"WantAssertionsSigned,attr"`
	Protocols            string       `xml:"protocolSupportEnumeration,attr"`
	Keys                 []mdKey      `xml:"urn:oasis:names:tc:SAML:2.0:metadata KeyDescriptor"`
	SLO                  []mdEndpoint `xml:"urn:oasis:names:tc:SAML:2.0:metadata SingleLogoutService"`
	NameIDFormats        []string     `xml:"urn:oasis:names:tc:SAML:2.0:metadata NameIDFormat"`
	ACS                  []mdEndpoint `xml:"urn:oasis:names:tc:SAML:2.0:metadata AssertionConsumerService"`
}

type mdKey struct {
	Use   string   `xml:"use,attr"`
	Certs []string `xml:"http://www.w3.org/2000/09/xmldsig# KeyInfo>X509Data>X509Certificate"`
}

type mdEndpoint struct {
	Binding   string `xml:"Binding,attr"`
	Location  string `xml:"Location,attr"`
	Index     string `xml:"index,attr"`
	IsDefault string `xml:"isDefault,attr"`
}

// ParseSPMetadata reads an SP's EntityDescriptor. The document is hostile
// input: it is scanned first (256 KiB, no DTD or entities), must hold one
// SPSSODescriptor for SAML 2.0, and every endpoint URL must be https (http
// only for a loopback host when allowLoopbackHTTP is set, for
// development), without user information or fragment. At least one
// HTTP-POST assertion consumer service is required.
func ParseSPMetadata(b []byte, allowLoopbackHTTP bool) (*SPMetadata, error) {
	if err := scan(b, scanOptions{maxSize: MaxMetadataSize, allowComments: true}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMetadata, err)
	}
	var ed mdEntity
	if err := xml.NewDecoder(bytes.NewReader(b)).Decode(&ed); err != nil {
		return nil, fmt.Errorf("%w: want an md:EntityDescriptor: %v", ErrInvalidMetadata, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidMetadata, fmt.Sprintf(format, args...))
	}
	if err := checkEntityID(ed.EntityID); err != nil {
		return nil, bad("entityID: %v", err)
	}
	if len(ed.SPs) != 1 {
		return nil, bad("%d SPSSODescriptor elements, want exactly one", len(ed.SPs))
	}
	sp := ed.SPs[0]
	if !slices.Contains(strings.Fields(sp.Protocols), NSProtocol) {
		return nil, bad("the SPSSODescriptor does not support SAML 2.0 (protocolSupportEnumeration)")
	}
	m := &SPMetadata{EntityID: ed.EntityID}
	var err error
	if m.AuthnRequestsSigned, err = xsBool(sp.AuthnRequestsSigned); err != nil {
		return nil, bad("AuthnRequestsSigned: %v", err)
	}
	if m.WantAssertionsSigned, err = xsBool(sp.WantAssertionsSigned); err != nil {
		return nil, bad("WantAssertionsSigned: %v", err)
	}
	if len(sp.ACS) == 0 || len(sp.ACS) > maxEndpoints || len(sp.SLO) > maxEndpoints {
		return nil, bad("%d assertion consumer and %d logout services: want 1 to %d and at most %d", len(sp.ACS), len(sp.SLO), maxEndpoints, maxEndpoints)
	}
	post := false
	for i, e := range sp.ACS {
		if !supportedBinding(e.Binding) {
			continue // artifact, PAOS: not offered, kept out rather than refused
		}
		ep, err := endpoint(e, allowLoopbackHTTP)
		if err != nil {
			return nil, bad("AssertionConsumerService[%d]: %v", i, err)
		}
		post = post || ep.Binding == BindingPOST
		m.ACS = append(m.ACS, ep)
	}
	if !post {
		return nil, bad("no AssertionConsumerService with the HTTP-POST binding, the one writ responds with")
	}
	for i, e := range sp.SLO {
		if !supportedBinding(e.Binding) {
			continue // SOAP, artifact: not offered
		}
		ep, err := endpoint(e, allowLoopbackHTTP)
		if err != nil {
			return nil, bad("SingleLogoutService[%d]: %v", i, err)
		}
		m.SLO = append(m.SLO, ep)
	}
	for _, k := range sp.Keys {
		if k.Use != "" && k.Use != "signing" && k.Use != "encryption" {
			return nil, bad("KeyDescriptor use %q: want signing or encryption", k.Use)
		}
		for _, c := range k.Certs {
			der, err := parseCertificate(c)
			if err != nil {
				return nil, bad("KeyDescriptor: %v", err)
			}
			if k.Use != "encryption" {
				m.SigningCerts = appendCert(m.SigningCerts, der)
			}
			if k.Use != "signing" {
				if cert, _ := x509.ParseCertificate(der); cert != nil {
					if _, ok := cert.PublicKey.(*rsa.PublicKey); ok {
						m.EncryptionCerts = appendCert(m.EncryptionCerts, der)
					} else if k.Use == "encryption" {
						return nil, bad("KeyDescriptor: an encryption key must be RSA (RSA-OAEP)")
					}
				}
			}
		}
	}
	if len(m.SigningCerts) > maxCertificates || len(m.EncryptionCerts) > maxCertificates {
		return nil, bad("more than %d signing or encryption certificates", maxCertificates)
	}
	if m.AuthnRequestsSigned && len(m.SigningCerts) == 0 {
		return nil, bad("AuthnRequestsSigned is true but no signing certificate is given")
	}
	for _, f := range sp.NameIDFormats {
		f = strings.TrimSpace(f)
		if f == "" || len(f) > 256 || !utf8.ValidString(f) {
			return nil, bad("NameIDFormat %q", f)
		}
		if len(m.NameIDFormats) < maxEndpoints && !slices.Contains(m.NameIDFormats, f) {
			m.NameIDFormats = append(m.NameIDFormats, f)
		}
	}
	return m, nil
}

func supportedBinding(b string) bool { return b == BindingPOST || b == BindingRedirect }

func appendCert(l [][]byte, der []byte) [][]byte {
	for _, c := range l {
		if bytes.Equal(c, der) {
			return l
		}
	}
	return append(l, der)
}

// checkEntityID accepts a URI of at most 1024 characters (SAML Core §8.3.6)
// of printable characters.
func checkEntityID(id string) error {
	if id == "" {
		return errors.New("missing")
	}
	if len(id) > maxEntityID {
		return fmt.Errorf("longer than %d characters", maxEntityID)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r == utf8.RuneError {
			return errors.New("holds a space or control character")
		}
	}
	if _, err := url.Parse(id); err != nil {
		return errors.New("is not a URI")
	}
	return nil
}

// endpoint checks one endpoint of SP metadata.
func endpoint(e mdEndpoint, allowLoopbackHTTP bool) (Endpoint, error) {
	ep := Endpoint{Binding: e.Binding, Location: strings.TrimSpace(e.Location)}
	if err := CheckEndpointURL(ep.Location, allowLoopbackHTTP); err != nil {
		return Endpoint{}, err
	}
	if e.Index != "" {
		n, err := strconv.ParseUint(e.Index, 10, 16)
		if err != nil {
			return Endpoint{}, fmt.Errorf("index %q is not an unsigned short", e.Index)
		}
		ep.Index = int(n)
	}
	d, err := xsBool(e.IsDefault)
	if err != nil {
		return Endpoint{}, fmt.Errorf("isDefault: %w", err)
	}
	ep.Default = d
	return ep, nil
}

// CheckEndpointURL applies the rules of redirect URIs to an SP endpoint:
// an absolute https URL (http only for a loopback host when
// allowLoopbackHTTP), no user information, no fragment, at most 2048
// characters. A javascript: or data: URL, the XSS of CVE-2023-45683, fails
// the scheme rule.
func CheckEndpointURL(s string, allowLoopbackHTTP bool) error {
	if s == "" {
		return errors.New("missing Location")
	}
	if len(s) > maxURLLength {
		return fmt.Errorf("Location longer than %d characters", maxURLLength)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("Location is not a URL: %v", err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowLoopbackHTTP && oauth.IsLoopbackHost(u.Hostname()):
	case u.Scheme == "http":
		return fmt.Errorf("Location %q: http is allowed only for a loopback host in development; use https", s)
	default:
		return fmt.Errorf("Location %q: the scheme must be https", s)
	}
	if u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("Location %q has no host", s)
	}
	if u.User != nil {
		return fmt.Errorf("Location %q holds user information", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("Location %q holds a fragment", s)
	}
	return nil
}

// xsBool parses an xs:boolean attribute; empty is false.
func xsBool(s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

// parseCertificate decodes a base64 X509Certificate and accepts RSA (≥
// 2048 bits) and ECDSA keys.
func parseCertificate(s string) ([]byte, error) {
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return nil, fmt.Errorf("X509Certificate is not base64: %v", err)
	}
	if len(der) > 16<<10 {
		return nil, errors.New("X509Certificate larger than 16 KiB")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("X509Certificate: %v", err)
	}
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits, want at least 2048", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
	default:
		return nil, fmt.Errorf("%T keys are not supported (RSA or ECDSA)", cert.PublicKey)
	}
	return der, nil
}
