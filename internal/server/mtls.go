package server

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/writ-dev/writ/internal/oauth"
)

// MTLSOptions configure mutual-TLS client authentication and
// certificate-bound tokens (RFC 8705). The certificate of a request comes
// from its TLS connection (a listener that requests client certificates,
// see MTLSTLSConfig), or, when Header is set and the request comes from
// one of TrustedProxies, from the header a TLS-terminating proxy sets.
type MTLSOptions struct {
	// ClientCAs are the CAs a tls_client_auth client's certificate must
	// chain to; nil refuses tls_client_auth (self_signed_tls_client_auth
	// needs none).
	ClientCAs *x509.CertPool
	// BaseURL is where clients connect with their certificates (RFC 8705
	// §5): discovery lists mtls_endpoint_aliases under it. Empty lists
	// none (the endpoints themselves take certificates).
	BaseURL string
	// Header names the request header in which a TLS-terminating proxy
	// forwards the client certificate (ParseCertHeader lists the forms);
	// empty trusts no header.
	Header string
	// TrustedProxies are the source addresses whose Header is believed;
	// the header of any other source is ignored. Required with Header.
	TrustedProxies []netip.Prefix
}

// maxCertHeader bounds the client certificate header: a leaf and a few
// intermediates, URL-encoded.
const maxCertHeader = 16 << 10

// maxChain bounds the certificates taken from a header.
const maxChain = 8

// mtlsAliasPaths are the endpoints listed in mtls_endpoint_aliases: those
// that authenticate clients or take certificate-bound tokens.
var mtlsAliasPaths = map[string]string{
	"token_endpoint":                        PathToken,
	"introspection_endpoint":                PathIntrospect,
	"revocation_endpoint":                   PathRevoke,
	"userinfo_endpoint":                     PathUserInfo,
	"pushed_authorization_request_endpoint": PathPAR,
	"device_authorization_endpoint":         PathDeviceAuthorization,
}

// checkMTLSOptions validates o.
func checkMTLSOptions(o *MTLSOptions) error {
	if o.Header != "" && len(o.TrustedProxies) == 0 {
		return errors.New("server: mTLS: a client certificate header needs trusted proxies")
	}
	if o.Header != "" && http.CanonicalHeaderKey(o.Header) == "" {
		return errors.New("server: mTLS: the client certificate header name is empty")
	}
	if o.BaseURL != "" {
		u, err := url.Parse(o.BaseURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return errors.New("server: mTLS: the base URL must be an https URL without query or fragment")
		}
	}
	return nil
}

// withClientCert puts the request's client certificate, if any, into its
// context (oauth.WithClientCertificate): the TLS connection's, else the
// trusted proxy header's. A malformed header from a trusted proxy is
// invalid_request; the header of an untrusted source is ignored.
func (s *Server) withClientCert(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cert, err := s.clientCert(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if cert != nil {
			r = r.WithContext(oauth.WithClientCertificate(r.Context(), cert))
		}
		next.ServeHTTP(w, r)
	})
}

// clientCert finds the request's client certificate.
func (s *Server) clientCert(r *http.Request) (*oauth.ClientCertificate, error) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return oauth.NewClientCertificate(r.TLS.PeerCertificates), nil
	}
	o := s.opts.MTLS
	if o == nil || o.Header == "" {
		return nil, nil
	}
	vals := r.Header.Values(o.Header)
	if len(vals) == 0 || !s.trustedProxy(r.RemoteAddr) {
		return nil, nil
	}
	if len(vals) > 1 {
		return nil, oauth.InvalidRequest("the client certificate header appears more than once")
	}
	chain, err := ParseCertHeader(vals[0])
	if err != nil {
		e := oauth.InvalidRequest("the client certificate header is malformed")
		e.Cause = err
		return nil, e
	}
	return oauth.NewClientCertificate(chain), nil
}

// trustedProxy reports whether remoteAddr (host:port) is a trusted proxy.
func (s *Server) trustedProxy(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.opts.MTLS.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// certThumbprint is the x5t#S256 of the request's client certificate, ""
// without one.
func certThumbprint(r *http.Request) string {
	if c := oauth.ClientCertificateFrom(r.Context()); c != nil {
		return c.Thumbprint
	}
	return ""
}

// ErrCertHeader is the error of a client certificate header that does not
// hold a certificate.
var ErrCertHeader = errors.New("malformed client certificate header")

// ParseCertHeader parses a client certificate forwarded by a
// TLS-terminating proxy, leaf first, in the common forms:
//
//   - URL-encoded PEM, one or more certificates (nginx
//     $ssl_client_escaped_cert, Traefik, HAProxy with url-encoding);
//   - PEM whose line breaks became spaces or tabs (nginx $ssl_client_cert,
//     AWS ALB);
//   - Envoy's x-forwarded-client-cert: the Cert (and Chain) element of the
//     last, nearest, element (URL-encoded PEM, quoted or not);
//   - RFC 9440 Client-Cert: the DER form as a structured-field byte
//     sequence (:base64:);
//   - bare base64 of the DER form.
//
// The value is bounded (16 KiB) and at most 8 certificates are taken.
// Errors wrap ErrCertHeader.
func ParseCertHeader(v string) ([]*x509.Certificate, error) {
	if len(v) > maxCertHeader {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrCertHeader, maxCertHeader)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, fmt.Errorf("%w: empty", ErrCertHeader)
	}
	if xfcc, ok := xfccCert(v); ok {
		v = xfcc
	}
	switch {
	case len(v) > 2 && v[0] == ':' && v[len(v)-1] == ':':
		der, err := base64.StdEncoding.DecodeString(v[1 : len(v)-1])
		if err != nil {
			return nil, fmt.Errorf("%w: the byte sequence is not base64", ErrCertHeader)
		}
		return parseDERs([][]byte{der})
	case strings.Contains(v, "%"):
		u, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("%w: bad URL encoding", ErrCertHeader)
		}
		// A query-style encoding turns the spaces of the PEM markers
		// into '+' (the body's own '+' are %2B).
		v = strings.NewReplacer("-----BEGIN+CERTIFICATE-----", "-----BEGIN CERTIFICATE-----",
			"-----END+CERTIFICATE-----", "-----END CERTIFICATE-----").Replace(u)
	}
	if strings.Contains(v, "-----BEGIN") {
		return parsePEMs(v)
	}
	der, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%w: neither PEM nor base64", ErrCertHeader)
	}
	return parseDERs([][]byte{der})
}

// xfccCert returns the URL-encoded Cert (and Chain) of the last element of
// an Envoy x-forwarded-client-cert value, ok false when v is not one.
func xfccCert(v string) (string, bool) {
	if strings.HasPrefix(v, "-----") || strings.HasPrefix(v, "%2D") || strings.HasPrefix(v, ":") {
		return "", false
	}
	elems := splitQuoted(v, ',')
	last := elems[len(elems)-1]
	var cert, chain string
	found := false
	for _, pair := range splitQuoted(last, ';') {
		k, val, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "cert":
			cert, found = val, true
		case "chain":
			chain = val
		case "by", "hash", "subject", "uri", "dns":
		}
	}
	if !found {
		return "", false
	}
	if chain != "" {
		// Chain holds the leaf too; the PEM parse keeps the first copy.
		return chain, true
	}
	return cert, true
}

// splitQuoted splits s at sep outside double quotes.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// parsePEMs reads the CERTIFICATE blocks of s, repairing line breaks a
// proxy turned into spaces or tabs.
func parsePEMs(s string) ([]*x509.Certificate, error) {
	const begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
	var ders [][]byte
	for len(ders) < maxChain {
		i := strings.Index(s, begin)
		if i < 0 {
			break
		}
		rest := s[i+len(begin):]
		j := strings.Index(rest, end)
		if j < 0 {
			return nil, fmt.Errorf("%w: a PEM block without its end", ErrCertHeader)
		}
		body := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, rest[:j])
		der, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			// A body that is really PEM (e.g. with headers) goes through
			// encoding/pem.
			b, _ := pem.Decode([]byte(s[i : i+len(begin)+j+len(end)]))
			if b == nil {
				return nil, fmt.Errorf("%w: a PEM body is not base64", ErrCertHeader)
			}
			der = b.Bytes
		}
		ders = append(ders, der)
		s = rest[j+len(end):]
	}
	if len(ders) == 0 {
		return nil, fmt.Errorf("%w: no CERTIFICATE block", ErrCertHeader)
	}
	return parseDERs(ders)
}

// parseDERs parses certificates, keeping each once.
func parseDERs(ders [][]byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCertHeader, err)
		}
		dup := false
		for _, o := range out {
			if o.Equal(c) {
				dup = true
			}
		}
		if !dup {
			out = append(out, c)
		}
	}
	return out, nil
}

// mtlsOn reports whether mutual-TLS client authentication is configured.
func (s *Server) mtlsOn() bool { return s.opts.MTLS != nil }

// mtlsAliases returns mtls_endpoint_aliases (RFC 8705 §5) for the
// endpoints this server serves, nil without a base URL.
func (s *Server) mtlsAliases() map[string]string {
	if !s.mtlsOn() || s.opts.MTLS.BaseURL == "" {
		return nil
	}
	base := strings.TrimSuffix(s.opts.MTLS.BaseURL, "/")
	out := map[string]string{}
	for name, path := range mtlsAliasPaths {
		if s.signin == nil && (path == PathUserInfo || path == PathPAR || path == PathDeviceAuthorization) {
			continue
		}
		out[name] = base + path
	}
	return out
}

// endpointURL is the URL of the endpoint at path as the client addressed
// it: under the mTLS base URL when the request came in by its host (the
// mtls_endpoint_aliases, RFC 8705 §5), else under the issuer. A DPoP
// proof names the URL the client sent the request to.
func (s *Server) endpointURL(r *http.Request, path string) string {
	if s.mtlsOn() && s.opts.MTLS.BaseURL != "" {
		if u, err := url.Parse(s.opts.MTLS.BaseURL); err == nil && strings.EqualFold(u.Host, r.Host) {
			return strings.TrimSuffix(s.opts.MTLS.BaseURL, "/") + path
		}
	}
	return s.opts.Issuer + path
}
