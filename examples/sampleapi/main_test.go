package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestEcho(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, "127.0.0.1:0", ready) }()
	addr := <-ready
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/orders/7", nil)
	req.Header.Set("X-User", "alice")
	req.Header.Add("X-Groups", "a")
	req.Header.Add("X-Groups", "b")
	req.Header.Set("X-Forwarded-For", "127.0.0.1")
	req.Header.Set("Authorization", "Bearer secret-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if e.Method != "GET" || e.Path != "/orders/7" {
		t.Errorf("method/path = %s %s", e.Method, e.Path)
	}
	if got := e.identityNames(); !slices.Equal(got, []string{"x-groups", "x-user"}) {
		t.Errorf("identity headers %v", got)
	}
	if e.Identity["x-groups"] != "a,b" {
		t.Errorf("x-groups = %q", e.Identity["x-groups"])
	}
	if e.Authorization != "Bearer (credential not shown)" {
		t.Errorf("authorization = %q; the credential must never be echoed", e.Authorization)
	}
}

// An Authorization header without a scheme is a bare credential: it is
// not echoed as if it were the scheme's name.
func TestEchoBareCredential(t *testing.T) {
	for _, a := range []string{"eyJhbGciOiJFUzI1NiJ9.secret.sig", "Bearer\tsecret-token", "Bearer"} {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", a)
		rec := httptest.NewRecorder()
		handler().ServeHTTP(rec, req)
		if body := rec.Body.String(); strings.Contains(body, "secret") {
			t.Errorf("Authorization %q: the echo holds the credential: %s", a, body)
		}
	}
}
