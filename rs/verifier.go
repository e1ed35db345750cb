package rs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// IssuerConfig is what a Verifier trusts of one issuer. Issuer and one of
// the ways to its keys (discovery, JWKSURI, Keys) are required, and so is an
// audience policy.
type IssuerConfig struct {
	// Issuer is the issuer identifier, compared exactly (byte for byte)
	// with the iss claim of each token. It selects this configuration.
	Issuer string
	// JWKSURI is the URL of the issuer's JWK Set. Empty (and no Keys)
	// means discovery: the jwks_uri of the issuer's OpenID Connect
	// metadata (Issuer + "/.well-known/openid-configuration"), else of its
	// RFC 8414 authorization server metadata, whose issuer must be exactly
	// Issuer. Discovery happens on the first token of this issuer (or on
	// Verifier.Refresh), never for a token of another issuer; once it has
	// succeeded, the jwks_uri found is kept for the Verifier's life.
	JWKSURI string
	// Keys, when not nil, are the issuer's keys, fixed: nothing is fetched.
	// It excludes JWKSURI.
	Keys *jose.KeySet
	// Audiences lists the audiences this service answers to: the aud claim
	// must contain at least one. Empty is a configuration error unless
	// AnyAudience is set.
	Audiences []string
	// AnyAudience accepts tokens whatever their aud claim says. Use it only
	// where another layer checks the audience. It excludes Audiences.
	AnyAudience bool
	// Algorithms is the allow-list of signature algorithms. Empty allows
	// every asymmetric one (DefaultAlgorithms()). HMAC algorithms are allowed
	// only with static Keys.
	Algorithms []jose.Algorithm
	// Types lists the accepted values of the typ header, compared
	// case-insensitively and with or without "application/". Empty means
	// "at+jwt" (RFC 9068), so that an ID token is never taken for an access
	// token.
	Types []string
	// AllowUntypedTokens also accepts tokens whose typ is "JWT" or absent,
	// as many issuers' access tokens are.
	AllowUntypedTokens bool
	// ClaimMapping copies claims into Token.Claims under another name:
	// each entry maps a target claim name to a claim path in the token, as
	// ClaimPath reads it ("roles": "realm_access.roles"). When the path is
	// absent from a token, the target claim is removed, so that the mapping
	// alone decides it. Targets cannot be registered claims (iss, sub, aud,
	// exp, nbf, iat, jti) nor cnf.
	ClaimMapping map[string]string
	// RequiredClaims lists claims a token must carry, for example the
	// RFC 9068 set "sub", "client_id", "iat", "jti". exp is always
	// required.
	RequiredClaims []string
	// Leeway is the clock skew tolerated for exp, nbf and iat: zero means
	// jwt.DefaultLeeway, a negative value none.
	Leeway time.Duration
}

// DefaultAlgorithms returns the signature algorithms an issuer is allowed
// when its IssuerConfig lists none: every asymmetric one writ supports.
func DefaultAlgorithms() []jose.Algorithm {
	return []jose.Algorithm{
		jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
		jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	}
}

// Defaults of a Verifier's verified-token cache.
const (
	// DefaultTokenCacheSize is the number of verified tokens a Verifier
	// keeps unless WithCache says otherwise.
	DefaultTokenCacheSize = 10000
	// DefaultTokenCacheMaxAge bounds how long a verified token is served
	// from the cache (never past its exp either), so that a key the issuer
	// withdraws stops verifying cached tokens within this time.
	DefaultTokenCacheMaxAge = 5 * time.Minute
)

// VerifierOption configures a Verifier. Every Option of a RemoteKeySet is
// a VerifierOption too: WithHTTPClient, WithClock, WithMinRefreshInterval
// and WithMaxStale apply to every key set (and discovery) of the Verifier,
// and WithClock to its checks and its cache.
type VerifierOption interface {
	applyVerifier(*verifierConfig)
}

// verifierConfig is what VerifierOptions set.
type verifierConfig struct {
	keys        keySetConfig
	cacheSize   int
	cacheMaxAge time.Duration
}

func (o Option) applyVerifier(c *verifierConfig) { o(&c.keys) }

// verifierOptionFunc is a VerifierOption that only a Verifier takes.
type verifierOptionFunc func(*verifierConfig)

func (f verifierOptionFunc) applyVerifier(c *verifierConfig) { f(c) }

// WithCache sets the number of verified tokens the Verifier keeps, so that
// a token presented again is not verified again (DefaultTokenCacheSize
// without this option). Zero or less turns the cache off.
func WithCache(size int) VerifierOption {
	return verifierOptionFunc(func(c *verifierConfig) { c.cacheSize = max(size, 0) })
}

// WithoutCache turns the verified-token cache off: every Verify checks the
// signature.
func WithoutCache() VerifierOption { return WithCache(0) }

// WithCacheMaxAge bounds how long a verified token is served from the
// cache (DefaultTokenCacheMaxAge without this option); a token is never
// served past its exp whatever this says. Zero or less turns the cache off.
func WithCacheMaxAge(d time.Duration) VerifierOption {
	return verifierOptionFunc(func(c *verifierConfig) { c.cacheMaxAge = d })
}

// Verifier verifies JWT access tokens of several issuers. Each token is
// checked against the issuer its iss claim names, with that issuer's keys,
// audiences, algorithms and types; a token of any other issuer is refused
// before anything is fetched. It implements TokenVerifier and is safe for
// concurrent use. Create it once with NewVerifier and share it.
type Verifier struct {
	issuers map[string]*issuerVerifier
	order   []*issuerVerifier // as configured, for Status
	cache   *tokenCache       // nil when off
	now     func() time.Time
}

var _ TokenVerifier = (*Verifier)(nil)

// issuerVerifier is the verification policy of one issuer.
type issuerVerifier struct {
	cfg      IssuerConfig
	jwt      *jwt.Verifier
	types    []string // normalized accepted typ values; "" = absent
	mapping  []claimMap
	static   bool
	remote   *RemoteKeySet   // explicit JWKSURI
	discover *discoveredKeys // discovery
}

// claimMap is one entry of a ClaimMapping.
type claimMap struct {
	target string
	path   string
}

// NewVerifier returns a Verifier for issuers, or an error when a
// configuration is incomplete or inconsistent. It fetches nothing: key sets
// are discovered and fetched on the first token of their issuer; call
// Refresh to load them at start-up.
//
// ctx is the life of the Verifier's key sets: fetches run under it, not
// under the context of the request that caused them, and cancelling it
// makes every later fetch fail.
func NewVerifier(ctx context.Context, issuers []IssuerConfig, opts ...VerifierOption) (*Verifier, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if len(issuers) == 0 {
		return nil, errors.New("rs: NewVerifier needs at least one issuer")
	}
	cfg := verifierConfig{
		keys:        defaultKeySetConfig(),
		cacheSize:   DefaultTokenCacheSize,
		cacheMaxAge: DefaultTokenCacheMaxAge,
	}
	for _, o := range opts {
		if o != nil {
			o.applyVerifier(&cfg)
		}
	}
	v := &Verifier{issuers: make(map[string]*issuerVerifier, len(issuers)), now: cfg.keys.now}
	for i, ic := range issuers {
		if _, dup := v.issuers[ic.Issuer]; dup {
			return nil, fmt.Errorf("rs: issuer %q is configured twice", ic.Issuer)
		}
		iv, err := newIssuerVerifier(ctx, ic, cfg.keys)
		if err != nil {
			return nil, fmt.Errorf("rs: issuer %d (%q): %w", i, ic.Issuer, err)
		}
		v.issuers[ic.Issuer] = iv
		v.order = append(v.order, iv)
	}
	if cfg.cacheSize > 0 && cfg.cacheMaxAge > 0 {
		v.cache = newTokenCache(cfg.cacheSize, cfg.cacheMaxAge)
	}
	return v, nil
}

// isRegisteredClaim reports whether name is a claim a mapping cannot set:
// a registered claim that Verify checks, or cnf, which binds the token.
func isRegisteredClaim(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "cnf":
		return true
	}
	return false
}

func newIssuerVerifier(ctx context.Context, ic IssuerConfig, kc keySetConfig) (*issuerVerifier, error) {
	ic.Audiences = slices.Clone(ic.Audiences)
	ic.Algorithms = slices.Clone(ic.Algorithms)
	ic.Types = slices.Clone(ic.Types)
	ic.RequiredClaims = slices.Clone(ic.RequiredClaims)
	iv := &issuerVerifier{cfg: ic}
	if ic.Issuer == "" {
		return nil, errors.New("the issuer identifier is empty")
	}
	if len(ic.Audiences) == 0 && !ic.AnyAudience {
		return nil, errors.New("no Audiences (set AnyAudience to accept any)")
	}
	if len(ic.Audiences) > 0 && ic.AnyAudience {
		// AnyAudience would silently drop the audiences listed.
		return nil, errors.New("both Audiences and AnyAudience are set")
	}
	if slices.Contains(ic.Audiences, "") {
		return nil, errors.New("an audience is empty")
	}
	if len(ic.Algorithms) == 0 {
		ic.Algorithms = DefaultAlgorithms()
	}
	for _, a := range ic.Algorithms {
		if !a.IsSignature() {
			return nil, fmt.Errorf("%q is not a supported signature algorithm", a)
		}
		if a.IsSymmetric() && ic.Keys == nil {
			return nil, fmt.Errorf("%s needs static Keys: a published key set never holds secret keys", a)
		}
	}
	iv.types = normalizedTypes(ic.Types, ic.AllowUntypedTokens)
	for target, path := range ic.ClaimMapping {
		if target == "" || path == "" {
			return nil, errors.New("ClaimMapping has an empty target or path")
		}
		if isRegisteredClaim(target) {
			return nil, fmt.Errorf("ClaimMapping cannot set %q", target)
		}
		iv.mapping = append(iv.mapping, claimMap{target, path})
	}
	slices.SortFunc(iv.mapping, func(a, b claimMap) int { return strings.Compare(a.target, b.target) })

	var keys jwt.KeySource
	switch {
	case ic.Keys != nil && ic.JWKSURI != "":
		return nil, errors.New("both Keys and JWKSURI are set")
	case ic.Keys != nil:
		iv.static = true
		keys = jwt.StaticKeys(ic.Keys)
	case ic.JWKSURI != "":
		if err := checkHTTPURL(ic.JWKSURI); err != nil {
			return nil, fmt.Errorf("JWKSURI: %w", err)
		}
		iv.remote = newRemoteKeySet(ctx, ic.JWKSURI, kc)
		keys = iv.remote
	default:
		d, err := newDiscoveredKeys(ctx, ic.Issuer, kc)
		if err != nil {
			return nil, err
		}
		iv.discover = d
		keys = d
	}
	jv, err := jwt.NewVerifier(keys, jwt.Config{
		Issuer:            ic.Issuer,
		SkipAudienceCheck: true, // several audiences: checked by verify
		Algorithms:        ic.Algorithms,
		Leeway:            ic.Leeway,
		RequiredClaims:    ic.RequiredClaims,
		Now:               kc.now,
	})
	if err != nil {
		return nil, err
	}
	iv.jwt = jv
	return iv, nil
}

// checkHTTPURL reports whether u is an absolute http or https URL without
// a fragment.
func checkHTTPURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return errors.New("does not parse as a URL")
	}
	if (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return errors.New("must be an absolute http or https URL")
	}
	if p.Fragment != "" || strings.Contains(u, "#") {
		return errors.New("must not have a fragment")
	}
	return nil
}

// normalizedTypes returns the accepted typ values, normalized; "" stands
// for an absent typ.
func normalizedTypes(types []string, untyped bool) []string {
	var out []string
	for _, t := range types {
		out = append(out, strings.ToLower(normalizeType(t)))
	}
	if len(out) == 0 {
		out = append(out, jwt.TypeAccessToken)
	}
	if untyped {
		out = append(out, "jwt", "")
	}
	return out
}

// normalizeType strips an "application/" prefix (RFC 7515 §4.1.9).
func normalizeType(t string) string {
	if len(t) > 12 && strings.EqualFold(t[:12], "application/") {
		return t[12:]
	}
	return t
}

// Verify checks raw, a compact JWT, against the configuration of the
// issuer its iss claim names and returns its claims. A token verified
// before and not yet expired is answered from the cache. A token bound by
// its cnf claim in a way the Middleware cannot check (neither jkt nor
// x5t#S256) is invalid: it must not pass for a bearer token.
//
// Its errors wrap ErrInvalidToken when the token is bad (together with the
// jwt package's reason, such as jwt.ErrExpired or jwt.ErrAudience, and
// ErrUnknownIssuer for an issuer not configured), ErrKeySetUnavailable when
// the issuer's keys cannot be had, and ErrUnavailable when discovery fails
// or ctx ends while Verify waits for keys. No error message holds the token
// or any claim of it.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Token, error) {
	if v.cache != nil {
		if t := v.cache.get(raw, v.now()); t != nil {
			return t, nil
		}
	}
	iss, err := UnverifiedIssuer(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	iv := v.issuers[iss]
	if iv == nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrUnknownIssuer)
	}
	t, err := iv.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(raw, t, v.now())
	}
	return t, nil
}

// verify checks raw against iv's policy.
func (iv *issuerVerifier) verify(ctx context.Context, raw string) (*Token, error) {
	jt, err := iv.jwt.Verify(ctx, raw)
	if err != nil {
		return nil, iv.classify(err)
	}
	h := jt.Header()
	typ := strings.ToLower(normalizeType(h.Type))
	if !slices.Contains(iv.types, typ) {
		return nil, fmt.Errorf("%w: %w: typ is not accepted", ErrInvalidToken, jwt.ErrType)
	}
	c := jt.Claims()
	if !iv.cfg.AnyAudience && !slices.ContainsFunc(iv.cfg.Audiences, c.Audience.Contains) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, jwt.ErrAudience)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(jt.Payload()), &claims); err != nil {
		return nil, fmt.Errorf("%w: %w: claims: %v", ErrInvalidToken, jwt.ErrMalformed, err)
	}
	iv.applyMapping(claims)
	t := &Token{
		Raw:      raw,
		JWT:      jt,
		Issuer:   c.Issuer,
		Subject:  c.Subject,
		ID:       c.ID,
		Audience: []string(c.Audience),
		Claims:   claims,
	}
	if c.ExpiresAt != 0 {
		t.Expiry = c.ExpiresAt.Time()
	}
	if c.IssuedAt != 0 {
		t.IssuedAt = c.IssuedAt.Time()
	}
	if t.ClientID, _ = claims["client_id"].(string); t.ClientID == "" {
		t.ClientID, _ = claims["azp"].(string)
	}
	t.Scopes = ScopesFromClaims(claims)
	if cnf, ok := claims["cnf"]; ok {
		if t.JKT, t.X5TS256, err = confirmation(cnf); err != nil {
			return nil, fmt.Errorf("%w: %w: %w", ErrInvalidToken, jwt.ErrClaim, err)
		}
	}
	return t, nil
}

// confirmation reads a token's cnf claim (RFC 7800): its jkt (RFC 9449)
// and x5t#S256 (RFC 8705), the bindings the Middleware checks. A cnf that
// is not an object, whose jkt or x5t#S256 is not a non-empty string, or
// that holds neither binds the token in a way nothing here checks: it is
// an error, so that such a token is never taken for a bearer token.
func confirmation(v any) (jkt, x5t string, err error) {
	cnf, ok := v.(map[string]any)
	if !ok {
		return "", "", errors.New("cnf is not an object")
	}
	if j, ok := cnf["jkt"]; ok {
		if jkt, _ = j.(string); jkt == "" {
			return "", "", errors.New("cnf jkt is not a non-empty string")
		}
	}
	if x, ok := cnf["x5t#S256"]; ok {
		if x5t, _ = x.(string); x5t == "" {
			return "", "", errors.New("cnf x5t#S256 is not a non-empty string")
		}
	}
	if jkt == "" && x5t == "" {
		return "", "", errors.New("cnf binds the token by a method other than jkt or x5t#S256")
	}
	return jkt, x5t, nil
}

// classify wraps an error of jwt.Verify in the rs sentinel it stands for.
func (iv *issuerVerifier) classify(err error) error {
	if !errors.Is(err, jwt.ErrKeySource) {
		return fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if errors.Is(err, ErrKeySetUnavailable) || errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("rs: keys of issuer %q: %w", iv.cfg.Issuer, err)
	}
	// The caller's context ended while it waited, or a key source failed
	// in a way it did not classify: the token may be good.
	return fmt.Errorf("%w: keys of issuer %q: %w", ErrUnavailable, iv.cfg.Issuer, err)
}

// applyMapping sets the targets of iv's claim mapping in claims. All paths
// are read before any target is written, so the order does not matter.
func (iv *issuerVerifier) applyMapping(claims map[string]any) {
	if len(iv.mapping) == 0 {
		return
	}
	vals := make([]any, len(iv.mapping))
	found := make([]bool, len(iv.mapping))
	for i, m := range iv.mapping {
		vals[i], found[i] = ClaimPath(claims, m.path)
	}
	for i, m := range iv.mapping {
		if found[i] {
			claims[m.target] = vals[i]
		} else {
			delete(claims, m.target)
		}
	}
}

// ScopesFromClaims returns the scopes of a token's claims (as encoding/json
// decodes them into a map), as Token.Scopes holds them: the words of the
// space-separated scope claim when it is a string, else the strings of the
// scp claim, an array of strings or a space-separated string. Every
// TokenVerifier of this module reads scopes this way.
func ScopesFromClaims(claims map[string]any) []string {
	if s, ok := claims["scope"].(string); ok {
		return strings.Fields(s)
	}
	switch scp := claims["scp"].(type) {
	case string:
		return strings.Fields(scp)
	case []any:
		out := make([]string, 0, len(scp))
		for _, e := range scp {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// errNoIssuer is wrapped when a token has no iss claim.
var errNoIssuer = fmt.Errorf("%w: iss is missing", jwt.ErrIssuer)

// UnverifiedIssuer returns the iss claim of raw, a compact JWT, without
// checking anything else: not the signature, not the header. It is how a
// Verifier picks the issuer whose keys then verify the token, and must not
// be trusted on its own. The payload is decoded and parsed as strict JSON
// within the bounds a jwt.Verifier applies (jose.DefaultMaxSize,
// jose.DefaultMaxDepth); its errors wrap jwt.ErrMalformed, jwt.ErrTooLarge
// or jwt.ErrIssuer.
func UnverifiedIssuer(raw string) (string, error) {
	if len(raw) > jose.DefaultMaxSize {
		return "", fmt.Errorf("%w: %d bytes, limit %d", jwt.ErrTooLarge, len(raw), jose.DefaultMaxSize)
	}
	dot1 := strings.IndexByte(raw, '.')
	if dot1 < 0 {
		return "", fmt.Errorf("%w: want three segments", jwt.ErrMalformed)
	}
	rest := raw[dot1+1:]
	dot2 := strings.IndexByte(rest, '.')
	if dot2 < 0 {
		return "", fmt.Errorf("%w: want three segments", jwt.ErrMalformed)
	}
	seg := rest[:dot2]
	enc := base64.RawURLEncoding.Strict()
	if strings.ContainsAny(seg, "\r\n") {
		return "", fmt.Errorf("%w: character outside base64url", jwt.ErrMalformed)
	}
	var stack [1024]byte
	buf := stack[:0]
	if n := enc.DecodedLen(len(seg)); n > len(stack) {
		buf = make([]byte, 0, n)
	}
	buf, err := enc.AppendDecode(buf, []byte(seg))
	if err != nil {
		return "", fmt.Errorf("%w: payload is not canonical base64url", jwt.ErrMalformed)
	}
	var membersBuf [16]strictjson.Member
	members, err := strictjson.ParseObject(string(buf), jose.DefaultMaxDepth, membersBuf[:0])
	if err != nil {
		return "", fmt.Errorf("%w: claims: %v", jwt.ErrMalformed, err)
	}
	for _, m := range members {
		if m.Name == "iss" {
			iss, err := strictjson.String(m.Value)
			if err != nil {
				return "", fmt.Errorf("%w: iss is not a string", jwt.ErrClaim)
			}
			return iss, nil
		}
	}
	return "", errNoIssuer
}

// Status reports the state of each issuer's keys, in the order the
// issuers were configured, for metrics and readiness checks.
func (v *Verifier) Status() []IssuerStatus {
	now := v.now()
	out := make([]IssuerStatus, 0, len(v.order))
	for _, iv := range v.order {
		out = append(out, iv.status(now))
	}
	return out
}

// CacheStats returns the counters of the verified-token cache; all zero
// when the cache is off.
func (v *Verifier) CacheStats() CacheStats {
	if v.cache == nil {
		return CacheStats{}
	}
	return v.cache.stats()
}

// Refresh discovers and fetches the key sets of every issuer now, ignoring
// the rate limit, and returns what failed, joined. It is meant for
// start-up and readiness checks, not to be called per request; the keys
// refresh themselves as tokens need them.
func (v *Verifier) Refresh(ctx context.Context) error {
	var errs []error
	for _, iv := range v.order {
		var err error
		switch {
		case iv.remote != nil:
			err = iv.remote.Refresh(ctx)
		case iv.discover != nil:
			err = iv.discover.refresh(ctx)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rs: issuer %q: %w", iv.cfg.Issuer, err))
		}
	}
	return errors.Join(errs...)
}

// KeyOrigin names where an issuer's keys come from, in IssuerStatus.
type KeyOrigin string

// Where an issuer's keys come from.
const (
	// KeysStatic: IssuerConfig.Keys, never fetched.
	KeysStatic KeyOrigin = "static"
	// KeysJWKSURI: IssuerConfig.JWKSURI.
	KeysJWKSURI KeyOrigin = "jwks_uri"
	// KeysDiscovered: the jwks_uri of the issuer's metadata.
	KeysDiscovered KeyOrigin = "discovery"
)

// IssuerStatus is the state of one issuer's keys. It never holds key
// material or secrets.
type IssuerStatus struct {
	// Issuer is the configured issuer identifier.
	Issuer string
	// Source says where the keys come from.
	Source KeyOrigin
	// JWKSURI is the URL the keys are fetched from (without a password);
	// empty for static keys and before discovery has succeeded.
	JWKSURI string
	// Keys is the number of keys served.
	Keys int
	// LastFetch is when the keys served were fetched; zero for static keys
	// and before the first successful fetch.
	LastFetch time.Time
	// KeyAge is how long ago LastFetch was; zero when LastFetch is.
	KeyAge time.Duration
	// LastError is the error of the last discovery or fetch, empty when it
	// succeeded. Non-empty means an outage of the issuer's endpoints.
	LastError string
	// Fetches counts the JWKS fetches made so far, FetchErrors those of
	// them that failed (discovery attempts not included).
	Fetches, FetchErrors uint64
	// Stale reports that the keys served have outlived their lifetime,
	// which happens only while refreshes fail (or before the next token
	// of the issuer refreshes them).
	Stale bool
	// Available reports whether there are keys to verify with. When false,
	// tokens of this issuer fail with ErrKeySetUnavailable or
	// ErrUnavailable (a 503, not a 401).
	Available bool
}

func (iv *issuerVerifier) status(now time.Time) IssuerStatus {
	st := IssuerStatus{Issuer: iv.cfg.Issuer}
	var ks *RemoteKeySet
	switch {
	case iv.static:
		st.Source, st.Keys, st.Available = KeysStatic, iv.cfg.Keys.Len(), true
		return st
	case iv.remote != nil:
		st.Source, ks = KeysJWKSURI, iv.remote
	default:
		st.Source = KeysDiscovered
		var derr error
		ks, derr = iv.discover.current()
		if ks == nil {
			if derr != nil {
				st.LastError = derr.Error()
			}
			return st
		}
	}
	kst := ks.Status()
	st.JWKSURI, st.Keys, st.LastFetch = kst.URL, kst.Keys, kst.LastFetch
	st.LastError, st.Stale, st.Available = kst.LastError, kst.Stale, kst.Available
	st.Fetches, st.FetchErrors = kst.Fetches, kst.FetchErrors
	if !st.LastFetch.IsZero() {
		st.KeyAge = max(now.Sub(st.LastFetch), 0)
	}
	return st
}
