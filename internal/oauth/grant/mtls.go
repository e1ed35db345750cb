package grant

import (
	"encoding/json"
	"fmt"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
)

// CnfX5T is the confirmation method of a certificate-bound token (RFC
// 8705 §3.1): the member of cnf holding the certificate's x5t#S256.
const CnfX5T = "x5t#S256"

// RequireCertificate refuses a token request without a TLS client
// certificate from a client registered with
// tls_client_certificate_bound_access_tokens (RFC 8705 §3.4): it is only
// issued certificate-bound tokens. The server calls it for every grant,
// after client authentication.
func RequireCertificate(req *Request) error {
	if req.Client.Client.TLSClientCertificateBoundAccessTokens && req.CertThumbprint == "" {
		return oauth.InvalidRequest("this client is only issued certificate-bound tokens: connect with its TLS client certificate (the mtls_endpoint_aliases of discovery)")
	}
	return nil
}

// certBinding is the certificate thumbprint what a grant issues to req's
// client is bound to (cnf.x5t#S256): the request's certificate when the
// client registered tls_client_certificate_bound_access_tokens (RFC 8705
// §3), else none.
func certBinding(req *Request) string {
	if req.Client.Client.TLSClientCertificateBoundAccessTokens {
		return req.CertThumbprint
	}
	return ""
}

// refreshCertBinding is the certificate a new refresh token family of c
// is bound to: a public client's certificate-bound tokens' (RFC 8705 §4:
// a public client has no other authentication to bind them to), none for
// a confidential client, whose refresh tokens are bound to its
// authentication and may outlive a certificate rotation.
func refreshCertBinding(c *store.Client, x5t string) string {
	if c.TokenEndpointAuthMethod == oauth.AuthNone {
		return x5t
	}
	return ""
}

// checkRefreshCert refuses to use a refresh token family bound to a
// certificate (familyX5T) without that certificate (RFC 8705 §4).
func checkRefreshCert(familyX5T string, req *Request) error {
	switch {
	case familyX5T == "":
		return nil
	case req.CertThumbprint == "":
		return oauth.InvalidGrant("the refresh token is bound to a TLS client certificate: connect with it")
	case !oauth.ThumbprintsEqual(familyX5T, req.CertThumbprint):
		return oauth.InvalidGrant("the TLS client certificate is not the one the refresh token is bound to")
	}
	return nil
}

// familyX5T reads the certificate binding of a refresh token family from
// its Extra (a cnf member {"x5t#S256": ...}), "" when it has none.
func familyX5T(extra json.RawMessage) (string, error) {
	if len(extra) == 0 {
		return "", nil
	}
	members, err := strictjson.ParseObject(string(extra), 0, nil)
	if err != nil {
		return "", fmt.Errorf("refresh token family claims: %w", err)
	}
	for _, m := range members {
		if m.Name != "cnf" {
			continue
		}
		cnf, err := strictjson.ParseObject(m.Value, 0, nil)
		if err != nil {
			return "", fmt.Errorf("refresh token family cnf: %w", err)
		}
		for _, c := range cnf {
			if c.Name == CnfX5T {
				return strictjson.String(c.Value)
			}
		}
	}
	return "", nil
}

// withFamilyX5T returns a refresh token family's Extra with its
// certificate binding set to x5t (cnf, removed when x5t is empty). The
// cnf member records the binding: issue never copies it into an access
// token, whose cnf it builds itself.
func withFamilyX5T(extra json.RawMessage, x5t string) (json.RawMessage, error) {
	if x5t == "" && len(extra) == 0 {
		return extra, nil
	}
	m := map[string]json.RawMessage{}
	if len(extra) > 0 {
		members, err := strictjson.ParseObject(string(extra), 0, nil)
		if err != nil {
			return nil, fmt.Errorf("refresh token family claims: %w", err)
		}
		for _, mm := range members {
			m[mm.Name] = json.RawMessage(mm.Value)
		}
	}
	delete(m, "cnf")
	if x5t != "" {
		cnf, err := json.Marshal(map[string]string{CnfX5T: x5t})
		if err != nil {
			return nil, err
		}
		m["cnf"] = cnf
	}
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

// FamilyX5T returns the certificate a refresh token family is bound to
// (the x5t#S256 recorded in its Extra), "" when none; introspection
// reports it as cnf.
func FamilyX5T(extra json.RawMessage) (string, error) { return familyX5T(extra) }
