package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// selectRefreshToken reads a token with its family's client, user, expiry
// and revocation.
const selectRefreshToken = `SELECT t.hash, t.family_id, f.client_id, f.user_id, t.session_id,
	t.scopes, t.audience, t.auth_time, t.amr, t.acr, t.created_at, t.expires_at,
	f.expires_at, t.rotated_at, f.revoked, f.jkt, f.delegation_id, f.extra
	FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id`

func scanRefreshToken(row scanner) (store.RefreshToken, error) {
	var (
		t                                         store.RefreshToken
		scopes, aud, amr                          string
		auth, created, expiresAt, familyExpiresAt int64
		rotated                                   sql.NullInt64
		revoked                                   int64
		extra                                     []byte
	)
	err := row.Scan(&t.Hash, &t.FamilyID, &t.ClientID, &t.UserID, &t.SessionID,
		&scopes, &aud, &auth, &amr, &t.ACR, &created, &expiresAt,
		&familyExpiresAt, &rotated, &revoked, &t.JKT, &t.DelegationID, &extra)
	if err != nil {
		return store.RefreshToken{}, err
	}
	t.Extra = nonEmpty(extra)
	for _, l := range []struct {
		dst *[]string
		src string
	}{{&t.Scopes, scopes}, {&t.Audience, aud}, {&t.AMR, amr}} {
		if *l.dst, err = decodeList(l.src); err != nil {
			return store.RefreshToken{}, err
		}
	}
	t.AuthTime, t.CreatedAt, t.ExpiresAt = decodeTime(auth), decodeTime(created), decodeTime(expiresAt)
	t.FamilyExpiresAt = decodeTime(familyExpiresAt)
	t.RotatedAt = decodeOptionalTime(rotated)
	t.Revoked = revoked != 0
	return t, nil
}

// family is a refresh_families row.
type family struct {
	clientID, userID string
	expiresAt        int64
	revoked          bool
	// binding holds the family's JKT, DelegationID and Extra.
	binding store.RefreshToken
}

// selectFamily reads a family row into family's fields (familyDest).
const selectFamily = `SELECT client_id, user_id, expires_at, revoked, jkt, delegation_id, extra FROM refresh_families`

// insertFamily starts t's family.
const insertFamily = `INSERT INTO refresh_families (id, client_id, user_id, expires_at, revoked, jkt, delegation_id, extra)
	VALUES (?, ?, ?, ?, 0, ?, ?, ?)`

// familyValues are insertFamily's arguments for t.
func familyValues(t store.RefreshToken) []any {
	return []any{t.FamilyID, t.ClientID, t.UserID, encodeTime(t.FamilyExpiresAt), t.JKT, t.DelegationID, nullBytes(t.Extra)}
}

// checkFamily reports whether t may join the family f.
func checkFamily(f family, t store.RefreshToken) error {
	if f.clientID != t.ClientID || f.userID != t.UserID || f.expiresAt != encodeTime(t.FamilyExpiresAt) {
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

// insertRefreshToken inserts t's row, with the access token issued with
// it (the zero IssuedAccess for none); t's family row must exist.
func insertRefreshToken(ctx context.Context, tx execer, t store.RefreshToken, a store.IssuedAccess) error {
	var lists [3]string
	for i, l := range [][]string{t.Scopes, t.Audience, t.AMR} {
		var err error
		if lists[i], err = encodeList(l); err != nil {
			return err
		}
	}
	var accessHash []byte
	if a.Opaque != nil {
		accessHash = a.Opaque.Hash
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens
		(hash, family_id, session_id, scopes, audience, auth_time, amr, acr, created_at, expires_at, rotated_at,
		access_jti, access_hash, access_expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)
		ON CONFLICT (hash) DO NOTHING`,
		t.Hash, t.FamilyID, t.SessionID, lists[0], lists[1], encodeTime(t.AuthTime), lists[2], t.ACR,
		encodeTime(t.CreatedAt), encodeTime(t.ExpiresAt), a.JTI, nullBytes(accessHash), encodeOptionalTime(a.ExpiresAt))
	if err != nil {
		return classify(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return store.ErrAlreadyExists
	}
	return nil
}

// CreateRefreshToken stores a new refresh token, starting its family if
// the family does not exist yet, in one BEGIN IMMEDIATE transaction; a
// token of a stored delegation that is revoked, or below one that is, is
// refused (store.ErrNotFound).
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: create refresh token: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store/sqlite: create refresh token: %w", classify(err))
	}
	defer rollback(tx)
	if t.DelegationID != "" {
		// The refresh grant relies on a revocation revoking the families,
		// so one started after it would live on.
		exists, revoked, err := delegationChainRevoked(ctx, tx, t.DelegationID)
		if err != nil {
			return fmt.Errorf("store/sqlite: create refresh token: %w", classify(err))
		}
		if exists && revoked {
			return fmt.Errorf("store/sqlite: create refresh token: %w: the delegation is revoked", store.ErrNotFound)
		}
	}
	var (
		f       family
		revoked int64
		extra   []byte
	)
	err = tx.QueryRowContext(ctx, selectFamily+` WHERE id = ?`, t.FamilyID).Scan(&f.clientID, &f.userID, &f.expiresAt, &revoked,
		&f.binding.JKT, &f.binding.DelegationID, &extra)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// A new family; an unknown client or user is a foreign-key
		// violation, classified as ErrNotFound.
		if _, err := tx.ExecContext(ctx, insertFamily, familyValues(t)...); err != nil {
			return fmt.Errorf("store/sqlite: create refresh token: %w", classify(err))
		}
	case err != nil:
		return fmt.Errorf("store/sqlite: create refresh token: %w", classify(err))
	default:
		f.revoked = revoked != 0
		f.binding.Extra = nonEmpty(extra)
		if err := checkFamily(f, t); err != nil {
			return fmt.Errorf("store/sqlite: create refresh token: %w", err)
		}
	}
	if err := insertRefreshToken(ctx, tx, t, store.IssuedAccess{}); err != nil {
		return fmt.Errorf("store/sqlite: create refresh token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store/sqlite: create refresh token: %w", classify(err))
	}
	return nil
}

// GetRefreshToken returns the token with the given hash, or
// store.ErrNotFound.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	if len(hash) != sha256.Size {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: get refresh token: %w", store.ErrNotFound)
	}
	// On a reader, as GetAuthCode: the writer is left to the rotations.
	t, err := scanRefreshToken(s.r.QueryRowContext(ctx, selectRefreshToken+` WHERE t.hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: get refresh token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: get refresh token: %w", classify(err))
	}
	return t, nil
}

// GetRefreshTokenUser returns the token with the given hash and its user
// (a zero User if the user is gone), or store.ErrNotFound: two reads, as
// GetAuthCodeUser.
func (s *Store) GetRefreshTokenUser(ctx context.Context, hash []byte) (store.RefreshToken, store.User, error) {
	t, err := s.GetRefreshToken(ctx, hash)
	return withUser(ctx, s, t, t.UserID, err)
}

// RotateRefreshToken exchanges the old token for issue.Refresh and stores
// issue's access token in one BEGIN IMMEDIATE transaction; a reuse revokes
// the family (and commits that).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, now time.Time, issue store.Issue) (store.RefreshToken, error) {
	if err := checkRotationIssue(issue); err != nil {
		return store.RefreshToken{}, fmt.Errorf("store/sqlite: rotate refresh token: %w", err)
	}
	return s.rotate(ctx, oldHash, now, nil, issue)
}

// RotateRefreshTokenWith reads the old token and its user, plans the
// issue and rotates, in one BEGIN IMMEDIATE transaction on the writer.
func (s *Store) RotateRefreshTokenWith(ctx context.Context, oldHash []byte, now time.Time, plan store.RefreshPlan) (store.RefreshToken, error) {
	return s.rotate(ctx, oldHash, now, plan, store.Issue{})
}

// checkRotationIssue refuses an issue no rotation can store.
func checkRotationIssue(issue store.Issue) error {
	if err := issue.Validate(); err != nil {
		return err
	}
	if issue.Refresh == nil {
		return fmt.Errorf("%w: no new refresh token", store.ErrInvalid)
	}
	return nil
}

// rotate is RotateRefreshTokenWith with plan, or RotateRefreshToken of
// issue when plan is nil.
func (s *Store) rotate(ctx context.Context, oldHash []byte, now time.Time, plan store.RefreshPlan, issue store.Issue) (store.RefreshToken, error) {
	const op = "store/sqlite: rotate refresh token"
	if err := store.CheckExpiry("rotation time", now); err != nil {
		return store.RefreshToken{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(oldHash) != sha256.Size {
		return store.RefreshToken{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var old store.RefreshToken
	reused := false
	err := s.inTx(ctx, func(tx dbtx) error {
		var err error
		old, err = scanRefreshToken(tx.QueryRowContext(ctx, selectRefreshToken+` WHERE t.hash = ?`, oldHash))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if plan != nil {
			u, err := scanUser(tx.QueryRowContext(ctx, selectUser+` WHERE id = ?`, old.UserID))
			if errors.Is(err, sql.ErrNoRows) {
				u, err = store.User{}, nil
			}
			if err != nil {
				return err
			}
			consent := func() (store.Consent, error) {
				c, err := scanConsent(tx.QueryRowContext(ctx, selectConsent+` WHERE user_id = ? AND client_id = ?`, old.UserID, old.ClientID))
				if errors.Is(err, sql.ErrNoRows) {
					return store.Consent{}, fmt.Errorf("store/sqlite: get consent: %w", store.ErrNotFound)
				}
				return c, err
			}
			was := old
			if issue, err = plan(&was, &u, consent); err != nil {
				return &planError{err}
			}
			if err := checkRotationIssue(issue); err != nil {
				return err
			}
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
			_, err := revokeFamilies(ctx, tx, `id = ?`, old.FamilyID)
			return err
		}
		if err := store.CheckRotation(old, now, issue); err != nil {
			return err
		}
		if issue.KeepPresented {
			// A refresh without rotation: the presented token slides.
			if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET expires_at = ? WHERE hash = ?`, encodeTime(issue.Refresh.ExpiresAt), oldHash); err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET rotated_at = ? WHERE hash = ?`, encodeTime(now), oldHash); err != nil {
			return err
		}
		return writeIssue(ctx, tx, issue, false)
	})
	var pe *planError
	switch {
	case errors.As(err, &pe):
		return old, fmt.Errorf("%s: %w", op, pe.err)
	case reused && err == nil:
		return old, fmt.Errorf("%s: %w: the family is revoked", op, store.ErrReused)
	case errors.Is(err, store.ErrNotFound) && old.Hash == nil:
		return store.RefreshToken{}, fmt.Errorf("%s: %w", op, err)
	case err != nil:
		return old, fmt.Errorf("%s: %w", op, err)
	}
	if issue.KeepPresented {
		old.ExpiresAt = decodeTime(encodeTime(issue.Refresh.ExpiresAt))
		return old, nil
	}
	old.RotatedAt = decodeTime(encodeTime(now))
	return old, nil
}

// planError carries a plan's error out of the transaction it ended, apart
// from the store's own errors.
type planError struct{ err error }

func (e *planError) Error() string { return e.err.Error() }
func (e *planError) Unwrap() error { return e.err }

// writeIssue stores what a redemption or rotation issued: the opaque
// access token's record and the new refresh token (starting its family
// when newFamily) with the access token recorded on its row.
func writeIssue(ctx context.Context, tx dbtx, issue store.Issue, newFamily bool) error {
	if len(issue.Audit) > 0 {
		if _, err := appendAudits(ctx, tx, issue.Audit); err != nil {
			return err
		}
	}
	if r := issue.Access.Opaque; r != nil {
		if err := insertToken(ctx, tx, *r); err != nil {
			return err
		}
	}
	t := issue.Refresh
	if t == nil {
		return nil
	}
	if newFamily {
		if _, err := tx.ExecContext(ctx, insertFamily, familyValues(*t)...); err != nil {
			return classify(err)
		}
	}
	return insertRefreshToken(ctx, tx, *t, issue.Access)
}

// revokeFamilies revokes the families selected by cond (a condition on
// refresh_families with its arguments) and every access token issued
// under them (recorded on their tokens' rows), and returns how many
// families it matched.
func revokeFamilies(ctx context.Context, tx dbtx, cond string, args ...any) (int64, error) {
	sel := `SELECT id FROM refresh_families WHERE ` + cond
	if _, err := tx.ExecContext(ctx, `INSERT INTO revoked_jtis (jti, expires_at)
		SELECT access_jti, access_expires_at FROM refresh_tokens WHERE family_id IN (`+sel+`) AND access_jti <> ''
		ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`, args...); err != nil {
		return 0, classify(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE hash IN
		(SELECT access_hash FROM refresh_tokens WHERE family_id IN (`+sel+`) AND access_hash IS NOT NULL)`, args...); err != nil {
		return 0, classify(err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE refresh_families SET revoked = 1 WHERE `+cond, args...)
	if err != nil {
		return 0, classify(err)
	}
	return res.RowsAffected()
}

// revokeAccess revokes one access token: a JWT's jti until expiresAt, or
// an opaque token's record (gone already is not an error).
func revokeAccess(ctx context.Context, tx dbtx, jti string, hash []byte, expiresAt time.Time) error {
	if jti != "" {
		_, err := tx.ExecContext(ctx, `INSERT INTO revoked_jtis (jti, expires_at) VALUES (?, ?)
			ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`, jti, encodeTime(expiresAt))
		return classify(err)
	}
	if hash != nil {
		_, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE hash = ?`, hash)
		return classify(err)
	}
	return nil
}

// RevokeRefreshFamily revokes the family and its access tokens;
// idempotent; store.ErrNotFound for an unknown family.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	if store.CheckID("family ID", familyID) != nil {
		return fmt.Errorf("store/sqlite: revoke refresh family: %w", store.ErrNotFound)
	}
	err := s.inTx(ctx, func(tx dbtx) error {
		n, err := revokeFamilies(ctx, tx, `id = ?`, familyID)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store/sqlite: revoke refresh family: %w", err)
	}
	return nil
}

// RevokeUserRefreshTokens revokes every family of the user, with its
// access tokens.
func (s *Store) RevokeUserRefreshTokens(ctx context.Context, userID string) error {
	if store.CheckID("user ID", userID) != nil {
		return nil
	}
	err := s.inTx(ctx, func(tx dbtx) error {
		_, err := revokeFamilies(ctx, tx, `user_id = ?`, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store/sqlite: revoke user refresh tokens: %w", err)
	}
	return nil
}

// RevokeClientUserRefreshTokens revokes the user's families at the client,
// with their access tokens.
func (s *Store) RevokeClientUserRefreshTokens(ctx context.Context, clientID, userID string) error {
	if store.CheckID("client ID", clientID) != nil || store.CheckID("user ID", userID) != nil {
		return nil
	}
	err := s.inTx(ctx, func(tx dbtx) error {
		_, err := revokeFamilies(ctx, tx, `client_id = ? AND user_id = ?`, clientID, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store/sqlite: revoke client user refresh tokens: %w", err)
	}
	return nil
}
