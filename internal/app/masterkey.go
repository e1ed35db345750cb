package app

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/keys"
)

// LoadMasterKey finds the master key a node with cfg would use, for the
// commands that work on its store offline (export, import, restore):
// WRIT_MASTER_KEY or WRIT_MASTER_KEY_FILE, then master_key_file, then the
// development key file in the data directory. Unlike a starting node it
// never generates one: without a key it fails with keys.ErrNoMasterKey.
func LoadMasterKey(cfg *config.Config, getenv func(string) string) (keys.MasterKey, error) {
	lookup := func(k string) (string, bool) { v := getenv(k); return v, v != "" }
	mk, err := keys.LoadMasterKey(lookup)
	if !errors.Is(err, keys.ErrNoMasterKey) {
		return mk, err
	}
	if cfg.MasterKeyFile != "" {
		return keys.LoadMasterKeyFile(cfg.MasterKeyFile)
	}
	path := filepath.Join(cfg.DataDir, masterKeyFileName)
	mk, ferr := keys.LoadMasterKeyFile(path)
	if errors.Is(ferr, fs.ErrNotExist) {
		return keys.MasterKey{}, fmt.Errorf("%w, no master_key_file, and no %s", keys.ErrNoMasterKey, path)
	}
	return mk, ferr
}
