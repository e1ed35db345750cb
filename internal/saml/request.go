package saml

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// ErrInvalidRequest wraps every refusal of an AuthnRequest or
// LogoutRequest: its encoding, form, signature or content. Such a request
// gets an error page, never a response to an ACS it names.
var ErrInvalidRequest = errors.New("saml: invalid request")

// Bounds and windows of requests.
const (
	// MaxRelayState bounds RelayState. The binding says 80 bytes; service
	// providers commonly send a return URL, so writ allows more, bounded.
	MaxRelayState = 1024
	// maxEncoded bounds a SAMLRequest parameter before decoding.
	maxEncoded = 2 * MaxMessageSize
	// maxSkew is the clock skew allowed on IssueInstant.
	maxSkew = 3 * time.Minute
	// maxRequestAge is how old an IssueInstant may be.
	maxRequestAge = 5 * time.Minute
	maxIDLength   = 256
)

// Message is a SAML protocol message as received, before its content is
// trusted: the decoded XML, the binding and what the binding carried.
type Message struct {
	// XML is the decoded message.
	XML []byte
	// Binding is BindingRedirect or BindingPOST.
	Binding string
	// RelayState is the RelayState parameter, or empty.
	RelayState string
	// SigAlg and Signature are the HTTP-Redirect binding's detached
	// signature (empty when unsigned); signed holds the exact octets it
	// covers (SAML Bindings §3.4.4.1).
	SigAlg    string
	Signature []byte
	signed    []byte
}

// DecodeRedirect reads a message of the HTTP-Redirect binding from a raw
// query string: param is SAMLRequest or SAMLResponse. Each parameter may
// appear once; the message is base64 then raw DEFLATE, inflated to at most
// 64 KiB. The octets a detached signature covers are taken from the query
// as sent, not re-encoded.
func DecodeRedirect(rawQuery, param string) (*Message, error) {
	raw := map[string]string{}
	for _, part := range strings.Split(rawQuery, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		switch name {
		case param, "RelayState", "SigAlg", "Signature":
			if _, dup := raw[name]; dup {
				return nil, fmt.Errorf("%w: parameter %s appears more than once", ErrInvalidRequest, name)
			}
			raw[name] = value
		}
	}
	enc, ok := raw[param]
	if !ok {
		return nil, fmt.Errorf("%w: missing %s", ErrInvalidRequest, param)
	}
	if len(enc) > maxEncoded {
		return nil, fmt.Errorf("%w: %s longer than %d bytes", ErrInvalidRequest, param, maxEncoded)
	}
	values := map[string]string{}
	for k, v := range raw {
		d, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s is not URL-encoded: %v", ErrInvalidRequest, k, err)
		}
		values[k] = d
	}
	compressed, err := base64.StdEncoding.DecodeString(values[param])
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64: %v", ErrInvalidRequest, param, err)
	}
	xmlBytes, err := inflate(compressed)
	if err != nil {
		return nil, err
	}
	m := &Message{XML: xmlBytes, Binding: BindingRedirect, RelayState: values["RelayState"]}
	if err := checkRelayState(m.RelayState); err != nil {
		return nil, err
	}
	if sig, ok := values["Signature"]; ok {
		if m.Signature, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return nil, fmt.Errorf("%w: Signature is not base64: %v", ErrInvalidRequest, err)
		}
		m.SigAlg = values["SigAlg"]
		if m.SigAlg == "" {
			return nil, fmt.Errorf("%w: Signature without SigAlg", ErrInvalidRequest)
		}
		signed := param + "=" + raw[param]
		if rs, ok := raw["RelayState"]; ok {
			signed += "&RelayState=" + rs
		}
		m.signed = []byte(signed + "&SigAlg=" + raw["SigAlg"])
	} else if _, ok := values["SigAlg"]; ok {
		return nil, fmt.Errorf("%w: SigAlg without Signature", ErrInvalidRequest)
	}
	return m, nil
}

// DecodePOST reads a message of the HTTP-POST binding: the form value of
// SAMLRequest or SAMLResponse, base64 without compression.
func DecodePOST(encoded, relayState string) (*Message, error) {
	if len(encoded) > maxEncoded {
		return nil, fmt.Errorf("%w: message longer than %d bytes", ErrInvalidRequest, maxEncoded)
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(encoded), ""))
	if err != nil {
		return nil, fmt.Errorf("%w: message is not base64: %v", ErrInvalidRequest, err)
	}
	if err := checkRelayState(relayState); err != nil {
		return nil, err
	}
	return &Message{XML: b, Binding: BindingPOST, RelayState: relayState}, nil
}

func checkRelayState(s string) error {
	if len(s) > MaxRelayState {
		return fmt.Errorf("%w: RelayState longer than %d bytes", ErrInvalidRequest, MaxRelayState)
	}
	if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00") {
		return fmt.Errorf("%w: RelayState is not valid UTF-8 text", ErrInvalidRequest)
	}
	return nil
}

// inflate decompresses raw DEFLATE data to at most MaxMessageSize bytes, so
// that a small request cannot expand into a large one.
func inflate(b []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(b))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, MaxMessageSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: message is not DEFLATE-compressed: %v", ErrInvalidRequest, err)
	}
	if len(out) > MaxMessageSize {
		return nil, fmt.Errorf("%w: message inflates to more than %d bytes", ErrInvalidRequest, MaxMessageSize)
	}
	return out, nil
}

// AuthnRequest is a checked AuthnRequest (SAML Core §3.4.1).
type AuthnRequest struct {
	// ID is the request's ID, the InResponseTo of the response.
	ID string
	// Issuer is the SP's entity ID.
	Issuer string
	// IssueInstant is when the SP made the request.
	IssueInstant time.Time
	// Destination is the Destination attribute, or empty.
	Destination string
	// ACSURL and ACSIndex name the assertion consumer service, or are
	// empty / -1.
	ACSURL string
	// ACSIndex: see ACSURL.
	ACSIndex int
	// ProtocolBinding is the binding asked for the response, or empty.
	ProtocolBinding string
	// ForceAuthn asks for a fresh sign-in.
	ForceAuthn bool
	// IsPassive forbids any interaction with the user.
	IsPassive bool
	// NameIDFormat is the NameIDPolicy Format, or empty.
	NameIDFormat string
	// AuthnContextClassRefs and AuthnContextComparison are the
	// RequestedAuthnContext, or empty.
	AuthnContextClassRefs []string
	// AuthnContextComparison: see AuthnContextClassRefs; exact when empty.
	AuthnContextComparison string
	// Signed reports that a signature was checked.
	Signed bool
	// RelayState is the binding's RelayState.
	RelayState string
}

// requestXML is what every request has (SAML Core §3.2.1).
type requestXML struct {
	ID           string      `xml:"ID,attr"`
	Version      string      `xml:"Version,attr"`
	IssueInstant string      `xml:"IssueInstant,attr"`
	Destination  string      `xml:"Destination,attr"`
	Issuers      []issuerXML `xml:"urn:oasis:names:tc:SAML:2.0:assertion Issuer"`
}

func (x *requestXML) request() *requestXML { return x }

type authnRequestXML struct {
	XMLName xml.Name `xml:"urn:oasis:names:tc:SAML:2.0:protocol AuthnRequest"`
	requestXML
	ACSURL          string `xml:"AssertionConsumerServiceURL,attr"`
	ACSIndex        string `xml:"AssertionConsumerServiceIndex,attr"`
	ProtocolBinding string `xml:"ProtocolBinding,attr"`
	ForceAuthn      string `xml:"ForceAuthn,attr"`
	IsPassive       string `xml:"IsPassive,attr"`
	NameIDPolicy    []struct {
		Format string `xml:"Format,attr"`
	} `xml:"urn:oasis:names:tc:SAML:2.0:protocol NameIDPolicy"`
	RequestedAuthnContext []struct {
		Comparison string   `xml:"Comparison,attr"`
		ClassRefs  []string `xml:"urn:oasis:names:tc:SAML:2.0:assertion AuthnContextClassRef"`
	} `xml:"urn:oasis:names:tc:SAML:2.0:protocol RequestedAuthnContext"`
}

type issuerXML struct {
	Format string `xml:"Format,attr"`
	Value  string `xml:",chardata"`
}

// RequestIssuer returns the Issuer of a message before anything else of it
// is trusted, so that the caller can find the SP whose keys verify it. The
// message is scanned first; nothing but the Issuer may be acted on.
func RequestIssuer(m *Message) (string, error) {
	if err := scan(m.XML, scanOptions{maxSize: MaxMessageSize}); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	var v struct {
		Issuers []issuerXML `xml:"urn:oasis:names:tc:SAML:2.0:assertion Issuer"`
	}
	if err := xml.Unmarshal(m.XML, &v); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	if len(v.Issuers) != 1 {
		return "", fmt.Errorf("%w: %d Issuer elements, want one", ErrInvalidRequest, len(v.Issuers))
	}
	return strings.TrimSpace(v.Issuers[0].Value), nil
}

// RequestPolicy is what the IdP requires of a request from one SP.
type RequestPolicy struct {
	// IdP is writ's IdP (its SSO URL is the only acceptable Destination).
	IdP IdP
	// SP is the registered metadata of the request's issuer.
	SP *SPMetadata
	// RequireSigned refuses unsigned requests.
	RequireSigned bool
	// Now is the current time.
	Now time.Time
}

// ParseAuthnRequest checks an AuthnRequest completely: the document's form;
// the signature (detached for HTTP-Redirect, enveloped over the root for
// HTTP-POST) by one of the SP's signing certificates, required when the
// policy says so and checked whenever present; that only the signed
// element is read; version 2.0, an ID, IssueInstant within the window,
// Destination equal to the SSO URL (required when signed), the Issuer
// equal to the SP, and the ACS chosen (by URL or index) among the SP's
// registered HTTP-POST services.
func ParseAuthnRequest(m *Message, p RequestPolicy) (*AuthnRequest, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	var x authnRequestXML
	signed, at, err := readRequest(m, p, &x, "AuthnRequest", p.IdP.SSOURL)
	if err != nil {
		return nil, err
	}
	req := &AuthnRequest{ID: x.ID, Issuer: p.SP.EntityID, IssueInstant: at, Destination: x.Destination,
		ProtocolBinding: x.ProtocolBinding, Signed: signed, RelayState: m.RelayState, ACSIndex: -1}
	if req.ForceAuthn, err = xsBool(x.ForceAuthn); err != nil {
		return nil, bad("ForceAuthn: %v", err)
	}
	if req.IsPassive, err = xsBool(x.IsPassive); err != nil {
		return nil, bad("IsPassive: %v", err)
	}
	if req.ProtocolBinding != "" && req.ProtocolBinding != BindingPOST {
		return nil, bad("ProtocolBinding %q: writ responds by HTTP-POST only", req.ProtocolBinding)
	}
	if x.ACSURL != "" && x.ACSIndex != "" {
		return nil, bad("both AssertionConsumerServiceURL and AssertionConsumerServiceIndex are given")
	}
	if x.ACSIndex != "" {
		n, err := strconv.ParseUint(x.ACSIndex, 10, 16)
		if err != nil {
			return nil, bad("AssertionConsumerServiceIndex %q", x.ACSIndex)
		}
		req.ACSIndex = int(n)
	}
	req.ACSURL = x.ACSURL
	if _, err := ChooseACS(p.SP, req.ACSURL, req.ACSIndex); err != nil {
		return nil, err
	}
	if len(x.NameIDPolicy) > 1 || len(x.RequestedAuthnContext) > 1 {
		return nil, bad("NameIDPolicy and RequestedAuthnContext may appear once")
	}
	if len(x.NameIDPolicy) == 1 {
		req.NameIDFormat = x.NameIDPolicy[0].Format
	}
	if len(x.RequestedAuthnContext) == 1 {
		rac := x.RequestedAuthnContext[0]
		switch rac.Comparison {
		case "", "exact", "minimum", "maximum", "better":
		default:
			return nil, bad("RequestedAuthnContext Comparison %q", rac.Comparison)
		}
		if len(rac.ClassRefs) == 0 || len(rac.ClassRefs) > maxEndpoints {
			return nil, bad("RequestedAuthnContext with %d class references", len(rac.ClassRefs))
		}
		req.AuthnContextComparison = rac.Comparison
		for _, c := range rac.ClassRefs {
			req.AuthnContextClassRefs = append(req.AuthnContextClassRefs, strings.TrimSpace(c))
		}
	}
	return req, nil
}

// readRequest reads a request into x and checks what every request must be:
// the document's form; the signature (detached for HTTP-Redirect,
// enveloped over the root for HTTP-POST) by one of the SP's signing
// certificates, required when the policy says so and checked whenever
// present; that only the signed element is read; a samlp:name of version
// 2.0 with an ID, the SP as its one Issuer, an IssueInstant within the
// window, and a Destination equal to destination (required when signed).
func readRequest(m *Message, p RequestPolicy, x interface{ request() *requestXML }, name, destination string) (signed bool, issued time.Time, err error) {
	bad := func(format string, args ...any) (bool, time.Time, error) {
		return false, time.Time{}, fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	if err := scan(m.XML, scanOptions{maxSize: MaxMessageSize}); err != nil {
		return false, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	content, signed, err := verifyMessage(m, p.SP.SigningCerts, p.Now)
	if err != nil {
		return false, time.Time{}, err
	}
	if !signed && p.RequireSigned {
		return bad("the service provider must sign its requests")
	}
	if err := xml.Unmarshal(content, x); err != nil {
		return bad("want a samlp:%s: %v", name, err)
	}
	r := x.request()
	if r.Version != "2.0" {
		return bad("Version %q, want 2.0", r.Version)
	}
	if err := checkID(r.ID); err != nil {
		return bad("ID: %v", err)
	}
	if len(r.Issuers) != 1 {
		return bad("%d Issuer elements, want one", len(r.Issuers))
	}
	if issuer := strings.TrimSpace(r.Issuers[0].Value); issuer != p.SP.EntityID {
		return bad("Issuer %q is not the service provider %q", issuer, p.SP.EntityID)
	}
	if issued, err = parseInstant(r.IssueInstant); err != nil {
		return bad("IssueInstant: %v", err)
	}
	if issued.After(p.Now.Add(maxSkew)) || issued.Before(p.Now.Add(-maxRequestAge-maxSkew)) {
		return bad("IssueInstant %s is outside the accepted window", r.IssueInstant)
	}
	if r.Destination != "" && r.Destination != destination {
		return bad("Destination %q is not this endpoint (%s)", r.Destination, destination)
	}
	if signed && r.Destination == "" {
		return bad("a signed request must name its Destination")
	}
	return signed, issued, nil
}

// ChooseACS returns the assertion consumer service a request names: by
// exact URL among the SP's HTTP-POST services, by index, or the default
// one (isDefault, else the first HTTP-POST service).
func ChooseACS(sp *SPMetadata, acsURL string, index int) (Endpoint, error) {
	switch {
	case acsURL != "":
		for _, e := range sp.ACS {
			if e.Binding == BindingPOST && e.Location == acsURL {
				return e, nil
			}
		}
		return Endpoint{}, fmt.Errorf("%w: AssertionConsumerServiceURL %q is not registered for the service provider", ErrInvalidRequest, acsURL)
	case index >= 0:
		for _, e := range sp.ACS {
			if e.Index == index {
				if e.Binding != BindingPOST {
					return Endpoint{}, fmt.Errorf("%w: assertion consumer service %d does not use HTTP-POST", ErrInvalidRequest, index)
				}
				return e, nil
			}
		}
		return Endpoint{}, fmt.Errorf("%w: no assertion consumer service with index %d", ErrInvalidRequest, index)
	}
	var first *Endpoint
	for i, e := range sp.ACS {
		if e.Binding != BindingPOST {
			continue
		}
		if e.Default {
			return e, nil
		}
		if first == nil {
			first = &sp.ACS[i]
		}
	}
	if first == nil {
		return Endpoint{}, fmt.Errorf("%w: the service provider has no HTTP-POST assertion consumer service", ErrInvalidRequest)
	}
	return *first, nil
}

// verifyMessage checks a message's signature when it has one and returns
// the XML that may be read: for HTTP-POST, only the root element the
// signature covers, as the signature library reconstructs it.
func verifyMessage(m *Message, certs [][]byte, now time.Time) ([]byte, bool, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(m.XML); err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	root := doc.Root()
	if root == nil {
		return nil, false, fmt.Errorf("%w: no root element", ErrInvalidRequest)
	}
	// A signature in Extensions, in an Object or around another element
	// is how wrapping attacks begin, so exactly one at the right place is
	// allowed.
	sigs := countElements(root, "Signature", NSDSig)
	switch m.Binding {
	case BindingRedirect:
		if sigs != 0 {
			return nil, false, fmt.Errorf("%w: an HTTP-Redirect message carries its signature in the query, not in the XML", ErrInvalidRequest)
		}
		if m.Signature == nil {
			return m.XML, false, nil
		}
		if err := verifyDetached(m, certs); err != nil {
			return nil, false, err
		}
		return m.XML, true, nil
	case BindingPOST:
		if sigs == 0 {
			return m.XML, false, nil
		}
		if sigs != 1 || root.SelectElement("Signature") == nil || root.SelectElement("Signature").NamespaceURI() != NSDSig {
			return nil, false, fmt.Errorf("%w: the one signature must be a direct child of the message's root element", ErrInvalidRequest)
		}
		validated, err := verifyEnveloped(root, certs, now)
		if err != nil {
			return nil, false, err
		}
		b, err := elementXML(validated)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
		}
		return b, true, nil
	}
	return nil, false, fmt.Errorf("%w: unknown binding", ErrInvalidRequest)
}

// verifyEnveloped checks an enveloped signature over root (exclusive
// canonicalisation, RSA or ECDSA with SHA-256 or better, as goxmldsig
// allows) by one of certs and returns the element the signature covers.
func verifyEnveloped(root *etree.Element, certs [][]byte, now time.Time) (*etree.Element, error) {
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: the message is signed but the service provider registered no signing certificate", ErrInvalidRequest)
	}
	var roots []*x509.Certificate
	for _, der := range certs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: registered certificate: %v", ErrInvalidRequest, err)
		}
		roots = append(roots, c)
	}
	validated, err := validateEnveloped(root, roots, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	return validated, nil
}

// validateEnveloped checks an enveloped signature over root by the key of
// one of roots, at time at, and returns the element the signature covers:
// root as goxmldsig reconstructs it from the signed octets, the only
// element that may be read.
func validateEnveloped(root *etree.Element, roots []*x509.Certificate, at time.Time) (*etree.Element, error) {
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: roots})
	ctx.IdAttribute = "ID"
	ctx.Clock = dsig.NewFakeClockAt(at)
	validated, err := ctx.Validate(root)
	if err != nil {
		return nil, fmt.Errorf("signature: %v", err)
	}
	if id := root.SelectAttrValue("ID", ""); id == "" || validated.SelectAttrValue("ID", "") != id {
		return nil, fmt.Errorf("the signature does not cover the %s", root.Tag)
	}
	return validated, nil
}

// elementXML writes el as a document of its own.
func elementXML(el *etree.Element) ([]byte, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	return doc.WriteToBytes()
}

// verifyDetached checks the HTTP-Redirect binding's signature over the
// query octets by one of certs.
func verifyDetached(m *Message, certs [][]byte) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w: the message is signed but the service provider registered no signing certificate", ErrInvalidRequest)
	}
	var hash crypto.Hash
	switch m.SigAlg {
	case AlgRSASHA256, AlgECDSASHA256:
		hash = crypto.SHA256
	default:
		return fmt.Errorf("%w: SigAlg %q is not accepted (rsa-sha256 or ecdsa-sha256)", ErrInvalidRequest, m.SigAlg)
	}
	sum := sha256.Sum256(m.signed)
	for _, der := range certs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			continue
		}
		switch k := c.PublicKey.(type) {
		case *rsa.PublicKey:
			if m.SigAlg == AlgRSASHA256 && rsa.VerifyPKCS1v15(k, hash, sum[:], m.Signature) == nil {
				return nil
			}
		case *ecdsa.PublicKey:
			if m.SigAlg == AlgECDSASHA256 && ecdsa.VerifyASN1(k, sum[:], m.Signature) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: the signature does not verify with the service provider's certificates", ErrInvalidRequest)
}

// checkID accepts an xs:ID (an NCName) of bounded length.
func checkID(id string) error {
	if id == "" {
		return errors.New("missing")
	}
	if len(id) > maxIDLength {
		return fmt.Errorf("longer than %d characters", maxIDLength)
	}
	for i, r := range id {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("%q is not an xs:ID", id)
		}
	}
	return nil
}

// parseInstant reads an xs:dateTime in UTC ("Z"), as SAML requires.
func parseInstant(s string) (time.Time, error) {
	if !strings.HasSuffix(s, "Z") {
		return time.Time{}, fmt.Errorf("%q is not in UTC", s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an xs:dateTime", s)
	}
	return t, nil
}
