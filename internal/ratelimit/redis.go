package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript is one GCRA step in Redis, atomic as every script is. Times
// are in microseconds (Lua numbers are doubles: exact to 2^53, centuries
// of microseconds). KEYS[1] the key; ARGV now, emission, tolerance.
// It returns {1, 0} when allowed, {0, retry-after µs} when not.
var gcraScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local emission = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + emission
local over = nxt - now - tolerance
if over > 0 then return {0, over} end
if emission > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.floor((nxt - now) / 1000) + 1)
end
return {1, 0}
`)

// Redis is a Backend in Redis, shared by every node that uses the same
// server and Prefix: one script call (EVALSHA) per step. A key lives in
// Redis only until its TAT passes (PX), so memory is bounded by the
// number of keys active within one burst.
type Redis struct {
	client redis.Cmdable
	prefix string
}

// NewRedis returns a Backend on client whose keys start with prefix (e.g.
// "writ:rl:").
func NewRedis(client redis.Cmdable, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Take performs one GCRA step in Redis.
func (r *Redis) Take(ctx context.Context, key string, now time.Time, emission, tolerance time.Duration) (bool, time.Duration, error) {
	res, err := gcraScript.Run(ctx, r.client, []string{r.prefix + key},
		now.UnixMicro(), emission.Microseconds(), tolerance.Microseconds()).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("%w: redis: %w", ErrBackend, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("%w: redis: unexpected reply", ErrBackend)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}

// Reset forgets key.
func (r *Redis) Reset(ctx context.Context, key string) error {
	if err := r.client.Del(ctx, r.prefix+key).Err(); err != nil {
		return fmt.Errorf("%w: redis: %w", ErrBackend, err)
	}
	return nil
}
