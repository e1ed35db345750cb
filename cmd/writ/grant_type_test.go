package main

import "testing"

// TestClientGrantTypesServed: --grant-type accepts the grant types the
// server serves and refuses the rest, with the list of those it accepts.
func TestClientGrantTypesServed(t *testing.T) {
	e := newAdminEnv(t)
	for _, g := range []string{"token-exchange", "device_code", "password"} {
		writAdmin(t, "", "client", "create", "--endpoint", e.url, "--grant-type", g).
			mustFail(t, exitUsage, "client_credentials, authorization_code, refresh_token")
	}
	writAdmin(t, "", "client", "create", "--endpoint", e.url, "--grant-type", "client_credentials").mustSucceed(t)
	writAdmin(t, "", "client", "create", "--endpoint", e.url, "--grant-type", "urn:ietf:params:oauth:grant-type:token-exchange",
		"--audience", "https://b.example.com").mustSucceed(t)
	writAdmin(t, "", "client", "create", "--endpoint", e.url, "--public",
		"--grant-type", "urn:ietf:params:oauth:grant-type:device_code", "--grant-type", "refresh_token").mustSucceed(t)
}
