package dpop_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

// testRedis returns a client of the local Redis server and a key prefix of
// its own, whose keys are deleted at the end. It skips the test when the
// server is unreachable, except under CI=true.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DialTimeout: time.Second, MaxRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at 127.0.0.1:6379: %v", err)
		}
		t.Skipf("Redis at 127.0.0.1:6379 unreachable (%v); CI=true makes this a failure", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "writ-test:dpop:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := client.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
		client.Close()
	})
	return client, prefix
}

func TestRedisReplayCacheContract(t *testing.T) {
	client, prefix := testRedis(t)
	replayContract(t, dpop.NewRedisReplayCache(client, prefix), "")
}

// TestRedisReplayCacheExpiry: the entry expires at exactly the given time
// (PXAT), so Redis drops it when the proof could no longer be used.
func TestRedisReplayCacheExpiry(t *testing.T) {
	client, prefix := testRedis(t)
	c := dpop.NewRedisReplayCache(client, prefix)
	ctx := context.Background()
	until := time.Now().Add(90 * time.Second).Truncate(time.Millisecond)
	if f, err := c.Use(ctx, "k", until); !f || err != nil {
		t.Fatalf("Use = %v, %v", f, err)
	}
	at, err := client.Do(ctx, "pexpiretime", prefix+"k").Int64()
	if err != nil {
		t.Fatal(err)
	}
	if at != until.UnixMilli() {
		t.Fatalf("expiry %d, want %d", at, until.UnixMilli())
	}
	if v, _ := client.Get(ctx, prefix+"k").Result(); v != "1" {
		t.Fatalf("value %q", v)
	}
	// A key already expired in Redis is fresh again.
	if err := client.Del(ctx, prefix+"k").Err(); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Use(ctx, "k", until); !f || err != nil {
		t.Fatalf("after expiry: %v, %v", f, err)
	}
}

// TestRedisSharedAcrossNodes: two verifiers (two gateway nodes) sharing one
// Redis refuse at one a proof used at the other.
func TestRedisSharedAcrossNodes(t *testing.T) {
	client, prefix := testRedis(t)
	// A real clock: Redis expires entries by its own.
	clock := clocktest.Real()
	node := func() *dpop.Verifier {
		v, err := dpop.NewVerifier(dpop.Config{Now: clock.Now, Replay: dpop.NewRedisReplayCache(client, prefix)})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	a, b := node(), node()
	k := genKey(t, jose.ES256)
	proof := newProof(t, k, http.MethodGet, testURL, testToken, "", clock.Now())
	if err := check(a, proof, k.ThumbprintSHA256()); err != nil {
		t.Fatalf("node a: %v", err)
	}
	wantInvalid(t, check(b, proof, k.ThumbprintSHA256()), dpop.ErrReplay)
	wantInvalid(t, check(a, proof, k.ThumbprintSHA256()), dpop.ErrReplay)
}

// TestRedisUnreachable: a Redis that does not answer makes Use fail with
// rs.ErrUnavailable, never "fresh"; it needs no Redis server.
func TestRedisUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	client := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer client.Close()
	c := dpop.NewRedisReplayCache(client, "p:")
	fresh, err := c.Use(context.Background(), "k", time.Now().Add(time.Minute))
	if fresh || !errors.Is(err, rs.ErrUnavailable) {
		t.Fatalf("Use = %v, %v; want rs.ErrUnavailable", fresh, err)
	}

	// Through a verifier: unavailable, not an invalid proof.
	v, err := dpop.NewVerifier(dpop.Config{Replay: c})
	if err != nil {
		t.Fatal(err)
	}
	k := genKey(t, jose.ES256)
	err = check(v, newProof(t, k, http.MethodGet, testURL, testToken, "", time.Now()), "")
	if !errors.Is(err, rs.ErrUnavailable) || errors.Is(err, rs.ErrInvalidDPoPProof) {
		t.Fatalf("CheckDPoP = %v, want rs.ErrUnavailable", err)
	}

}

// TestRedisCancelledContext: a request whose context is done gets no
// answer from Redis, and so no "fresh" either.
func TestRedisCancelledContext(t *testing.T) {
	client, prefix := testRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, err := dpop.NewRedisReplayCache(client, prefix).Use(ctx, "k", time.Now().Add(time.Minute))
	if f || !errors.Is(err, rs.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Use with a cancelled context = %v, %v", f, err)
	}
}
