package grant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
)

// Recorder records audit events that have no store transaction of their
// own, before the response is sent (internal/audit.Appender: group
// commit).
type Recorder interface {
	Append(ctx context.Context, events ...store.AuditEvent) error
}

// issuedDetails are the Details of a token event: what was issued, never
// a token value.
type issuedDetails struct {
	GrantType string   `json:"grant_type"`
	Scope     string   `json:"scope,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	Format    string   `json:"format,omitempty"`
	Family    string   `json:"family_id,omitempty"`
	DPoP      bool     `json:"dpop,omitempty"`
	Source    string   `json:"source,omitempty"`
}

// appendJSON appends d as encoding/json would marshal it (but for HTML
// characters, which it leaves unescaped), without reflection: every
// token issued builds one. A value that is not valid UTF-8, which the
// store would refuse, goes through encoding/json, which replaces it.
func (d issuedDetails) appendJSON(b []byte) []byte {
	start := len(b)
	b = append(b, `{"grant_type":`...)
	b = strictjson.AppendString(b, d.GrantType)
	if d.Scope != "" {
		b = strictjson.AppendString(append(b, `,"scope":`...), d.Scope)
	}
	if len(d.Audience) > 0 {
		b = strictjson.AppendStringArray(append(b, `,"aud":`...), d.Audience)
	}
	for _, f := range [...]struct{ name, value string }{{"jti", d.JTI}, {"format", d.Format}, {"family_id", d.Family}} {
		if f.value != "" {
			b = strictjson.AppendString(append(b, `,"`+f.name+`":`...), f.value)
		}
	}
	if d.DPoP {
		b = append(b, `,"dpop":true`...)
	}
	if d.Source != "" {
		b = strictjson.AppendString(append(b, `,"source":`...), d.Source)
	}
	b = append(b, '}')
	if !utf8.Valid(b[start:]) {
		m, _ := json.Marshal(d) // plain strings and lists: cannot fail
		b = append(b[:start], m...)
	}
	return b
}

// tokenEvent is the audit event of a token issued to clientID for subject.
func tokenEvent(typ string, req *Request, subject string, d issuedDetails, now time.Time) store.AuditEvent {
	d.DPoP = req.DPoPKey != ""
	d.Source = req.SourceAddr
	details := d.appendJSON(make([]byte, 0, 160))
	return store.AuditEvent{
		Time: now, Type: typ, ClientID: req.Client.Client.ID, Subject: subject,
		RequestID: req.RequestID, Details: details,
	}
}

// auditIssue adds to issue the audit event recording it (AuditTokenIssued
// for a redemption, AuditTokenRefreshed for a rotation), which the store
// appends in the redemption's or rotation's transaction. Nothing is added
// when t.Audit is off.
func (t *Tokens) auditIssue(issue *store.Issue, req *Request, grantType string, g grantState, now time.Time) {
	if !t.Audit {
		return
	}
	typ := store.AuditTokenIssued
	if grantType == TypeRefreshToken {
		typ = store.AuditTokenRefreshed
	}
	d := issuedDetails{GrantType: grantType, Scope: oauth.JoinScope(g.scopes), Audience: g.audience,
		JTI: issue.Access.JTI, Format: g.client.AccessTokenFormat}
	if issue.Refresh != nil {
		d.Family = issue.Refresh.FamilyID
	}
	issue.Audit = append(issue.Audit, tokenEvent(typ, req, g.user.ID, d, now))
}

// auditedReuse runs revoke, the one store call revoking what a sign of
// credential theft (typ AuditCodeReplayed or AuditRefreshReused) calls
// for, with the event recording it committed in that call's transaction
// (store.RunAudited; on its own, through the recorder, when the call
// committed nothing). The event failing on its own is logged: the
// revocation has happened. Without a recorder the audit is off.
func (t *Tokens) auditedReuse(ctx context.Context, req *Request, typ, grantType, subject, family string, revoke func(ctx context.Context) error) error {
	if t.Recorder == nil {
		return revoke(ctx)
	}
	e := tokenEvent(typ, req, subject, issuedDetails{GrantType: grantType, Family: family}, t.now())
	err := store.RunAudited(ctx, t.Recorder.Append, []store.AuditEvent{e}, revoke)
	if errors.Is(err, store.ErrAuditNotRecorded) {
		t.log().LogAttrs(ctx, slog.LevelError, "audit append failed",
			slog.String("type", typ), slog.String("request_id", req.RequestID), slog.Any("error", err))
		return nil
	}
	return err
}

// auditReuse records a sign of credential theft whose revocation the
// store made on its own (a concurrent rotation that lost), through the
// recorder; a failure is logged (the revocation itself has happened).
func (t *Tokens) auditReuse(ctx context.Context, req *Request, typ, grantType, subject, family string) {
	if t.Recorder == nil {
		return
	}
	e := tokenEvent(typ, req, subject, issuedDetails{GrantType: grantType, Family: family}, t.now())
	if err := t.Recorder.Append(ctx, e); err != nil {
		t.log().LogAttrs(ctx, slog.LevelError, "audit append failed",
			slog.String("type", typ), slog.String("request_id", req.RequestID), slog.Any("error", err))
	}
}

// recordIssued records a token issued outside any store transaction (a
// client credentials JWT, or an opaque token after its record): the
// response is refused when the event cannot be recorded.
func recordIssued(ctx context.Context, r Recorder, e store.AuditEvent) error {
	if r == nil {
		return nil
	}
	if err := r.Append(ctx, e); err != nil {
		return oauth.ServerError(fmt.Errorf("audit: %w", err))
	}
	return nil
}
