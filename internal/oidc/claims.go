package oidc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jwt"
)

// Bounds on the claims request parameter.
const (
	// MaxClaimsRequestSize is the largest claims parameter accepted, in
	// bytes.
	MaxClaimsRequestSize = 4 << 10
	// MaxClaimsRequestDepth bounds its JSON nesting: the request object,
	// the target, the individual claim request and three levels inside a
	// value.
	MaxClaimsRequestDepth = 6
	// maxClaimName bounds the length of one requested claim name.
	maxClaimName = 256
)

// ErrInvalidClaimsRequest means the claims parameter is not a valid claims
// request (OpenID Connect Core 1.0 §5.5); the authorization endpoint answers
// invalid_request.
var ErrInvalidClaimsRequest = errors.New("oidc: invalid claims request")

// Target is where released claims go.
type Target uint8

// Release targets.
const (
	// TargetUserInfo is the UserInfo response.
	TargetUserInfo Target = iota + 1
	// TargetIDToken is the ID token.
	TargetIDToken
)

// String returns "userinfo" or "id_token", the members of the claims
// request that name the targets.
func (t Target) String() string {
	switch t {
	case TargetUserInfo:
		return "userinfo"
	case TargetIDToken:
		return "id_token"
	}
	return fmt.Sprintf("Target(%d)", uint8(t))
}

// ScopeClaims returns the standard claims that scope releases (OpenID
// Connect Core 1.0 §5.4, as store.UserClaims declares them): profile,
// email, address and phone. Other scopes release no standard claim (nil).
// The slice is new on every call.
func ScopeClaims(scope string) []string {
	var out []string
	for _, c := range store.UserClaims() {
		if c.Scope == scope {
			out = append(out, c.Name)
		}
	}
	return out
}

// ClaimScopes returns the scopes that release standard claims, for the
// discovery document's scopes_supported (with "openid").
func ClaimScopes() []string {
	var out []string
	for _, c := range store.UserClaims() {
		if !slices.Contains(out, c.Scope) {
			out = append(out, c.Scope)
		}
	}
	return out
}

// StandardClaims returns the standard claims of OpenID Connect Core 1.0
// §5.1 other than sub: those Release takes from the user record.
func StandardClaims() []string {
	claims := store.UserClaims()
	out := make([]string, len(claims))
	for i, c := range claims {
		out[i] = c.Name
	}
	return out
}

// SupportedClaims lists the claims writ can put in ID tokens and UserInfo
// responses, for the discovery document's claims_supported. Custom
// attributes are not listed: they differ per deployment.
func SupportedClaims() []string {
	return append([]string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "at_hash"},
		StandardClaims()...)
}

// standardClaim reports whether name is a standard claim of §5.1 other than
// sub, and whether some standard claim equals it under case folding.
func standardClaim(name string) (exact, folded bool) {
	for _, c := range store.UserClaims() {
		if c.Name == name {
			return true, true
		}
		if strings.EqualFold(c.Name, name) {
			folded = true
		}
	}
	return false, folded
}

// IndividualClaim is the request for one claim (OpenID Connect Core 1.0
// §5.5.1). The zero value is a request in the default manner (JSON null).
type IndividualClaim struct {
	// Essential reports that the client considers the claim essential.
	Essential bool
	// Value is the particular value asked for, or nil. Numbers are
	// json.Number.
	Value any
	// Values are the values asked for, in order of preference, or nil.
	Values []any
}

// ClaimsRequest is a parsed claims request parameter (OpenID Connect Core
// 1.0 §5.5): the claims asked for UserInfo and for the ID token, by name.
type ClaimsRequest struct {
	// Userinfo are the claims requested for the UserInfo response.
	Userinfo map[string]IndividualClaim
	// IDToken are the claims requested for the ID token.
	IDToken map[string]IndividualClaim
}

// ParseClaimsRequest parses the claims request parameter strictly: at most
// MaxClaimsRequestSize bytes and MaxClaimsRequestDepth levels of strict JSON
// (no duplicate member names, not even under case folding; valid UTF-8);
// a JSON object whose "userinfo" and "id_token" members, when present and
// not null, are objects mapping non-empty claim names to null or to an
// object with "essential" (a boolean), "value" (any JSON value) and
// "values" (an array), of which "value" and "values" exclude each other.
// Other members are ignored, as §5.5 requires. An empty raw string means
// no claims request: nil and no error. Every error wraps
// ErrInvalidClaimsRequest and names no input bytes.
//
// Parse the parameter once, where the request arrives, and carry the
// result: it encodes (MarshalJSON) to a claims request this function reads
// back as the same value, to seal it into a page or store it with a code.
func ParseClaimsRequest(raw string) (*ClaimsRequest, error) {
	return parseClaimsRequest(raw, MaxClaimsRequestSize)
}

// DecodeClaimsRequest reads a claims request that MarshalJSON encoded, for
// example one stored with an authorization code; empty input is nil. Its
// size bound is eight times that of the parameter, as an encoder may escape
// characters the parameter did not (json.Marshal writes "<" as \u003c).
func DecodeClaimsRequest(b []byte) (*ClaimsRequest, error) {
	return parseClaimsRequest(string(b), 8*MaxClaimsRequestSize)
}

// MarshalJSON encodes r as a claims request parameter, with the claim names
// sorted; a nil r is null.
func (r *ClaimsRequest) MarshalJSON() ([]byte, error) {
	if r == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	first := true
	for _, t := range []struct {
		name   string
		claims map[string]IndividualClaim
	}{{"userinfo", r.Userinfo}, {"id_token", r.IDToken}} {
		if t.claims == nil {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(`"` + t.name + `":{`)
		names := make([]string, 0, len(t.claims))
		for n := range t.claims {
			names = append(names, n)
		}
		slices.Sort(names)
		for j, n := range names {
			if j > 0 {
				b.WriteByte(',')
			}
			if err := enc.Encode(n); err != nil {
				return nil, err
			}
			b.Truncate(b.Len() - 1) // Encode's newline
			b.WriteByte(':')
			if err := t.claims[n].encode(&b, enc); err != nil {
				return nil, err
			}
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// encode writes c as an individual claim request: null when it asks for
// nothing in particular.
func (c IndividualClaim) encode(b *bytes.Buffer, enc *json.Encoder) error {
	if !c.Essential && c.Value == nil && c.Values == nil {
		b.WriteString("null")
		return nil
	}
	member := func(name string, v any) error {
		if b.Bytes()[b.Len()-1] != '{' {
			b.WriteByte(',')
		}
		b.WriteString(`"` + name + `":`)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("oidc: encode claims request: %w", err)
		}
		b.Truncate(b.Len() - 1)
		return nil
	}
	b.WriteByte('{')
	if c.Essential {
		if err := member("essential", true); err != nil {
			return err
		}
	}
	if c.Value != nil {
		if err := member("value", c.Value); err != nil {
			return err
		}
	}
	if c.Values != nil {
		if err := member("values", c.Values); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

// UnmarshalJSON reads what MarshalJSON wrote, as DecodeClaimsRequest does.
func (r *ClaimsRequest) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	req, err := DecodeClaimsRequest(b)
	if err != nil {
		return err
	}
	*r = *req
	return nil
}

func parseClaimsRequest(raw string, maxSize int) (*ClaimsRequest, error) {
	if raw == "" {
		return nil, nil
	}
	if len(raw) > maxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidClaimsRequest, maxSize)
	}
	if err := strictjson.ValidateFold(raw, MaxClaimsRequestDepth); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidClaimsRequest, err)
	}
	members, err := strictjson.ParseObject(raw, MaxClaimsRequestDepth, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidClaimsRequest, err)
	}
	req := new(ClaimsRequest)
	for _, m := range members {
		var dst *map[string]IndividualClaim
		switch m.Name {
		case "userinfo":
			dst = &req.Userinfo
		case "id_token":
			dst = &req.IDToken
		default:
			continue
		}
		if *dst, err = parseTargetClaims(m.Value); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidClaimsRequest, m.Name, err)
		}
	}
	return req, nil
}

func parseTargetClaims(raw string) (map[string]IndividualClaim, error) {
	if raw == "null" {
		return nil, nil
	}
	members, err := strictjson.ParseObject(raw, MaxClaimsRequestDepth, nil)
	if err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	out := make(map[string]IndividualClaim, len(members))
	for _, m := range members {
		if m.Name == "" || len(m.Name) > maxClaimName {
			return nil, errors.New("claim name empty or too long")
		}
		c, err := parseIndividualClaim(m.Value)
		if err != nil {
			return nil, fmt.Errorf("individual claim request: %w", err)
		}
		out[m.Name] = c
	}
	return out, nil
}

func parseIndividualClaim(raw string) (IndividualClaim, error) {
	var c IndividualClaim
	if raw == "null" {
		return c, nil
	}
	members, err := strictjson.ParseObject(raw, MaxClaimsRequestDepth, nil)
	if err != nil {
		return c, fmt.Errorf("not null or a JSON object: %w", err)
	}
	haveValue, haveValues := false, false
	for _, m := range members {
		if m.Value == "null" {
			continue // absent
		}
		switch m.Name {
		case "essential":
			if c.Essential, err = strictjson.Bool(m.Value); err != nil {
				return c, errors.New("essential is not a boolean")
			}
		case "value":
			if err := decodeJSON(m.Value, &c.Value); err != nil {
				return c, errors.New("value is not valid JSON")
			}
			haveValue = true
		case "values":
			if m.Value[0] != '[' {
				return c, errors.New("values is not an array")
			}
			if err := decodeJSON(m.Value, &c.Values); err != nil {
				return c, errors.New("values is not valid JSON")
			}
			if c.Values == nil {
				c.Values = []any{}
			}
			haveValues = true
		}
	}
	if haveValue && haveValues {
		return c, errors.New("value and values exclude each other")
	}
	return c, nil
}

// decodeJSON decodes raw, already checked with strictjson.ValidateFold,
// keeping numbers exact.
func decodeJSON(raw string, v any) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// Names returns the names of the claims requested for target, sorted. It
// is nil for a nil request.
func (r *ClaimsRequest) Names(target Target) []string {
	m := r.target(target)
	if len(m) == 0 {
		return nil
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Requested reports whether name is requested for target.
func (r *ClaimsRequest) Requested(target Target, name string) bool {
	_, ok := r.target(target)[name]
	return ok
}

func (r *ClaimsRequest) target(t Target) map[string]IndividualClaim {
	if r == nil {
		return nil
	}
	switch t {
	case TargetUserInfo:
		return r.Userinfo
	case TargetIDToken:
		return r.IDToken
	}
	return nil
}

// Release returns the claims of u that go to target, given the granted
// scopes and the claims request (nil for none), by the rule described in
// the package documentation. sub is never in it: the caller adds it. The
// map is new; values are strings, booleans, a jwt.NumericDate (updated_at),
// a map[string]any (address) and json.RawMessage (attributes).
func Release(u store.User, scopes []string, req *ClaimsRequest, target Target) map[string]any {
	out := make(map[string]any)
	claims := store.UserClaims()
	if target == TargetUserInfo {
		for _, scope := range scopes {
			for _, c := range claims {
				if c.Scope == scope {
					releaseStandard(out, &u, c)
				}
			}
			releaseAttribute(out, u, scope)
		}
	}
	for _, name := range req.Names(target) {
		if i := slices.IndexFunc(claims, func(c store.UserClaim) bool { return c.Name == name }); i >= 0 {
			releaseStandard(out, &u, claims[i])
		} else {
			releaseAttribute(out, u, name)
		}
	}
	return out
}

// ClaimsBeyondScopes returns, sorted, the claims req asks for (for either
// target) that Release may release although none of scopes covers them:
// standard claims outside the scopes' ScopeClaims, and attribute names
// other than the scopes themselves. Protocol claims, which Release never
// releases, are left out. A user approves scopes; these claims must be
// shown and approved on their own.
func ClaimsBeyondScopes(req *ClaimsRequest, scopes []string) []string {
	var out []string
	for _, target := range []Target{TargetIDToken, TargetUserInfo} {
		for _, name := range req.Names(target) {
			if slices.Contains(out, name) || !releasable(name) || covered(name, scopes) {
				continue
			}
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// releasable reports whether Release may release a claim requested under
// name: a standard claim, or an attribute name that is neither a protocol
// claim nor a standard claim under case folding.
func releasable(name string) bool {
	exact, folded := standardClaim(name)
	if exact {
		return true
	}
	return name != "" && !folded && !ReservedClaim(name)
}

// covered reports whether one of scopes releases the claim name: as one of
// its standard claims, or as the attribute named like the scope.
func covered(name string, scopes []string) bool {
	for _, s := range scopes {
		if s == name || slices.Contains(ScopeClaims(s), name) {
			return true
		}
	}
	return false
}

// releaseStandard copies the standard claim c from u when it is set: a
// non-empty text, an address, updated_at, or a boolean whose Requires claim
// is set.
func releaseStandard(out map[string]any, u *store.User, c store.UserClaim) {
	switch {
	case c.Text != nil:
		if v := *c.Text(u); v != "" {
			out[c.Name] = v
		}
	case c.Bool != nil:
		if req, ok := store.LookupUserClaim(c.Requires); !ok || req.Text == nil || *req.Text(u) != "" {
			out[c.Name] = *c.Bool(u)
		}
	case c.Address != nil:
		if a := addressClaim(*c.Address(u)); a != nil {
			out[c.Name] = a
		}
	case c.Time != nil:
		if t := *c.Time(u); !t.IsZero() {
			out[c.Name] = jwt.NewNumericDate(t)
		}
	}
}

// addressClaim is the address claim (§5.1.1) with its non-empty members,
// or nil when all are empty.
func addressClaim(a store.Address) map[string]any {
	components := store.AddressComponents()
	m := make(map[string]any, len(components))
	for _, c := range components {
		if v := *c.Field(&a); v != "" {
			m[c.Name] = v
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// releaseAttribute copies the custom attribute name from u when it may be
// released: it exists, is not empty or null, is strict JSON, and its name
// neither is nor folds to a standard or protocol claim, nor folds to a
// claim already released under another name.
func releaseAttribute(out map[string]any, u store.User, name string) {
	v, ok := u.Attributes[name]
	if !ok || name == "" || ReservedClaim(name) {
		return
	}
	if _, folded := standardClaim(name); folded {
		return
	}
	if _, done := out[name]; done {
		return
	}
	for have := range out {
		if strings.EqualFold(have, name) {
			return
		}
	}
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" || strictjson.ValidateFold(string(v), maxClaimsDepth-1) != nil {
		return
	}
	out[name] = json.RawMessage(slices.Clone(v))
}

// UserinfoClaimsClaim is the private access-token claim that carries the
// names of the claims requested for UserInfo (a JSON array of strings), from
// the authorization request to the UserInfo endpoint.
const UserinfoClaimsClaim = "writ_userinfo_claims"

// maxCarriedClaims bounds the names UserInfo reads from an access token.
const maxCarriedClaims = 128

// AccessTokenClaims returns the extra access-token claims that carry the
// claims requested for UserInfo in req: {UserinfoClaimsClaim: [names]}, or
// nil when none are requested. Merge it into mint.AccessToken.Extra, for
// JWT and opaque tokens alike. Protocol claim names, which Release never
// releases, are left out.
func AccessTokenClaims(req *ClaimsRequest) map[string]any {
	var names []string
	for _, name := range req.Names(TargetUserInfo) {
		if !ReservedClaim(name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return map[string]any{UserinfoClaimsClaim: names}
}

// userinfoRequest rebuilds the UserInfo part of a claims request from the
// raw value of UserinfoClaimsClaim.
func userinfoRequest(raw string) (*ClaimsRequest, error) {
	if raw == "" {
		return nil, nil
	}
	if len(raw) > MaxClaimsRequestSize {
		return nil, errors.New("oidc: carried claims too large")
	}
	if err := strictjson.Validate(raw, 2); err != nil {
		return nil, fmt.Errorf("oidc: carried claims: %w", err)
	}
	names, err := strictjson.AppendStrings(nil, raw)
	if err != nil || len(names) > maxCarriedClaims {
		return nil, errors.New("oidc: carried claims are not a short array of strings")
	}
	req := &ClaimsRequest{Userinfo: make(map[string]IndividualClaim, len(names))}
	for _, n := range names {
		req.Userinfo[n] = IndividualClaim{}
	}
	return req, nil
}
