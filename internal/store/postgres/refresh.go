package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

// Every change to a family's tokens (rotation, adding a token) locks the
// family row first, then the token row; revocations change only family
// rows, taking them in ID order. A revocation therefore cannot miss a token
// added concurrently, and the lock order rules out deadlocks between these
// operations.

// selectRefreshToken reads a token with its family's client, user, expiry
// and revocation.
const selectRefreshToken = `SELECT t.hash, t.family_id, f.client_id, f.user_id, t.session_id,
	t.scopes, t.audience, t.auth_time, t.amr, t.acr, t.created_at, t.expires_at,
	f.expires_at, t.rotated_at, f.revoked, f.jkt, f.delegation_id, f.extra
	FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id`

func scanRefreshToken(row pgx.Row) (store.RefreshToken, error) {
	var (
		t       store.RefreshToken
		rotated *time.Time
	)
	err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &t.SessionID,
		&t.Scopes, &t.Audience, &t.AuthTime, &t.AMR, &t.ACR, &t.CreatedAt, &t.ExpiresAt,
		&t.FamilyExpiresAt, &rotated, &t.Revoked, &t.JKT, &t.DelegationID, &t.Extra)
	if err != nil {
		return store.RefreshToken{}, err
	}
	t.Extra = nonEmpty(t.Extra)
	t.Scopes, t.Audience, t.AMR = nonEmptyList(t.Scopes), nonEmptyList(t.Audience), nonEmptyList(t.AMR)
	t.AuthTime, t.CreatedAt, t.ExpiresAt = t.AuthTime.UTC(), t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	t.FamilyExpiresAt = t.FamilyExpiresAt.UTC()
	t.RotatedAt = fromOptionalTime(rotated)
	return t, nil
}

// family is a refresh_families row.
type family struct {
	clientID, userID string
	expiresAt        time.Time
	revoked          bool
	// binding holds the family's JKT, DelegationID and Extra.
	binding store.RefreshToken
}

// insertFamily starts t's family unless it exists.
const insertFamily = `INSERT INTO refresh_families (id, client_id, user_id, expires_at, revoked, jkt, delegation_id, extra)
	VALUES ($1, $2, $3, $4, false, $5, $6, $7)`

// familyValues are insertFamily's arguments for t.
func familyValues(t store.RefreshToken) []any {
	return []any{t.FamilyID, t.ClientID, t.UserID, t.FamilyExpiresAt, t.JKT, t.DelegationID, nullBytes(t.Extra)}
}

// checkFamily reports whether t may join the family f.
func checkFamily(f family, t store.RefreshToken) error {
	if f.clientID != t.ClientID || f.userID != t.UserID ||
		!f.expiresAt.Equal(t.FamilyExpiresAt.Truncate(store.TimePrecision)) {
		return fmt.Errorf("%w: the token's client, user or family expiry differ from its family's", store.ErrInvalid)
	}
	if !store.SameFamilyBinding(f.binding, t) {
		return fmt.Errorf("%w: the token's jkt, delegation ID or extra differ from its family's", store.ErrInvalid)
	}
	if f.revoked {
		return fmt.Errorf("%w: the refresh token family is revoked", store.ErrNotFound)
	}
	return nil
}

// insertRefreshToken inserts t's row; t's family row must exist (and be
// locked by the transaction).
func insertRefreshToken(ctx context.Context, tx pgx.Tx, t store.RefreshToken, a store.IssuedAccess) error {
	var accessHash []byte
	if a.Opaque != nil {
		accessHash = a.Opaque.Hash
	}
	tag, err := tx.Exec(ctx, `INSERT INTO refresh_tokens
		(hash, family_id, session_id, scopes, audience, auth_time, amr, acr, created_at, expires_at, rotated_at,
		access_jti, access_hash, access_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12, $13)
		ON CONFLICT (hash) DO NOTHING`,
		t.Hash, t.FamilyID, t.SessionID, list(t.Scopes), list(t.Audience), t.AuthTime, list(t.AMR), t.ACR,
		t.CreatedAt, t.ExpiresAt, a.JTI, nullBytes(accessHash), optionalTime(a.ExpiresAt))
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrAlreadyExists
	}
	return nil
}

// checkFamilyDelegation refuses a token of a stored delegation that is
// revoked, or below one that is (store.ErrNotFound): the refresh grant
// relies on a revocation revoking the families, so one started after it
// would live on. The client row is locked FOR KEY SHARE first, as the
// family's insert would, so that the delegations' locks never come
// between a DeleteClient's lock of the client and its cascade.
func checkFamilyDelegation(ctx context.Context, tx pgx.Tx, t store.RefreshToken) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM clients WHERE id = $1 FOR KEY SHARE`, t.ClientID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return classify(err)
	}
	exists, revoked, err := lockDelegationChain(ctx, tx, t.DelegationID)
	if err != nil {
		return classify(err)
	}
	if exists && revoked {
		return fmt.Errorf("%w: the delegation is revoked", store.ErrNotFound)
	}
	return nil
}

// CreateRefreshToken stores a new refresh token, starting its family if
// the family does not exist yet, with the family row locked; a token of a
// stored delegation that is revoked, or below one that is, is refused
// (store.ErrNotFound).
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
	}
	defer rollback(ctx, tx)
	if t.DelegationID != "" {
		if err := checkFamilyDelegation(ctx, tx, t); err != nil {
			return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
		}
	}
	// Start the family unless it exists; an unknown client or user is a
	// foreign-key violation, classified as ErrNotFound. Then lock it.
	if _, err := tx.Exec(ctx, insertFamily+` ON CONFLICT (id) DO NOTHING`, familyValues(t)...); err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
	}
	var f family
	if err := tx.QueryRow(ctx, `SELECT client_id, user_id, expires_at, revoked, jkt, delegation_id, extra FROM refresh_families
		WHERE id = $1 FOR UPDATE`, t.FamilyID).Scan(&f.clientID, &f.userID, &f.expiresAt, &f.revoked,
		&f.binding.JKT, &f.binding.DelegationID, &f.binding.Extra); err != nil {
		// ErrNoRows: the family was deleted (its client or user with it)
		// between the two statements.
		if errors.Is(err, pgx.ErrNoRows) {
			err = store.ErrNotFound
		}
		return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
	}
	f.binding.Extra = nonEmpty(f.binding.Extra)
	if err := checkFamily(f, t); err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
	}
	if err := insertRefreshToken(ctx, tx, t, store.IssuedAccess{}); err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store/postgres: create refresh token: %w", classify(err))
	}
	return nil
}

// GetRefreshToken returns the token with the given hash, or
// store.ErrNotFound.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	if len(hash) != sha256.Size {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: get refresh token: %w", store.ErrNotFound)
	}
	t, err := scanRefreshToken(s.reads.QueryRow(ctx, selectRefreshToken+` WHERE t.hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: get refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/postgres: get refresh token: %w", classify(err))
	}
	return t, nil
}

// GetRefreshTokenUser returns the token with the given hash and its user
// (a zero User if the user is gone), or store.ErrNotFound, in one round
// trip (withUser).
func (s *Store) GetRefreshTokenUser(ctx context.Context, hash []byte) (store.RefreshToken, store.User, error) {
	return withUser(ctx, s, "store/postgres: get refresh token and user", hash,
		selectRefreshToken+` WHERE t.hash = $1`, scanRefreshToken,
		`SELECT f.user_id `+familyOfHash)
}

// familyOfHash joins the family of the token whose hash is $1.
const familyOfHash = `FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1`

// consentRead is a consent read ahead of a plan that may ask for it: the
// consent, or the error GetConsent would return.
type consentRead struct {
	c   store.Consent
	err error
}

// getRefreshTokenUserConsent is GetRefreshTokenUser with the user's
// consent to the token's client read in the same batch (one round trip;
// the consent is read whether the plan asks for it or not, which costs
// the database one index lookup).
func (s *Store) getRefreshTokenUserConsent(ctx context.Context, hash []byte) (store.RefreshToken, store.User, consentRead, error) {
	const op = "store/postgres: get refresh token, user and consent"
	var cs consentRead
	t, u, err := withUser(ctx, s, op, hash, selectRefreshToken+` WHERE t.hash = $1`, scanRefreshToken,
		`SELECT f.user_id `+familyOfHash,
		batchRead{query: selectConsent + ` WHERE (user_id, client_id) = (SELECT f.user_id, f.client_id ` + familyOfHash + `)`,
			scan: func(row pgx.Row) (err error) {
				cs.c, err = scanConsent(row)
				return err
			},
			done: func(err error) {
				switch {
				case errors.Is(err, pgx.ErrNoRows):
					cs.c, cs.err = store.Consent{}, fmt.Errorf("store/postgres: get consent: %w", store.ErrNotFound)
				case err != nil:
					cs.c, cs.err = store.Consent{}, fmt.Errorf("store/postgres: get consent: %w", classify(err))
				}
			}})
	return t, u, cs, err
}

// RotateRefreshTokenWith reads the old token, its user and the user's
// consent to its client in one round trip, plans the issue, and rotates
// with it (RotateRefreshToken: one statement when nothing changed in
// between): two round trips in all.
func (s *Store) RotateRefreshTokenWith(ctx context.Context, oldHash []byte, now time.Time, plan store.RefreshPlan) (store.RefreshToken, error) {
	const op = "store/postgres: rotate refresh token"
	if err := store.CheckExpiry("rotation time", now); err != nil {
		return store.RefreshToken{}, fmt.Errorf("%s: %w", op, err)
	}
	old, u, cs, err := s.getRefreshTokenUserConsent(ctx, oldHash)
	if err != nil {
		return store.RefreshToken{}, err
	}
	issue, err := plan(&old, &u, func() (store.Consent, error) { return cs.c, cs.err })
	if err != nil {
		return old, fmt.Errorf("%s: %w", op, err)
	}
	return s.RotateRefreshToken(ctx, oldHash, now, issue)
}

// RotateRefreshToken exchanges the old token for issue.Refresh and stores
// issue's access token in one transaction, with the family row locked
// first and then the token row (SELECT ... FOR UPDATE); a reuse revokes
// the family with its access tokens (and commits that).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, now time.Time, issue store.Issue) (store.RefreshToken, error) {
	const op = "store/postgres: rotate refresh token"
	if err := issue.Validate(); err != nil {
		return store.RefreshToken{}, fmt.Errorf("%s: %w", op, err)
	}
	if issue.Refresh == nil {
		return store.RefreshToken{}, fmt.Errorf("%s: %w: no new refresh token", op, store.ErrInvalid)
	}
	if err := store.CheckExpiry("rotation time", now); err != nil {
		return store.RefreshToken{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(oldHash) != sha256.Size {
		return store.RefreshToken{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	// The one-statement path rotates; a refresh without rotation
	// (issue.KeepPresented) takes the transaction below.
	if !issue.KeepPresented {
		if old, ok, err := s.rotateFast(ctx, oldHash, now, issue); err != nil {
			return store.RefreshToken{}, fmt.Errorf("%s: %w", op, err)
		} else if ok {
			return old, nil
		}
	}
	// Nothing changed: find out why (a reuse revokes the family), with the
	// family and the token locked.
	var old store.RefreshToken
	reused := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Lock the family first (a token's family never changes), then the
		// token; no rows means the token (or its family) does not exist.
		var familyID string
		err := tx.QueryRow(ctx, `SELECT f.id FROM refresh_families f
			WHERE f.id = (SELECT family_id FROM refresh_tokens WHERE hash = $1) FOR UPDATE`, oldHash).Scan(&familyID)
		if err == nil {
			old, err = scanRefreshToken(tx.QueryRow(ctx, selectRefreshToken+` WHERE t.hash = $1 FOR UPDATE OF t`, oldHash))
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if !old.RotatedAt.IsZero() {
			// A reuse, even in a family revoked already (by an earlier
			// reuse, such as a concurrent rotation of the same token): the
			// revocation is committed.
			reused = true
			if old.Revoked {
				return nil
			}
			old.Revoked = true
			_, err := revokeFamilies(ctx, tx, `id = $1`, old.FamilyID)
			return err
		}
		if err := store.CheckRotation(old, now, issue); err != nil {
			return err
		}
		if issue.KeepPresented {
			// A refresh without rotation: the presented token slides.
			if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET expires_at = $2 WHERE hash = $1`, oldHash, issue.Refresh.ExpiresAt.Truncate(store.TimePrecision)); err != nil {
				return err
			}
		} else if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET rotated_at = $2 WHERE hash = $1`, oldHash, now); err != nil {
			return err
		}
		return writeIssue(ctx, tx, issue, false)
	})
	switch {
	case reused && err == nil:
		return old, fmt.Errorf("%s: %w: the family is revoked", op, store.ErrReused)
	case errors.Is(err, store.ErrNotFound) && old.Hash == nil:
		return store.RefreshToken{}, fmt.Errorf("%s: %w", op, err)
	case err != nil:
		return old, fmt.Errorf("%s: %w", op, err)
	}
	if issue.KeepPresented {
		old.ExpiresAt = issue.Refresh.ExpiresAt.Truncate(store.TimePrecision).UTC()
		return old, nil
	}
	old.RotatedAt = now.Truncate(store.TimePrecision).UTC()
	return old, nil
}

// writeIssue stores what a redemption or rotation issued: the opaque
// access token's record and the new refresh token (starting its family
// when newFamily) with the access token recorded on its row.
func writeIssue(ctx context.Context, tx pgx.Tx, issue store.Issue, newFamily bool) error {
	if r := issue.Access.Opaque; r != nil {
		if err := insertToken(ctx, tx, *r); err != nil {
			return err
		}
	}
	t := issue.Refresh
	if t == nil {
		return appendIssueAudit(ctx, tx, issue)
	}
	if newFamily {
		if _, err := tx.Exec(ctx, insertFamily, familyValues(*t)...); err != nil {
			return classify(err)
		}
	}
	if err := insertRefreshToken(ctx, tx, *t, issue.Access); err != nil {
		return err
	}
	return appendIssueAudit(ctx, tx, issue)
}

// appendIssueAudit queues the issue's audit events, if any, in its
// transaction (appendAudits: no lock; SealAudit chains them).
func appendIssueAudit(ctx context.Context, tx pgx.Tx, issue store.Issue) error {
	if len(issue.Audit) == 0 {
		return nil
	}
	_, err := appendAudits(ctx, tx, issue.Audit)
	return err
}

// revokeFamilies locks the families selected by cond (a condition on
// refresh_families with its arguments) in ID order, revokes them and
// every access token issued under them (recorded on their tokens' rows),
// and returns how many families it matched.
func revokeFamilies(ctx context.Context, tx pgx.Tx, cond string, args ...any) (int64, error) {
	sel := `SELECT id FROM refresh_families WHERE ` + cond
	tag, err := tx.Exec(ctx, sel+` ORDER BY id FOR UPDATE`, args...)
	if err != nil {
		return 0, classify(err)
	}
	n := tag.RowsAffected()
	if n == 0 {
		return 0, nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO revoked_jtis (jti, expires_at)
		SELECT access_jti, max(access_expires_at) FROM refresh_tokens WHERE family_id IN (`+sel+`) AND access_jti <> ''
		GROUP BY access_jti ORDER BY access_jti
		ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(revoked_jtis.expires_at, excluded.expires_at)`, args...); err != nil {
		return 0, classify(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tokens SET revoked = true WHERE hash IN
		(SELECT access_hash FROM refresh_tokens WHERE family_id IN (`+sel+`) AND access_hash IS NOT NULL)`, args...); err != nil {
		return 0, classify(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE refresh_families SET revoked = true WHERE `+cond, args...); err != nil {
		return 0, classify(err)
	}
	return n, nil
}

// revokeAccess revokes one access token: a JWT's jti until expiresAt, or
// an opaque token's record (gone already is not an error).
func revokeAccess(ctx context.Context, tx pgx.Tx, jti string, hash []byte, expiresAt time.Time) error {
	if jti != "" {
		_, err := tx.Exec(ctx, `INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2)
			ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(revoked_jtis.expires_at, excluded.expires_at)`, jti, expiresAt)
		return classify(err)
	}
	if hash != nil {
		_, err := tx.Exec(ctx, `UPDATE tokens SET revoked = true WHERE hash = $1`, hash)
		return classify(err)
	}
	return nil
}

// RevokeRefreshFamily revokes the family and its access tokens;
// idempotent; store.ErrNotFound for an unknown family.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	if store.CheckID("family ID", familyID) != nil {
		return fmt.Errorf("store/postgres: revoke refresh family: %w", store.ErrNotFound)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n, err := revokeFamilies(ctx, tx, `id = $1`, familyID)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store/postgres: revoke refresh family: %w", classify(err))
	}
	return nil
}

// RevokeUserRefreshTokens revokes every family of the user, with its
// access tokens.
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string) error {
	if store.CheckID("user ID", userID) != nil {
		return nil
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := revokeFamilies(ctx, tx, `user_id = $1`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store/postgres: revoke user refresh tokens: %w", classify(err))
	}
	return nil
}

// RevokeClientUserRefreshTokens revokes the user's families at the client,
// with their access tokens.
func (s *Store) RevokeClientUserRefreshTokens(ctx context.Context, clientID, userID string) error {
	if store.CheckID("client ID", clientID) != nil || store.CheckID("user ID", userID) != nil {
		return nil
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := revokeFamilies(ctx, tx, `client_id = $1 AND user_id = $2`, clientID, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store/postgres: revoke client user refresh tokens: %w", classify(err))
	}
	return nil
}
