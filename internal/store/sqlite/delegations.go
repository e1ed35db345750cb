package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

const delegationColumns = `id, root_id, parent_id, client_id, subject, subject_issuer, actors, audience, scopes,
	created_at, expires_at, revoked_at`

const selectDelegation = `SELECT ` + delegationColumns + ` FROM delegations`

func scanDelegation(row scanner) (store.Delegation, error) {
	var (
		d                  store.Delegation
		lists              [3]string
		created, expiresAt int64
		revoked            sql.NullInt64
	)
	err := row.Scan(&d.ID, &d.RootID, &d.ParentID, &d.ClientID, &d.Subject, &d.SubjectIssuer,
		&lists[0], &lists[1], &lists[2], &created, &expiresAt, &revoked)
	if err != nil {
		return store.Delegation{}, err
	}
	for i, dst := range []*[]string{&d.Actors, &d.Audience, &d.Scopes} {
		if *dst, err = decodeList(lists[i]); err != nil {
			return store.Delegation{}, err
		}
	}
	d.CreatedAt, d.ExpiresAt, d.RevokedAt = decodeTime(created), decodeTime(expiresAt), decodeOptionalTime(revoked)
	return d, nil
}

// CreateDelegation stores d; store.ErrAlreadyExists if the ID is taken,
// store.ErrNotFound if the client does not exist.
func (s *Store) CreateDelegation(ctx context.Context, d store.Delegation) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: create delegation: %w", err)
	}
	var lists [3]string
	for i, l := range [][]string{d.Actors, d.Audience, d.Scopes} {
		var err error
		if lists[i], err = encodeList(l); err != nil {
			return fmt.Errorf("store/sqlite: create delegation: %w", err)
		}
	}
	return s.inTx(ctx, func(q dbtx) error {
		res, err := q.ExecContext(ctx, `INSERT INTO delegations (`+delegationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (id) DO NOTHING`,
			d.ID, d.RootID, d.ParentID, d.ClientID, d.Subject, d.SubjectIssuer, lists[0], lists[1], lists[2],
			encodeTime(d.CreatedAt), encodeTime(d.ExpiresAt))
		if err != nil {
			// An unknown client is a foreign-key violation: ErrNotFound.
			return fmt.Errorf("store/sqlite: create delegation: %w", classify(err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: create delegation: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store/sqlite: create delegation %q: %w", d.ID, store.ErrAlreadyExists)
		}
		return nil
	})
}

// GetDelegation returns one delegation, or store.ErrNotFound.
func (s *Store) GetDelegation(ctx context.Context, id string) (store.Delegation, error) {
	if store.CheckID("delegation ID", id) != nil {
		return store.Delegation{}, fmt.Errorf("store/sqlite: get delegation: %w", store.ErrNotFound)
	}
	d, err := scanDelegation(s.r.QueryRowContext(ctx, selectDelegation+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Delegation{}, fmt.Errorf("store/sqlite: get delegation %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Delegation{}, fmt.Errorf("store/sqlite: get delegation: %w", classify(err))
	}
	return d, nil
}

// delegationAncestors is the delegation and its ancestors, nearest first,
// at most the second argument (store.MaxDelegationDepth) of them.
const delegationAncestors = `WITH RECURSIVE chain(id, parent_id, revoked, depth) AS (
	SELECT id, parent_id, revoked_at IS NOT NULL, 1 FROM delegations WHERE id = ?
	UNION ALL
	SELECT d.id, d.parent_id, d.revoked_at IS NOT NULL, c.depth + 1
	FROM delegations d JOIN chain c ON d.id = c.parent_id
	WHERE c.parent_id <> '' AND c.depth < ?
)
SELECT parent_id, revoked FROM chain ORDER BY depth`

// DelegationRevoked reports whether the delegation or an ancestor is
// revoked; an unknown delegation, a missing ancestor (purged) or a chain
// deeper than store.MaxDelegationDepth counts as revoked.
func (s *Store) DelegationRevoked(ctx context.Context, id string) (bool, error) {
	if store.CheckID("delegation ID", id) != nil {
		return true, nil
	}
	rows, err := s.r.QueryContext(ctx, delegationAncestors, id, store.MaxDelegationDepth)
	if err != nil {
		return true, fmt.Errorf("store/sqlite: delegation revoked: %w", classify(err))
	}
	defer rows.Close()
	n, parent := 0, ""
	for rows.Next() {
		var revoked bool
		if err := rows.Scan(&parent, &revoked); err != nil {
			return true, fmt.Errorf("store/sqlite: delegation revoked: %w", classify(err))
		}
		if revoked {
			return true, nil
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return true, fmt.Errorf("store/sqlite: delegation revoked: %w", classify(err))
	}
	// The last row has a parent: it is missing, or the chain is too deep.
	return n == 0 || parent != "", nil
}

// delegationChainState is DelegationRevoked's walk in one row: how many of
// the delegation and its ancestors (at most the second argument,
// store.MaxDelegationDepth) are stored, whether one is revoked, and the
// parent of the last one.
const delegationChainState = `WITH RECURSIVE chain(id, parent_id, revoked, depth) AS (
	SELECT id, parent_id, revoked_at IS NOT NULL, 1 FROM delegations WHERE id = ?
	UNION ALL
	SELECT d.id, d.parent_id, d.revoked_at IS NOT NULL, c.depth + 1
	FROM delegations d JOIN chain c ON d.id = c.parent_id
	WHERE c.parent_id <> '' AND c.depth < ?
)
SELECT count(*), coalesce(max(revoked), 0),
	coalesce((SELECT parent_id FROM chain ORDER BY depth DESC LIMIT 1), '') FROM chain`

// delegationChainRevoked reports, inside a transaction, whether the
// delegation id is stored and whether it counts as revoked
// (DelegationRevoked's rules).
func delegationChainRevoked(ctx context.Context, tx dbtx, id string) (exists, revoked bool, err error) {
	var (
		n, anyRevoked int64
		parent        string
	)
	if err := tx.QueryRowContext(ctx, delegationChainState, id, store.MaxDelegationDepth).Scan(&n, &anyRevoked, &parent); err != nil {
		return false, false, err
	}
	return n > 0, anyRevoked != 0 || parent != "", nil
}

// ListDelegations returns the delegations q selects, newest first.
func (s *Store) ListDelegations(ctx context.Context, q store.DelegationQuery) ([]store.Delegation, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list delegations: %w", err)
	}
	// One query per combination of filters, each prepared once.
	var (
		conds []string
		args  []any
	)
	for _, f := range []struct{ cond, value string }{
		{"subject = ?", q.Subject},
		{"client_id = ?", q.ClientID},
		{"EXISTS (SELECT 1 FROM json_each(actors) WHERE value = ?)", q.Actor},
	} {
		if f.value != "" {
			conds, args = append(conds, f.cond), append(args, f.value)
		}
	}
	if !q.ActiveAt.IsZero() {
		conds, args = append(conds, "revoked_at IS NULL AND expires_at > ?"), append(args, encodeTime(q.ActiveAt))
	}
	where := ""
	if len(conds) > 0 {
		where = ` WHERE ` + strings.Join(conds, " AND ")
	}
	rows, err := s.r.QueryContext(ctx, selectDelegation+where+` ORDER BY created_at DESC, id DESC LIMIT ?`,
		append(args, q.EffectiveLimit())...)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: list delegations: %w", classify(err))
	}
	defer rows.Close()
	var out []store.Delegation
	for rows.Next() {
		d, err := scanDelegation(rows)
		if err != nil {
			return nil, fmt.Errorf("store/sqlite: list delegations: %w", classify(err))
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list delegations: %w", classify(err))
	}
	return out, nil
}

// delegationTree is the delegation (the argument) and every delegation
// below it: those with an ID of the tree as ParentID or RootID,
// transitively (UNION ends a cycle).
const delegationTree = `WITH RECURSIVE tree(id) AS (
	SELECT ?
	UNION
	SELECT d.id FROM delegations d JOIN tree t ON d.parent_id = t.id OR d.root_id = t.id
) SELECT id FROM tree`

// clientDelegationTree is the client's (the argument) delegations and
// every delegation below them (as delegationTree).
const clientDelegationTree = `WITH RECURSIVE tree(id) AS (
	SELECT id FROM delegations WHERE client_id = ?
	UNION
	SELECT d.id FROM delegations d JOIN tree t ON d.parent_id = t.id OR d.root_id = t.id
) SELECT id FROM tree`

// RevokeDelegation revokes the delegation, every delegation below it and
// the refresh token families that carry their IDs (with the access tokens
// issued under them), in one BEGIN IMMEDIATE transaction. It returns how
// many delegations it revoked (those revoked already keep their RevokedAt
// and are not counted).
func (s *Store) RevokeDelegation(ctx context.Context, id string, at time.Time) (int, error) {
	const op = "store/sqlite: revoke delegation"
	if err := store.CheckExpiry("revocation time", at); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	if store.CheckID("delegation ID", id) != nil {
		return 0, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var n int64
	err := s.inTx(ctx, func(tx dbtx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM delegations WHERE id = ?`, id).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return store.ErrNotFound
		}
		res, err := tx.ExecContext(ctx, `UPDATE delegations SET revoked_at = ?
			WHERE revoked_at IS NULL AND id IN (`+delegationTree+`)`, encodeTime(at), id)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = revokeFamilies(ctx, tx, `delegation_id IN (`+delegationTree+`)`, id)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return int(n), nil
}

// RevokeClientGrants revokes, in one BEGIN IMMEDIATE transaction, the
// client's refresh token families (with their access tokens), its
// delegations and those where it is an actor with every delegation below
// them (and the families that carry them) and its opaque access tokens
// issued at or before at, and sets the client's TokensRevokedBefore to at
// (or keeps a later one). store.ErrNotFound for an unknown client.
func (s *Store) RevokeClientGrants(ctx context.Context, clientID string, at time.Time) error {
	const op = "store/sqlite: revoke client grants"
	if err := store.CheckExpiry("revocation time", at); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if store.CheckID("client ID", clientID) != nil {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	// held: the client's delegations, those where it is an actor, and
	// every delegation below them (as delegationTree; UNION ends a cycle).
	const held = `WITH RECURSIVE tree(id) AS (
	SELECT id FROM delegations
	WHERE client_id = ? OR EXISTS (SELECT 1 FROM json_each(actors) WHERE value = ?)
	UNION
	SELECT d.id FROM delegations d JOIN tree t ON d.parent_id = t.id OR d.root_id = t.id
) SELECT id FROM tree`
	err := s.inTx(ctx, func(tx dbtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE clients
			SET tokens_revoked_before = max(coalesce(tokens_revoked_before, ?1), ?1) WHERE id = ?2`,
			encodeTime(at), clientID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		if _, err := revokeFamilies(ctx, tx, `(client_id = ? OR delegation_id IN (`+held+`))`,
			clientID, clientID, clientID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE delegations SET revoked_at = ?
			WHERE revoked_at IS NULL AND id IN (`+held+`)`, encodeTime(at), clientID, clientID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE client_id = ? AND issued_at <= ? AND revoked = 0`,
			clientID, encodeTime(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// expiredDelegationTree is the delegations expired at the argument and
// every delegation below them (as delegationTree).
const expiredDelegationTree = `WITH RECURSIVE tree(id) AS (
	SELECT id FROM delegations WHERE expires_at <= ?
	UNION
	SELECT d.id FROM delegations d JOIN tree t ON d.parent_id = t.id OR d.root_id = t.id
) SELECT id FROM tree`

// DeleteExpiredDelegations removes delegations past ExpiresAt, in one
// BEGIN IMMEDIATE transaction that first revokes the delegations below
// them that live on (RevokedAt now) with their live refresh token families
// (and access tokens): once a delegation is gone, those below it count as
// revoked.
func (s *Store) DeleteExpiredDelegations(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx dbtx) error {
		at := encodeTime(now)
		if _, err := revokeFamilies(ctx, tx, `revoked = 0 AND expires_at > ? AND delegation_id IN (`+expiredDelegationTree+`)`, at, at); err != nil {
			return err
		}
		// Those below that live on are revoked from now on; the expired
		// ones go.
		if _, err := tx.ExecContext(ctx, `UPDATE delegations SET revoked_at = ?
			WHERE revoked_at IS NULL AND expires_at > ? AND id IN (`+expiredDelegationTree+`)`, at, at, at); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM delegations WHERE expires_at <= ?`, at)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: delete expired delegations: %w", classify(err))
	}
	return n, nil
}
