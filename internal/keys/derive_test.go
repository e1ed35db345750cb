package keys

import (
	"bytes"
	"testing"
)

func TestDeriveKey(t *testing.T) {
	a, err := GenerateMasterKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateMasterKey(nil)
	k1, err := a.DeriveKey("client-secret-hash")
	if err != nil {
		t.Fatal(err)
	}
	k1again, _ := a.DeriveKey("client-secret-hash")
	k2, _ := a.DeriveKey("other")
	k3, _ := b.DeriveKey("client-secret-hash")
	switch {
	case len(k1) != 32:
		t.Fatalf("length %d", len(k1))
	case !bytes.Equal(k1, k1again):
		t.Fatal("not deterministic")
	case bytes.Equal(k1, k2):
		t.Fatal("purposes share a key")
	case bytes.Equal(k1, k3):
		t.Fatal("master keys share a subkey")
	case bytes.Equal(k1, a.m.key[:]):
		t.Fatal("subkey equals the master key")
	}
	if _, err := (MasterKey{}).DeriveKey("x"); err == nil {
		t.Fatal("zero master key derived a key")
	}
	if _, err := a.DeriveKey(""); err == nil {
		t.Fatal("empty purpose accepted")
	}
}
