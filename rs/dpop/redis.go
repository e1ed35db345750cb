package dpop

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/writ-dev/writ/rs"
)

// RedisReplayCache is a ReplayCache in Redis (6.2 or later), shared by every
// node that uses the same server and prefix: a proof used at one node is a
// replay at all of them. Each use is one command, SET key 1 NX PXAT until,
// atomic on the server; the entry expires by itself. Keys are the prefix
// followed by the verifier's hash of the proof's key and jti, never a
// token.
//
// The time a command may take is the client's (its dial, read and write
// timeouts) and the request context's. When Redis cannot answer, Use
// returns an error wrapping rs.ErrUnavailable and the proof is refused: a
// replay cache that is down must not let replays through.
type RedisReplayCache struct {
	client redis.UniversalClient
	prefix string
}

// NewRedisReplayCache returns a replay cache that stores its entries in
// client under keys that start with prefix (for example "writ:dpop:").
func NewRedisReplayCache(client redis.UniversalClient, prefix string) *RedisReplayCache {
	return &RedisReplayCache{client: client, prefix: prefix}
}

// Use implements ReplayCache.
func (c *RedisReplayCache) Use(ctx context.Context, key string, until time.Time) (bool, error) {
	err := c.client.Do(ctx, "set", c.prefix+key, "1", "nx", "pxat", until.UnixMilli()).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	}
	return false, fmt.Errorf("%w: DPoP replay cache (redis): %w", rs.ErrUnavailable, err)
}
