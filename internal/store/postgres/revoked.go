package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

var _ store.RevokedJTILister = (*Store)(nil)

// ListRevokedJTIs returns one page of the unexpired revoked jti, by jti.
func (s *Store) ListRevokedJTIs(ctx context.Context, now time.Time, opts store.ListOptions) ([]store.RevokedJTI, error) {
	if opts.After != "" {
		if err := store.CheckID("list cursor", opts.After); err != nil {
			return nil, fmt.Errorf("store/postgres: list revoked jti: %w", err)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT jti, expires_at FROM revoked_jtis WHERE jti > $1 AND expires_at > $2 ORDER BY jti LIMIT $3`,
		opts.After, now, opts.EffectiveLimit())
	if err != nil {
		return nil, fmt.Errorf("store/postgres: list revoked jti: %w", classify(err))
	}
	defer rows.Close()
	var out []store.RevokedJTI
	for rows.Next() {
		var r store.RevokedJTI
		if err := rows.Scan(&r.JTI, &r.ExpiresAt); err != nil {
			return nil, fmt.Errorf("store/postgres: list revoked jti: %w", classify(err))
		}
		r.ExpiresAt = r.ExpiresAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: list revoked jti: %w", classify(err))
	}
	return out, nil
}
