package grant

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
)

// IDJAGType is the typ header of an Identity Assertion JWT Authorization
// Grant (draft-ietf-oauth-identity-assertion-authz-grant).
const IDJAGType = "oauth-id-jag+jwt"

// IDJAGProfile is the authorization grant profile of ID-JAGs, which an
// authorization server that redeems them lists in its metadata
// (authorization_grant_profiles_supported, §7.2 of the draft).
const IDJAGProfile = "urn:ietf:params:oauth:grant-profile:id-jag"

// Bounds of the JWT bearer grant.
const (
	// MaxAssertionSize bounds the assertion parameter, in bytes.
	MaxAssertionSize = 16 << 10
	// MaxAssertionLifetime bounds exp - now of an assertion: its jti is
	// remembered until exp, so a far exp would pin a replay record.
	MaxAssertionLifetime = time.Hour
)

// JWTBearer is the JWT bearer grant (RFC 7523 §2.1): a client presents a
// JWT of an issuer writ trusts (store.TrustedIssuer with use
// store.TrustJWTBearer), or an ID-JAG (typ oauth-id-jag+jwt, use
// store.TrustIDJAG), and gets an access token for the assertion's subject.
//
// The issuer's TrustRules decide: a rule must name the authenticated
// client (or "*"); the token's audience is within the rule's Audiences
// and the client's Audiences, its scopes within the rule's Scopes and the
// client's Scopes (an empty list in the rule leaves the client's). Each
// assertion is single use (its jti, per issuer). The access token's sub
// is the assertion's sub unchanged (not namespaced: the trust rules say
// which issuer may assert for which client, and the audit event records
// the issuer), its client_id the client's id. No refresh token is issued:
// the client presents a fresh assertion instead.
type JWTBearer struct {
	Minter *mint.Minter
	// External verifies the assertions (internal/trust.Registry).
	External ExternalTokens
	// Replay records each assertion's jti.
	Replay store.ReplayStore
	// Audit receives a store.AuditJWTBearer or store.AuditIDJAGRedeemed
	// event per token issued; nil records none.
	Audit store.AuditStore
	// Issuer is writ's issuer identifier, TokenEndpoint its token
	// endpoint URL: the audiences an assertion may name (an ID-JAG: the
	// issuer only).
	Issuer        string
	TokenEndpoint string
	// DefaultAudience is the aud when neither the request, the assertion,
	// the rule nor the client names one.
	DefaultAudience string
	// DefaultTTL is the access token lifetime when the client sets none.
	DefaultTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives refusals worth an operator's attention; nil
	// discards them.
	Logger *slog.Logger
}

func (g *JWTBearer) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// Handle implements Handler.
func (g *JWTBearer) Handle(ctx context.Context, req *Request) (*Response, error) {
	c := &req.Client.Client
	if req.Client.Method == oauth.AuthNone {
		return nil, oauth.UnauthorizedClient("public clients may not use the jwt-bearer grant")
	}
	if err := checkGrantAllowed(c, TypeJWTBearer); err != nil {
		return nil, err
	}
	raw := req.Form.Get("assertion")
	if raw == "" {
		return nil, oauth.InvalidRequest("assertion is required")
	}
	if len(raw) > MaxAssertionSize {
		return nil, oauth.InvalidGrant("assertion is too large")
	}
	jws, err := jose.ParseCompact(raw, MaxAssertionSize)
	if err != nil {
		if e := assertionRejected(err); e != nil {
			return nil, e
		}
		return nil, oauth.InvalidGrant("assertion is not a JWT")
	}
	idjag := isIDJAG(jws.Header.Type)
	use, auds := store.TrustJWTBearer, []string{g.Issuer, g.TokenEndpoint}
	if idjag {
		use, auds = store.TrustIDJAG, []string{g.Issuer}
	}
	tok, iss, err := g.External.Verify(ctx, raw, use, auds)
	if err != nil {
		return nil, g.verifyFailed(ctx, req, err)
	}
	claims := tok.Claims()
	now := g.now()
	if claims.ID == "" || len(claims.ID) > store.MaxIDLength || !utf8.ValidString(claims.ID) || strings.IndexByte(claims.ID, 0) >= 0 {
		return nil, oauth.InvalidGrant("assertion must carry a jti (single use)")
	}
	exp := claims.ExpiresAt.Time()
	if exp.Sub(now) > MaxAssertionLifetime {
		return nil, oauth.InvalidGrant("assertion expires too far in the future (at most %s)", MaxAssertionLifetime)
	}

	wantAud := req.Form.All("resource")
	wantScopes, err := oauth.ParseScope(req.Form.Get("scope"))
	if err != nil {
		return nil, err
	}
	narrow := false
	if idjag {
		if wantAud, wantScopes, narrow, err = idjagRequest(tok, c, wantAud, wantScopes); err != nil {
			return nil, err
		}
	}
	if err := checkResources(wantAud); err != nil {
		return nil, err
	}
	aud, scopes, err := admit(iss.Rules, c, wantAud, wantScopes, narrow, g.DefaultAudience)
	if err != nil {
		return nil, err
	}

	ttl := c.AccessTokenTTL
	if ttl <= 0 {
		ttl = g.DefaultTTL
	}
	var extra map[string]any
	tokenType := "Bearer"
	if c.Agent != nil {
		if c.Agent.MaxTokenTTL > 0 && ttl > c.Agent.MaxTokenTTL {
			ttl = c.Agent.MaxTokenTTL
		}
		if c.Agent.RequireDPoP && req.DPoPKey == "" {
			return nil, oauth.InvalidRequest("this agent must present a DPoP proof")
		}
	}
	if req.DPoPKey != "" {
		tokenType = "DPoP"
	}
	extra = withCnf(extra, req.DPoPKey, certBinding(req))

	// Minted in memory first, so that the audit event can name the token;
	// nothing is written before the assertion's single use.
	issued, err := g.Minter.PrepareContext(ctx, mint.AccessToken{
		ClientID: c.ID,
		Subject:  claims.Subject,
		Scopes:   scopes,
		Audience: aud,
		TTL:      ttl,
		Format:   c.AccessTokenFormat,
		Extra:    extra,
	})
	if err != nil {
		return nil, mintFailed(err)
	}
	// Single use, checked last so that a refused request consumes nothing;
	// the audit event is committed with the use (store.RunAudited).
	useJTI := func(ctx context.Context) error {
		return g.Replay.UseJTI(ctx, replayKey(iss.Issuer), claims.ID, exp.Add(jwt.DefaultLeeway))
	}
	if g.Audit != nil {
		typ := store.AuditJWTBearer
		if idjag {
			typ = store.AuditIDJAGRedeemed
		}
		details, _ := json.Marshal(map[string]any{
			"issuer": iss.Issuer, "assertion_jti": claims.ID, "audience": aud, "scope": scopes, "token_jti": issued.ID,
		})
		event := store.AuditEvent{
			Time: now, Type: typ, ClientID: c.ID, Subject: claims.Subject,
			RequestID: req.RequestID, Details: details,
		}
		err = store.RunAudited(ctx, store.AppendAuditsFunc(g.Audit), []store.AuditEvent{event}, useJTI)
	} else {
		err = useJTI(ctx)
	}
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		g.log().LogAttrs(ctx, slog.LevelWarn, "jwt-bearer assertion replayed",
			slog.String("client_id", c.ID), slog.String("issuer", iss.Issuer),
			slog.String("source", req.SourceAddr), slog.String("request_id", req.RequestID))
		return nil, oauth.InvalidGrant("assertion was already used")
	case errors.Is(err, store.ErrAuditNotRecorded):
		// A grant that cannot be audited is not given out.
		return nil, oauth.ServerError(fmt.Errorf("audit jwt-bearer grant: %w", err))
	case err != nil:
		return nil, oauth.ServerError(fmt.Errorf("record assertion jti: %w", err))
	}
	if err := g.Minter.Store(ctx, issued); err != nil {
		return nil, mintFailed(err)
	}
	return &Response{
		AccessToken: issued.Value,
		TokenType:   tokenType,
		ExpiresIn:   issued.ExpiresIn(),
		Scope:       oauth.JoinScope(scopes),
	}, nil
}

func (g *JWTBearer) log() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// isIDJAG reports whether a typ header names an ID-JAG.
func isIDJAG(typ string) bool {
	if len(typ) > 12 && strings.EqualFold(typ[:12], "application/") {
		typ = typ[12:]
	}
	return strings.EqualFold(typ, IDJAGType)
}

// replayKey is the ReplayStore key of an issuer's assertions: bounded in
// length, and never equal to a client id (private_key_jwt uses those).
func replayKey(issuer string) string {
	sum := sha256.Sum256([]byte(issuer))
	return "jwt-bearer:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// idjagRequest applies the ID-JAG's claims: its client_id must be the
// client; its resource and scope are what is asked for, which the request's
// own resource and scope parameters may only narrow. narrow reports that
// the scopes are the ID-JAG's, to be narrowed by the rule rather than
// refused when the rule allows fewer.
func idjagRequest(tok *jwt.Token, c *store.Client, formAud, formScopes []string) (aud, scopes []string, narrow bool, err error) {
	cid, ok := tok.StringClaim("client_id")
	if !ok {
		return nil, nil, false, oauth.InvalidGrant("the ID-JAG has no client_id")
	}
	if cid != c.ID {
		return nil, nil, false, oauth.InvalidGrant("the ID-JAG was issued to another client")
	}
	var jagAud []string
	if raw, ok := tok.Claim("resource"); ok {
		if raw != "" && raw[0] == '[' {
			jagAud, err = strictjson.AppendStrings(nil, raw)
		} else {
			var s string
			s, err = strictjson.String(raw)
			jagAud = []string{s}
		}
		if err != nil || len(jagAud) == 0 {
			return nil, nil, false, oauth.InvalidGrant("the ID-JAG's resource must be a string or an array of strings")
		}
	}
	var jagScopes []string
	if raw, ok := tok.Claim("scope"); ok {
		s, err := strictjson.String(raw)
		if err != nil {
			return nil, nil, false, oauth.InvalidGrant("the ID-JAG's scope must be a string")
		}
		if jagScopes, err = oauth.ParseScope(s); err != nil {
			return nil, nil, false, oauth.InvalidGrant("the ID-JAG's scope is malformed")
		}
	}
	aud = jagAud
	if formAud != nil {
		if jagAud != nil && !oauth.Subset(formAud, jagAud) {
			return nil, nil, false, oauth.InvalidTarget("resource must be among the ID-JAG's resources")
		}
		aud = formAud
	}
	if formScopes != nil {
		if jagScopes != nil && !oauth.Subset(formScopes, jagScopes) {
			return nil, nil, false, oauth.InvalidScope("the requested scope exceeds the ID-JAG's")
		}
		return aud, formScopes, false, nil
	}
	return aud, jagScopes, jagScopes != nil, nil
}

// checkResources checks RFC 8707 resource indicators: absolute URIs
// without a fragment, bounded.
func checkResources(resources []string) error {
	for _, r := range resources {
		if len(r) > MaxResourceLen {
			return oauth.InvalidTarget("resource is too long")
		}
		u, err := url.Parse(r)
		if err != nil || !u.IsAbs() || u.Fragment != "" || u.RawFragment != "" || r[len(r)-1] == '#' {
			return oauth.InvalidTarget("resource must be an absolute URI without a fragment")
		}
	}
	return nil
}

// admit finds a rule that admits client c for the audiences and scopes
// asked (nil: the defaults) and returns what the token carries. Rules
// naming the client come before "*" rules; the first that admits wins,
// and when none does, the first one's refusal is returned.
func admit(rules []store.TrustRule, c *store.Client, wantAud, wantScopes []string, narrow bool, def string) ([]string, []string, error) {
	var first error
	for _, exact := range []bool{true, false} {
		for _, r := range rules {
			if (exact && r.ClientID != c.ID) || (!exact && r.ClientID != "*") {
				continue
			}
			aud, scopes, err := admitRule(r, c, wantAud, wantScopes, narrow, def)
			if err == nil {
				return aud, scopes, nil
			}
			if first == nil {
				first = err
			}
		}
	}
	if first == nil {
		first = oauth.InvalidGrant("this issuer's assertions are not accepted from this client")
	}
	return nil, nil, first
}

func admitRule(r store.TrustRule, c *store.Client, wantAud, wantScopes []string, narrow bool, def string) ([]string, []string, error) {
	allowedAud := c.Audiences
	if len(r.Audiences) > 0 {
		allowedAud = intersectOrdered(r.Audiences, c.Audiences)
	}
	var aud []string
	switch {
	case len(wantAud) > 0:
		for _, a := range wantAud {
			if !slices.Contains(allowedAud, a) {
				return nil, nil, oauth.InvalidTarget("this client may not get tokens for that resource with this assertion")
			}
			if !slices.Contains(aud, a) {
				aud = append(aud, a)
			}
		}
	case len(allowedAud) > 0:
		aud = allowedAud[:1:1]
	case len(r.Audiences) == 0:
		aud = []string{def}
	default:
		return nil, nil, oauth.InvalidTarget("no audience is allowed to this client for this issuer")
	}
	allowedScopes := c.Scopes
	if len(r.Scopes) > 0 {
		allowedScopes = intersectOrdered(r.Scopes, c.Scopes)
	}
	var scopes []string
	switch {
	case wantScopes == nil:
		scopes = slices.Clone(allowedScopes)
	case narrow:
		scopes = intersectOrdered(wantScopes, allowedScopes)
		if len(wantScopes) > 0 && len(scopes) == 0 {
			return nil, nil, oauth.InvalidScope("none of the ID-JAG's scopes is allowed to this client")
		}
	default:
		if !oauth.Subset(wantScopes, allowedScopes) {
			return nil, nil, oauth.InvalidScope("the requested scope exceeds what this client may get with this assertion")
		}
		scopes = wantScopes
	}
	return aud, scopes, nil
}

// intersectOrdered returns the members of a that are in b, in a's order.
func intersectOrdered(a, b []string) []string {
	out := make([]string, 0, len(a))
	for _, s := range a {
		if slices.Contains(b, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// verifyFailed maps a failed ExternalTokens.Verify to the RFC 7521 §5.2
// error: invalid_grant with a short reason that never echoes the token;
// the issuer's keys unreachable is temporarily_unavailable; a store or
// configuration failure is a server error.
func (g *JWTBearer) verifyFailed(ctx context.Context, req *Request, err error) error {
	switch {
	case errors.Is(err, ErrUntrustedIssuer):
		e := oauth.InvalidGrant("the assertion's issuer is not trusted for this grant")
		e.Cause = err
		return e
	case errors.Is(err, rs.ErrKeySetUnavailable):
		return oauth.TemporarilyUnavailable(err, "the assertion issuer's keys cannot be fetched; retry later")
	case errors.Is(err, jwt.ErrKeySource):
		g.log().LogAttrs(ctx, slog.LevelError, "trusted issuer unusable",
			slog.String("client_id", req.Client.Client.ID), slog.String("request_id", req.RequestID), slog.Any("error", err))
		return oauth.ServerError(err)
	}
	if e := assertionRejected(err); e != nil {
		return e
	}
	return oauth.ServerError(err)
}

// assertionRejected is invalid_grant for a token that fails a jwt check,
// or nil when err is none of them.
func assertionRejected(err error) *oauth.Error {
	for _, s := range []error{jwt.ErrExpired, jwt.ErrNotYetValid, jwt.ErrIssuer, jwt.ErrAudience, jwt.ErrSignature,
		jwt.ErrKeyNotFound, jwt.ErrAlgorithm, jwt.ErrClaim, jwt.ErrMalformed, jwt.ErrCritical, jwt.ErrTooLarge, jwt.ErrType} {
		if errors.Is(err, s) {
			e := oauth.InvalidGrant("assertion rejected: %s", strings.TrimPrefix(s.Error(), "jwt: "))
			e.Cause = err
			return e
		}
	}
	return nil
}
