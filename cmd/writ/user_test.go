package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storeopen"
)

// cliPasswords is a cheap argon2id hasher for the tests.
var cliPasswords = authn.Hasher{Params: authn.Params{Memory: 64, Time: 1, Threads: 1}}

const cliPassword = "correct horse battery staple"

// userEnv is an admin API with the user routes over a real SQLite store.
type userEnv struct {
	url   string
	store store.Store
}

func newUserEnv(t *testing.T) *userEnv {
	t.Helper()
	ctx := context.Background()
	st, err := storeopen.Open(ctx, "sqlite:"+t.TempDir()+"/writ.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.NewHandler(admin.Options{
		Token: cliAdminToken, Store: st, Users: st, Passwords: cliPasswords,
	}))
	t.Cleanup(srv.Close)
	t.Setenv(envAdminToken, cliAdminToken)
	t.Setenv(envAdminEndpoint, srv.URL)
	return &userEnv{url: srv.URL, store: st}
}

// createUserJSON runs "writ user create -o json" and decodes the output.
func (e *userEnv) createUserJSON(t *testing.T, stdin string, args ...string) admin.UserResponse {
	t.Helper()
	r := writ(t, stdin, append([]string{"user", "create", "-o", "json"}, args...)...).mustSucceed(t)
	var u admin.UserResponse
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || u.ID == "" {
		t.Fatalf("create -o json printed no user: %v\n%s", err, r.stdout)
	}
	return u
}

func (e *userEnv) user(t *testing.T, id string) store.User {
	t.Helper()
	u, err := e.store.GetUser(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checkPassword fails unless the user's stored hash verifies pw.
func (e *userEnv) checkPassword(t *testing.T, id, pw string) {
	t.Helper()
	ok, _, err := cliPasswords.Verify(pw, e.user(t, id).PasswordHash)
	if err != nil || !ok {
		t.Fatalf("the stored hash does not verify %q (%v)", pw, err)
	}
}

// seed stores a client, and a session, a refresh token and a consent of
// the user at it; it returns the session and refresh token hashes.
func (e *userEnv) seed(t *testing.T, userID, clientID string) (session, refresh []byte) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := e.store.GetClient(ctx, clientID); errors.Is(err, store.ErrNotFound) {
		if err := e.store.CreateClient(ctx, store.Client{
			ID: clientID, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
			RedirectURIs: []string{"https://app.example.com/cb"}, TokenEndpointAuthMethod: "none",
			AccessTokenFormat: store.AccessTokenJWT, CreatedAt: now, UpdatedAt: now,
		}); err != nil {
			t.Fatal(err)
		}
	}
	sh := sha256.Sum256([]byte("session " + userID + clientID))
	rh := sha256.Sum256([]byte("refresh " + userID + clientID))
	if err := e.store.CreateSession(ctx, store.Session{
		Hash: sh[:], ID: "sid-" + clientID, UserID: userID, AuthTime: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateRefreshToken(ctx, store.RefreshToken{
		Hash: rh[:], FamilyID: "fam-" + clientID, ClientID: clientID, UserID: userID, Scopes: []string{"openid"},
		AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutConsent(ctx, store.Consent{
		UserID: userID, ClientID: clientID, Scopes: []string{"openid", "profile"}, GrantedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	return sh[:], rh[:]
}

// accessEnded reports whether the session is gone and the refresh token
// revoked (or gone).
func (e *userEnv) accessEnded(t *testing.T, session, refresh []byte) bool {
	t.Helper()
	ctx := context.Background()
	_, serr := e.store.GetSession(ctx, session)
	rt, rerr := e.store.GetRefreshToken(ctx, refresh)
	return errors.Is(serr, store.ErrNotFound) && (errors.Is(rerr, store.ErrNotFound) || (rerr == nil && rt.Revoked))
}

// noPassword fails if a password or a hash shows in the output.
func noPassword(t *testing.T, r result, pws ...string) {
	t.Helper()
	for _, pw := range append(pws, "$argon2id$", "password_hash") {
		if strings.Contains(r.stdout, pw) || strings.Contains(r.stderr, pw) {
			t.Fatalf("output shows %q\nstdout: %s\nstderr: %s", pw, r.stdout, r.stderr)
		}
	}
}

// TestUserCreateContract runs the command of the "Contract for scripts".
func TestUserCreateContract(t *testing.T) {
	e := newUserEnv(t)
	t.Setenv(envAdminEndpoint, "") // --endpoint alone finds the server
	r := writ(t, "", "user", "create", "--endpoint", e.url, "--username", "ada", "--password", cliPassword, "--email", "ada@example.com").mustSucceed(t)
	for _, want := range []string{"ID", "USERNAME", "ada", "EMAIL", "ada@example.com", "DISABLED", "no", "PASSWORD", "set"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "visible to other local users") || !strings.Contains(r.stderr, "--password-stdin") {
		t.Fatalf("no warning about --password: %q", r.stderr)
	}
	noPassword(t, r, cliPassword)
	u, err := e.store.GetUserByUsername(context.Background(), "ada")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ada@example.com" || u.Disabled {
		t.Fatalf("stored %+v", u)
	}
	e.checkPassword(t, u.ID, cliPassword)
	if !strings.Contains(r.stdout, u.ID) {
		t.Fatalf("the id %s is not printed:\n%s", u.ID, r.stdout)
	}
}

func TestUserCreatePasswordStdin(t *testing.T) {
	e := newUserEnv(t)
	for _, tc := range []struct{ name, stdin, want string }{
		{"newline", cliPassword + "\n", cliPassword},
		{"crlf", cliPassword + "\r\n", cliPassword},
		{"no newline", cliPassword, cliPassword},
		{"only one newline trimmed", "  spaced password  \n\n", "  spaced password  \n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := writ(t, tc.stdin, "user", "create", "--username", "u-"+strings.ReplaceAll(tc.name, " ", "-"), "--password-stdin", "-o", "json").mustSucceed(t)
			if r.stderr != "" {
				t.Fatalf("stderr: %q", r.stderr)
			}
			noPassword(t, r, strings.TrimSpace(tc.want))
			var u admin.UserResponse
			if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || !u.HasPassword {
				t.Fatalf("output %s", r.stdout)
			}
			e.checkPassword(t, u.ID, tc.want)
		})
	}
	// The contract command with the password from standard input.
	r := writ(t, cliPassword+"\n", "user", "create", "--endpoint", e.url, "--username", "grace", "--password-stdin", "--email", "grace@example.com").mustSucceed(t)
	noPassword(t, r, cliPassword)
	u, err := e.store.GetUserByUsername(context.Background(), "grace")
	if err != nil {
		t.Fatal(err)
	}
	e.checkPassword(t, u.ID, cliPassword)

	// Without a password flag standard input is not read.
	noPw := e.createUserJSON(t, "ignored input\n", "--username", "nopw")
	if noPw.HasPassword || e.user(t, noPw.ID).PasswordHash != "" {
		t.Fatal("create read a password it was not asked to read")
	}
}

func TestUserCreateProfile(t *testing.T) {
	e := newUserEnv(t)
	u := e.createUserJSON(t, "", "--username", "Grace", "--name", "Grace Hopper", "--given-name", "Grace",
		"--family-name", "Hopper", "--email", "grace@example.com", "--email-verified", "--phone", "+1 202 555 0100",
		"--locale", "en-US", "--zoneinfo", "America/New_York", "--birthdate", "1906-12-09",
		"--address", `{"locality": "Arlington", "country": "US"}`,
		"--attribute", `roles=["admin","auditor"]`, "--attribute", "department=navy", "--attribute", "level=3",
		"--attribute", `rank="4"`, "--disabled")
	if u.Name != "Grace Hopper" || !u.EmailVerified || u.PhoneNumber != "+1 202 555 0100" || !u.Disabled || u.HasPassword {
		t.Fatalf("created %+v", u)
	}
	stored := e.user(t, u.ID)
	want := map[string]string{"roles": `["admin","auditor"]`, "department": `"navy"`, "level": `3`, "rank": `"4"`}
	for k, v := range want {
		if string(stored.Attributes[k]) != v {
			t.Errorf("attribute %s = %s, want %s", k, stored.Attributes[k], v)
		}
	}
	if stored.Address.Locality != "Arlington" || stored.Zoneinfo != "America/New_York" || stored.Birthdate != "1906-12-09" {
		t.Fatalf("stored %+v", stored)
	}
	// The details table shows the profile and the attributes.
	r := writ(t, "", "user", "get", u.ID).mustSucceed(t)
	for _, want := range []string{"grace@example.com (verified)", "GIVEN NAME", "Hopper", "ATTRIBUTE roles", `["admin","auditor"]`, "Arlington, US", "DISABLED", "yes", "not set"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("details lack %q:\n%s", want, r.stdout)
		}
	}
}

func TestUserCreateErrors(t *testing.T) {
	newUserEnv(t)
	writ(t, "", "user", "create", "--email", "a@example.com").mustFail(t, exitUsage, "--username is required")
	writ(t, "", "user", "create", "--username", "").mustFail(t, exitUsage, "--username must not be empty")
	writ(t, "x\n", "user", "create", "--username", "a", "--password", cliPassword, "--password-stdin").mustFail(t, exitUsage, "not both")
	writ(t, "", "user", "create", "--username", "a", "--password-stdin").mustFail(t, exitUsage, "standard input holds no password")
	writ(t, "\n", "user", "create", "--username", "a", "--password-stdin").mustFail(t, exitUsage, "standard input holds no password")
	writ(t, "", "user", "create", "--username", "a", "--password", "").mustFail(t, exitUsage, "--password is empty")
	writ(t, strings.Repeat("x", authn.MaxPasswordLength+3), "user", "create", "--username", "a", "--password-stdin").mustFail(t, exitUsage, "longer than")
	writ(t, "", "user", "create", "--username", "a", "--attribute", "noequals").mustFail(t, exitUsage, "KEY=JSON")
	writ(t, "", "user", "create", "--username", "a", "--attribute", "a=1", "--attribute", "a=2").mustFail(t, exitUsage, "given twice")
	writ(t, "", "user", "create", "--username", "a", "--address", "London").mustFail(t, exitUsage, "--address")
	writ(t, "", "user", "create", "--username", "a", "-o", "yaml").mustFail(t, exitUsage, "choose table or json")
	writ(t, "", "user", "create", "--username", "a", "extra").mustFail(t, exitUsage, "takes no arguments")

	// Errors of the API: policy, validation, conflict. The refused
	// password is not echoed.
	r := writ(t, "tiny\n", "user", "create", "--username", "a", "--password-stdin").mustFail(t, exitUsage, "at least 8 characters", "invalid_password", "HTTP 400")
	noPassword(t, r, "tiny")
	writ(t, "", "user", "create", "--username", "a", "--email", "nope").mustFail(t, exitUsage, "e-mail address", "HTTP 400")
	writ(t, "", "user", "create", "--username", "a", "--attribute", "sub=x").mustFail(t, exitUsage, "reserved")
	writ(t, "", "user", "create", "--username", "Ada").mustSucceed(t)
	writ(t, "", "user", "create", "--username", "ada").mustFail(t, exitUsage, "taken", "HTTP 409")
}

func TestUserListAndGet(t *testing.T) {
	e := newUserEnv(t)
	if r := writ(t, "", "user", "list").mustSucceed(t); r.stdout != "No users.\n" {
		t.Fatalf("empty list: %q", r.stdout)
	}
	ids := map[string]string{}
	for _, name := range []string{"ada", "grace", "hedy"} {
		ids[name] = e.createUserJSON(t, "", "--username", name, "--email", name+"@example.com").ID
	}
	r := writ(t, "", "user", "list").mustSucceed(t)
	if !strings.HasPrefix(r.stdout, "ID") || !strings.Contains(strings.SplitN(r.stdout, "\n", 2)[0], "USERNAME  EMAIL") {
		t.Fatalf("header: %s", r.stdout)
	}
	for name, id := range ids {
		if !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, name+"@example.com") {
			t.Errorf("list lacks %s:\n%s", name, r.stdout)
		}
	}
	r = writ(t, "", "user", "list", "--limit", "2").mustSucceed(t)
	if strings.Count(r.stdout, "\n") != 3 || !strings.Contains(r.stderr, "more users follow") {
		t.Fatalf("one page: %q %q", r.stdout, r.stderr)
	}
	r = writ(t, "", "user", "list", "--limit", "1", "--all", "-o", "json").mustSucceed(t)
	var all admin.UserListResponse
	if err := json.Unmarshal([]byte(r.stdout), &all); err != nil || len(all.Users) != 3 || all.Next != "" {
		t.Fatalf("--all: %v %s", err, r.stdout)
	}
	writ(t, "", "user", "list", "--limit", "0").mustFail(t, exitUsage, "--limit 0")

	r = writ(t, "", "user", "get", ids["grace"], "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"username": "grace"`) {
		t.Fatalf("get: %s", r.stdout)
	}
	r = writ(t, "", "user", "get", "--username", "HEDY", "-o", "json").mustSucceed(t)
	var u admin.UserResponse
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || u.ID != ids["hedy"] {
		t.Fatalf("get --username: %s", r.stdout)
	}
	writ(t, "", "user", "get", "--username", "nobody").mustFail(t, exitUsage, `no user with username "nobody"`)
	writ(t, "", "user", "get", "nosuchid").mustFail(t, exitUsage, "no user with id", "HTTP 404")
	writ(t, "", "user", "get").mustFail(t, exitUsage, "needs the user id")
	writ(t, "", "user", "get", ids["ada"], "--username", "ada").mustFail(t, exitUsage, "not both")
}

func TestUserUpdate(t *testing.T) {
	e := newUserEnv(t)
	u := e.createUserJSON(t, "", "--username", "ada", "--email", "ada@example.com", "--phone", "+44 1", "--attribute", "department=engines")
	r := writ(t, "", "user", "update", u.ID, "--name", "Ada King", "--phone", "", "--attribute", `roles=["viewer"]`, "--username", "ada.king", "-o", "json").mustSucceed(t)
	var got admin.UserResponse
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "Ada King" || got.PhoneNumber != "" || got.Username != "ada.king" || got.Email != "ada@example.com" {
		t.Fatalf("updated %+v", got)
	}
	stored := e.user(t, u.ID)
	if len(stored.Attributes) != 1 || string(stored.Attributes["roles"]) != `["viewer"]` {
		t.Fatalf("attributes %v", stored.Attributes)
	}
	writ(t, "", "user", "update", u.ID, "--attribute", "").mustSucceed(t)
	if e.user(t, u.ID).Attributes != nil {
		t.Fatal("--attribute \"\" did not clear the attributes")
	}
	writ(t, "", "user", "update", u.ID).mustFail(t, exitUsage, "nothing to change")
	writ(t, "", "user", "update", "--name", "x").mustFail(t, exitUsage, "needs the user id")
	writ(t, "", "user", "update", u.ID, "--password", cliPassword).mustFail(t, exitUsage, "set-password")
	writ(t, cliPassword, "user", "update", u.ID, "--password-stdin").mustFail(t, exitUsage, "set-password")
	writ(t, "", "user", "update", u.ID, "--username", "").mustFail(t, exitUsage, "must not be empty")
	e.createUserJSON(t, "", "--username", "grace")
	writ(t, "", "user", "update", u.ID, "--username", "GRACE").mustFail(t, exitUsage, "taken", "HTTP 409")
}

func TestUserDisableEnableDelete(t *testing.T) {
	e := newUserEnv(t)
	u := e.createUserJSON(t, "", "--username", "ada")
	sess, refresh := e.seed(t, u.ID, "webapp")

	r := writ(t, "", "user", "disable", u.ID).mustSucceed(t)
	if !strings.Contains(r.stdout, "DISABLED") || !strings.Contains(r.stdout, "yes") || !strings.Contains(r.stderr, "sessions ended") {
		t.Fatalf("disable: %q %q", r.stdout, r.stderr)
	}
	if !e.user(t, u.ID).Disabled || !e.accessEnded(t, sess, refresh) {
		t.Fatal("disable left the user enabled, or their session or refresh token usable")
	}
	r = writ(t, "", "user", "enable", u.ID, "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"disabled": false`) || e.user(t, u.ID).Disabled {
		t.Fatalf("enable: %s", r.stdout)
	}

	// update --disabled ends access too.
	sess, refresh = e.seed(t, u.ID, "mobile")
	writ(t, "", "user", "update", u.ID, "--disabled").mustSucceed(t)
	if !e.accessEnded(t, sess, refresh) {
		t.Fatal("update --disabled left access")
	}
	writ(t, "", "user", "update", u.ID, "--disabled=false").mustSucceed(t)

	sess, refresh = e.seed(t, u.ID, "cli")
	r = writ(t, "", "user", "delete", u.ID).mustSucceed(t)
	if r.stdout != "deleted user "+u.ID+"\n" {
		t.Fatalf("delete: %q", r.stdout)
	}
	if !e.accessEnded(t, sess, refresh) {
		t.Fatal("delete left access")
	}
	writ(t, "", "user", "delete", u.ID).mustFail(t, exitUsage, "no user with id", "HTTP 404")
	writ(t, "", "user", "get", u.ID).mustFail(t, exitUsage, "HTTP 404")
	writ(t, "", "user", "disable").mustFail(t, exitUsage, "needs the user id")
	writ(t, "", "user", "disable", "a", "b").mustFail(t, exitUsage, "too many arguments")

	v := e.createUserJSON(t, "", "--username", "grace")
	r = writ(t, "", "user", "delete", v.ID, "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"deleted": true`) {
		t.Fatalf("delete -o json: %s", r.stdout)
	}
}

func TestUserSetPassword(t *testing.T) {
	e := newUserEnv(t)
	u := e.createUserJSON(t, "", "--username", "ada")
	sess, refresh := e.seed(t, u.ID, "webapp")

	// Neither flag: standard input, which is not a terminal.
	r := writ(t, cliPassword+"\n", "user", "set-password", u.ID).mustSucceed(t)
	if !strings.Contains(r.stdout, "set the password of user "+u.ID) || r.stderr != "" {
		t.Fatalf("set-password: %q %q", r.stdout, r.stderr)
	}
	noPassword(t, r, cliPassword)
	e.checkPassword(t, u.ID, cliPassword)
	if !e.accessEnded(t, sess, refresh) {
		t.Fatal("set-password left the user's session or refresh token")
	}

	const second = "second password, piped"
	r = writ(t, second+"\r\n", "user", "set-password", u.ID, "--password-stdin", "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"password_set": true`) {
		t.Fatalf("json: %s", r.stdout)
	}
	e.checkPassword(t, u.ID, second)

	const third = "third password on the command line"
	r = writ(t, "", "user", "set-password", u.ID, "--password", third).mustSucceed(t)
	if !strings.Contains(r.stderr, "visible to other local users") {
		t.Fatalf("no warning: %q", r.stderr)
	}
	e.checkPassword(t, u.ID, third)

	writ(t, "", "user", "set-password", u.ID).mustFail(t, exitUsage, "standard input holds no password")
	writ(t, "short\n", "user", "set-password", u.ID).mustFail(t, exitUsage, "at least 8 characters", "HTTP 400")
	writ(t, cliPassword, "user", "set-password", "nosuchid").mustFail(t, exitUsage, "no user with id", "HTTP 404")
	writ(t, cliPassword, "user", "set-password").mustFail(t, exitUsage, "needs the user id")
	writ(t, cliPassword, "user", "set-password", u.ID, "--password", "x", "--password-stdin").mustFail(t, exitUsage, "not both")
	e.checkPassword(t, u.ID, third)
}

func TestUserConsents(t *testing.T) {
	e := newUserEnv(t)
	u := e.createUserJSON(t, "", "--username", "ada")
	_, webRT := e.seed(t, u.ID, "webapp")
	_, mobileRT := e.seed(t, u.ID, "mobile")

	r := writ(t, "", "user", "consents", u.ID).mustSucceed(t)
	for _, want := range []string{"CLIENT ID", "SCOPES", "webapp", "mobile", "openid profile"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("consents lack %q:\n%s", want, r.stdout)
		}
	}
	r = writ(t, "", "user", "revoke-consent", u.ID, "webapp").mustSucceed(t)
	if !strings.Contains(r.stdout, "revoked the consent of user "+u.ID+" to client webapp") {
		t.Fatalf("revoke: %q", r.stdout)
	}
	ctx := context.Background()
	if rt, err := e.store.GetRefreshToken(ctx, webRT); err != nil || !rt.Revoked {
		t.Fatalf("webapp's refresh token not revoked: %v", err)
	}
	if rt, err := e.store.GetRefreshToken(ctx, mobileRT); err != nil || rt.Revoked {
		t.Fatalf("mobile's refresh token revoked too: %v", err)
	}
	r = writ(t, "", "user", "consents", u.ID, "-o", "json").mustSucceed(t)
	var list admin.ConsentListResponse
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Consents) != 1 || list.Consents[0].ClientID != "mobile" {
		t.Fatalf("after revoke: %s", r.stdout)
	}
	writ(t, "", "user", "revoke-consent", u.ID, "webapp").mustFail(t, exitUsage, "no consent", "HTTP 404")
	writ(t, "", "user", "revoke-consent", u.ID).mustFail(t, exitUsage, "two arguments")
	r = writ(t, "", "user", "revoke-consent", u.ID, "mobile", "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"revoked": true`) {
		t.Fatalf("json: %s", r.stdout)
	}
	if r := writ(t, "", "user", "consents", u.ID).mustSucceed(t); r.stdout != "No consents.\n" {
		t.Fatalf("no consents: %q", r.stdout)
	}
	writ(t, "", "user", "consents", "nosuchid").mustFail(t, exitUsage, "no user with id")
}

func TestUserMissingToken(t *testing.T) {
	e := newUserEnv(t)
	t.Setenv(envAdminToken, "")
	writ(t, "", "user", "create", "--endpoint", e.url, "--username", "ada", "--password", cliPassword).
		mustFail(t, exitUsage, "WRIT_ADMIN_TOKEN is not set")
	writ(t, "", "user", "list").mustFail(t, exitUsage, "WRIT_ADMIN_TOKEN is not set")
	t.Setenv(envAdminToken, "wrong-token-0123456789")
	writ(t, "", "user", "list").mustFail(t, exitUsage, "not valid", "HTTP 401")
	if list, err := e.store.ListUsers(context.Background(), store.ListOptions{}); err != nil || len(list) != 0 {
		t.Fatalf("a user was created without the credential: %d %v", len(list), err)
	}
}

func TestUserHelp(t *testing.T) {
	root := newRootCmd(&streams{in: strings.NewReader(""), out: new(strings.Builder), err: new(strings.Builder)})
	userCmd, _, err := root.Find([]string{"user"})
	if err != nil || userCmd.Name() != "user" {
		t.Fatalf("no user command: %v", err)
	}
	var names []string
	for _, c := range userCmd.Commands() {
		if !c.IsAvailableCommand() {
			continue
		}
		names = append(names, c.Name())
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%q lacks a Short, Long or Example", c.CommandPath())
		}
		r := writ(t, "", "user", c.Name(), "--help").mustSucceed(t)
		firstExample := strings.TrimSpace(strings.SplitN(strings.TrimSpace(c.Example), "\n", 2)[0])
		for _, want := range []string{"Usage:", "Examples:", firstExample, "WRIT_ADMIN_TOKEN", "--endpoint"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%q --help lacks %q", c.CommandPath(), want)
			}
		}
		if r.stderr != "" {
			t.Errorf("%q --help wrote to stderr: %q", c.CommandPath(), r.stderr)
		}
	}
	want := "consents create delete disable enable get list revoke-consent set-password update"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("commands %q, want %q", got, want)
	}
	r := writ(t, "", "user", "create", "--help").mustSucceed(t)
	for _, want := range []string{"--password-stdin", "--attribute KEY=JSON", "writ user create --endpoint http://127.0.0.1:8081", "visible to other local users"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("create --help lacks %q", want)
		}
	}
	// "writ user update --help" does not advertise the password flags.
	r = writ(t, "", "user", "update", "--help").mustSucceed(t)
	if strings.Contains(r.stdout, "--password") {
		t.Errorf("update --help shows --password:\n%s", r.stdout)
	}
}

// TestUserByUsername: every command that takes a user id takes --username
// instead.
func TestUserByUsername(t *testing.T) {
	e := newUserEnv(t)
	u := e.createUserJSON(t, "", "--username", "ada")
	e.seed(t, u.ID, "webapp")

	writ(t, "", "user", "disable", "--username", "Ada").mustSucceed(t)
	if !e.user(t, u.ID).Disabled {
		t.Fatal("disable --username left the user enabled")
	}
	writ(t, "", "user", "enable", "--username", "ada").mustSucceed(t)
	if e.user(t, u.ID).Disabled {
		t.Fatal("enable --username left the user disabled")
	}
	r := writ(t, cliPassword+"\n", "user", "set-password", "--username", "ada", "--password-stdin").mustSucceed(t)
	if !strings.Contains(r.stdout, "set the password of user "+u.ID) {
		t.Fatalf("set-password --username: %q", r.stdout)
	}
	e.checkPassword(t, u.ID, cliPassword)
	if r := writ(t, "", "user", "consents", "--username", "ada").mustSucceed(t); !strings.Contains(r.stdout, "webapp") {
		t.Fatalf("consents --username: %q", r.stdout)
	}
	if r := writ(t, "", "user", "revoke-consent", "--username", "ada", "webapp").mustSucceed(t); !strings.Contains(r.stdout, "revoked the consent of user "+u.ID+" to client webapp") {
		t.Fatalf("revoke-consent --username: %q", r.stdout)
	}
	writ(t, "", "user", "disable", u.ID, "--username", "ada").mustFail(t, exitUsage, "not both")
	writ(t, "", "user", "revoke-consent", "--username", "ada").mustFail(t, exitUsage, "one argument, the client_id")
	writ(t, "", "user", "disable", "--username", "nobody").mustFail(t, exitUsage, `no user with username "nobody"`)
	writ(t, "", "user", "delete", "--username", "").mustFail(t, exitUsage, "--username must not be empty")
	if r := writ(t, "", "user", "delete", "--username", "ada").mustSucceed(t); r.stdout != "deleted user "+u.ID+"\n" {
		t.Fatalf("delete --username: %q", r.stdout)
	}
}
