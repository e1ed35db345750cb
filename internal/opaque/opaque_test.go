package opaque_test

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/opaque"
)

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for _, prefix := range []string{opaque.AccessTokenPrefix, opaque.RefreshTokenPrefix, opaque.CodePrefix} {
		for range 100 {
			v, h := opaque.New(prefix)
			secret, ok := strings.CutPrefix(v, prefix)
			if !ok {
				t.Fatalf("%q lacks the prefix %q", v, prefix)
			}
			raw, err := base64.RawURLEncoding.DecodeString(secret)
			if err != nil || len(raw) != opaque.SecretBytes {
				t.Fatalf("secret of %q: %d bytes, %v", v, len(raw), err)
			}
			if sum := sha256.Sum256([]byte(v)); string(h) != string(sum[:]) || string(opaque.Hash(v)) != string(h) {
				t.Fatalf("hash of %q is not its SHA-256", v)
			}
			if seen[v] {
				t.Fatalf("%q generated twice", v)
			}
			seen[v] = true
			if len(v) > opaque.MaxLength {
				t.Fatalf("%q is longer than MaxLength", v)
			}
		}
	}
}

func TestKinds(t *testing.T) {
	at, _ := opaque.New(opaque.AccessTokenPrefix)
	rt, _ := opaque.New(opaque.RefreshTokenPrefix)
	if !opaque.IsAccessToken(at) || opaque.IsAccessToken(rt) || !opaque.IsRefreshToken(rt) || opaque.IsRefreshToken(at) {
		t.Error("IsAccessToken/IsRefreshToken confuse the kinds")
	}
	if n := len(opaque.Random(16)); n != base64.RawURLEncoding.EncodedLen(16) {
		t.Errorf("Random(16) has %d characters", n)
	}
}

func TestTimeOrderedID(t *testing.T) {
	base := time.UnixMilli(1_764_000_000_123)
	a, b := opaque.TimeOrderedID(base), opaque.TimeOrderedID(base)
	if a == b {
		t.Fatalf("two identifiers of one millisecond are equal: %s", a)
	}
	for _, id := range []string{a, b} {
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) != 16 {
			t.Fatalf("%s: %d bytes, %v", id, len(raw), err)
		}
		var ms int64
		for _, c := range raw[:6] {
			ms = ms<<8 | int64(c)
		}
		if ms != base.UnixMilli() {
			t.Errorf("%s carries %d ms, want %d", id, ms, base.UnixMilli())
		}
	}
	// The same millisecond: the same 8 leading characters (48 bits).
	if a[:8] != b[:8] {
		t.Errorf("%s and %s of one millisecond do not share their first 8 characters", a, b)
	}
	if later := opaque.TimeOrderedID(base.Add(time.Hour)); later[:8] == a[:8] {
		t.Errorf("an hour later, the prefix %s is unchanged", later[:8])
	}
}
