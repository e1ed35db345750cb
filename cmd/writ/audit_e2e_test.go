package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/audit"
	"github.com/writ-dev/writ/internal/store"
)

// TestAuditEndToEnd: client credentials tokens from a real node are
// audited (recorded before the response), "writ audit tail" streams them
// without any token value, "writ audit verify --data-dir" passes with the
// node's anchor and the head the stream's last line names, fails with
// that head alone once the newest event and its anchor are deleted, and
// fails naming the record once one is changed in the database.
func TestAuditEndToEnd(t *testing.T) {
	dir := t.TempDir()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   dir,
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
	}, app.Options{Announce: io.Discard})
	hc := &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)

	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	apptest.Admin(t, a, http.MethodPost, "/admin/clients", map[string]any{
		"client_name": "svc", "grant_types": []string{"client_credentials"}, "scope": "orders:read",
	}, &c, http.StatusCreated)
	var tokens []string
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, a.Issuer+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || out.AccessToken == "" {
			t.Fatalf("token: %d %v", resp.StatusCode, err)
		}
		tokens = append(tokens, out.AccessToken)
	}
	// Each event was in the node's audit journal before its response;
	// flushed, they are in the store.
	if err := a.FlushAudit(t.Context()); err != nil {
		t.Fatal(err)
	}
	events, err := a.Store.ListAudit(t.Context(), store.AuditQuery{Type: store.AuditTokenIssued, ClientID: c.ID})
	if err != nil || len(events) != 3 {
		t.Fatalf("token_issued events of %s = %d, %v; want 3", c.ID, len(events), err)
	}
	// The node anchors every minute; anchor now, as it would.
	if _, err := audit.Anchor(t.Context(), a.Store, a.Ring, time.Now(), 0); err != nil {
		t.Fatal(err)
	}

	r := writ(t, "", "audit", "verify", "--data-dir", dir).mustSucceed(t)
	if !strings.Contains(r.stdout, "audit trail intact") || !strings.Contains(r.stdout, "1 anchors verified") {
		t.Fatalf("verify: %q", r.stdout)
	}

	out := filepath.Join(dir, "audit.jsonl")
	writ(t, "", "audit", "tail", "--data-dir", dir, "--output", out).mustSucceed(t)
	// Again: it resumes after the last line, repeating nothing.
	writ(t, "", "audit", "tail", "--data-dir", dir, "--output", out).mustSucceed(t)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	issued := 0
	for i, l := range lines {
		var e tailLine
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if e.Seq != int64(i+1) || len(e.Hash) != 64 {
			t.Fatalf("line %d: seq %d, hash %q", i+1, e.Seq, e.Hash)
		}
		if e.Type == store.AuditTokenIssued {
			issued++
		}
	}
	if issued != 3 {
		t.Fatalf("tail wrote %d token_issued lines, want 3:\n%s", issued, data)
	}
	for _, tok := range append(tokens, c.Secret) {
		if strings.Contains(string(data), tok) {
			t.Fatal("a token or secret is in the audit trail")
		}
	}

	// The last line is the head a SIEM keeps: verify holds the trail to it.
	var head tailLine
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &head); err != nil {
		t.Fatal(err)
	}
	expect := fmt.Sprintf("%d:%s", head.Seq, head.Hash)
	writ(t, "", "audit", "verify", "--data-dir", dir, "--expect-head", expect).mustSucceed(t)
	writ(t, "", "audit", "verify", "--data-dir", dir, "--expect-head", strconv.FormatInt(head.Seq, 10)).mustFail(t, exitUsage, "--expect-head", "SEQ:HASH")
	writ(t, "", "audit", "verify", "--data-dir", dir, "--expect-head", expect[:len(expect)-2]).mustFail(t, exitUsage, "--expect-head", "64 hex digits")
	writ(t, "", "audit", "verify", "--data-dir", dir, "--expect-head", "0:"+head.Hash).mustFail(t, exitUsage, "--expect-head", "SEQ:HASH")

	// Delete the newest event and the anchors at it behind the server's
	// back: only the kept head shows it.
	db, err := sql.Open("sqlite", filepath.Join(dir, "writ.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DELETE FROM audit_events WHERE seq >= ?`, `DELETE FROM audit_anchors WHERE seq >= ?`} {
		if _, err := db.Exec(q, head.Seq); err != nil {
			t.Fatal(err)
		}
	}
	writ(t, "", "audit", "verify", "--data-dir", dir).mustSucceed(t)
	writ(t, "", "audit", "verify", "--data-dir", dir, "--expect-head", expect).mustFail(t, exitRejected, "deleted",
		"sequence number "+strconv.FormatInt(head.Seq, 10))

	// Change one record behind the server's back.
	if _, err := db.Exec(`UPDATE audit_events SET subject = 'mallory' WHERE seq = ?`, events[1].Seq); err != nil {
		t.Fatal(err)
	}
	writ(t, "", "audit", "verify", "--data-dir", dir).mustFail(t, exitRejected, "changed", "sequence number "+strconv.FormatInt(events[1].Seq, 10))
	writ(t, "", "audit", "verify", "--database", "sqlite:"+filepath.Join(dir, "writ.db"), "--no-anchors").mustFail(t, exitRejected, "changed")
}
