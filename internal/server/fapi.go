package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/writ-dev/writ/internal/authz"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// The FAPI 2.0 Security Profile (final, 2025) at the endpoints: for a
// client registered with profile fapi2 (store.ProfileFAPI2), or for every
// client when Options.FAPI2 is set. Each rule is one small function,
// composed per endpoint in the order of the profile's clauses, as
// oidc-provider composes its checks; the rules about a registration are
// oauth.CheckFAPI2Client, shared with the admin API.
//
// Already writ's behaviour for every client, and so not repeated here:
// response_type code only, PKCE with S256 only, the iss parameter in every
// authorization response (RFC 9207), authorization codes that live 60
// seconds (codeTTL), request_uri values that live 60 seconds and are
// single use (RequestURITTL), request objects without alg none, exact
// redirect URI matching, the ROPC and implicit grants not served.

// fapi2 reports whether c is held to the FAPI 2.0 Security Profile.
func (s *Server) fapi2(c *store.Client) bool {
	return s.opts.FAPI2 || c.Profile == store.ProfileFAPI2
}

// fapiPushedRequest runs the profile's checks of a pushed authorization
// request before its parameters are validated: the client's registration
// and authentication, and the algorithm of a request object in form.
func (s *Server) fapiPushedRequest(form oauth.Form, client *oauth.Authenticated) error {
	for _, check := range []func() error{
		func() error { return fapiRegistration(&client.Client) },
		func() error { return fapiClientAuthMethod(client) },
		func() error { return s.fapiClientAssertion(form, client) },
		func() error { return fapiRequestObjectAlgorithm(form) },
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// fapiAuthorizationRequest runs the profile's checks of a validated
// pushed request: params are its parameters (after a request object).
func fapiAuthorizationRequest(params url.Values, req *authz.Request) error {
	for _, check := range []func() error{
		func() error { return fapiResponseType(params) },
		func() error { return fapiPKCE(req) },
		func() error { return fapiRedirectURI(req) },
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// fapiTokenRequest runs the profile's checks of a token request, after
// client authentication and before the grant.
func (s *Server) fapiTokenRequest(r *http.Request, req *grant.Request) error {
	for _, check := range []func() error{
		func() error { return fapiRegistration(&req.Client.Client) },
		func() error { return fapiClientAuthMethod(req.Client) },
		func() error { return s.fapiClientAssertion(req.Form, req.Client) },
		func() error { return fapiDPoPAlgorithm(r) },
		func() error { return fapiSenderConstrained(req) },
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// fapiRegistration refuses a client whose registration contradicts the
// profile (a client registered before the server-wide mode was turned on,
// or written to the store around the admin API): unauthorized_client.
func fapiRegistration(c *store.Client) error {
	if err := oauth.CheckFAPI2Client(c); err != nil {
		return oauth.UnauthorizedClient("this client's registration %s", err.Error())
	}
	return nil
}

// fapiClientAuthMethod: the client authenticated with private_key_jwt or
// mutual TLS (§5.3.2.1); anything else is invalid_client.
func fapiClientAuthMethod(a *oauth.Authenticated) error {
	if !oauth.FAPI2AuthMethod(a.Method) {
		return oauth.InvalidClient("FAPI 2.0 clients authenticate with %s", strings.Join(oauth.FAPI2AuthMethods(), ", "))
	}
	return nil
}

// fapiClientAssertion: a private_key_jwt assertion is signed with PS256,
// ES256 or EdDSA (§5.4.1), and its aud is the issuer identifier, as one
// string (§5.3.2.1: the authorization server "shall only accept its
// issuer identifier value ... as a string in the aud claim received in
// client authentication assertions"), not an endpoint URL nor an array.
// The authenticator has verified the assertion already; this only
// narrows what it accepted.
func (s *Server) fapiClientAssertion(form oauth.Form, a *oauth.Authenticated) error {
	if a.Method != oauth.AuthPrivateKeyJWT {
		return nil
	}
	jws, err := jose.ParseCompact(form.Get("client_assertion"), maxAssertion)
	if err != nil {
		return oauth.InvalidClient("client_assertion is not a valid JWS")
	}
	if !oauth.FAPI2Algorithm(string(jws.Header.Algorithm)) {
		return oauth.InvalidClient("FAPI 2.0 client assertions are signed with %s", strings.Join(oauth.FAPI2AlgorithmNames(), ", "))
	}
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	var aud string
	if json.Unmarshal([]byte(jws.Payload()), &claims) != nil || json.Unmarshal(claims.Aud, &aud) != nil || aud != s.opts.Issuer {
		return oauth.InvalidClient("FAPI 2.0 client assertions have the issuer identifier %s as their aud, as a single string", s.opts.Issuer)
	}
	return nil
}

// maxAssertion bounds a client assertion or request object read again by
// the profile's checks (the authenticator's bound).
const maxAssertion = 8 << 10

// fapiRequestObjectAlgorithm: a request object pushed with the request is
// signed with PS256, ES256 or EdDSA (§5.4.1): invalid_request_object.
func fapiRequestObjectAlgorithm(form oauth.Form) error {
	if !form.Has("request") {
		return nil
	}
	jws, err := jose.ParseCompact(form.Get("request"), 0)
	if err != nil {
		// Verify refuses it with its reason.
		return nil
	}
	if !oauth.FAPI2Algorithm(string(jws.Header.Algorithm)) {
		return &oauth.Error{Code: authz.CodeInvalidRequestObject, Status: http.StatusBadRequest,
			Description: fmt.Sprintf("FAPI 2.0 request objects are signed with %s", strings.Join(oauth.FAPI2AlgorithmNames(), ", "))}
	}
	return nil
}

// fapiResponseType: response_type code only (§5.3.2.1: no implicit or
// hybrid flow). authz.Parse allows nothing else either; the profile's
// rule is kept here so that it holds whatever Parse learns later.
func fapiResponseType(params url.Values) error {
	if params.Get("response_type") != "code" {
		return &oauth.Error{Code: oauth.CodeUnsupportedResponseType, Status: http.StatusBadRequest, Description: "FAPI 2.0 allows only response_type=code"}
	}
	return nil
}

// fapiPKCE: a code_challenge with method S256 (§5.3.2.2), required of
// confidential clients too.
func fapiPKCE(req *authz.Request) error {
	if req.CodeChallenge == "" || req.CodeChallengeMethod != "S256" {
		return oauth.InvalidRequest("FAPI 2.0 requires PKCE: send code_challenge with code_challenge_method=S256")
	}
	return nil
}

// fapiRedirectURI: the pushed request names its redirect_uri (§5.3.2.2),
// even when the client registered only one.
func fapiRedirectURI(req *authz.Request) error {
	if req.RedirectOmitted {
		return oauth.InvalidRequest("FAPI 2.0 requires redirect_uri in the pushed authorization request")
	}
	return nil
}

// fapiDPoPAlgorithm: a DPoP proof is signed with PS256, ES256 or EdDSA
// (§5.4.1). The proof was verified already (checkDPoP); this narrows the
// algorithms accepted for the client.
func fapiDPoPAlgorithm(r *http.Request) error {
	vals := r.Header.Values(dpop.Header)
	if len(vals) != 1 {
		return nil
	}
	jws, err := jose.ParseCompact(vals[0], 0)
	if err != nil {
		return nil
	}
	if !oauth.FAPI2Algorithm(string(jws.Header.Algorithm)) {
		return oauth.InvalidDPoPProof("FAPI 2.0 DPoP proofs are signed with %s", strings.Join(oauth.FAPI2AlgorithmNames(), ", "))
	}
	return nil
}

// fapiSenderConstrained: every access token is sender-constrained
// (§5.3.2.1), so every token request carries a DPoP proof (the grants
// then bind the tokens to its key, cnf.jkt) or comes over mutual TLS with
// a client certificate (cnf.x5t#S256). Neither is invalid_dpop_proof
// (RFC 9449 §5: the proof is what is missing), or invalid_request for a
// client registered for certificate-bound tokens.
func fapiSenderConstrained(req *grant.Request) error {
	// A certificate binds the tokens only for a client registered with
	// tls_client_certificate_bound_access_tokens (grant.certBinding);
	// for any other client only a DPoP proof constrains them.
	certBound := req.Client.Client.TLSClientCertificateBoundAccessTokens
	if req.DPoPKey != "" || (certBound && req.CertThumbprint != "") {
		return nil
	}
	if certBound {
		return oauth.InvalidRequest("FAPI 2.0 access tokens are sender-constrained: this client's are bound to its TLS client certificate, and none was presented")
	}
	return oauth.InvalidDPoPProof("FAPI 2.0 access tokens are sender-constrained: send a DPoP proof (RFC 9449), or a TLS client certificate (RFC 8705)")
}

// errFAPIKeys is the error of a server-wide FAPI mode whose key ring cannot
// sign as the profile requires.
var errFAPIKeys = errors.New("server: FAPI 2.0 needs access tokens signed with PS256, ES256 or EdDSA (key_algorithm)")

// checkFAPIServer checks at start-up that the server-wide mode can be
// honoured: access tokens (and introspection responses) are signed with
// the ring's primary algorithm, which must be one the profile allows.
func (s *Server) checkFAPIServer() error {
	if !s.opts.FAPI2 {
		return nil
	}
	if !oauth.FAPI2Algorithm(string(s.opts.Ring.Algorithm())) {
		return errFAPIKeys
	}
	return nil
}

// fapiMetadata narrows the discovery document of a server-wide FAPI mode
// to what the profile allows: private_key_jwt and mutual TLS at the token
// endpoint, PS256, ES256 and EdDSA for every signature, and pushed
// authorization requests required.
func fapiMetadata(m *Metadata) {
	m.TokenEndpointAuthMethodsSupported = slices.DeleteFunc(slices.Clone(m.TokenEndpointAuthMethodsSupported), func(a string) bool { return !oauth.FAPI2AuthMethod(a) })
	keep := func(algs []string) []string {
		if algs == nil {
			return nil
		}
		return slices.DeleteFunc(slices.Clone(algs), func(a string) bool { return !oauth.FAPI2Algorithm(a) })
	}
	m.TokenEndpointAuthSigningAlgValuesSupported = keep(m.TokenEndpointAuthSigningAlgValuesSupported)
	m.IDTokenSigningAlgValuesSupported = keep(m.IDTokenSigningAlgValuesSupported)
	m.UserInfoSigningAlgValuesSupported = keep(m.UserInfoSigningAlgValuesSupported)
	m.RequestObjectSigningAlgValuesSupported = keep(m.RequestObjectSigningAlgValuesSupported)
	m.DPoPSigningAlgValuesSupported = keep(m.DPoPSigningAlgValuesSupported)
	if m.PushedAuthorizationRequestEndpoint != "" {
		m.RequirePushedAuthorizationRequests = true
	}
}
