package oauth

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/store"
)

// ClientCertificate is the TLS client certificate a request came with
// (RFC 8705): from the TLS connection, or from the header of a trusted
// TLS-terminating proxy. Nothing about it is verified: client
// authentication checks it against the client's registration.
type ClientCertificate struct {
	// Leaf is the client's certificate.
	Leaf *x509.Certificate
	// Intermediates are the further certificates the client sent, used
	// only to build a chain to the configured client CAs.
	Intermediates []*x509.Certificate
	// Thumbprint is the base64url (unpadded) SHA-256 of Leaf's DER form:
	// the x5t#S256 confirmation of RFC 8705 §3.1.
	Thumbprint string
}

// NewClientCertificate returns the ClientCertificate of a presented chain,
// leaf first; nil when chain is empty.
func NewClientCertificate(chain []*x509.Certificate) *ClientCertificate {
	if len(chain) == 0 || chain[0] == nil {
		return nil
	}
	return &ClientCertificate{Leaf: chain[0], Intermediates: slices.Clone(chain[1:]), Thumbprint: CertThumbprint(chain[0].Raw)}
}

// CertThumbprint is the x5t#S256 of a certificate: the base64url
// (unpadded) SHA-256 of its DER form (RFC 8705 §3.1).
func CertThumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ThumbprintsEqual compares two x5t#S256 values in constant time; two
// empty values are not equal.
func ThumbprintsEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// clientCertKey is the context key of the request's client certificate.
type clientCertKey struct{}

// WithClientCertificate returns ctx carrying the request's client
// certificate; the server sets it before client authentication.
func WithClientCertificate(ctx context.Context, c *ClientCertificate) context.Context {
	return context.WithValue(ctx, clientCertKey{}, c)
}

// ClientCertificateFrom returns the client certificate of ctx's request,
// nil when it came without one.
func ClientCertificateFrom(ctx context.Context) *ClientCertificate {
	c, _ := ctx.Value(clientCertKey{}).(*ClientCertificate)
	return c
}

// mtls authenticates a client registered for one of the mutual-TLS
// methods with the certificate of its request (RFC 8705 §2).
func (a *Authenticator) mtls(ctx context.Context, r *http.Request, c *store.Client) (*Authenticated, error) {
	cert := ClientCertificateFrom(r.Context())
	if cert == nil {
		return nil, InvalidClient("the client authenticates with %s: connect with its TLS client certificate", c.TokenEndpointAuthMethod)
	}
	switch c.TokenEndpointAuthMethod {
	case MethodTLSClientAuth:
		if err := a.checkPKICert(c, cert); err != nil {
			return nil, err
		}
	case MethodSelfSignedTLSClientAuth:
		if err := a.checkSelfSignedCert(ctx, c, cert); err != nil {
			return nil, err
		}
	default:
		return nil, InvalidClient(errAuthFailed)
	}
	return &Authenticated{Client: *c, Method: c.TokenEndpointAuthMethod}, nil
}

// checkPKICert is tls_client_auth (RFC 8705 §2.1): the certificate chains
// to a configured client CA, is valid now, allows client authentication,
// and carries the client's registered subject DN or SAN.
func (a *Authenticator) checkPKICert(c *store.Client, cert *ClientCertificate) error {
	if a.ClientCAs == nil {
		return InvalidClient("tls_client_auth is not available: the server has no client CA")
	}
	inter := x509.NewCertPool()
	for _, ic := range cert.Intermediates {
		inter.AddCert(ic)
	}
	_, err := cert.Leaf.Verify(x509.VerifyOptions{
		Roots: a.ClientCAs, Intermediates: inter, CurrentTime: a.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		e := InvalidClient("the client certificate is not valid: it must chain to a trusted client CA, be current and allow client authentication")
		e.Cause = err
		return e
	}
	if c.TLSClientAuth == nil || !MatchTLSClientAuth(c.TLSClientAuth, cert.Leaf) {
		return InvalidClient("the client certificate does not carry the client's registered subject DN or subject alternative name")
	}
	return nil
}

// checkSelfSignedCert is self_signed_tls_client_auth (RFC 8705 §2.2): the
// certificate's public key is a key of the client's registered JWKS (its
// jwks or jwks_uri). An x5c member names the same key, so comparing
// public keys covers both ways of registering the certificate. No chain,
// validity period or name is checked: the registration is the trust.
func (a *Authenticator) checkSelfSignedCert(ctx context.Context, c *store.Client, cert *ClientCertificate) error {
	if a.Keys == nil {
		return InvalidClient(errAuthFailed)
	}
	ks, err := a.Keys.ClientKeys(ctx, c, nil)
	if err != nil {
		e := InvalidClient("the client's registered keys are not available")
		e.Cause = err
		return e
	}
	// The certificate must be signed by its own key: through a proxy's
	// header nothing else shows that its holder has the private key, and
	// a certificate carrying the public key of the client's (public) JWKS
	// is otherwise forged with any key.
	if err := cert.Leaf.CheckSignature(cert.Leaf.SignatureAlgorithm, cert.Leaf.RawTBSCertificate, cert.Leaf.Signature); err != nil {
		e := InvalidClient("the client certificate is not self-signed by its key")
		e.Cause = err
		return e
	}
	pub, ok := cert.Leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if ok {
		for _, k := range ks.Keys() {
			if !k.IsSymmetric() && pub.Equal(k.PublicKey()) {
				return nil
			}
		}
	}
	return InvalidClient("the client certificate's key is not one of the client's registered keys")
}

// MatchTLSClientAuth reports whether cert carries the identity a
// tls_client_auth client registered (RFC 8705 §2.1.2): the subject DN
// (compared as distinguished names, RFC 4514, with attribute values
// compared case-insensitively and with white space collapsed), or one SAN
// entry of the registered kind (DNS names case-insensitively, IP addresses
// as addresses, URIs exactly, email addresses with the domain
// case-insensitive). Exactly one identity is expected; when several are
// set, every one must match.
func MatchTLSClientAuth(id *store.TLSClientAuth, cert *x509.Certificate) bool {
	if id == nil || cert == nil {
		return false
	}
	n := 0
	if id.SubjectDN != "" {
		n++
		want, err := ParseDN(id.SubjectDN)
		if err != nil {
			return false
		}
		got, err := certSubject(cert)
		if err != nil || !dnEqual(want, got) {
			return false
		}
	}
	if id.SANDNS != "" {
		n++
		if !slices.ContainsFunc(cert.DNSNames, func(d string) bool {
			return strings.EqualFold(strings.TrimSuffix(d, "."), strings.TrimSuffix(id.SANDNS, "."))
		}) {
			return false
		}
	}
	if id.SANURI != "" {
		n++
		if !slices.ContainsFunc(cert.URIs, func(u *url.URL) bool { return u.String() == id.SANURI }) {
			return false
		}
	}
	if id.SANIP != "" {
		n++
		want, err := netip.ParseAddr(id.SANIP)
		if err != nil {
			return false
		}
		if !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool {
			got, ok := netip.AddrFromSlice(ip)
			return ok && got.Unmap() == want.Unmap()
		}) {
			return false
		}
	}
	if id.SANEmail != "" {
		n++
		if !slices.ContainsFunc(cert.EmailAddresses, func(e string) bool { return emailEqual(e, id.SANEmail) }) {
			return false
		}
	}
	return n > 0
}

// emailEqual compares email addresses: the local part exactly, the domain
// case-insensitively.
func emailEqual(a, b string) bool {
	ai, bi := strings.LastIndexByte(a, '@'), strings.LastIndexByte(b, '@')
	if ai < 0 || bi < 0 {
		return false
	}
	return a[:ai] == b[:bi] && strings.EqualFold(a[ai+1:], b[bi+1:])
}

// DN is a parsed distinguished name: its RDNs in RFC 4514 string order
// (the most specific first), each a set of attributes sorted canonically.
type DN [][]DNAttribute

// DNAttribute is one attribute type and value of an RDN, in the canonical
// form DN comparison uses: the dotted OID of the type and the value
// lower-cased with white space trimmed and runs of it collapsed.
type DNAttribute struct {
	// Type is the attribute type's dotted OID.
	Type string
	// Value is the normalised value.
	Value string
}

// maxDNLen bounds a registered distinguished name.
const maxDNLen = 1024

// dnTypes maps the attribute type names of RFC 4514 §3 (and a few common
// others) to their OIDs.
var dnTypes = map[string]string{
	"cn": "2.5.4.3", "l": "2.5.4.7", "st": "2.5.4.8", "o": "2.5.4.10", "ou": "2.5.4.11", "c": "2.5.4.6",
	"street": "2.5.4.9", "dc": "0.9.2342.19200300.100.1.25", "uid": "0.9.2342.19200300.100.1.1",
	"serialnumber": "2.5.4.5", "sn": "2.5.4.4", "givenname": "2.5.4.42", "title": "2.5.4.12",
	"postalcode": "2.5.4.17", "organizationidentifier": "2.5.4.97",
	"emailaddress": "1.2.840.113549.1.9.1", "e": "1.2.840.113549.1.9.1",
}

// ErrDN is the error of a distinguished name that does not parse.
var ErrDN = errors.New("malformed distinguished name")

// ParseDN parses a distinguished name in RFC 4514 string form
// ("CN=client,O=Example,C=SE"): attribute types by name (CN, O, OU, C,
// L, ST, STREET, DC, UID, SERIALNUMBER, emailAddress, ...) or dotted OID,
// values with RFC 4514 escapes (\, \+ \\ and \XX) or #hex BER strings,
// '+' joining the attributes of a multi-valued RDN. White space around
// separators is ignored. Errors wrap ErrDN.
func ParseDN(s string) (DN, error) {
	if len(s) > maxDNLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrDN, maxDNLen)
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrDN)
	}
	var dn DN
	var rdn []DNAttribute
	i := 0
	for {
		// type
		for i < len(s) && s[i] == ' ' {
			i++
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, fmt.Errorf("%w: an attribute without '='", ErrDN)
		}
		typ, err := dnType(strings.TrimSpace(s[i : i+eq]))
		if err != nil {
			return nil, err
		}
		i += eq + 1
		val, n, err := dnValue(s[i:])
		if err != nil {
			return nil, err
		}
		i += n
		rdn = append(rdn, DNAttribute{Type: typ, Value: normalizeDNValue(val)})
		if i == len(s) {
			break
		}
		switch s[i] {
		case '+':
		case ',', ';':
			dn = append(dn, sortRDN(rdn))
			rdn = nil
		default:
			return nil, fmt.Errorf("%w: unexpected %q", ErrDN, s[i])
		}
		i++
	}
	dn = append(dn, sortRDN(rdn))
	return dn, nil
}

func sortRDN(rdn []DNAttribute) []DNAttribute {
	slices.SortFunc(rdn, func(a, b DNAttribute) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return rdn
}

// dnType resolves an attribute type name or OID.
func dnType(t string) (string, error) {
	if t == "" {
		return "", fmt.Errorf("%w: an empty attribute type", ErrDN)
	}
	if oid, ok := dnTypes[strings.ToLower(t)]; ok {
		return oid, nil
	}
	t = strings.TrimPrefix(strings.TrimPrefix(t, "OID."), "oid.")
	parts := strings.Split(t, ".")
	if len(parts) < 2 {
		return "", fmt.Errorf("%w: unknown attribute type %q", ErrDN, clip(t, 32))
	}
	for _, p := range parts {
		if p == "" || len(p) > 10 || strings.Trim(p, "0123456789") != "" || (len(p) > 1 && p[0] == '0') {
			return "", fmt.Errorf("%w: unknown attribute type %q", ErrDN, clip(t, 32))
		}
	}
	return t, nil
}

// dnValue reads one attribute value up to an unescaped separator and
// returns it unescaped with the number of bytes read.
func dnValue(s string) (string, int, error) {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i < len(s) && s[i] == '#' {
		j := i + 1
		for j < len(s) && s[j] != ',' && s[j] != '+' && s[j] != ';' {
			j++
		}
		v, err := berString(strings.TrimSpace(s[i+1 : j]))
		return v, j, err
	}
	var b []byte
	trail := 0 // unescaped trailing spaces in b
	for i < len(s) {
		ch := s[i]
		switch {
		case ch == ',' || ch == '+' || ch == ';':
			return string(b[:len(b)-trail]), i, validValue(b[:len(b)-trail])
		case ch == '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("%w: a trailing backslash", ErrDN)
			}
			nx := s[i+1]
			if strings.IndexByte(`,+"\<>;=# `, nx) >= 0 {
				b = append(b, nx)
				i += 2
			} else {
				if i+2 >= len(s) {
					return "", 0, fmt.Errorf("%w: a bad escape", ErrDN)
				}
				h, err := hex.DecodeString(s[i+1 : i+3])
				if err != nil {
					return "", 0, fmt.Errorf("%w: a bad escape", ErrDN)
				}
				b = append(b, h[0])
				i += 3
			}
			trail = 0
			continue
		case ch == '"' || ch == '<' || ch == '>' || ch == 0:
			return "", 0, fmt.Errorf("%w: %q must be escaped", ErrDN, ch)
		case ch == ' ':
			trail++
		default:
			trail = 0
		}
		b = append(b, ch)
		i++
	}
	return string(b[:len(b)-trail]), i, validValue(b[:len(b)-trail])
}

func validValue(b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: a value is not UTF-8", ErrDN)
	}
	return nil
}

// berString decodes a #hex attribute value: a BER string of one of the
// directory string types.
func berString(h string) (string, error) {
	der, err := hex.DecodeString(h)
	if err != nil || len(der) == 0 {
		return "", fmt.Errorf("%w: a #hex value is not hex", ErrDN)
	}
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil || len(rest) > 0 || raw.Class != asn1.ClassUniversal {
		return "", fmt.Errorf("%w: a #hex value is not a BER string", ErrDN)
	}
	switch raw.Tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String, asn1.TagT61String, asn1.TagNumericString:
		if !utf8.Valid(raw.Bytes) {
			return "", fmt.Errorf("%w: a #hex value is not UTF-8", ErrDN)
		}
		return string(raw.Bytes), nil
	}
	return "", fmt.Errorf("%w: a #hex value is not a string type writ compares", ErrDN)
}

// normalizeDNValue is the canonical form of a value for comparison:
// lower case, white space trimmed, runs of it collapsed to one space.
func normalizeDNValue(v string) string {
	return strings.ToLower(strings.Join(strings.Fields(v), " "))
}

// certSubject is cert's subject as a DN in RFC 4514 order.
func certSubject(cert *x509.Certificate) (DN, error) {
	var seq pkix.RDNSequence
	rest, err := asn1.Unmarshal(cert.RawSubject, &seq)
	if err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: the certificate's subject", ErrDN)
	}
	dn := make(DN, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		var rdn []DNAttribute
		for _, atv := range seq[i] {
			s, ok := atv.Value.(string)
			if !ok {
				return nil, fmt.Errorf("%w: the certificate's subject holds a value that is not a string", ErrDN)
			}
			rdn = append(rdn, DNAttribute{Type: atv.Type.String(), Value: normalizeDNValue(s)})
		}
		dn = append(dn, sortRDN(rdn))
	}
	return dn, nil
}

// dnEqual compares two normalised DNs.
func dnEqual(a, b DN) bool {
	return slices.EqualFunc(a, b, func(x, y []DNAttribute) bool { return slices.Equal(x, y) })
}
