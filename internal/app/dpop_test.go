package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// needRedis skips the test when the local Redis is unreachable, except
// under CI=true.
func needRedis(t *testing.T) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at 127.0.0.1:6379: %v", err)
		}
		t.Skipf("Redis at 127.0.0.1:6379 unreachable (%v); CI=true makes this a failure", err)
	}
}

// Two nodes of one issuer share their DPoP replay cache in Redis
// (dpop_replay): a proof used at one is refused at the other.
func TestDPoPReplayCacheSharedByNodes(t *testing.T) {
	needRedis(t)
	const issuer = "http://writ.example.test"
	start := func(name string) *app.App {
		return apptest.Start(t, map[string]string{
			"WRIT_MODE": "development", "WRIT_ISSUER": issuer,
			"WRIT_DATA_DIR": filepath.Join(t.TempDir(), name), "WRIT_ADDR": "127.0.0.1:0", "WRIT_ADMIN_ADDR": "127.0.0.1:0",
			"WRIT_LOG_LEVEL": "error", "WRIT_DPOP_REPLAY": "redis://127.0.0.1:6379/0",
		}, app.Options{Announce: io.Discard})
	}
	a, b := start("a"), start("b")
	hc := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)

	// A client at node a, through its admin API.
	body, _ := json.Marshal(map[string]any{"client_name": "agent", "grant_types": []string{"client_credentials"}, "scope": "orders:read"})
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.AdminAddr().String()+"/admin/clients", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	err = json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	if err != nil || c.ID == "" {
		t.Fatalf("create client: %d %v", resp.StatusCode, err)
	}

	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	token := func(node *app.App, proof string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+node.PublicAddr().String()+"/oauth2/token",
			strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
		req.Header.Set("DPoP", proof)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Error     string `json:"error"`
			TokenType string `json:"token_type"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out.Error + out.TokenType
	}
	// Proofs name the issuer's token endpoint, whatever node they reach.
	proof, err := dpop.NewProof(key, "POST", issuer+"/oauth2/token", "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, got := token(a, proof); st != 200 || got != "DPoP" {
		t.Fatalf("first use at node a: %d %s", st, got)
	}
	if st, got := token(b, proof); st != 400 || got != "invalid_dpop_proof" {
		t.Fatalf("replay at node b: %d %s, want 400 invalid_dpop_proof", st, got)
	}
	// A fresh proof passes the check at node b, which does not know the
	// client (its own database): the refusal above was the replay.
	fresh, err := dpop.NewProof(key, "POST", issuer+"/oauth2/token", "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, got := token(b, fresh); st != 401 || got != "invalid_client" {
		t.Fatalf("fresh proof at node b: %d %s, want 401 invalid_client", st, got)
	}
}

// Two nodes with one master key (dpop_nonce on) issue and accept the same
// DPoP nonces: the nonce one hands out passes at the other.
func TestDPoPNoncesSharedByNodes(t *testing.T) {
	const issuer = "http://writ.example.test"
	var mk [32]byte
	if _, err := rand.Read(mk[:]); err != nil {
		t.Fatal(err)
	}
	master := base64.StdEncoding.EncodeToString(mk[:])
	start := func(name string) *app.App {
		return apptest.Start(t, map[string]string{
			"WRIT_MODE": "development", "WRIT_ISSUER": issuer, "WRIT_MASTER_KEY": master,
			"WRIT_DATA_DIR": filepath.Join(t.TempDir(), name), "WRIT_ADDR": "127.0.0.1:0", "WRIT_ADMIN_ADDR": "127.0.0.1:0",
			"WRIT_LOG_LEVEL": "error", "WRIT_DPOP_NONCE": "true",
		}, app.Options{Announce: io.Discard})
	}
	a, b := start("a"), start("b")
	hc := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	// No client is registered: a proof that passes gets invalid_client.
	send := func(node *app.App, nonce string) (int, string, string) {
		t.Helper()
		proof, err := dpop.NewProof(key, "POST", issuer+"/oauth2/token", "", nonce, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+node.PublicAddr().String()+"/oauth2/token",
			strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("nobody", "nothing")
		req.Header.Set("DPoP", proof)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Error string `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out.Error, resp.Header.Get("DPoP-Nonce")
	}
	st, code, nonce := send(a, "")
	if st != 400 || code != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("without a nonce at node a: %d %s nonce %q", st, code, nonce)
	}
	if st, code, _ := send(b, nonce); st != 401 || code != "invalid_client" {
		t.Fatalf("node a's nonce at node b: %d %s, want the proof accepted (then 401 invalid_client)", st, code)
	}
}
