package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// takeRateSQL is one GCRA step in one statement: the upsert stores the new
// theoretical arrival time only when the event is allowed (its WHERE), and
// the second branch reads the stored one when it is not (a CTE's outer
// query sees the table as before the upsert). Times are Unix
// microseconds. $1 key, $2 now, $3 emission, $4 tolerance.
const takeRateSQL = `WITH up AS (
	INSERT INTO rate_limits AS r (key, tat) VALUES ($1, $2::bigint + $3::bigint)
	ON CONFLICT (key) DO UPDATE SET tat = GREATEST(r.tat, $2::bigint) + $3::bigint
		WHERE GREATEST(r.tat, $2::bigint) + $3::bigint - $2::bigint <= $4::bigint
	RETURNING tat
)
SELECT true, tat FROM up
UNION ALL
SELECT false, tat FROM rate_limits WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM up)`

// askRateSQL answers whether an event would pass, changing nothing.
const askRateSQL = `SELECT tat FROM rate_limits WHERE key = $1`

// TakeRate performs one GCRA step of a rate limit shared by every node on
// this database (ratelimit.Backend); an emission of zero only asks.
func (s *Store) TakeRate(ctx context.Context, key string, now time.Time, emission, tolerance time.Duration) (bool, time.Duration, error) {
	n, e, tol := now.UnixMicro(), emission.Microseconds(), tolerance.Microseconds()
	if e == 0 {
		var tat int64
		err := s.pool.QueryRow(ctx, askRateSQL, key).Scan(&tat)
		if errors.Is(err, pgx.ErrNoRows) {
			return true, 0, nil
		}
		if err != nil {
			return false, 0, fmt.Errorf("store/postgres: rate limit: %w", classify(err))
		}
		over := max(tat, n) - n - tol
		return over <= 0, max(time.Duration(over), 0) * time.Microsecond, nil
	}
	if tol < e {
		// An event could never pass; the upsert would insert it anyway.
		return false, time.Duration(e-tol) * time.Microsecond, nil
	}
	var allowed bool
	var tat int64
	// No row: refused by a row the statement's snapshot does not show (a
	// concurrent first insert, which ON CONFLICT waited for, or a purge in
	// between). Counting that as allowed let one event past the burst; a
	// new statement has a new snapshot and decides again.
	err := pgx.ErrNoRows
	for attempt := 0; attempt < 3 && errors.Is(err, pgx.ErrNoRows); attempt++ {
		err = s.pool.QueryRow(ctx, takeRateSQL, key, n, e, tol).Scan(&allowed, &tat)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		// Three snapshots without the row that refused it: refuse.
		return false, time.Duration(e) * time.Microsecond, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("store/postgres: rate limit: %w", classify(err))
	}
	if allowed {
		return true, 0, nil
	}
	over := max(tat, n) + e - n - tol
	return false, max(time.Duration(over), 0) * time.Microsecond, nil
}

// PurgeRates deletes the rate limit rows whose time has passed before
// before: they count nothing any more.
func (s *Store) PurgeRates(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM rate_limits WHERE tat < $1`, before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("store/postgres: purge rate limits: %w", classify(err))
	}
	return tag.RowsAffected(), nil
}

// ResetRate forgets a rate limit key.
func (s *Store) ResetRate(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM rate_limits WHERE key = $1`, key); err != nil {
		return fmt.Errorf("store/postgres: rate limit: %w", classify(err))
	}
	return nil
}
