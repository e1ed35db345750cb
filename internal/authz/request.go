// Package authz validates OAuth 2.0 / OpenID Connect authorization requests
// (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1.2) and carries a validated
// request between the pages of a sign-in as a sealed, expiring value, so
// that no server-side state is needed until a code is issued.
//
// Validation is ordered as RFC 6749 §4.1.2.1 requires: until the client and
// its redirect URI are known to be valid, errors are shown to the user
// (PageError) and never redirected; afterwards they go back to the client
// (RedirectError).
package authz

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oidc"
	"github.com/writ-dev/writ/internal/store"
)

// Bounds on request parameters.
const (
	maxParam      = 2048
	maxState      = 1024
	maxClaimsJSON = 4096
	// MaxAgeLimit bounds max_age (one year).
	MaxAgeLimit = 365 * 24 * 3600
)

// Prompt values (OIDC Core §3.1.2.1).
const (
	PromptNone          = "none"
	PromptLogin         = "login"
	PromptConsent       = "consent"
	PromptSelectAccount = "select_account"
)

// Request is a validated authorization request.
type Request struct {
	ClientID    string `json:"c"`
	RedirectURI string `json:"r"`
	// RedirectOmitted records that the request named no redirect_uri (the
	// client's only registered one is used); the token request must then
	// omit it too (RFC 6749 §4.1.3).
	RedirectOmitted     bool     `json:"ro,omitempty"`
	Scopes              []string `json:"s,omitempty"`
	State               string   `json:"st,omitempty"`
	Nonce               string   `json:"n,omitempty"`
	CodeChallenge       string   `json:"cc,omitempty"`
	CodeChallengeMethod string   `json:"ccm,omitempty"`
	Prompt              []string `json:"p,omitempty"`
	// MaxAge is max_age in seconds, or -1 when absent.
	MaxAge    int    `json:"ma"`
	LoginHint string `json:"lh,omitempty"`
	UILocales string `json:"ul,omitempty"`
	// Claims is the parsed claims parameter (OIDC Core §5.5), or nil.
	Claims    *oidc.ClaimsRequest `json:"cl,omitempty"`
	Resources []string            `json:"res,omitempty"`
	// DPoPJKT is dpop_jkt (RFC 9449 §10): the RFC 7638 thumbprint of the
	// DPoP key the code is bound to, or empty.
	DPoPJKT string `json:"jkt,omitempty"`
	// SessionID is the session the server found signed in, recently enough
	// for the request, when it showed the page that carries this sealed
	// request (consent, account choice); empty on the login page. The
	// consent form issues a code only for this session.
	SessionID string `json:"sid,omitempty"`
	// Expires bounds how long the sealed request may be continued.
	Expires int64 `json:"exp"`
}

// HasPrompt reports whether p is among the prompt values.
func (r *Request) HasPrompt(p string) bool { return slices.Contains(r.Prompt, p) }

// HasScope reports whether s was requested.
func (r *Request) HasScope(s string) bool { return slices.Contains(r.Scopes, s) }

// PageError is an error shown to the user: the client or redirect URI is
// not trustworthy enough to redirect to.
type PageError struct {
	Title       string
	Description string
}

func (e *PageError) Error() string { return e.Title + ": " + e.Description }

// RedirectError is an error returned to the client at its redirect URI.
type RedirectError struct {
	RedirectURI string
	State       string
	Code        string
	Description string
}

func (e *RedirectError) Error() string { return e.Code + ": " + e.Description }

// Location builds the redirect with error, error_description, state and
// iss (RFC 9207).
func (e *RedirectError) Location(issuer string) string {
	q := url.Values{"error": {e.Code}, "iss": {issuer}}
	if e.Description != "" {
		q.Set("error_description", oauth.SafeDescription(e.Description))
	}
	if e.State != "" {
		q.Set("state", e.State)
	}
	return AppendQuery(e.RedirectURI, q)
}

// AppendQuery adds q to the query of uri, keeping what is there.
func AppendQuery(uri string, q url.Values) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + q.Encode()
}

// ClientGetter reads client registrations.
type ClientGetter interface {
	GetClient(ctx context.Context, id string) (store.Client, error)
}

// Parse validates the parameters of an authorization request (from the
// query of a GET or the form of a POST) and returns the request with its
// client. ttl bounds how long the request may take to complete.
func Parse(ctx context.Context, params url.Values, clients ClientGetter, now time.Time, ttl time.Duration) (*Request, *store.Client, error) {
	for name, vs := range params {
		if len(vs) > 1 {
			// Repeated parameters are refused; before the client is
			// known this cannot be redirected.
			return nil, nil, &PageError{Title: "Invalid request", Description: fmt.Sprintf("The parameter %q appears more than once.", truncate(name, 40))}
		}
		if len(vs[0]) > maxParam && name != "state" && name != "claims" {
			return nil, nil, &PageError{Title: "Invalid request", Description: fmt.Sprintf("The parameter %q is too long.", truncate(name, 40))}
		}
	}
	get := params.Get
	clientID := get("client_id")
	if clientID == "" {
		return nil, nil, &PageError{Title: "Invalid request", Description: "The request does not name a client (client_id)."}
	}
	c, err := clients.GetClient(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, &PageError{Title: "Unknown application", Description: "The application that sent you here is not registered."}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("authz: look up client: %w", err)
	}
	redirect, err := matchRedirect(&c, get("redirect_uri"))
	if err != nil {
		return nil, nil, err
	}
	req := &Request{ClientID: c.ID, RedirectURI: redirect, RedirectOmitted: get("redirect_uri") == "", State: get("state"), MaxAge: -1, Expires: now.Add(ttl).Unix()}
	fail := func(code, format string, args ...any) (*Request, *store.Client, error) {
		return nil, nil, &RedirectError{RedirectURI: redirect, State: truncate(req.State, maxState), Code: code, Description: fmt.Sprintf(format, args...)}
	}
	for _, vs := range params {
		// Values travel on to the store, the sealed request (JSON) and
		// tokens: each must be text that all of them keep byte for byte.
		if !utf8.ValidString(vs[0]) || strings.IndexByte(vs[0], 0) >= 0 {
			return fail(oauth.CodeInvalidRequest, "a parameter is not valid UTF-8 text")
		}
	}
	if len(req.State) > maxState {
		return fail(oauth.CodeInvalidRequest, "state is too long")
	}
	// The server resolves request (RequestObjects.Verify) and request_uri
	// (pushed requests) before Parse; here they are never expected.
	if get("request") != "" {
		return fail("request_not_supported", "request objects are not supported")
	}
	if get("request_uri") != "" {
		return fail("request_uri_not_supported", "request_uri is not supported")
	}
	switch rt := get("response_type"); {
	case rt == "":
		return fail(oauth.CodeInvalidRequest, "response_type is required")
	case rt != "code":
		return fail(oauth.CodeUnsupportedResponseType, "only response_type=code is supported")
	case !slices.Contains(c.ResponseTypes, "code") || !slices.Contains(c.GrantTypes, "authorization_code"):
		return fail(oauth.CodeUnauthorizedClient, "this client may not use the authorization code flow")
	}
	if rm := get("response_mode"); rm != "" && rm != "query" {
		return fail(oauth.CodeInvalidRequest, "only response_mode=query is supported")
	}
	scopes, err := oauth.ParseScope(get("scope"))
	if err != nil {
		return fail(oauth.CodeInvalidScope, "%s", oauth.AsError(err).Description)
	}
	if len(scopes) == 0 {
		return fail(oauth.CodeInvalidScope, "scope is required")
	}
	if !oauth.Subset(scopes, c.Scopes) {
		return fail(oauth.CodeInvalidScope, "the requested scope exceeds what this client may ask for")
	}
	req.Scopes = scopes
	// PKCE (RFC 7636, RFC 9700 §2.1.1): S256 only; required for public
	// clients, optional but honoured for confidential ones.
	req.CodeChallenge, req.CodeChallengeMethod = get("code_challenge"), get("code_challenge_method")
	switch {
	case req.CodeChallenge == "" && c.TokenEndpointAuthMethod == oauth.AuthNone:
		return fail(oauth.CodeInvalidRequest, "PKCE is required: send code_challenge with code_challenge_method=S256")
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return fail(oauth.CodeInvalidRequest, "code_challenge_method without code_challenge")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != "S256":
		return fail(oauth.CodeInvalidRequest, "code_challenge_method must be S256 (plain is not accepted)")
	case req.CodeChallenge != "" && !validChallenge(req.CodeChallenge):
		return fail(oauth.CodeInvalidRequest, "code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
	}
	// dpop_jkt (RFC 9449 §10): the code is redeemed only with a proof made
	// with this key. A thumbprint is a base64url SHA-256, as a challenge.
	if jkt, ok := params["dpop_jkt"]; ok {
		if !validChallenge(jkt[0]) {
			return fail(oauth.CodeInvalidRequest, "dpop_jkt must be the base64url SHA-256 thumbprint of a DPoP key (43 characters)")
		}
		req.DPoPJKT = jkt[0]
	}
	req.Nonce = get("nonce")
	if prompt := get("prompt"); prompt != "" {
		for _, p := range strings.Split(prompt, " ") {
			switch p {
			case PromptNone, PromptLogin, PromptConsent, PromptSelectAccount:
				if !slices.Contains(req.Prompt, p) {
					req.Prompt = append(req.Prompt, p)
				}
			default:
				return fail(oauth.CodeInvalidRequest, "unknown prompt value")
			}
		}
		if req.HasPrompt(PromptNone) && len(req.Prompt) > 1 {
			return fail(oauth.CodeInvalidRequest, "prompt=none cannot be combined with other values")
		}
	}
	if ma := get("max_age"); ma != "" {
		n, err := strconv.Atoi(ma)
		if err != nil || n < 0 || n > MaxAgeLimit {
			return fail(oauth.CodeInvalidRequest, "max_age must be a number of seconds")
		}
		req.MaxAge = n
	}
	req.LoginHint, req.UILocales = get("login_hint"), get("ui_locales")
	if cl := get("claims"); cl != "" {
		if len(cl) > maxClaimsJSON {
			return fail(oauth.CodeInvalidRequest, "claims is too large")
		}
		if !slices.Contains(scopes, "openid") {
			return fail(oauth.CodeInvalidRequest, "claims requires the openid scope")
		}
		if req.Claims, err = oidc.ParseClaimsRequest(cl); err != nil {
			return fail(oauth.CodeInvalidRequest, "claims is not a valid claims request")
		}
	}
	if res := get("resource"); res != "" {
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(res, "#") {
			return fail(oauth.CodeInvalidTarget, "resource must be an absolute URI without a fragment")
		}
		if !slices.Contains(c.Audiences, res) {
			return fail(oauth.CodeInvalidTarget, "this client may not ask for that resource")
		}
		req.Resources = []string{res}
	}
	return req, &c, nil
}

// matchRedirect returns the redirect URI to use: the one given, when it
// equals a registered one byte for byte (RFC 6749 §3.1.2.3, RFC 9700
// §4.1.3: no case folding, no percent-decoding, no empty query or fragment
// appended). The one exception is RFC 8252 §7.3: a public (native) client
// that registered an http redirect URI on a loopback IP literal may use any
// port there, with everything else still equal byte for byte. Without
// redirect_uri, a client with exactly one registered URI uses it.
func matchRedirect(c *store.Client, given string) (string, error) {
	if given == "" {
		if len(c.RedirectURIs) == 1 {
			return c.RedirectURIs[0], nil
		}
		return "", &PageError{Title: "Invalid request", Description: "The request has no redirect_uri and the application registered several."}
	}
	anyPort := c.TokenEndpointAuthMethod == oauth.AuthNone
	for _, r := range c.RedirectURIs {
		if r == given || anyPort && loopbackMatch(r, given) {
			return given, nil
		}
	}
	return "", &PageError{Title: "Invalid redirect", Description: "The redirect_uri of the request is not registered for this application."}
}

// loopbackMatch reports whether given is registered but for its port. Both
// are compared as strings, not parsed and re-serialised, so that no
// normalisation (case, percent-encoding, an empty query) can make two
// different URIs equal. The rule applies only to the loopback IP literals
// of RFC 8252 §7.3, spelt as clients are told to register them; not to
// "localhost" (RFC 8252 §8.3).
func loopbackMatch(registered, given string) bool {
	for _, origin := range [...]string{"http://127.0.0.1", "http://[::1]"} {
		rest, ok := strings.CutPrefix(registered, origin)
		if !ok {
			continue
		}
		grest, ok := strings.CutPrefix(given, origin)
		if !ok {
			return false
		}
		rpath, ok1 := cutPort(rest)
		gpath, ok2 := cutPort(grest)
		return ok1 && ok2 && rpath == gpath && (rpath == "" || rpath[0] == '/')
	}
	return false
}

// cutPort removes an optional ":port" (1 to 65535, decimal, without a
// leading zero) from the start of s.
func cutPort(s string) (string, bool) {
	if s == "" || s[0] != ':' {
		return s, true
	}
	i := 1
	for i < len(s) && i <= 6 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	p, err := strconv.Atoi(s[1:i])
	if err != nil || p < 1 || p > 65535 || s[1] == '0' {
		return "", false
	}
	return s[i:], true
}

func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}

// VerifyPKCE checks a code_verifier against an S256 challenge (RFC 7636
// §4.6) in constant time.
func VerifyPKCE(challenge, method, verifier string) bool {
	if method != "S256" || len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		c := verifier[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtleEqual(got, challenge)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
