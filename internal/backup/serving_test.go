package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/backup"
)

// A backup of the store of a running node, while clients are being
// registered through its admin API: the copy passes its check, holds every
// client whose registration was acknowledged before the backup started,
// and only clients the node registered.
func TestBackupOfServingNode(t *testing.T) {
	dir := t.TempDir()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE": "development", "WRIT_DATA_DIR": dir,
		"WRIT_ADDR": "127.0.0.1:0", "WRIT_ADMIN_ADDR": "127.0.0.1:0", "WRIT_LOG_LEVEL": "error",
	}, app.Options{Announce: io.Discard})
	hc := &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	register := func() (string, error) {
		body, _ := json.Marshal(map[string]any{"client_name": "load", "grant_types": []string{"client_credentials"}, "scope": "orders:read"})
		req, _ := http.NewRequest(http.MethodPost, "http://"+a.AdminAddr().String()+"/admin/clients", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.AdminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var c struct {
			ID string `json:"client_id"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != http.StatusCreated || c.ID == "" {
			return "", err
		}
		return c.ID, nil
	}

	var mu sync.Mutex
	var acked []string
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			id, err := register()
			if err != nil || id == "" {
				t.Errorf("register a client: %v", err)
				return
			}
			mu.Lock()
			acked = append(acked, id)
			if len(acked) == 20 {
				close(started)
			}
			mu.Unlock()
		}
	}()
	<-started
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	out := filepath.Join(t.TempDir(), "live.db")
	_, err := backup.Backup(t.Context(), filepath.Join(dir, "writ.db"), out, backup.Options{})
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatalf("backup of a serving node: %v", err)
	}
	got := map[string]bool{}
	for _, id := range listIDs(t, openCopy(t, out)) {
		got[id] = true
	}
	for _, id := range before {
		if !got[id] {
			t.Errorf("client %s, acknowledged before the backup started, is not in it", id)
		}
	}
	all := map[string]bool{}
	for _, id := range acked {
		all[id] = true
	}
	for id := range got {
		if !all[id] {
			t.Errorf("the backup holds client %s, which the node never acknowledged", id)
		}
	}
	t.Logf("backup holds %d clients; %d acknowledged before it, %d in all", len(got), len(before), len(acked))
}
