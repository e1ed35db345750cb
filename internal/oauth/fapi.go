package oauth

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// The FAPI 2.0 Security Profile (OpenID FAPI 2.0 Security Profile, final,
// 2025): the rules about a client's registration that the admin API,
// dynamic registration and the server (for clients registered before the
// server-wide mode was turned on) share. The rules about requests are the
// server's (internal/server/fapi.go).

// FAPI2MaxCodeLifetime is the longest lifetime of an authorization code
// the profile allows (§5.3.2.1: "shall issue authorization codes with a
// maximum lifetime of 60 seconds").
const FAPI2MaxCodeLifetime = 60

// FAPI2MaxRequestURILifetime is the longest lifetime, in seconds, of a
// request_uri from the pushed authorization request endpoint the profile
// allows (§5.3.2.2: expires_in of less than 600 seconds).
const FAPI2MaxRequestURILifetime = 600

// ErrFAPI2 is wrapped by every refusal of CheckFAPI2Client.
var ErrFAPI2 = errors.New("does not conform to the FAPI 2.0 Security Profile")

// FAPI2Algorithms are the only JWS algorithms the profile allows (§5.4.1:
// PS256, ES256 or EdDSA with Ed25519), for every signature the server
// makes or accepts: ID tokens, UserInfo responses, request objects,
// client assertions and DPoP proofs.
func FAPI2Algorithms() []jose.Algorithm {
	return []jose.Algorithm{jose.PS256, jose.ES256, jose.EdDSA}
}

// FAPI2Algorithm reports whether alg is one of FAPI2Algorithms.
func FAPI2Algorithm(alg string) bool {
	return slices.Contains(FAPI2Algorithms(), jose.Algorithm(alg))
}

// FAPI2AlgorithmNames returns the names of FAPI2Algorithms, for messages
// and discovery.
func FAPI2AlgorithmNames() []string {
	out := make([]string, 0, 3)
	for _, a := range FAPI2Algorithms() {
		out = append(out, string(a))
	}
	return out
}

// FAPI2AuthMethods are the only client authentication methods the
// profile allows (§5.3.2.1: mutual TLS, RFC 8705, or private_key_jwt).
func FAPI2AuthMethods() []string {
	return []string{AuthPrivateKeyJWT, MethodTLSClientAuth, MethodSelfSignedTLSClientAuth}
}

// FAPI2AuthMethod reports whether method is one of FAPI2AuthMethods.
func FAPI2AuthMethod(method string) bool { return slices.Contains(FAPI2AuthMethods(), method) }

// CheckFAPI2Client reports, wrapping ErrFAPI2, the first part of c's
// registration that contradicts the profile: a client authentication
// method other than private_key_jwt or mutual TLS (public clients
// included); a response type other than code (no implicit or hybrid
// flow); an ID token or UserInfo signature algorithm other than PS256,
// ES256 or EdDSA (an empty id_token_signed_response_alg means RS256, the
// OpenID Connect default, and is refused too); a redirect URI that is not
// https, except http on a loopback IP literal (§5.3.2.2, the native
// client's loopback redirection).
func CheckFAPI2Client(c *store.Client) error {
	for _, check := range []func(*store.Client) error{
		fapiAuthMethod, fapiResponseTypes, fapiIDTokenAlg, fapiUserinfoAlg, fapiRedirectURIs,
	} {
		if err := check(c); err != nil {
			return err
		}
	}
	return nil
}

func fapiRefusal(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFAPI2, fmt.Sprintf(format, args...))
}

// fapiAuthMethod: private_key_jwt, tls_client_auth or
// self_signed_tls_client_auth only.
func fapiAuthMethod(c *store.Client) error {
	if !FAPI2AuthMethod(c.TokenEndpointAuthMethod) {
		return fapiRefusal("token_endpoint_auth_method must be one of %s, not %q", strings.Join(FAPI2AuthMethods(), ", "), clip(c.TokenEndpointAuthMethod, 64))
	}
	return nil
}

// fapiResponseTypes: code only.
func fapiResponseTypes(c *store.Client) error {
	for _, rt := range c.ResponseTypes {
		if rt != "code" {
			return fapiRefusal("response_types may only be code, not %q", clip(rt, 64))
		}
	}
	return nil
}

// fapiIDTokenAlg: PS256, ES256 or EdDSA.
func fapiIDTokenAlg(c *store.Client) error {
	if !FAPI2Algorithm(c.IDTokenSignedResponseAlg) {
		alg := c.IDTokenSignedResponseAlg
		if alg == "" {
			alg = "RS256"
		}
		return fapiRefusal("id_token_signed_response_alg must be one of %s, not %q", strings.Join(FAPI2AlgorithmNames(), ", "), clip(alg, 16))
	}
	return nil
}

// fapiUserinfoAlg: unsigned UserInfo, or PS256, ES256 or EdDSA.
func fapiUserinfoAlg(c *store.Client) error {
	if a := c.UserinfoSignedResponseAlg; a != "" && !FAPI2Algorithm(a) {
		return fapiRefusal("userinfo_signed_response_alg must be one of %s, not %q", strings.Join(FAPI2AlgorithmNames(), ", "), clip(a, 16))
	}
	return nil
}

// fapiRedirectURIs: https, or http on a loopback IP literal.
func fapiRedirectURIs(c *store.Client) error {
	for i, r := range c.RedirectURIs {
		u, err := url.Parse(r)
		if err != nil {
			return fapiRefusal("redirect_uris[%d] is not a URL", i)
		}
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"):
		default:
			return fapiRefusal("redirect_uris[%d] must use https (or http on a loopback IP literal, 127.0.0.1 or [::1])", i)
		}
	}
	return nil
}
