package opaque_test

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

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
