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
		return fmt.Errorf("store/postgres: create delegation: %w", classify(err))
	}
	return s.write(ctx, func(q writer) error {
		tag, err := q.Exec(ctx, `INSERT INTO delegations (`+delegationColumns+`)
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
	})
}

// GetDelegation returns one delegation, or store.ErrNotFound.
func (s *Store) GetDelegation(ctx context.Context, id string) (store.Delegation, error) {
	if store.CheckID("delegation ID", id) != nil {
		return store.Delegation{}, fmt.Errorf("store/postgres: get delegation: %w", store.ErrNotFound)
	}
	d, err := scanDelegation(s.reads.QueryRow(ctx, selectDelegation+` WHERE id = $1`, id))
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

// delegationChain is the delegation and its ancestors, nearest first, at
// most the second argument (store.MaxDelegationDepth) of them, by ID.
const delegationChain = `WITH RECURSIVE chain(id, parent_id, depth) AS (
	SELECT id, parent_id, 1 FROM delegations WHERE id = $1
	UNION ALL
	SELECT d.id, d.parent_id, c.depth + 1
	FROM delegations d JOIN chain c ON d.id = c.parent_id
	WHERE c.parent_id <> '' AND c.depth < $2
)
SELECT id, parent_id FROM chain ORDER BY depth`

// lockDelegationChain locks the delegation id and its ancestors FOR SHARE,
// in ID order (the revocations lock them FOR UPDATE in the same order),
// and reports whether the delegation is stored and whether it counts as
// revoked (DelegationRevoked's rules, read on the locked rows). A family
// started on it in the same transaction is thus either seen by a
// concurrent revocation of any of them, or refused after it.
func lockDelegationChain(ctx context.Context, tx pgx.Tx, id string) (exists, revoked bool, err error) {
	rows, err := tx.Query(ctx, delegationChain, id, store.MaxDelegationDepth)
	if err != nil {
		return false, false, err
	}
	var ids []string
	parent := ""
	for rows.Next() {
		var cur string
		if err := rows.Scan(&cur, &parent); err != nil {
			rows.Close()
			return false, false, err
		}
		ids = append(ids, cur)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, false, err
	}
	if len(ids) == 0 {
		return false, false, nil
	}
	// The last one has a parent: it is missing, or the chain is too deep.
	revoked = parent != ""
	rows, err = tx.Query(ctx, `SELECT revoked_at IS NOT NULL FROM delegations
		WHERE id = ANY($1::text[]) ORDER BY id FOR SHARE`, ids)
	if err != nil {
		return true, true, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var r bool
		if err := rows.Scan(&r); err != nil {
			return true, true, err
		}
		revoked = revoked || r
		n++
	}
	if err := rows.Err(); err != nil {
		return true, true, err
	}
	// One was purged meanwhile: the chain is broken.
	return true, revoked || n != len(ids), nil
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

// clientDelegationTree is the client's ($1) delegations and every
// delegation below them (as delegationTree).
const clientDelegationTree = `WITH RECURSIVE tree(id) AS (
	SELECT id FROM delegations WHERE client_id = $1
	UNION
	SELECT d.id FROM delegations d JOIN tree t ON d.parent_id = t.id OR d.root_id = t.id
) SELECT id FROM tree`

// lockDelegations runs a SELECT id ... ORDER BY id FOR UPDATE and returns
// the IDs it locked.
func lockDelegations(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// revokeLocked sets RevokedAt on the delegations ids (locked by
// lockDelegations) not revoked yet, and returns how many. Only those: a
// delegation committed below them since then is revoked through them
// (DelegationRevoked walks up), and locking it now, out of ID order, could
// deadlock with a transaction starting its family (lockDelegationChain
// holds it while waiting for one of ids).
func revokeLocked(ctx context.Context, tx pgx.Tx, ids []string, at time.Time) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, `UPDATE delegations SET revoked_at = $2
		WHERE revoked_at IS NULL AND id = ANY($1::text[])`, ids, at)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

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
		ids, err := lockDelegations(ctx, tx, `SELECT id FROM delegations WHERE id IN (`+delegationTree+`) ORDER BY id FOR UPDATE`, id)
		if err != nil {
			return err
		}
		if _, err := revokeFamilies(ctx, tx, `delegation_id IN (`+delegationTree+`)`, id); err != nil {
			return err
		}
		n, err = revokeLocked(ctx, tx, ids, at)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return int(n), nil
}

// RevokeClientGrants revokes, in one transaction with the client row
// locked first, the client's refresh token families (with their access
// tokens), its delegations and those where it is an actor with every
// delegation below them (and the families that carry them) and its
// opaque access tokens issued at or before at, and sets the client's
// TokensRevokedBefore to at (or keeps a later one). store.ErrNotFound for
// an unknown client.
func (s *Store) RevokeClientGrants(ctx context.Context, clientID string, at time.Time) error {
	const op = "store/postgres: revoke client grants"
	if err := store.CheckExpiry("revocation time", at); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if store.CheckID("client ID", clientID) != nil {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	// held: the client's delegations, those where it is an actor, and
	// every delegation below them (as delegationTree; UNION ends a cycle).
	const held = `WITH RECURSIVE tree(id) AS (
	SELECT id FROM delegations WHERE client_id = $1 OR actors @> ARRAY[$1::text]
	UNION
	SELECT d.id FROM delegations d JOIN tree t ON d.parent_id = t.id OR d.root_id = t.id
) SELECT id FROM tree`
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
		ids, err := lockDelegations(ctx, tx, `SELECT id FROM delegations WHERE id IN (`+held+`) ORDER BY id FOR UPDATE`, clientID)
		if err != nil {
			return err
		}
		if _, err := revokeFamilies(ctx, tx, `(client_id = $1 OR delegation_id IN (`+held+`))`, clientID); err != nil {
			return err
		}
		if _, err := revokeLocked(ctx, tx, ids, at); err != nil {
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

// expiredDelegationTree is the delegations expired at $1 and every
// delegation below them (as delegationTree).
const expiredDelegationTree = `WITH RECURSIVE tree(id) AS (
	SELECT id FROM delegations WHERE expires_at <= $1
	UNION
	SELECT d.id FROM delegations d JOIN tree t ON d.parent_id = t.id OR d.root_id = t.id
) SELECT id FROM tree`

// DeleteExpiredDelegations removes delegations past ExpiresAt, in one
// transaction that locks them and those below them in ID order and first
// revokes the delegations below them that live on (RevokedAt now) with
// their live refresh token families (and access tokens): once a
// delegation is gone, those below it count as revoked.
func (s *Store) DeleteExpiredDelegations(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The expired ones and those below them, locked in ID order (as
		// the revocations lock them).
		ids, err := lockDelegations(ctx, tx, `SELECT id FROM delegations WHERE id IN (`+expiredDelegationTree+`) ORDER BY id FOR UPDATE`, now)
		if err != nil || len(ids) == 0 {
			return err
		}
		if _, err := revokeFamilies(ctx, tx, `NOT revoked AND expires_at > $1 AND delegation_id IN (`+expiredDelegationTree+`)`, now); err != nil {
			return err
		}
		// Those below that live on are revoked from now on; the expired
		// ones go.
		if _, err := revokeLocked(ctx, tx, ids, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM delegations WHERE expires_at <= $1 AND id = ANY($2::text[])`, now, ids)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store/postgres: delete expired delegations: %w", err)
	}
	return n, nil
}
