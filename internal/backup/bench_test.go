package backup_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/writ-dev/writ/internal/backup"
	"github.com/writ-dev/writ/internal/store"
)

// BenchmarkBackup backs up a store of 20,000 clients (about 5 MB) and
// checks the copy; it reports the store's size in MB/s.
func BenchmarkBackup(b *testing.B) {
	st, src := newStore(b, b.TempDir())
	for i := range 20000 {
		c := store.Client{ID: fmt.Sprintf("client-%06d", i), Name: "a client with a name of some length",
			RedirectURIs: []string{"https://app.example/callback"}, Scopes: []string{"openid", "profile", "orders:read"},
			SecretHash: make([]byte, 32), CreatedAt: base, UpdatedAt: base}
		if err := st.CreateClient(b.Context(), c); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	var size int64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		res, err := backup.Backup(b.Context(), src, filepath.Join(dir, fmt.Sprintf("b%d.db", i)), backup.Options{})
		if err != nil {
			b.Fatal(err)
		}
		size = res.Bytes
	}
	b.SetBytes(size)
}
