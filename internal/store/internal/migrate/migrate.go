// Package migrate loads a backend's embedded migration files and works out
// which are pending. Applying them is the backend's job (each has its own
// transaction and locking).
//
// Migration files are named NNNN_name.sql (a positive decimal version, an
// underscore, a name) and hold one or more SQL statements. Versions are
// unique; they are applied in increasing order. Applied versions are
// recorded in a schema_migrations table (version, name, applied_at).
package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// File is one migration.
type File struct {
	// Version is the number the file name starts with.
	Version int
	// Name is the rest of the file name without ".sql".
	Name string
	// SQL is the file's content.
	SQL string
}

// Load reads every *.sql file in dir of fsys, ordered by version.
func Load(fsys fs.FS, dir string) ([]File, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", dir, err)
	}
	var files []File
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		if !ok || name == "" {
			return nil, fmt.Errorf("migrate: file name %q is not NNNN_name.sql", e.Name())
		}
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migrate: file name %q does not start with a positive version", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", e.Name(), err)
		}
		files = append(files, File{Version: v, Name: name, SQL: string(b)})
	}
	slices.SortFunc(files, func(a, b File) int { return a.Version - b.Version })
	for i := 1; i < len(files); i++ {
		if files[i].Version == files[i-1].Version {
			return nil, fmt.Errorf("migrate: version %d appears twice", files[i].Version)
		}
	}
	if len(files) == 0 {
		return nil, errors.New("migrate: no migration files")
	}
	return files, nil
}

// Applied is a row of schema_migrations.
type Applied struct {
	Version   int
	Name      string
	AppliedAt time.Time
}

// Status merges the known files with the applied rows, ordered by version.
func Status(files []File, applied []Applied) []store.Migration {
	byVersion := make(map[int]Applied, len(applied))
	for _, a := range applied {
		byVersion[a.Version] = a
	}
	out := make([]store.Migration, 0, len(files)+len(applied))
	for _, f := range files {
		m := store.Migration{Version: f.Version, Name: f.Name}
		if a, ok := byVersion[f.Version]; ok {
			m.Applied, m.AppliedAt = true, a.AppliedAt
			delete(byVersion, f.Version)
		}
		out = append(out, m)
	}
	for _, a := range byVersion {
		out = append(out, store.Migration{Version: a.Version, Applied: true, AppliedAt: a.AppliedAt})
	}
	slices.SortFunc(out, func(a, b store.Migration) int { return a.Version - b.Version })
	return out
}

// CheckKnown returns an error if applied holds a version no file has: the
// database was migrated by a newer binary.
func CheckKnown(files []File, applied []Applied) error {
	for _, a := range applied {
		if !slices.ContainsFunc(files, func(f File) bool { return f.Version == a.Version }) {
			return fmt.Errorf("migrate: the database has schema version %d, which this binary does not know (it was migrated by a newer writ)", a.Version)
		}
	}
	return nil
}
