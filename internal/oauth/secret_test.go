package oauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

func testHasher(t *testing.T, fill byte) *SecretHasher {
	t.Helper()
	h, err := NewSecretHasher(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNewSecretHasherKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewSecretHasher(make([]byte, n)); err == nil {
			t.Errorf("NewSecretHasher accepts a %d-byte key", n)
		}
	}
}

func TestSecretHasher(t *testing.T) {
	h := testHasher(t, 1)
	other := testHasher(t, 2)
	stored := h.Hash("correct horse")

	// The hash is HMAC-SHA-256 under the key: a test vector computed with
	// the standard library pins the construction.
	m := hmac.New(sha256.New, bytes.Repeat([]byte{1}, 32))
	m.Write([]byte("correct horse"))
	if !bytes.Equal(stored, m.Sum(nil)) {
		t.Fatalf("Hash is not HMAC-SHA-256 of the secret")
	}
	tests := []struct {
		name   string
		h      *SecretHasher
		secret string
		stored []byte
		want   bool
	}{
		{"right secret", h, "correct horse", stored, true},
		{"wrong secret", h, "correct horsf", stored, false},
		{"prefix", h, "correct hors", stored, false},
		{"empty secret", h, "", stored, false},
		{"other key", other, "correct horse", stored, false},
		{"empty stored hash", h, "", nil, false},
		{"empty stored hash, empty secret", h, "", []byte{}, false},
		{"truncated stored hash", h, "correct horse", stored[:16], false},
		{"zero stored hash", h, "", make([]byte, 32), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.h.Verify(tc.secret, tc.stored); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
	if !bytes.Equal(h.Hash("x"), h.Hash("x")) || bytes.Equal(h.Hash("x"), other.Hash("x")) {
		t.Error("Hash is not deterministic per key")
	}
}

func TestSecretHasherRedacts(t *testing.T) {
	h := testHasher(t, 0xab)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, h)
		if strings.Contains(strings.ToLower(out), "abab") || strings.Contains(strings.ToLower(out), "0xab") || !strings.Contains(out, "REDACTED") {
			t.Errorf("%s of a SecretHasher = %q", verb, out)
		}
	}
}

func TestGenerateSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, err := GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(raw) != SecretBytes || SecretBytes < 32 {
			t.Fatalf("secret %q: %d bytes, %v", s, len(raw), err)
		}
		if seen[s] {
			t.Fatal("GenerateSecret repeated itself")
		}
		seen[s] = true
	}
}
