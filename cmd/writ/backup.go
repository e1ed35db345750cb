package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/backup"
	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/portable"
	"github.com/writ-dev/writ/internal/store/storeopen"
)

// storeHelp explains how the backup commands choose their store.
const storeHelp = `The store is chosen like "writ serve" chooses it: --database (or
WRIT_DATABASE), else the SQLite file writ.db in --data-dir. The master key
is found like "writ serve" finds it (WRIT_MASTER_KEY, WRIT_MASTER_KEY_FILE,
master_key_file, or the development key in the data directory); it is never
generated here.`

// sqlitePath returns the SQLite file of the configured store, or a usage
// error naming what to use for PostgreSQL.
func sqlitePath(cfg *config.Config, postgresHint string) (string, error) {
	backend, path, err := storeopen.Parse(cfg.DatabaseDSN())
	if err != nil {
		return "", &usageError{err: err}
	}
	if backend != storeopen.SQLite {
		return "", usagef("this command works on the embedded SQLite store; for PostgreSQL %s", postgresHint)
	}
	if path == ":memory:" {
		return "", usagef("an in-memory database cannot be backed up or restored")
	}
	return path, nil
}

func newBackupCmd(s *streams) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "backup --out FILE|DIR",
		Short: "Copy the embedded SQLite store, consistently, while writ serves",
		Long: `Write a consistent copy of the embedded SQLite store to FILE, or to
writ-YYYYMMDDTHHMMSSZ.db inside DIR. A running "writ serve" may keep
writing: the copy (SQLite's VACUUM INTO, one read transaction) holds every
transaction committed before it started and none after, and does not stop
the server's writes.

The copy has mode 0600: it holds client secret hashes, password hashes and
the signing keys sealed under the master key. The master key is not in it:
keep the master key safe apart from the backups. An existing FILE is kept
unless --force. Before reporting success, the copy is checked (PRAGMA
integrity_check, and its schema version must be one this binary knows).

For PostgreSQL, use pg_dump, or "writ export" for the records that move
between backends.

` + storeHelp,
		Example: `  writ backup --data-dir ./writ-data --out /var/backups/writ/
  writ backup --database sqlite:/var/lib/writ/writ.db --out writ.db.bak --force`,
		GroupID: groupServer,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("--out is required: the backup file, or a directory to put it in")
			}
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				return &usageError{err: err}
			}
			warnEnvironment(s)
			src, err := sqlitePath(cfg, "use pg_dump, or \"writ export\"")
			if err != nil {
				return err
			}
			res, err := backup.Backup(cmd.Context(), src, out, backup.Options{Force: force, Progress: s.err})
			if err != nil {
				return err
			}
			fmt.Fprintf(s.err, "writ: checked the copy: integrity ok, schema version %04d (%d migrations)\n", res.Check.SchemaVersion, res.Check.Applied)
			fmt.Fprintf(s.err, "writ: wrote %s (%d bytes, mode 0600)\n", res.Path, res.Bytes)
			fmt.Fprintln(s.out, res.Path)
			return nil
		},
	}
	config.BindFlags(cmd.Flags(), config.StoreScope)
	cmd.Flags().StringVar(&out, "out", "", "backup file, or an existing directory to write writ-<time>.db in")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing backup file")
	return cmd
}

func newRestoreCmd(s *streams) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "restore --from FILE",
		Short: "Replace the embedded SQLite store with a backup (refused while writ serves on it)",
		Long: `Replace the embedded SQLite store with the backup FILE written by "writ
backup". Every "writ serve" on a SQLite store holds a shared lock on
writ.db.lock beside the database; restore takes it exclusively, so it
refuses while a server runs on the store, and a server cannot start on it
until the restore ends.

The backup is checked first (PRAGMA integrity_check; a schema newer than
this binary is refused), copied beside the store with mode 0600, checked
again, and migrated when it is older than this binary. The previous
database is not deleted: it and its -wal and -shm files are renamed to
writ.db.before-restore-<time>. When a master key is configured, restore
also checks that it opens the restored signing keys.

` + storeHelp,
		Example: `  writ restore --from /var/backups/writ/writ-20260102T030405Z.db --data-dir ./writ-data`,
		GroupID: groupServer,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return usagef("--from is required: the backup file to restore")
			}
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				return &usageError{err: err}
			}
			warnEnvironment(s)
			target, err := sqlitePath(cfg, "use pg_restore, or \"writ import\"")
			if err != nil {
				return err
			}
			res, err := backup.Restore(cmd.Context(), from, target, backup.RestoreOptions{Progress: s.err})
			if err != nil {
				return err
			}
			for _, a := range res.Aside {
				fmt.Fprintf(s.err, "writ: kept the previous file as %s\n", a)
			}
			fmt.Fprintf(s.err, "writ: restored %s (schema version %04d, %d migrations applied after the copy)\n", res.Path, res.Check.SchemaVersion, res.Migrated)
			checkRestoredKeys(cmd, s, cfg)
			return nil
		},
	}
	config.BindFlags(cmd.Flags(), config.StoreScope)
	cmd.Flags().StringVar(&from, "from", "", "backup file written by writ backup")
	return cmd
}

// checkRestoredKeys says whether the configured master key opens the
// restored key ring; a warning only, since the key may be set later.
func checkRestoredKeys(cmd *cobra.Command, s *streams, cfg *config.Config) {
	mk, err := app.LoadMasterKey(cfg, os.Getenv)
	if err != nil {
		fmt.Fprintf(s.err, "writ: warning: no master key to check the restored signing keys with (%s); writ serve needs the master key of the backed-up store\n", oneLine(err.Error()))
		return
	}
	st, err := app.OpenStore(cmd.Context(), cfg.DatabaseDSN(), false)
	if err != nil {
		fmt.Fprintf(s.err, "writ: warning: %s\n", oneLine(err.Error()))
		return
	}
	defer st.Close()
	switch err := portable.CheckKeyRing(cmd.Context(), st, mk); {
	case errors.Is(err, portable.ErrWrongMasterKey):
		fmt.Fprintln(s.err, "writ: warning: the configured master key does not open the restored signing keys: writ serve needs the master key of the backed-up store")
	case err != nil:
		fmt.Fprintf(s.err, "writ: warning: %s\n", oneLine(err.Error()))
	default:
		fmt.Fprintln(s.err, "writ: the master key opens the restored signing keys")
	}
}

func newExportCmd(s *streams) *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "export [--out FILE]",
		Short: "Write clients, users, consents, trusted issuers and the sealed keys as JSON",
		Long: `Write the lasting records of a store as one JSON document, to standard
output or FILE (mode 0600, kept unless --force): clients with their agent
and token exchange policies, users with their password hashes, consents,
trusted issuers, the unexpired revocations of JWT access tokens (revoked
jti), and the signing key ring still sealed under the master key (client
secrets stay keyed hashes under it too). "writ import" reads it into
another store, SQLite or PostgreSQL, opened with the same master key.

Not exported: sessions, authorization codes, refresh and opaque access
tokens, device codes, delegation records and the audit trail. The document
holds secrets' hashes: protect it like a backup.

Export reads the store through its API, not in one snapshot: run it on a
stopped node or on a backup file (--database sqlite:BACKUP.db).

` + storeHelp,
		Example: `  writ export --data-dir ./writ-data > writ.json
  writ export --database postgres://writ@db/writ --out writ.json`,
		GroupID: groupServer,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				return &usageError{err: err}
			}
			warnEnvironment(s)
			mk, err := app.LoadMasterKey(cfg, os.Getenv)
			if err != nil {
				return err
			}
			st, err := app.OpenStore(cmd.Context(), cfg.DatabaseDSN(), false)
			if err != nil {
				return err
			}
			defer st.Close()
			doc, err := portable.Export(cmd.Context(), st, mk, time.Now())
			if err != nil {
				return err
			}
			w, done, err := outputFile(s.out, out, force)
			if err != nil {
				return err
			}
			if err := portable.Write(w, doc); err != nil {
				done()
				return err
			}
			if err := done(); err != nil {
				return err
			}
			fmt.Fprintf(s.err, "writ: exported %s\n", doc.Count())
			return nil
		},
	}
	config.BindFlags(cmd.Flags(), config.StoreScope)
	cmd.Flags().StringVar(&out, "out", "", "write to FILE (mode 0600) instead of standard output")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing --out file")
	return cmd
}

// outputFile returns standard output, or a new file of mode 0600 at path
// (an existing one only with force), and a function that closes it.
func outputFile(stdout io.Writer, path string, force bool) (io.Writer, func() error, error) {
	if path == "" {
		return stdout, func() error { return nil }, nil
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(filepath.Clean(path), flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, nil, fmt.Errorf("%s exists (use --force to overwrite it)", path)
	}
	if err != nil {
		return nil, nil, err
	}
	if force {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return f, func() error {
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

func newImportCmd(s *streams) *cobra.Command {
	var in string
	var merge, replace bool
	var maxBytes int64
	cmd := &cobra.Command{
		Use:   "import [--in FILE] [--merge | --replace]",
		Short: "Read a document of writ export into a store (SQLite or PostgreSQL)",
		Long: `Read a document written by "writ export" from standard input or FILE into
the store, applying its pending migrations first. The store must be
opened with the master key of the exported store: the document carries a
check value of it, and the sealed keys must open under it; otherwise nothing
is written.

Everything is checked before the first write: the document (strict JSON, at
most --max-bytes, format version, every record valid, no record twice,
each consent's user and client present), the master key, and what exists in
the store. By default a record that exists already (same client ID, user
ID, consent, issuer, or any key ring) refuses the whole import; --merge
keeps the existing records and adds the others (the store's key ring is
kept); --replace overwrites them with the document's (the key ring too).
A username taken by a different user is refused in every mode. If a write
fails, those done are undone.

Import into a store that no server is using: the nodes cache clients and
keys.

` + storeHelp,
		Example: `  writ export --data-dir ./writ-data > writ.json
  writ import --database postgres://writ@127.0.0.1:5432/writ --data-dir ./writ-data < writ.json`,
		GroupID: groupServer,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if merge && replace {
				return usagef("--merge and --replace exclude one another")
			}
			mode := portable.ModeCreate
			if merge {
				mode = portable.ModeMerge
			} else if replace {
				mode = portable.ModeReplace
			}
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				return &usageError{err: err}
			}
			warnEnvironment(s)
			var r io.Reader = s.in
			if in != "" {
				f, err := os.Open(in)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			doc, err := portable.Read(r, maxBytes)
			if err != nil {
				return err
			}
			mk, err := app.LoadMasterKey(cfg, os.Getenv)
			if err != nil {
				return err
			}
			if cfg.Database == "" {
				if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
					return fmt.Errorf("create data directory: %w", err)
				}
			}
			st, err := app.OpenStore(cmd.Context(), cfg.DatabaseDSN(), true)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := portable.Import(cmd.Context(), st, mk, doc, mode)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.err, "writ: imported (%s): created %s\n", mode, res.Created)
			if mode != portable.ModeCreate {
				fmt.Fprintf(s.err, "writ: replaced %s; kept %s\n", res.Replaced, res.Kept)
			}
			return nil
		},
	}
	config.BindFlags(cmd.Flags(), config.StoreScope)
	cmd.Flags().StringVar(&in, "in", "", "read FILE instead of standard input")
	cmd.Flags().BoolVar(&merge, "merge", false, "keep records that exist in the store, add the others")
	cmd.Flags().BoolVar(&replace, "replace", false, "overwrite records that exist in the store with the document's")
	cmd.Flags().Int64Var(&maxBytes, "max-bytes", portable.DefaultMaxBytes, "largest document read")
	return cmd
}
