package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// cannedAdmin serves canned admin API answers, keyed by "METHOD
// /path?query"; anything else is a 404 in the API's error format. It points
// the admin commands at itself.
func cannedAdmin(t *testing.T, answers map[string]string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := answers[r.Method+" "+r.URL.RequestURI()]
		switch {
		case !ok:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"not_found","error_description":"no canned answer for ` + r.Method + ` ` + r.URL.RequestURI() + `"}`))
		case body == "":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(body))
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv(envAdminToken, cliAdminToken)
	t.Setenv(envAdminEndpoint, srv.URL)
}

// TestAdminOutput pins, byte for byte, what the admin commands print for
// the paths they share: tables and -o json, list pages, and the one-line
// reports of changes the API answers without a body.
func TestAdminOutput(t *testing.T) {
	const (
		client1 = `{"client_id":"svc-1","client_name":"billing","grant_types":["client_credentials","refresh_token"],"response_types":[],"scope":"a b","token_endpoint_auth_method":"client_secret_basic","access_token_format":"jwt","first_party":false,"metadata":{"team":"pay","env":"prod"},"created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:00Z"}`
		client2 = `{"client_id":"svc-2","grant_types":["authorization_code"],"response_types":["code"],"token_endpoint_auth_method":"none","access_token_format":"opaque","access_token_ttl":300,"first_party":true,"created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:00Z"}`
		user1   = `{"id":"u1","username":"ada","disabled":false,"has_password":true,"email":"ada@example.com","email_verified":true,"name":"Ada","address":{"locality":"London","country":"UK"},"attributes":{"roles":["admin"],"dept":"math"},"created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-02T12:00:00Z"}`
		user2   = `{"id":"u2","username":"grace","disabled":true,"has_password":false,"email_verified":false,"phone_number_verified":false,"created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:00Z"}`
	)
	cannedAdmin(t, map[string]string{
		"GET /admin/clients?limit=1":             `{"clients":[` + client1 + `],"next":"svc-1"}`,
		"GET /admin/clients?after=svc-1&limit=1": `{"clients":[` + client2 + `],"next":"svc-2"}`,
		"GET /admin/clients?after=svc-2&limit=1": `{"clients":[],"next":""}`,
		"GET /admin/clients?limit=2":             `{"clients":[{"client_id":5}],"next":""}`,
		"GET /admin/clients?limit=3":             `{"next":""}`,
		"GET /admin/clients?after=loop&limit=1":  `{"clients":[],"next":"loop"}`,
		"GET /admin/clients/svc-1":               client1,
		"GET /admin/clients/svc-2":               client2,
		"DELETE /admin/clients/svc-1":            "",
		"GET /admin/users?limit=100":             `{"users":[` + user1 + `,` + user2 + `],"next":"u2"}`,
		"GET /admin/users?limit=5":               `{"users":[],"next":""}`,
		"GET /admin/users/u1":                    user1,
		"GET /admin/users?username=grace":        `{"users":[` + user2 + `],"next":""}`,
		"GET /admin/users?username=nobody":       `{"users":[],"next":""}`,
		"GET /admin/users/u1/consents":           `{"consents":[{"client_id":"svc-1","scope":"openid profile","granted_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-03T12:00:00Z"}]}`,
		"GET /admin/users/u2/consents":           `{"consents":[]}`,
		"GET /admin/users/u3/consents":           `{"consent":[]}`,
		"DELETE /admin/users/u1":                 "",
		"DELETE /admin/users/u1/consents/svc-1":  "",
		"POST /admin/users/u2/disable":           user2,
		"POST /admin/users/u1/password":          "",
		"GET /admin/keys":                        `{"keys":[{"kid":"k1","alg":"ES256","state":"active","created_at":"2026-03-01T12:00:00Z","activated_at":"2026-03-01T12:10:00Z"},{"kid":"k2","alg":"ES256","state":"next","created_at":"2026-03-01T12:10:00Z"}]}`,
		"POST /admin/keys/rotate":                `{"keys":[]}`,
		"GET /admin/users?after=u2&limit=100":    `{"users":[],"next":""}`,
		"GET /admin/clients?after=svc-9&limit=1": `{"clients":[` + client2 + `],"next":""}`,
	})
	for _, tt := range []struct {
		name           string
		args           []string
		stdin          string
		code           int
		stdout, stderr string
	}{
		{
			name: "client list page", args: []string{"client", "list", "--limit", "1"},
			stdout: "CLIENT ID  NAME     GRANT TYPES                       AUTH METHOD          SCOPES\n" +
				"svc-1      billing  client_credentials,refresh_token  client_secret_basic  a b\n",
			stderr: "writ: more clients follow: use --all, or --after svc-1 for the next page\n",
		},
		{
			name: "client list page json", args: []string{"client", "list", "--limit", "1", "--after", "svc-9", "-o", "json"},
			stdout: "{\n  \"clients\": [\n    " + strings.ReplaceAll(indent(client2), "\n", "\n    ") + "\n  ],\n  \"next\": \"\"\n}\n",
		},
		{
			name: "client list all", args: []string{"client", "list", "--limit", "1", "--all"},
			stdout: "CLIENT ID  NAME     GRANT TYPES                       AUTH METHOD          SCOPES\n" +
				"svc-1      billing  client_credentials,refresh_token  client_secret_basic  a b\n" +
				"svc-2      -        authorization_code                none                 -\n",
		},
		{
			name: "client list all json", args: []string{"client", "list", "--limit", "1", "--all", "-o", "json"},
			stdout: "{\n  \"clients\": [\n    " + strings.ReplaceAll(indent(client1), "\n", "\n    ") + ",\n    " +
				strings.ReplaceAll(indent(client2), "\n", "\n    ") + "\n  ],\n  \"next\": \"\"\n}\n",
		},
		{name: "client list empty", args: []string{"client", "list", "--limit", "1", "--after", "svc-2"}, stdout: "No clients.\n"},
		{
			name: "client list cursor stuck", args: []string{"client", "list", "--limit", "1", "--after", "loop", "--all"}, code: exitUsage,
			stderr: "writ: the admin API returned a page cursor that does not advance (\"loop\"); stopping\n",
		},
		{
			name: "client list malformed item", args: []string{"client", "list", "--limit", "2"}, code: exitUsage,
			stderr: "writ: the admin API answered with a malformed client\n",
		},
		{
			name: "client list not a list", args: []string{"client", "list", "--limit", "3"}, code: exitUsage,
			stderr: "writ: the admin API answered with something that is not a client list\n",
		},
		{
			name: "client get", args: []string{"client", "get", "svc-1"},
			stdout: "CLIENT ID         svc-1\n" +
				"NAME              billing\n" +
				"GRANT TYPES       client_credentials, refresh_token\n" +
				"AUTH METHOD       client_secret_basic\n" +
				"SCOPES            a b\n" +
				"AUDIENCES         -\n" +
				"REDIRECT URIS     -\n" +
				"TOKEN FORMAT      jwt\n" +
				"ACCESS TOKEN TTL  server default\n" +
				"METADATA env      prod\n" +
				"METADATA team     pay\n" +
				"CREATED           2026-03-01T12:00:00Z\n",
		},
		{
			name: "client get public", args: []string{"client", "get", "svc-2"},
			stdout: "CLIENT ID         svc-2\n" +
				"NAME              -\n" +
				"GRANT TYPES       authorization_code\n" +
				"AUTH METHOD       none\n" +
				"SCOPES            -\n" +
				"AUDIENCES         -\n" +
				"REDIRECT URIS     -\n" +
				"TOKEN FORMAT      opaque\n" +
				"ACCESS TOKEN TTL  5m0s\n" +
				"FIRST PARTY       yes\n" +
				"CREATED           2026-03-01T12:00:00Z\n",
		},
		{name: "client delete", args: []string{"client", "delete", "svc-1"}, stdout: "deleted client svc-1\n"},
		{name: "client delete json", args: []string{"client", "delete", "svc-1", "-o", "json"}, stdout: "{\n  \"client_id\": \"svc-1\",\n  \"deleted\": true\n}\n"},
		{
			name: "bad output before missing argument", args: []string{"client", "get", "-o", "yaml"}, code: exitUsage,
			stderr: "writ: -o \"yaml\": choose table or json (see 'writ client get --help')\n",
		},
		{
			name: "user list page", args: []string{"user", "list"},
			stdout: "ID  USERNAME  EMAIL            DISABLED\n" +
				"u1  ada       ada@example.com  no\n" +
				"u2  grace     -                yes\n",
			stderr: "writ: more users follow: use --all, or --after u2 for the next page\n",
		},
		{name: "user list all json empty", args: []string{"user", "list", "--limit", "5", "--all", "-o", "json"}, stdout: "{\n  \"users\": [],\n  \"next\": \"\"\n}\n"},
		{
			name: "user get", args: []string{"user", "get", "u1"},
			stdout: "ID               u1\n" +
				"USERNAME         ada\n" +
				"EMAIL            ada@example.com (verified)\n" +
				"DISABLED         no\n" +
				"PASSWORD         set\n" +
				"NAME             Ada\n" +
				"ADDRESS          London, UK\n" +
				"ATTRIBUTE dept   \"math\"\n" +
				"ATTRIBUTE roles  [\"admin\"]\n" +
				"CREATED          2026-03-01T12:00:00Z\n" +
				"UPDATED          2026-03-02T12:00:00Z\n",
		},
		{name: "user get by username json", args: []string{"user", "get", "--username", "grace", "-o", "json"}, stdout: indent(user2) + "\n"},
		{name: "user get by unknown username", args: []string{"user", "get", "--username", "nobody"}, code: exitUsage, stderr: "writ: no user with username \"nobody\"\n"},
		{
			name: "user disable", args: []string{"user", "disable", "u2"},
			stdout: "ID        u2\n" +
				"USERNAME  grace\n" +
				"EMAIL     -\n" +
				"DISABLED  yes\n" +
				"PASSWORD  not set\n" +
				"CREATED   2026-03-01T12:00:00Z\n" +
				"UPDATED   2026-03-01T12:00:00Z\n",
			stderr: "writ: disabled user u2: their sessions ended and their refresh tokens were revoked\n",
		},
		{name: "user delete", args: []string{"user", "delete", "u1"}, stdout: "deleted user u1\n"},
		{name: "user delete json", args: []string{"user", "delete", "u1", "-o", "json"}, stdout: "{\n  \"deleted\": true,\n  \"id\": \"u1\"\n}\n"},
		{
			name: "user set-password", args: []string{"user", "set-password", "u1", "--password-stdin"}, stdin: "correct horse battery staple\n",
			stdout: "set the password of user u1; their sessions ended and their refresh tokens were revoked\n",
		},
		{
			name: "user set-password json", args: []string{"user", "set-password", "u1", "--password-stdin", "-o", "json"}, stdin: "correct horse battery staple",
			stdout: "{\n  \"id\": \"u1\",\n  \"password_set\": true\n}\n",
		},
		{
			name: "user consents", args: []string{"user", "consents", "u1"},
			stdout: "CLIENT ID  SCOPES          GRANTED               UPDATED\n" +
				"svc-1      openid profile  2026-03-01T12:00:00Z  2026-03-03T12:00:00Z\n",
		},
		{name: "user consents none", args: []string{"user", "consents", "u2"}, stdout: "No consents.\n"},
		{
			name: "user consents not a list", args: []string{"user", "consents", "u3"}, code: exitUsage,
			stderr: "writ: the admin API answered with something that is not a consent list\n",
		},
		{name: "user revoke-consent", args: []string{"user", "revoke-consent", "u1", "svc-1"}, stdout: "revoked the consent of user u1 to client svc-1 and its refresh tokens\n"},
		{
			name: "user revoke-consent json", args: []string{"user", "revoke-consent", "u1", "svc-1", "-o", "json"},
			stdout: "{\n  \"client_id\": \"svc-1\",\n  \"id\": \"u1\",\n  \"revoked\": true\n}\n",
		},
		{
			name: "key list", args: []string{"key", "list"},
			stdout: "KID  ALG    STATE   CREATED               ACTIVATED             RETIRED  NOT AFTER\n" +
				"k1   ES256  active  2026-03-01T12:00:00Z  2026-03-01T12:10:00Z  -        -\n" +
				"k2   ES256  next    2026-03-01T12:10:00Z  -                     -        -\n",
		},
		{name: "key rotate to an empty ring", args: []string{"key", "rotate"}, stdout: "No signing keys.\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := writ(t, tt.stdin, tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nwant:\n%s\nstderr: %q\nwant:   %q", r.code, tt.code, r.stdout, tt.stdout, r.stderr, tt.stderr)
			}
		})
	}
}

// indent is a canned JSON document as the commands print it with -o json,
// without the final newline.
func indent(doc string) string {
	out, err := indentJSON([]byte(doc))
	if err != nil {
		panic(err)
	}
	return strings.TrimSuffix(string(out), "\n")
}
