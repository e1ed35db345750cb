package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

// The common case of a redemption and of a rotation is written as one
// statement (data-modifying CTEs, one round trip, atomic by itself) instead
// of a transaction of seven or eight round trips. When the statement
// changes nothing (the code was redeemed or expired, the token rotated,
// revoked or expired, or anything does not match), the caller falls back
// to the transaction, which locks, tells those cases apart and handles
// them (a reuse revokes the family).

// issueParams are the parameters both statements share: $1 the old
// credential's hash, $2 now, then what was issued.
func issueParams(hash []byte, now time.Time, issue store.Issue) []any {
	a := issue.Access
	var (
		accessHash                   []byte
		kind, subject                any
		scopes, audience             any
		issuedAt, expiresAt, extra   any
		rtHash                       []byte
		family, session, acr         any
		rtScopes, rtAudience, rtAMR  any
		authTime, created, rtExpires any
		famExpires                   any
		jkt, delegationID            string
		famExtra                     []byte
	)
	if r := a.Opaque; r != nil {
		accessHash = r.Hash
		kind, subject, scopes, audience = r.Kind, r.Subject, list(r.Scopes), list(r.Audience)
		issuedAt, expiresAt, extra = r.IssuedAt, r.ExpiresAt, nullBytes(r.Extra)
	}
	if t := issue.Refresh; t != nil {
		rtHash, family, session, acr = t.Hash, t.FamilyID, t.SessionID, t.ACR
		rtScopes, rtAudience, rtAMR = list(t.Scopes), list(t.Audience), list(t.AMR)
		authTime, created, rtExpires, famExpires = t.AuthTime, t.CreatedAt, t.ExpiresAt, t.FamilyExpiresAt.Truncate(store.TimePrecision)
		jkt, delegationID, famExtra = t.JKT, t.DelegationID, t.Extra
	}
	return []any{
		hash, now, // $1, $2
		a.JTI, nullBytes(accessHash), a.ExpiresAt, // $3 jti, $4 opaque hash, $5 revocation expiry
		kind, subject, scopes, audience, issuedAt, expiresAt, extra, // $6–$12 the opaque record
		nullBytes(rtHash), family, session, rtScopes, rtAudience, authTime, rtAMR, acr, created, rtExpires, // $13–$22
		famExpires,                             // $23
		jkt, delegationID, nullBytes(famExtra), // $24–$26 the family's binding
	}
}

// issueCTEs insert the opaque access token (the opaque shape, when $4 is
// set) and the new refresh token (when $13 is set) for each row of the
// CTE named from, which yields client_id and user_id; newFamily inserts
// the family first. Without the opaque shape the statement has no INSERT
// into tokens, whose table and three indexes PostgreSQL would otherwise
// open and lock for every JWT redemption or rotation, and $6–$12 are only
// given their types, so that both shapes take the same parameters.
func issueCTEs(from string, newFamily, opaque bool) string {
	q := `, tok AS (
	SELECT $6::text, $7::text, $8::text[], $9::text[], $10::timestamptz, $11::timestamptz, $12::bytea
)`
	if opaque {
		q = `, tok AS (
	INSERT INTO tokens (hash, kind, client_id, subject, scopes, audience, issued_at, expires_at, revoked, extra)
	SELECT $4::bytea, $6::text, ` + from + `.client_id, $7::text, $8::text[], $9::text[], $10::timestamptz, $11::timestamptz, false, $12::bytea
	FROM ` + from + ` WHERE $4::bytea IS NOT NULL
)`
	}
	famID := from + `.family_id`
	if newFamily {
		q += `, fam AS (
	INSERT INTO refresh_families (id, client_id, user_id, expires_at, revoked, jkt, delegation_id, extra)
	SELECT $14::text, ` + from + `.client_id, ` + from + `.user_id, $23::timestamptz, false, $24::text, $25::text, $26::bytea
	FROM ` + from + ` WHERE $13::bytea IS NOT NULL
	RETURNING id
)`
		from, famID = "fam", "fam.id"
	}
	return q + `, rt AS (
	INSERT INTO refresh_tokens (hash, family_id, session_id, scopes, audience, auth_time, amr, acr,
		created_at, expires_at, rotated_at, access_jti, access_hash, access_expires_at)
	SELECT $13::bytea, ` + famID + `, $15::text, $16::text[], $17::text[], $18::timestamptz, $19::text[], $20::text,
		$21::timestamptz, $22::timestamptz, NULL, $3::text, $4::bytea, $5::timestamptz
	FROM ` + from + ` WHERE $13::bytea IS NOT NULL
)`
}

// auditCTE queues one audit event, the nine parameters from $base (when
// the second, its type, is set), in audit_pending for each row of the CTE
// named from: the event is in the same statement as the change, so a
// redemption or rotation with its event stays one round trip.
func auditCTE(from string, base int) string {
	p := func(i int, typ string) string { return "$" + strconv.Itoa(base+i) + "::" + typ }
	return `, aud AS (
	INSERT INTO audit_pending (` + pendingColumns + `)
	SELECT ` + p(0, "timestamptz") + `, ` + p(1, "text") + `, ` + p(2, "text") + `, ` + p(3, "text") + `, ` +
		p(4, "text[]") + `, ` + p(5, "text") + `, ` + p(6, "text") + `, ` + p(7, "text") + `, ` + p(8, "bytea") + `
	FROM ` + from + ` WHERE ` + p(1, "text") + ` IS NOT NULL
)`
}

// auditParams are auditCTE's parameters for events; ok is false when the
// statement cannot carry them (more than one event: the caller runs the
// transaction of withAudit instead).
func auditParams(events []store.AuditEvent) (params []any, ok bool) {
	switch len(events) {
	case 0:
		return make([]any, 9), true
	case 1:
		e := events[0]
		return []any{e.Time.Truncate(store.TimePrecision).UTC(), e.Type, e.ClientID, e.Subject, list(e.Actors),
			e.DelegationID, e.By, e.RequestID, nullBytes(e.Details)}, true
	}
	return nil, false
}

// fastAudited runs fn, a one-statement fast path given the audit
// parameters of events, in a commit shared with concurrent callers'
// (groupCommit) when the statement can carry the events and ctx holds no
// pending audit intent; otherwise in withAudit's transaction, with the
// statement's own audit parameters empty.
func (s *Store) fastAudited(ctx context.Context, events []store.AuditEvent, fn func(q rowQuerier, audit []any) (bool, error)) (bool, error) {
	if params, ok := auditParams(events); ok && !store.AuditPending(ctx) {
		return fn(s.group, params)
	}
	none, _ := auditParams(nil)
	return s.withAudit(ctx, events, func(q rowQuerier) (bool, error) { return fn(q, none) })
}

// issueOwner is the client and user the issue is for, from its refresh
// token or opaque access token; ok is false when the two disagree.
func issueOwner(issue store.Issue) (clientID, userID string, ok bool) {
	if t := issue.Refresh; t != nil {
		clientID, userID = t.ClientID, t.UserID
	}
	if r := issue.Access.Opaque; r != nil {
		if clientID != "" && (r.ClientID != clientID || r.Subject != userID) {
			return "", "", false
		}
		clientID, userID = r.ClientID, r.Subject
	}
	return clientID, userID, true
}

// redeemSQL locks the code by its primary key alone (in a materialized
// CTE) and checks the rest on the locked row: with conditions on indexed
// columns next to the key, a planner with stale statistics (a table that
// just grew) picked the client's index and filtered thousands of rows.
var redeemSQL = [2]string{redeemStatement(false), redeemStatement(true)}

// redeemStatement is redeemSQL's statement for a JWT access token, or an
// opaque one.
func redeemStatement(opaque bool) string {
	return `WITH cur AS MATERIALIZED (
	SELECT hash, client_id, user_id, used_at, expires_at FROM auth_codes WHERE hash = $1 FOR UPDATE
), code AS (
	UPDATE auth_codes a SET used_at = $2, issued_family_id = COALESCE($14::text, ''), issued_access_jti = $3,
		issued_access_hash = $4, issued_access_expires_at = $5
	FROM cur
	WHERE a.hash = cur.hash AND cur.used_at IS NULL AND cur.expires_at > $2
		AND ($27::text = '' OR (cur.client_id = $27 AND cur.user_id = $28))
	RETURNING ` + prefixed("a", authCodeColumns) + `
)` + issueCTEs("code", true, opaque) + auditCTE("code", 29) + `
SELECT ` + authCodeColumns + ` FROM code`
}

// prefixed qualifies each column of a comma-separated list with table.
func prefixed(table, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = table + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// redeemFast redeems an unused, unexpired code matching the issue in one
// statement; ok is false when it changed nothing.
func (s *Store) redeemFast(ctx context.Context, hash []byte, now time.Time, issue store.Issue) (c store.AuthCode, ok bool, err error) {
	clientID, userID, match := issueOwner(issue)
	if !match {
		return store.AuthCode{}, false, nil
	}
	args := append(issueParams(hash, now, issue), clientID, userID)
	ok, err = s.fastAudited(ctx, issue.Audit, func(q rowQuerier, audit []any) (bool, error) {
		c, err = scanAuthCode(q.QueryRow(ctx, redeemSQL[shape(issue)], append(args, audit...)...))
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil || !ok {
		return store.AuthCode{}, false, classify(err)
	}
	return c, true, nil
}

// rotateSQL locks the family by its primary key alone, for the reason
// given at redeemSQL, and checks the rest on the locked row.
var rotateSQL = [2]string{rotateStatement(false), rotateStatement(true)}

// rotateStatement is rotateSQL's statement for a JWT access token, or an
// opaque one.
func rotateStatement(opaque bool) string {
	return `WITH fam AS MATERIALIZED (
	SELECT id, client_id, user_id, expires_at, revoked, jkt, delegation_id, extra FROM refresh_families
	WHERE id = (SELECT family_id FROM refresh_tokens WHERE hash = $1)
	FOR UPDATE
), old AS (
	UPDATE refresh_tokens t SET rotated_at = $2 FROM fam
	WHERE t.hash = $1 AND t.family_id = fam.id AND t.rotated_at IS NULL AND t.expires_at > $2
		AND fam.id = $14 AND fam.client_id = $27 AND fam.user_id = $28 AND fam.expires_at = $23
		AND fam.jkt = $24 AND fam.delegation_id = $25 AND fam.extra IS NOT DISTINCT FROM $26
		AND NOT fam.revoked AND fam.expires_at > $2
	RETURNING t.hash, t.family_id, fam.client_id, fam.user_id, t.session_id, t.scopes, t.audience, t.auth_time,
		t.amr, t.acr, t.created_at, t.expires_at, t.rotated_at, fam.jkt, fam.delegation_id, fam.extra
)` + issueCTEs("old", false, opaque) + auditCTE("old", 29) + `
SELECT hash, family_id, client_id, user_id, session_id, scopes, audience, auth_time, amr, acr,
	created_at, expires_at, rotated_at, jkt, delegation_id, extra FROM old`
}

// shape indexes redeemSQL and rotateSQL for issue: 1 when its access
// token is opaque.
func shape(issue store.Issue) int {
	if issue.Access.Opaque != nil {
		return 1
	}
	return 0
}

// rotateFast rotates an unrotated, live token of a live family matching
// the issue in one statement; ok is false when it changed nothing.
func (s *Store) rotateFast(ctx context.Context, oldHash []byte, now time.Time, issue store.Issue) (old store.RefreshToken, ok bool, err error) {
	clientID, userID, match := issueOwner(issue)
	if !match {
		return store.RefreshToken{}, false, nil
	}
	args := append(issueParams(oldHash, now, issue), clientID, userID)
	var rotated time.Time
	ok, err = s.fastAudited(ctx, issue.Audit, func(q rowQuerier, audit []any) (bool, error) {
		err := q.QueryRow(ctx, rotateSQL[shape(issue)], append(args, audit...)...).Scan(&old.Hash, &old.FamilyID, &old.ClientID, &old.UserID,
			&old.SessionID, &old.Scopes, &old.Audience, &old.AuthTime, &old.AMR, &old.ACR, &old.CreatedAt, &old.ExpiresAt, &rotated,
			&old.JKT, &old.DelegationID, &old.Extra)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil || !ok {
		return store.RefreshToken{}, false, classify(err)
	}
	old.Scopes, old.Audience, old.AMR = nonEmptyList(old.Scopes), nonEmptyList(old.Audience), nonEmptyList(old.AMR)
	old.Extra = nonEmpty(old.Extra)
	old.AuthTime, old.CreatedAt, old.ExpiresAt = old.AuthTime.UTC(), old.CreatedAt.UTC(), old.ExpiresAt.UTC()
	old.FamilyExpiresAt = issue.Refresh.FamilyExpiresAt.Truncate(store.TimePrecision).UTC()
	old.RotatedAt = rotated.UTC()
	return old, true, nil
}
