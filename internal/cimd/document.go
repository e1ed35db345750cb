// Package cimd resolves OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document): a client_id that is an
// https URL names the JSON document, at that URL, that describes the client.
//
// The package checks the URL (CheckClientID), fetches the document with the
// guards against server-side request forgery the draft asks for (Guard: no
// special-use address, checked on the address actually dialled; no
// redirects; a size and a time limit; JSON only), parses and validates it
// strictly (ParseDocument), and caches it by the HTTP caching rules within
// bounds (Resolver). It knows nothing of the store or the server: the
// server turns a Document into a client registration.
package cimd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
)

// Errors. Every error of the package wraps one of them; messages never
// quote more than a clipped part of the input.
var (
	// ErrInvalidClientID reports a client_id that is not a Client
	// Identifier URL (draft §3).
	ErrInvalidClientID = errors.New("cimd: not a client identifier URL")
	// ErrInvalidDocument reports a document that is not a valid Client ID
	// Metadata Document, or that writ does not accept.
	ErrInvalidDocument = errors.New("cimd: invalid client metadata document")
)

// Bounds.
const (
	// MaxClientIDLength is the longest client_id URL accepted: the
	// longest client_id the token endpoint looks up.
	MaxClientIDLength = 256
	// MaxURIs bounds redirect_uris and post_logout_redirect_uris.
	MaxURIs = 16
	// MaxURILength bounds each URI of the document.
	MaxURILength = 2048
	// MaxNameLength bounds client_name.
	MaxNameLength = 200
	// MaxScopeLength bounds scope.
	MaxScopeLength = 2048
	// maxDepth bounds the nesting of the document (jwks nests three deep).
	maxDepth = 8
)

// IsClientIDURL reports whether a client_id is meant as a Client
// Identifier URL: it starts with "https://". Whether it is a valid one is
// CheckClientID's business.
func IsClientIDURL(clientID string) bool {
	return strings.HasPrefix(clientID, "https://")
}

// CheckClientID applies the rules of a Client Identifier URL (draft §3):
// the https scheme, a host, a path, no userinfo, no fragment, no "." or
// ".." path segment (encoded or not). writ also refuses a query (the draft
// says SHOULD NOT), whitespace and control characters, and anything longer
// than MaxClientIDLength, so that the identifier is stored and shown as is.
func CheckClientID(clientID string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrInvalidClientID, why) }
	if len(clientID) > MaxClientIDLength {
		return bad(fmt.Sprintf("longer than %d bytes", MaxClientIDLength))
	}
	rest, ok := strings.CutPrefix(clientID, "https://")
	if !ok {
		return bad("the scheme must be https (lower case)")
	}
	for i := 0; i < len(clientID); i++ {
		if c := clientID[i]; c <= ' ' || c >= 0x7f {
			return bad("it must be ASCII without spaces or control characters")
		}
	}
	if strings.ContainsAny(clientID, "#") {
		return bad("it must not have a fragment")
	}
	if strings.ContainsAny(clientID, "?") {
		return bad("it must not have a query")
	}
	if strings.ContainsAny(clientID, "\\") {
		return bad("it must not contain a backslash")
	}
	authority, path, hasPath := strings.Cut(rest, "/")
	if !hasPath {
		return bad("it must have a path, e.g. https://app.example.com/oauth/client.json")
	}
	if strings.Contains(authority, "@") {
		return bad("it must not contain user information")
	}
	u, err := url.Parse(clientID)
	if err != nil || u.Hostname() == "" || u.Opaque != "" {
		return bad("it is not a URL with a host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return bad("its port is not valid")
		}
	}
	for _, seg := range strings.Split(path, "/") {
		s := strings.ReplaceAll(strings.ToLower(seg), "%2e", ".")
		if s == "." || s == ".." {
			return bad("it must not have . or .. path segments")
		}
	}
	return nil
}

// Document is a validated Client ID Metadata Document: the members writ
// uses. Other members of the document are ignored.
type Document struct {
	// ClientID is the client_id, equal to the URL it was fetched from.
	ClientID string
	// ClientName is client_name, or empty.
	ClientName string
	// ClientURI is client_uri (an https URL), or empty.
	ClientURI string
	// RedirectURIs are redirect_uris: at least one.
	RedirectURIs []string
	// PostLogoutRedirectURIs are post_logout_redirect_uris.
	PostLogoutRedirectURIs []string
	// GrantTypes are grant_types: authorization_code (the default) and
	// refresh_token.
	GrantTypes []string
	// ResponseTypes are response_types: ["code"].
	ResponseTypes []string
	// Scopes are the values of scope, or nil when it is absent.
	Scopes []string
	// TokenEndpointAuthMethod is none (the default here) or
	// private_key_jwt.
	TokenEndpointAuthMethod string
	// JWKS is the client's public key set (compact JSON), or nil.
	JWKS []byte
	// JWKSURI is where the client publishes its keys, or empty.
	JWKSURI string
	// DPoPBoundAccessTokens is dpop_bound_access_tokens (RFC 9449 §5.2):
	// the client asks never to be issued a token without a DPoP proof.
	DPoPBoundAccessTokens bool
}

// Grant types and response types a metadata document may declare: the
// browser flows. A client that cannot be registered by a person (and that
// has no shared secret) gets neither client_credentials nor the delegation
// grants.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	responseTypeCode       = "code"
)

// ParseDocument parses and validates the document fetched from clientID.
// The JSON must be strict (one object, no duplicate member names at any
// depth, valid UTF-8); members are matched by their exact names.
func ParseDocument(clientID string, body []byte) (*Document, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidDocument, fmt.Sprintf(format, args...))
	}
	members, err := strictjson.ParseObject(string(body), maxDepth, nil)
	if err != nil {
		return nil, bad("not a strict JSON object (%v)", err)
	}
	d := &Document{}
	var haveClientID bool
	for _, m := range members {
		raw := []byte(m.Value)
		switch m.Name {
		case "client_id":
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return nil, bad("client_id must be a string")
			}
			if s != clientID {
				return nil, bad("client_id %q is not the URL the document was fetched from", clip(s))
			}
			d.ClientID, haveClientID = s, true
		case "client_secret", "client_secret_expires_at":
			return nil, bad("%s must not be used: a metadata document cannot carry a shared secret", m.Name)
		case "client_name":
			if d.ClientName, err = text(m.Name, raw, MaxNameLength); err != nil {
				return nil, err
			}
		case "client_uri":
			if d.ClientURI, err = text(m.Name, raw, MaxURILength); err != nil {
				return nil, err
			}
			if err := checkHTTPS(m.Name, d.ClientURI); err != nil {
				return nil, err
			}
		case "redirect_uris":
			if d.RedirectURIs, err = list(m.Name, raw, MaxURIs, MaxURILength); err != nil {
				return nil, err
			}
		case "post_logout_redirect_uris":
			if d.PostLogoutRedirectURIs, err = list(m.Name, raw, MaxURIs, MaxURILength); err != nil {
				return nil, err
			}
		case "grant_types":
			if d.GrantTypes, err = list(m.Name, raw, 4, 128); err != nil {
				return nil, err
			}
		case "response_types":
			if d.ResponseTypes, err = list(m.Name, raw, 4, 64); err != nil {
				return nil, err
			}
		case "scope":
			s, err := text(m.Name, raw, MaxScopeLength)
			if err != nil {
				return nil, err
			}
			if d.Scopes, err = oauth.ParseScope(s); err != nil {
				return nil, bad("scope is not a space-separated list of scope values")
			}
		case "token_endpoint_auth_method":
			if d.TokenEndpointAuthMethod, err = text(m.Name, raw, 64); err != nil {
				return nil, err
			}
		case "jwks":
			if d.JWKS, err = publicKeySet(raw); err != nil {
				return nil, err
			}
		case "jwks_uri":
			if d.JWKSURI, err = text(m.Name, raw, MaxURILength); err != nil {
				return nil, err
			}
			if err := checkHTTPS(m.Name, d.JWKSURI); err != nil {
				return nil, err
			}
		case "dpop_bound_access_tokens":
			if json.Unmarshal(raw, &d.DPoPBoundAccessTokens) != nil {
				return nil, bad("dpop_bound_access_tokens must be true or false")
			}
		}
	}
	if !haveClientID {
		return nil, bad("client_id is missing")
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// validate judges the document as a whole.
func (d *Document) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidDocument, fmt.Sprintf(format, args...))
	}
	if d.TokenEndpointAuthMethod == "" {
		// RFC 7591's default, client_secret_basic, is impossible here: a
		// document without a method describes a public client.
		d.TokenEndpointAuthMethod = oauth.AuthNone
	}
	switch d.TokenEndpointAuthMethod {
	case oauth.AuthNone:
		if d.JWKS != nil || d.JWKSURI != "" {
			return bad("jwks and jwks_uri go with token_endpoint_auth_method private_key_jwt")
		}
	case oauth.AuthPrivateKeyJWT:
		if (d.JWKS == nil) == (d.JWKSURI == "") {
			return bad("private_key_jwt needs the client's public keys: exactly one of jwks and jwks_uri")
		}
	default:
		return bad("token_endpoint_auth_method %q is not allowed: use none or private_key_jwt (no shared secrets)", clip(d.TokenEndpointAuthMethod))
	}
	if d.GrantTypes == nil {
		d.GrantTypes = []string{grantAuthorizationCode}
	}
	for _, g := range d.GrantTypes {
		if g != grantAuthorizationCode && g != grantRefreshToken {
			return bad("grant type %q is not allowed for a metadata document client: use authorization_code and refresh_token", clip(g))
		}
	}
	if !slices.Contains(d.GrantTypes, grantAuthorizationCode) {
		return bad("grant_types must include authorization_code")
	}
	if d.ResponseTypes == nil {
		d.ResponseTypes = []string{responseTypeCode}
	}
	if len(d.ResponseTypes) != 1 || d.ResponseTypes[0] != responseTypeCode {
		return bad(`response_types must be ["code"]`)
	}
	if len(d.RedirectURIs) == 0 {
		return bad("redirect_uris is required")
	}
	for i, u := range d.RedirectURIs {
		if err := CheckRedirectURI(u); err != nil {
			return bad("redirect_uris[%d]: %v", i, err)
		}
	}
	for i, u := range d.PostLogoutRedirectURIs {
		if err := CheckRedirectURI(u); err != nil {
			return bad("post_logout_redirect_uris[%d]: %v", i, err)
		}
	}
	return nil
}

// CheckRedirectURI applies RFC 6749 §3.1.2, RFC 8252 and RFC 9700 to a
// redirect URI, as the admin API does: absolute, no fragment, no user
// information, no spaces or backslashes; https, http on a loopback host,
// or a private-use scheme in reverse-domain form.
func CheckRedirectURI(raw string) error {
	if strings.ContainsAny(raw, " \t\\") || !utf8.ValidString(raw) {
		return errors.New("must not contain spaces or backslashes")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return errors.New("must be an absolute URI")
	}
	if strings.Contains(raw, "#") {
		return errors.New("must not have a fragment")
	}
	if u.User != nil {
		return errors.New("must not contain user information")
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "https":
		if u.Hostname() == "" {
			return errors.New("has no host")
		}
	case "http":
		if !oauth.IsLoopbackHost(u.Hostname()) {
			return errors.New("uses http, allowed only on a loopback host")
		}
	default:
		if !strings.Contains(scheme, ".") {
			return errors.New("must use https, http on a loopback host, or a private-use scheme such as com.example.app")
		}
	}
	return nil
}

func checkHTTPS(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || strings.Contains(raw, "#") {
		return fmt.Errorf("%w: %s must be an https URL without user information or fragment", ErrInvalidDocument, name)
	}
	return nil
}

// text decodes a one-line string member.
func text(name string, raw []byte, max int) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("%w: %s must be a string", ErrInvalidDocument, name)
	}
	if len(s) > max {
		return "", fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidDocument, name, max)
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 {
			return "", fmt.Errorf("%w: %s contains a control character", ErrInvalidDocument, name)
		}
	}
	return s, nil
}

// list decodes an array of distinct strings.
func list(name string, raw []byte, maxItems, maxLen int) ([]string, error) {
	var l []string
	if json.Unmarshal(raw, &l) != nil || l == nil {
		return nil, fmt.Errorf("%w: %s must be an array of strings", ErrInvalidDocument, name)
	}
	if len(l) > maxItems {
		return nil, fmt.Errorf("%w: %s has more than %d entries", ErrInvalidDocument, name, maxItems)
	}
	for i, s := range l {
		if len(s) > maxLen {
			return nil, fmt.Errorf("%w: %s[%d] is longer than %d bytes", ErrInvalidDocument, name, i, maxLen)
		}
		if slices.Contains(l[:i], s) {
			return nil, fmt.Errorf("%w: %s lists %q twice", ErrInvalidDocument, name, clip(s))
		}
	}
	return l, nil
}

// publicKeySet checks a jwks member: a JWK Set of public keys only.
func publicKeySet(raw []byte) ([]byte, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("%w: jwks must be a JWK Set object", ErrInvalidDocument)
	}
	ks, err := jose.ParseKeySet(raw)
	if err != nil {
		if errors.Is(err, jose.ErrPrivateInPublic) {
			return nil, fmt.Errorf("%w: jwks holds private or symmetric key material", ErrInvalidDocument)
		}
		return nil, fmt.Errorf("%w: jwks is not a valid JWK Set", ErrInvalidDocument)
	}
	if ks.Len() == 0 {
		return nil, fmt.Errorf("%w: jwks has no usable public key", ErrInvalidDocument)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("%w: jwks is not valid JSON", ErrInvalidDocument)
	}
	return buf.Bytes(), nil
}

// clip shortens a value quoted in an error and makes it valid UTF-8.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "")
}
