package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

const delegationColumns = `id, root_id, parent_id, client_id, subject, subject_issuer, actors, audience, scopes,
	created_at, expires_at, revoked_at`

const selectDelegation = `SELECT ` + delegationColumns + ` FROM delegations`

func scanDelegation(row pgx.Row) (store.Delegation, error) {
	var (
		d       store.Delegation
		revoked *time.Time
	)
	err := row.Scan(&d.ID, &d.RootID, &d.ParentID, &d.ClientID, &d.Subject, &d.SubjectIssuer,
		&d.Actors, &d.Audience, &d.Scopes, &d.CreatedAt, &d.ExpiresAt, &revoked)
	if err != nil {
		return store.Delegation{}, err
	}
	d.Actors, d.Audience, d.Scopes = nonEmptyList(d.Actors), nonEmptyList(d.Audience), nonEmptyList(d.Scopes)
	d.CreatedAt, d.ExpiresAt, d.RevokedAt = d.CreatedAt.UTC(), d.ExpiresAt.UTC(), fromOptionalTime(revoked)
	return d, nil
}

// CreateDelegation stores d; store.ErrAlreadyExists if the ID is taken,
// store.ErrNotFound if the client does not exist.
func (s *Store) CreateDelegation(ctx context.Context, d store.Delegation) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("store/postgres: create delegation: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO delegations (`+delegationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL) ON CONFLICT (id) DO NOTHING`,
		d.ID, d.RootID, d.ParentID, d.ClientID, d.Subject, d.SubjectIssuer,
		list(d.Actors), list(d.Audience), list(d.Scopes), d.CreatedAt, d.ExpiresAt)
	if err != nil {
		// An unknown client is a foreign-key violation: ErrNotFound.
		return fmt.Errorf("store/postgres: create delegation: %w", classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store/postgres: create delegation %q: %w", d.ID, store.ErrAlreadyExists)
	}
	return nil
}

// GetDelegation returns one delegation, or store.ErrNotFound.
func (s *Store) GetDelegation(ctx context.Context, id string) (store.Delegation, error) {
	if store.CheckID("delegation ID", id) != nil {
		return store.Delegation{}, fmt.Errorf("store/postgres: get delegation: %w", store.ErrNotFound)
	}
	d, err := scanDelegation(s.pool.QueryRow(ctx, selectDelegation+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Delegation{}, fmt.Errorf("store/postgres: get delegation %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Delegation{}, fmt.Errorf("store/postgres: get delegation: %w", classify(err))
	}
	return d, nil
}

// delegationAncestors is the delegation and its ancestors, nearest first,
// at most the second argument (store.MaxDelegationDepth) of them.
const delegationAncestors = `WITH RECURSIVE chain(id, parent_id, revoked, depth) AS (
	SELECT id, parent_id, revoked_at IS NOT NULL, 1 FROM delegations WHERE id = $1
	UNION ALL
	SELECT d.id, d.parent_id, d.revoked_at IS NOT NULL, c.depth + 1
	FROM delegations d JOIN chain c ON d.id = c.parent_id
	WHERE c.parent_id <> '' AND c.depth < $2
)
SELECT parent_id, revoked FROM chain ORDER BY depth`

// DelegationRevoked reports whether the delegation or an ancestor is
// revoked; an unknown delegation, a missing ancestor (purged) or a chain
// deeper than store.MaxDelegationDepth counts as revoked.
func (s *Store) DelegationRevoked(ctx context.Context, id string) (bool, error) {
	if store.CheckID("delegation ID", id) != nil {
		return true, nil
	}
	rows, err := s.pool.Query(ctx, delegationAncestors, id, store.MaxDelegationDepth)
	if err != nil {
		return true, fmt.Errorf("store/postgres: delegation revoked: %w", classify(err))
	}
	defer rows.Close()
	n, parent := 0, ""
	for rows.Next() {
		var revoked bool
		if err := rows.Scan(&parent, &revoked); err != nil {
			return true, fmt.Errorf("store/postgres: delegation revoked: %w", classify(err))
		}
		if revoked {
			return true, nil
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return true, fmt.Errorf("store/postgres: delegation revoked: %w", classify(err))
	}
	// The last row has a parent: it is missing, or the chain is too deep.
	return n == 0 || parent != "", nil
}

// ListDelegations returns the delegations q selects, newest first.
func (s *Store) ListDelegations(ctx context.Context, q store.DelegationQuery) ([]store.Delegation, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("store/postgres: list delegations: %w", err)
	}
	var (
		conds []string
		args  []any
	)
	for _, f := range []struct {
		cond  string
		value string
	}{
		{"subject = $", q.Subject},
		{"client_id = $", q.ClientID},
		{"actors @> ARRAY[$", q.Actor},
	} {
		if f.value != "" {
			args = append(args, f.value)
			c := f.cond + strconv.Itoa(len(args))
			if strings.HasSuffix(f.cond, "[$") {
				c += "::text]"
			}
			conds = append(conds, c)
		}
	}
	if !q.ActiveAt.IsZero() {
		args = append(args, q.ActiveAt)
		conds = append(conds, "revoked_at IS NULL AND expires_at > $"+strconv.Itoa(len(args)))
	}
	where := ""
	if len(conds) > 0 {
		where = ` WHERE ` + strings.Join(conds, " AND ")
	}
	args = append(args, q.EffectiveLimit())
	rows, err := s.pool.Query(ctx, selectDelegation+where+` ORDER BY created_at DESC, id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: list delegations: %w", classify(err))
	}
	defer rows.Close()
	var out []store.Delegation
	for rows.Next() {
		d, err := scanDelegation(rows)
		if err != nil {
			return nil, fmt.Errorf("store/postgres: list delegations: %w", classify(err))
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: list delegations: %w", classify(err))
	}
	return out, nil
}

// delegationTree is the delegation ($1) and every delegation below it:
// those with an ID of the tree as ParentID or RootID, transitively (UNION
// ends a cycle).
const delegationTree = `WITH RECURSIVE tree(id) AS (
	SELECT $1::text COLLATE "C"
	UNION
	SELECT d.id FROM delegations d JOIN tree t ON d.parent_id = t.id OR d.root_id = t.id
) SELECT id FROM tree`

// RevokeDelegation revokes the delegation, every delegation below it and
// the refresh token families that carry their IDs (with the access tokens
// issued under them), in one transaction that locks the delegations in ID
// order, then the families. It returns how many delegations it revoked (those revoked
// already keep their RevokedAt and are not counted).
func (s *Store) RevokeDelegation(ctx context.Context, id string, at time.Time) (int, error) {
	const op = "store/postgres: revoke delegation"
	if err := store.CheckExpiry("revocation time", at); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if store.CheckID("delegation ID", id) != nil {
		return 0, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM delegations WHERE id = $1)`, id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return store.ErrNotFound
		}
		// Lock order: the tree's delegations in ID order, then their
		// families in ID order (revokeFamilies), as RevokeClientGrants.
		if _, err := tx.Exec(ctx, `SELECT id FROM delegations WHERE id IN (`+delegationTree+`) ORDER BY id FOR UPDATE`, id); err != nil {
			return err
		}
		if _, err := revokeFamilies(ctx, tx, `delegation_id IN (`+delegationTree+`)`, id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE delegations SET revoked_at = $2
			WHERE revoked_at IS NULL AND id IN (`+delegationTree+`)`, id, at)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return int(n), nil
}

// RevokeClientGrants revokes, in one transaction with the client row
// locked first, the client's refresh token families (with their access
// tokens), its delegations and those where it is an actor (with the
// families that carry them) and its opaque access tokens issued at or
// before at, and sets the client's TokensRevokedBefore to at (or keeps a
// later one). store.ErrNotFound for an unknown client.
func (s *Store) RevokeClientGrants(ctx context.Context, clientID string, at time.Time) error {
	const op = "store/postgres: revoke client grants"
	if err := store.CheckExpiry("revocation time", at); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if store.CheckID("client ID", clientID) != nil {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	const held = `SELECT id FROM delegations WHERE client_id = $1 OR actors @> ARRAY[$1::text]`
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Lock order: the client row, its delegations in ID order, then
		// the families in ID order (revokeFamilies).
		tag, err := tx.Exec(ctx, `UPDATE clients
			SET tokens_revoked_before = GREATEST(coalesce(tokens_revoked_before, $2), $2) WHERE id = $1`,
			clientID, at)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.Exec(ctx, held+` ORDER BY id FOR UPDATE`, clientID); err != nil {
			return err
		}
		if _, err := revokeFamilies(ctx, tx, `(client_id = $1 OR delegation_id IN (`+held+`))`, clientID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE delegations SET revoked_at = $2
			WHERE revoked_at IS NULL AND id IN (`+held+`)`, clientID, at); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE tokens SET revoked = true WHERE client_id = $1 AND issued_at <= $2 AND NOT revoked`, clientID, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// DeleteExpiredDelegations removes delegations past ExpiresAt.
func (s *Store) DeleteExpiredDelegations(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM delegations WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("store/postgres: delete expired delegations: %w", classify(err))
	}
	return tag.RowsAffected(), nil
}
