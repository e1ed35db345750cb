package grant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
	"github.com/writ-dev/writ/jose"
)

// Lifetimes of the ID-JAGs writ issues.
const (
	// DefaultIDJAGTTL is the lifetime of an ID-JAG when none is set.
	DefaultIDJAGTTL = 5 * time.Minute
	// MaxIDJAGTTL bounds it: an ID-JAG is a short-lived grant.
	MaxIDJAGTTL = 5 * time.Minute
)

// IDJAGMinter is writ as the IdP of draft-ietf-oauth-identity-assertion-
// authz-grant: it mints ID-JAGs (typ oauth-id-jag+jwt) signed by the key
// ring's active key, for token exchange to hand to the client, which
// presents it to the resource authorization server (aud) with the
// jwt-bearer grant. It implements IDJAGIssuer.
//
// The ID-JAG carries iss, sub, aud (the resource AS's issuer identifier),
// client_id, jti, iat, exp (at most MaxIDJAGTTL away), resource and scope
// when asked, and auth_time, acr and amr copied from the subject token.
type IDJAGMinter struct {
	// Issuer is writ's issuer identifier (iss).
	Issuer string
	// Keys supplies the signing key (the key ring).
	Keys mint.SigningKeys
	// Audit receives a store.AuditIDJAGIssued event per ID-JAG; nil
	// records none.
	Audit store.AuditStore
	// TTL is the lifetime; zero means DefaultIDJAGTTL, more than
	// MaxIDJAGTTL is cut to it.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ IDJAGIssuer = (*IDJAGMinter)(nil)

// IssueIDJAG implements IDJAGIssuer. The caller (token exchange) has
// checked the subject token and the client's policy; IssueIDJAG checks that
// the request is complete, signs, and records the audit event. An audit
// failure fails the issue: the ID-JAG is not handed out.
func (m *IDJAGMinter) IssueIDJAG(ctx context.Context, req IDJAGRequest) (string, int64, error) {
	if req.Client == nil || req.Client.ID == "" || req.Subject == "" || req.Audience == "" {
		return "", 0, errors.New("grant: an ID-JAG needs a client, a subject and an audience")
	}
	ttl := m.TTL
	if ttl <= 0 {
		ttl = DefaultIDJAGTTL
	}
	ttl = min(ttl, MaxIDJAGTTL)
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	now = now.Truncate(time.Second)
	exp := now.Add(ttl)
	key, err := m.Keys.Signer()
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", mint.ErrNoSigningKey, err)
	}
	jti := opaque.Random(16)

	p := make([]byte, 0, 512)
	p = append(p, `{"iss":`...)
	p = strictjson.AppendString(p, m.Issuer)
	p = append(p, `,"sub":`...)
	p = strictjson.AppendString(p, req.Subject)
	p = append(p, `,"aud":`...)
	p = strictjson.AppendString(p, req.Audience)
	p = append(p, `,"client_id":`...)
	p = strictjson.AppendString(p, req.Client.ID)
	p = append(p, `,"jti":`...)
	p = strictjson.AppendString(p, jti)
	p = append(p, `,"iat":`...)
	p = strconv.AppendInt(p, now.Unix(), 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, exp.Unix(), 10)
	switch len(req.Resources) {
	case 0:
	case 1:
		p = append(p, `,"resource":`...)
		p = strictjson.AppendString(p, req.Resources[0])
	default:
		p = strictjson.AppendStringArray(append(p, `,"resource":`...), req.Resources)
	}
	if len(req.Scopes) > 0 {
		p = append(p, `,"scope":`...)
		p = strictjson.AppendString(p, strings.Join(req.Scopes, " "))
	}
	if st := req.SubjectToken; st != nil {
		// Copied as signed by the subject token's issuer, when of the
		// right JSON type.
		if v, ok := st.Claim("auth_time"); ok {
			if _, err := strictjson.Number(v); err == nil {
				p = append(p, `,"auth_time":`...)
				p = append(p, v...)
			}
		}
		if v, ok := st.StringClaim("acr"); ok {
			p = append(p, `,"acr":`...)
			p = strictjson.AppendString(p, v)
		}
		if v, ok := st.Claim("amr"); ok {
			if amr, err := strictjson.AppendStrings(nil, v); err == nil && len(amr) > 0 {
				p = append(p, `,"amr":`...)
				p = append(p, v...)
			}
		}
	}
	p = append(p, '}')
	tok, err := jose.Sign(key, p, &jose.SignOptions{Type: IDJAGType})
	if err != nil {
		return "", 0, fmt.Errorf("grant: sign ID-JAG: %w", err)
	}
	if m.Audit != nil {
		details, _ := json.Marshal(map[string]any{
			"audience": req.Audience, "resource": req.Resources, "scope": req.Scopes, "jti": jti,
		})
		if _, err := m.Audit.AppendAudit(ctx, store.AuditEvent{
			Time: now, Type: store.AuditIDJAGIssued, ClientID: req.Client.ID, Subject: req.Subject,
			RequestID: req.RequestID, Details: details,
		}); err != nil {
			return "", 0, fmt.Errorf("grant: audit ID-JAG: %w", err)
		}
	}
	return tok, int64(ttl / time.Second), nil
}
