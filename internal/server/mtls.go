package server

import (
	"crypto/x509"
	"errors"
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
	// HeaderHost, when set, is the host (as in the Host header) of the
	// mTLS base URL a proxy fronts: Header is believed only on requests
	// for it, since a proxy that also serves other host names could pass
	// a header a client sent there itself.
	HeaderHost string
}

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
	if len(vals) == 0 || !s.trustedProxy(r.RemoteAddr) || !s.mtlsHost(r) {
		return nil, nil
	}
	if len(vals) > 1 {
		return nil, oauth.InvalidRequest("the client certificate header appears more than once")
	}
	chain, err := oauth.ParseCertHeader(vals[0])
	if err != nil {
		e := oauth.InvalidRequest("the client certificate header is malformed")
		e.Cause = err
		return nil, e
	}
	return oauth.NewClientCertificate(chain), nil
}

// mtlsHost reports whether the certificate header may be believed for the
// request's host: any host without HeaderHost (the proxy must then clear
// the header everywhere else, docs/mtls.md), else HeaderHost only.
func (s *Server) mtlsHost(r *http.Request) bool {
	want := s.opts.MTLS.HeaderHost
	return want == "" || strings.EqualFold(strings.TrimSuffix(r.Host, "."), want)
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
