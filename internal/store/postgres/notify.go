package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ChangeChannel is the notification channel of migration 0012's triggers:
// each change to a client, a trusted issuer or the key ring sends
// "<table>:<key>" on it when its transaction commits.
const ChangeChannel = "writ_changes"

// listenPing is how long Listen waits for a notification before it checks
// that its connection still answers: a connection that died silently (a
// partition, a failover) is noticed within twice this.
const listenPing = 5 * time.Second

// Listen implements cluster.Feed: on a connection of its own, taken out of
// the pool, it runs LISTEN writ_changes, calls subscribed, then calls
// deliver with the table and key of each committed change until ctx ends
// (it returns ctx's error) or the connection fails (it returns why; call
// it again to subscribe again). The connection is closed on return.
func (s *Store) Listen(ctx context.Context, subscribed func(), deliver func(topic, key string)) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store/postgres: listen: %w", classify(err))
	}
	conn := pc.Hijack()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ChangeChannel}.Sanitize()); err != nil {
		return fmt.Errorf("store/postgres: listen: %w", classify(err))
	}
	subscribed()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if n != nil {
			topic, key, _ := strings.Cut(n.Payload, ":")
			deliver(topic, key)
		}
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case (pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded)) && !conn.IsClosed():
			// Quiet for a while: make sure the connection still answers.
			pctx, cancel := context.WithTimeout(ctx, listenPing)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("store/postgres: listen: ping: %w", classify(err))
			}
		default:
			return fmt.Errorf("store/postgres: listen: %w", classify(err))
		}
	}
}
