package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    options
		wantErr string
	}{
		{name: "defaults with a client id from the environment", env: map[string]string{"WEBAPP_CLIENT_ID": "c1"},
			want: options{issuer: "http://127.0.0.1:8080", clientID: "c1", appURL: "http://127.0.0.1:9999", listen: "127.0.0.1:9999"}},
		{name: "flags win over the environment", args: []string{"-client-id", "c2", "-issuer", "https://id.example", "-url", "https://app.example", "-listen", "127.0.0.1:0"},
			env:  map[string]string{"WEBAPP_CLIENT_ID": "c1", "WEBAPP_ISSUER": "http://x"},
			want: options{issuer: "https://id.example", clientID: "c2", appURL: "https://app.example", listen: "127.0.0.1:0"}},
		{name: "no client id", wantErr: "-client-id"},
		{name: "cert without key", args: []string{"-client-id", "c", "-tls-cert", "c.pem"}, wantErr: "go together"},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFlags(tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestDecodeKey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int // bytes; -1: error
	}{
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 32}, // openssl rand -base64 32
		{"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", 32},
		{"-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_8", 32},
		{"+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/8=\n", 32},
		{"not base64!", -1},
	} {
		b, err := decodeKey(tc.in)
		if (tc.want < 0) != (err != nil) || (err == nil && len(b) != tc.want) {
			t.Errorf("decodeKey(%q) = %d bytes, %v; want %d", tc.in, len(b), err, tc.want)
		}
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	env := map[string]string{"WEBAPP_CLIENT_ID": "c"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-session-key", "c2hvcnQ"}, "at least 32 bytes"},
		{[]string{"-session-key", "%%%"}, "not base64"},
		{[]string{"-issuer-ca", "/nonexistent/ca.pem"}, "no such file"},
		{[]string{"-issuer", "http://127.0.0.1:1", "-session-key", strings.Repeat("A", 44)}, "discovery"},
	} {
		err := run(tc.args, getenv, logger)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("run(%q) = %v, want %q", tc.args, err, tc.wantErr)
		}
	}
	if strings.Contains(logs.String(), strings.Repeat("A", 44)) {
		t.Error("the session key is in the log")
	}
}
