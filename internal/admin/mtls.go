package admin

import (
	"encoding/json"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// The client metadata of mutual-TLS client authentication (RFC 8705
// §2.1.2) and certificate-bound tokens (§3.4).
const (
	fieldTLSSubjectDN = "tls_client_auth_subject_dn"
	fieldTLSSANDNS    = "tls_client_auth_san_dns"
	fieldTLSSANURI    = "tls_client_auth_san_uri"
	fieldTLSSANIP     = "tls_client_auth_san_ip"
	fieldTLSSANEmail  = "tls_client_auth_san_email"
	fieldCertBound    = "tls_client_certificate_bound_access_tokens"
)

// mtlsFieldNames are the mutual-TLS members of client metadata.
func mtlsFieldNames() []string {
	return append(slices.Clone(tlsIdentityFields), fieldCertBound)
}

// tlsIdentityFields are the members that name a tls_client_auth
// client's certificate, one of which it registers.
var tlsIdentityFields = []string{fieldTLSSubjectDN, fieldTLSSANDNS, fieldTLSSANURI, fieldTLSSANIP, fieldTLSSANEmail}

// maxTLSIdentity bounds a registered certificate identity.
const maxTLSIdentity = 1024

// applyMTLSField sets one mutual-TLS member on c; ok is false for any
// other member. null clears it.
func applyMTLSField(c *store.Client, name string, raw json.RawMessage) (ok bool, err error) {
	if name == fieldCertBound {
		c.TLSClientCertificateBoundAccessTokens, err = decodeBool(badMetadata, name, raw)
		return true, err
	}
	var p func(a *store.TLSClientAuth) *string
	switch name {
	case fieldTLSSubjectDN:
		p = func(a *store.TLSClientAuth) *string { return &a.SubjectDN }
	case fieldTLSSANDNS:
		p = func(a *store.TLSClientAuth) *string { return &a.SANDNS }
	case fieldTLSSANURI:
		p = func(a *store.TLSClientAuth) *string { return &a.SANURI }
	case fieldTLSSANIP:
		p = func(a *store.TLSClientAuth) *string { return &a.SANIP }
	case fieldTLSSANEmail:
		p = func(a *store.TLSClientAuth) *string { return &a.SANEmail }
	default:
		return false, nil
	}
	v := ""
	if !isNull(raw) {
		if v, err = decodeString(name, raw, maxTLSIdentity); err != nil {
			return true, err
		}
	}
	if c.TLSClientAuth == nil {
		c.TLSClientAuth = &store.TLSClientAuth{}
	} else {
		cp := *c.TLSClientAuth
		c.TLSClientAuth = &cp
	}
	*p(c.TLSClientAuth) = v
	if *c.TLSClientAuth == (store.TLSClientAuth{}) {
		c.TLSClientAuth = nil
	}
	return true, nil
}

// validateMTLS judges the mutual-TLS metadata of a registration: a
// tls_client_auth client names exactly one certificate identity (RFC 8705
// §2.1.2), well formed; no other client names one; a
// self_signed_tls_client_auth client registers its keys (§2.2.2).
func validateMTLS(c *store.Client) error {
	a := c.TLSClientAuth
	if a != nil && *a == (store.TLSClientAuth{}) {
		c.TLSClientAuth, a = nil, nil
	}
	switch c.TokenEndpointAuthMethod {
	case oauth.MethodTLSClientAuth:
		if a == nil || a.Count() != 1 {
			return badMetadata("token_endpoint_auth_method tls_client_auth needs exactly one of %s (RFC 8705 §2.1.2)", strings.Join(tlsIdentityFields, ", "))
		}
		return checkTLSIdentity(a)
	case oauth.MethodSelfSignedTLSClientAuth:
		if c.JWKS == nil && c.JWKSURI == "" {
			return badMetadata("self_signed_tls_client_auth needs the client's certificate or public key: set jwks or jwks_uri (RFC 8705 §2.2.2)")
		}
	}
	if a != nil {
		return badMetadata("%s are for token_endpoint_auth_method tls_client_auth only", strings.Join(tlsIdentityFields, ", "))
	}
	return nil
}

// tlsIdentities are a's values, in the order of tlsIdentityFields.
func tlsIdentities(a *store.TLSClientAuth) []string {
	return []string{a.SubjectDN, a.SANDNS, a.SANURI, a.SANIP, a.SANEmail}
}

// checkTLSIdentity checks the form of the one registered identity.
func checkTLSIdentity(a *store.TLSClientAuth) error {
	switch {
	case a.SubjectDN != "":
		if _, err := oauth.ParseDN(a.SubjectDN); err != nil {
			return badMetadata("%s is not a distinguished name in RFC 4514 form (e.g. CN=client,O=Example,C=SE): %s", fieldTLSSubjectDN, strings.TrimPrefix(err.Error(), oauth.ErrDN.Error()+": "))
		}
	case a.SANDNS != "":
		if strings.ContainsAny(a.SANDNS, " /:@") || strings.Trim(a.SANDNS, ".") == "" {
			return badMetadata("%s must be a DNS name", fieldTLSSANDNS)
		}
	case a.SANURI != "":
		if u, err := url.Parse(a.SANURI); err != nil || !u.IsAbs() {
			return badMetadata("%s must be an absolute URI", fieldTLSSANURI)
		}
	case a.SANIP != "":
		if _, err := netip.ParseAddr(a.SANIP); err != nil {
			return badMetadata("%s must be an IPv4 or IPv6 address", fieldTLSSANIP)
		}
	case a.SANEmail != "":
		if i := strings.LastIndexByte(a.SANEmail, '@'); i <= 0 || i == len(a.SANEmail)-1 {
			return badMetadata("%s must be an email address", fieldTLSSANEmail)
		}
	}
	for _, v := range tlsIdentities(a) {
		if err := checkPrintable("tls_client_auth", v); err != nil {
			return err
		}
	}
	return nil
}
