package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/store"
)

// testPasswords is a cheap argon2id hasher, so that the race detector
// does not make every hash slow. Hashes are real PHC strings.
var testPasswords = authn.Hasher{Params: authn.Params{Memory: 64, Time: 1, Threads: 1}}

const testPassword = "correct horse battery staple"

// endedSessions records the calls of Options.SessionsEnded.
type endedSessions struct {
	mu    sync.Mutex
	calls map[string][]string // user ID -> session IDs
}

func (s *endedSessions) record(_ context.Context, userID string, sessions []store.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string][]string{}
	}
	for _, x := range sessions {
		s.calls[userID] = append(s.calls[userID], x.ID)
	}
}

func (s *endedSessions) of(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls[userID]...)
}

// newUserEnv is newEnv with the user routes wired to the same store.
func newUserEnv(t *testing.T, mutate ...func(*admin.Options)) (*env, *endedSessions) {
	t.Helper()
	ended := &endedSessions{}
	wire := func(o *admin.Options) {
		o.Users = o.Store.(admin.UserStore)
		o.Passwords = testPasswords
		o.SessionsEnded = ended.record
	}
	return newEnv(t, append([]func(*admin.Options){wire}, mutate...)...), ended
}

// createUser creates a user and returns the response body.
func (e *env) createUser(t *testing.T, body any) map[string]any {
	t.Helper()
	r := e.call(t, http.MethodPost, "/admin/users", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create user: status %d: %s", r.status, r.body)
	}
	return r.json(t)
}

// user reads a user from the store.
func (e *env) user(t *testing.T, id string) store.User {
	t.Helper()
	u, err := e.store.GetUser(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// seedClient stores a minimal client.
func (e *env) seedClient(t *testing.T, id string) {
	t.Helper()
	now := e.clock()
	if err := e.store.CreateClient(context.Background(), store.Client{
		ID: id, GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		RedirectURIs: []string{"https://app.example.com/cb"}, TokenEndpointAuthMethod: "none",
		AccessTokenFormat: store.AccessTokenJWT, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// seedSession stores a session of the user and returns its cookie hash.
func (e *env) seedSession(t *testing.T, userID, sid string) []byte {
	t.Helper()
	now := e.clock()
	s := store.Session{
		Hash: hashOf("cookie-" + sid), ID: sid, UserID: userID, AuthTime: now, AMR: []string{"pwd"},
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour),
	}
	if err := e.store.CreateSession(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s.Hash
}

// seedRefresh stores a refresh token of the user at the client and
// returns its hash.
func (e *env) seedRefresh(t *testing.T, userID, clientID, family string) []byte {
	t.Helper()
	now := e.clock()
	rt := store.RefreshToken{
		Hash: hashOf("refresh-" + family), FamilyID: family, ClientID: clientID, UserID: userID,
		Scopes: []string{"openid", "offline_access"}, AuthTime: now, CreatedAt: now,
		ExpiresAt: now.Add(24 * time.Hour), FamilyExpiresAt: now.Add(30 * 24 * time.Hour),
	}
	if err := e.store.CreateRefreshToken(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	return rt.Hash
}

// seedConsent stores a consent of the user to the client.
func (e *env) seedConsent(t *testing.T, userID, clientID string, scopes ...string) {
	t.Helper()
	now := e.clock()
	if err := e.store.PutConsent(context.Background(), store.Consent{
		UserID: userID, ClientID: clientID, Scopes: scopes, GrantedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
}

// sessionGone reports whether the session with the cookie hash is gone.
func (e *env) sessionGone(t *testing.T, hash []byte) bool {
	t.Helper()
	_, err := e.store.GetSession(context.Background(), hash)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return errors.Is(err, store.ErrNotFound)
}

// refreshUsable reports whether the refresh token exists and is not
// revoked.
func (e *env) refreshUsable(t *testing.T, hash []byte) bool {
	t.Helper()
	rt, err := e.store.GetRefreshToken(context.Background(), hash)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return !rt.Revoked
}

// noSecrets fails if any of the secrets appears in data.
func noSecrets(t *testing.T, what string, data string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(data, s) {
			t.Fatalf("%s contains a secret (%.12q...): %s", what, s, data)
		}
	}
	for _, s := range []string{"password_hash", "$argon2id$"} {
		if strings.Contains(data, s) {
			t.Fatalf("%s contains %q: %s", what, s, data)
		}
	}
}

func TestAdminUserCRUD(t *testing.T) {
	e, _ := newUserEnv(t)
	got := e.createUser(t, map[string]any{
		"username": "ada", "password": testPassword, "email": "ada@example.com", "email_verified": true,
		"name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace", "locale": "en-GB",
		"zoneinfo": "Europe/London", "birthdate": "1815-12-10", "phone_number": "+44 20 7946 0000",
		"picture":    "https://example.com/ada.png",
		"address":    map[string]any{"locality": "London", "country": "UK", "formatted": "12 St James's Square\nLondon"},
		"attributes": map[string]any{"roles": []string{"admin", "analyst"}, "department": "engines", "level": 3},
	})
	id, _ := got["id"].(string)
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(id) {
		t.Fatalf("generated id %q is not 22 base64url characters", id)
	}
	want := map[string]any{
		"username": "ada", "email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace",
		"disabled": false, "has_password": true, "locale": "en-GB", "phone_number_verified": false,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if fmt.Sprint(got["address"]) != "map[country:UK formatted:12 St James's Square\nLondon locality:London]" {
		t.Errorf("address %v", got["address"])
	}
	if fmt.Sprint(got["attributes"]) != "map[department:engines level:3 roles:[admin analyst]]" {
		t.Errorf("attributes %v", got["attributes"])
	}
	if got["password_changed_at"] == nil || got["created_at"] == nil {
		t.Errorf("times missing: %v", got)
	}

	// The store has the argon2id hash of the password.
	stored := e.user(t, id)
	if ok, _, err := testPasswords.Verify(testPassword, stored.PasswordHash); err != nil || !ok {
		t.Fatalf("stored hash does not verify the password: %v", err)
	}
	if !stored.PasswordChangedAt.Equal(e.clock().Truncate(time.Microsecond)) {
		t.Errorf("PasswordChangedAt %v", stored.PasswordChangedAt)
	}
	if string(stored.Attributes["roles"]) != `["admin","analyst"]` {
		t.Errorf("stored roles %s", stored.Attributes["roles"])
	}

	// get
	r := e.call(t, http.MethodGet, "/admin/users/"+id, nil)
	if r.status != 200 || r.json(t)["username"] != "ada" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}

	// list
	e.createUser(t, map[string]any{"username": "grace"})
	r = e.call(t, http.MethodGet, "/admin/users", nil)
	var list admin.UserListResponse
	if err := json.Unmarshal(r.body, &list); err != nil || r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if len(list.Users) != 2 || list.Next != "" {
		t.Fatalf("list %+v", list)
	}

	// patch: present fields replace, null resets, the rest stays.
	e.advance(time.Minute)
	r = e.call(t, http.MethodPatch, "/admin/users/"+id, map[string]any{
		"id": id, "name": "Augusta Ada King", "given_name": nil, "address": map[string]string{"country": "GB"},
		"attributes": map[string]any{"roles": []string{"viewer"}}, "email_verified": false,
	})
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	p := r.json(t)
	if p["name"] != "Augusta Ada King" || p["given_name"] != nil || p["family_name"] != "Lovelace" || p["email_verified"] != false {
		t.Fatalf("patched %v", p)
	}
	if fmt.Sprint(p["address"]) != "map[country:GB]" || fmt.Sprint(p["attributes"]) != "map[roles:[viewer]]" {
		t.Fatalf("address and attributes are not replaced whole: %v %v", p["address"], p["attributes"])
	}
	stored = e.user(t, id)
	if !stored.UpdatedAt.After(stored.CreatedAt) || stored.PasswordHash == "" {
		t.Fatalf("stored after patch %+v", stored.UpdatedAt)
	}

	// A changed e-mail address is not verified unless the request says so.
	e.call(t, http.MethodPatch, "/admin/users/"+id, map[string]any{"email_verified": true, "phone_number_verified": true})
	r = e.call(t, http.MethodPatch, "/admin/users/"+id, map[string]any{"email": "ada@example.org"})
	if p := r.json(t); p["email_verified"] != false || p["phone_number_verified"] != true {
		t.Fatalf("after an e-mail change: %s", r.body)
	}
	r = e.call(t, http.MethodPatch, "/admin/users/"+id, map[string]any{"email": "ada@example.net", "email_verified": true, "phone_number": "+44 1"})
	if p := r.json(t); p["email_verified"] != true || p["phone_number_verified"] != false {
		t.Fatalf("after a verified e-mail change: %s", r.body)
	}

	// delete
	r = e.call(t, http.MethodDelete, "/admin/users/"+id, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	e.call(t, http.MethodGet, "/admin/users/"+id, nil).wantError(t, 404, "not_found", "no user")
	e.call(t, http.MethodDelete, "/admin/users/"+id, nil).wantError(t, 404, "not_found", "no user")
	e.call(t, http.MethodPatch, "/admin/users/"+id, map[string]any{"name": "x"}).wantError(t, 404, "not_found", "no user")
	e.call(t, http.MethodPut, "/admin/users/"+id, map[string]any{"name": "x"}).wantError(t, 405, "method_not_allowed", "PUT")

	logs := e.logs.String()
	for _, msg := range []string{"admin: user created", "admin: user updated", "admin: user deleted"} {
		if !strings.Contains(logs, msg) {
			t.Errorf("no %q log record", msg)
		}
	}
	if !strings.Contains(logs, `"user_id":"`+id+`"`) {
		t.Errorf("logs do not name the user id: %s", logs)
	}
}

func TestAdminUserListPagesAndLookup(t *testing.T) {
	e, _ := newUserEnv(t)
	ids := map[string]string{}
	for _, name := range []string{"u1", "u2", "u3", "u4", "Zoë"} {
		ids[name] = e.createUser(t, map[string]any{"username": name})["id"].(string)
	}
	var seen []string
	after := ""
	for range 4 {
		q := url.Values{"limit": {"2"}}
		if after != "" {
			q.Set("after", after)
		}
		r := e.call(t, http.MethodGet, "/admin/users?"+q.Encode(), nil)
		var page admin.UserListResponse
		if err := json.Unmarshal(r.body, &page); err != nil || r.status != 200 {
			t.Fatalf("page: %d %s", r.status, r.body)
		}
		for _, u := range page.Users {
			seen = append(seen, u.ID)
		}
		if after = page.Next; after == "" {
			break
		}
	}
	if len(seen) != 5 || !slices.IsSorted(seen) {
		t.Fatalf("pages gave %v", seen)
	}

	// Lookup by username is exact but case-insensitive.
	r := e.call(t, http.MethodGet, "/admin/users?username="+url.QueryEscape("zoë"), nil)
	var found admin.UserListResponse
	if err := json.Unmarshal(r.body, &found); err != nil || r.status != 200 || len(found.Users) != 1 || found.Users[0].ID != ids["Zoë"] {
		t.Fatalf("lookup: %d %s", r.status, r.body)
	}
	r = e.call(t, http.MethodGet, "/admin/users?username=u", nil)
	if r.status != 200 || string(r.body) != "{\"users\":[],\"next\":\"\"}\n" {
		t.Fatalf("lookup of a prefix: %d %s", r.status, r.body)
	}
	e.call(t, http.MethodGet, "/admin/users?username=u1&limit=2", nil).wantError(t, 400, "invalid_request", "cannot be combined")
	e.call(t, http.MethodGet, "/admin/users?username=", nil).wantError(t, 400, "invalid_request", "username must be")
	e.call(t, http.MethodGet, "/admin/users?limit=0", nil).wantError(t, 400, "invalid_request", "limit")
	e.call(t, http.MethodGet, "/admin/users?limit=1&limit=2", nil).wantError(t, 400, "invalid_request", "repeated")
	e.call(t, http.MethodGet, "/admin/users?sort=name", nil).wantError(t, 400, "invalid_request", "unknown query parameter")
}

func TestAdminUserUsernameUnique(t *testing.T) {
	e, _ := newUserEnv(t)
	ada := e.createUser(t, map[string]any{"username": "Ada"})["id"].(string)
	grace := e.createUser(t, map[string]any{"username": "grace"})["id"].(string)

	e.call(t, http.MethodPost, "/admin/users", map[string]any{"username": "ada"}).wantError(t, 409, "conflict", `username "ada" is taken`)
	e.call(t, http.MethodPost, "/admin/users", map[string]any{"username": "ADA", "password": testPassword}).wantError(t, 409, "conflict", "regardless of case")
	e.call(t, http.MethodPatch, "/admin/users/"+grace, map[string]any{"username": "aDa"}).wantError(t, 409, "conflict", "taken")
	if got := e.user(t, grace).Username; got != "grace" {
		t.Fatalf("a refused rename changed the username to %q", got)
	}
	// A user may change the case of their own username.
	r := e.call(t, http.MethodPatch, "/admin/users/"+ada, map[string]any{"username": "ADA"})
	if r.status != 200 || r.json(t)["username"] != "ADA" {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	// Only two users exist.
	list, err := e.store.ListUsers(context.Background(), storeListAll())
	if err != nil || len(list) != 2 {
		t.Fatalf("%d users, %v", len(list), err)
	}
}

func TestAdminUserPasswordPolicy(t *testing.T) {
	e, _ := newUserEnv(t)
	id := e.createUser(t, map[string]any{"username": "ada", "password": testPassword})["id"].(string)
	before := e.user(t, id).PasswordHash
	tests := []struct {
		name string
		body any
		code string
		desc string
	}{
		{"too short", map[string]any{"password": "short"}, "invalid_password", "at least 8 characters"},
		{"empty", map[string]any{"password": ""}, "invalid_password", "must not be empty"},
		{"too long", map[string]any{"password": strings.Repeat("x", authn.MaxPasswordLength+1)}, "invalid_password", "at most"},
		{"not a string", map[string]any{"password": 12345678}, "invalid_request", "must be a string"},
		{"null", map[string]any{"password": nil}, "invalid_request", "must be a string"},
		{"missing", map[string]any{}, "invalid_request", "password is required"},
		{"other field", map[string]any{"password": testPassword, "force": true}, "invalid_request", "unknown field"},
	}
	for _, tt := range tests {
		t.Run("set "+tt.name, func(t *testing.T) {
			e.call(t, http.MethodPost, "/admin/users/"+id+"/password", tt.body).wantError(t, 400, tt.code, tt.desc)
		})
	}
	if e.user(t, id).PasswordHash != before {
		t.Fatal("a refused password changed the stored hash")
	}
	e.call(t, http.MethodPost, "/admin/users", map[string]any{"username": "bob", "password": "1234567"}).wantError(t, 400, "invalid_password", "at least 8 characters")
	if _, err := e.store.GetUserByUsername(context.Background(), "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a user with a refused password was created: %v", err)
	}
	// Eight characters, not bytes: four two-byte characters are too short.
	e.call(t, http.MethodPost, "/admin/users", map[string]any{"username": "bob", "password": "éééé"}).wantError(t, 400, "invalid_password", "at least 8")
	e.call(t, http.MethodPost, "/admin/users/nobody/password", map[string]any{"password": testPassword}).wantError(t, 404, "not_found", "no user")
	e.call(t, http.MethodPatch, "/admin/users/"+id, map[string]any{"password": testPassword}).wantError(t, 400, "invalid_request", "/password")
}

func TestAdminUserPasswordNeverExposed(t *testing.T) {
	e, _ := newUserEnv(t)
	const pw = "Tr0ub4dor&3-unique-marker"
	r := e.call(t, http.MethodPost, "/admin/users", map[string]any{"username": "ada", "password": pw, "email": "ada@example.com"})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	hash := e.user(t, id).PasswordHash
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("stored hash %q is not an argon2id PHC string", hash)
	}
	// A refused password is not echoed in the error either.
	bad := e.call(t, http.MethodPost, "/admin/users/"+id+"/password", map[string]any{"password": "tiny-pw"})
	bad.wantError(t, 400, "invalid_password", "")

	const pw2 = "another-Secret-marker-42"
	responses := []response{r, bad,
		e.call(t, http.MethodGet, "/admin/users/"+id, nil),
		e.call(t, http.MethodGet, "/admin/users", nil),
		e.call(t, http.MethodGet, "/admin/users?username=ada", nil),
		e.call(t, http.MethodPatch, "/admin/users/"+id, map[string]any{"name": "Ada"}),
		e.call(t, http.MethodPost, "/admin/users/"+id+"/password", map[string]any{"password": pw2}),
		e.call(t, http.MethodPost, "/admin/users/"+id+"/disable", nil),
		e.call(t, http.MethodPost, "/admin/users/"+id+"/enable", nil),
	}
	hash2 := e.user(t, id).PasswordHash
	if hash2 == hash {
		t.Fatal("set-password did not change the hash")
	}
	for i, resp := range responses {
		noSecrets(t, fmt.Sprintf("response %d", i), string(resp.body), pw, pw2, "tiny-pw", hash, hash2)
		if resp.status == 200 && !strings.Contains(string(resp.body), `"has_password":true`) {
			t.Errorf("response %d lacks has_password: %s", i, resp.body)
		}
	}
	noSecrets(t, "the log", e.logs.String(), pw, pw2, "tiny-pw", hash, hash2)
	if !strings.Contains(e.logs.String(), "admin: user password set") {
		t.Fatal("no log record of the password change")
	}
	// The API does not accept a hash either.
	e.call(t, http.MethodPost, "/admin/users", map[string]any{"username": "eve", "password_hash": hash}).wantError(t, 400, "invalid_request", "password_hash cannot be set")
}

func TestAdminUserSetPassword(t *testing.T) {
	e, _ := newUserEnv(t)
	id := e.createUser(t, map[string]any{"username": "ada"})["id"].(string)
	if u := e.user(t, id); u.PasswordHash != "" || !u.PasswordChangedAt.IsZero() {
		t.Fatalf("a user created without a password has one: %+v", u.PasswordChangedAt)
	}
	e.advance(time.Hour)
	r := e.call(t, http.MethodPost, "/admin/users/"+id+"/password", admin.PasswordRequest{Password: testPassword})
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("set-password: %d %s", r.status, r.body)
	}
	u := e.user(t, id)
	if ok, _, _ := testPasswords.Verify(testPassword, u.PasswordHash); !ok {
		t.Fatal("the new hash does not verify the new password")
	}
	if !u.PasswordChangedAt.Equal(e.clock().Truncate(time.Microsecond)) || !u.UpdatedAt.Equal(u.PasswordChangedAt) {
		t.Fatalf("PasswordChangedAt %v UpdatedAt %v, want %v", u.PasswordChangedAt, u.UpdatedAt, e.clock())
	}
}

// TestAdminUserEndsAccess checks that every way of taking access away
// ends the user's sessions and refresh tokens in the request, and only
// theirs.
func TestAdminUserEndsAccess(t *testing.T) {
	cases := []struct {
		name   string
		method string
		path   string // after /admin/users/{id}
		body   any
		status int
	}{
		{"disable", http.MethodPost, "/disable", nil, 200},
		{"disable via patch", http.MethodPatch, "", map[string]any{"disabled": true}, 200},
		{"set password", http.MethodPost, "/password", map[string]any{"password": "a-brand-new-password"}, 204},
		{"delete", http.MethodDelete, "", nil, 204},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, ended := newUserEnv(t)
			e.seedClient(t, "webapp")
			e.seedClient(t, "mobile")
			id := e.createUser(t, map[string]any{"username": "ada", "password": testPassword})["id"].(string)
			other := e.createUser(t, map[string]any{"username": "grace"})["id"].(string)
			s1, s2 := e.seedSession(t, id, "sid-1"), e.seedSession(t, id, "sid-2")
			r1, r2 := e.seedRefresh(t, id, "webapp", "fam-1"), e.seedRefresh(t, id, "mobile", "fam-2")
			otherSess, otherRT := e.seedSession(t, other, "sid-other"), e.seedRefresh(t, other, "webapp", "fam-other")

			r := e.call(t, tc.method, "/admin/users/"+id+tc.path, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if !e.sessionGone(t, s1) || !e.sessionGone(t, s2) {
				t.Fatal("the user's sessions survived")
			}
			if e.refreshUsable(t, r1) || e.refreshUsable(t, r2) {
				t.Fatal("the user's refresh tokens are still usable")
			}
			if e.sessionGone(t, otherSess) || !e.refreshUsable(t, otherRT) {
				t.Fatal("another user's session or refresh token was touched")
			}
			if got := ended.of(id); !slices.Equal(got, []string{"sid-1", "sid-2"}) {
				t.Fatalf("SessionsEnded heard of %v", got)
			}
			if tc.name != "delete" {
				if tc.name != "set password" && !e.user(t, id).Disabled {
					t.Fatal("the user is not disabled")
				}
				// A new family for the user can start again later (the
				// revocation is per family, not a ban).
				e.seedRefresh(t, id, "webapp", "fam-3")
			} else if _, err := e.store.GetUser(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the user survived delete: %v", err)
			}
			if !strings.Contains(e.logs.String(), `"sessions_ended":2`) {
				t.Fatalf("the log does not count the ended sessions: %s", e.logs.String())
			}
		})
	}
}

func TestAdminUserDisableEnable(t *testing.T) {
	e, _ := newUserEnv(t)
	id := e.createUser(t, map[string]any{"username": "ada"})["id"].(string)
	r := e.call(t, http.MethodPost, "/admin/users/"+id+"/disable", nil)
	if r.status != 200 || r.json(t)["disabled"] != true {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	// Disabling again is fine, and again ends what a racing sign-in started.
	h := e.seedSession(t, id, "late")
	r = e.call(t, http.MethodPost, "/admin/users/"+id+"/disable", "{}")
	if r.status != 200 || !e.sessionGone(t, h) {
		t.Fatalf("second disable: %d %s", r.status, r.body)
	}
	r = e.call(t, http.MethodPost, "/admin/users/"+id+"/enable", nil)
	if r.status != 200 || r.json(t)["disabled"] != false || e.user(t, id).Disabled {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	e.call(t, http.MethodPost, "/admin/users/"+id+"/disable", map[string]any{"now": true}).wantError(t, 400, "invalid_request", "takes no body")
	e.call(t, http.MethodPost, "/admin/users/nobody/disable", nil).wantError(t, 404, "not_found", "no user")
	e.call(t, http.MethodGet, "/admin/users/"+id+"/disable", nil).wantError(t, 405, "method_not_allowed", "POST")
	logs := e.logs.String()
	if !strings.Contains(logs, "admin: user disabled") || !strings.Contains(logs, "admin: user enabled") {
		t.Fatalf("logs: %s", logs)
	}
}

func TestAdminUserConsents(t *testing.T) {
	e, _ := newUserEnv(t)
	e.seedClient(t, "webapp")
	e.seedClient(t, "mobile")
	id := e.createUser(t, map[string]any{"username": "ada"})["id"].(string)
	other := e.createUser(t, map[string]any{"username": "grace"})["id"].(string)
	e.seedConsent(t, id, "webapp", "openid", "profile", "email")
	e.seedConsent(t, id, "mobile", "openid", "offline_access")
	e.seedConsent(t, other, "webapp", "openid")
	webRT, mobileRT := e.seedRefresh(t, id, "webapp", "fam-web"), e.seedRefresh(t, id, "mobile", "fam-mobile")
	otherRT := e.seedRefresh(t, other, "webapp", "fam-other")

	r := e.call(t, http.MethodGet, "/admin/users/"+id+"/consents", nil)
	var list admin.ConsentListResponse
	if err := json.Unmarshal(r.body, &list); err != nil || r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if len(list.Consents) != 2 || list.Consents[0].ClientID != "mobile" || list.Consents[1].Scope != "openid profile email" || list.Consents[1].GrantedAt.IsZero() {
		t.Fatalf("consents %+v", list.Consents)
	}

	r = e.call(t, http.MethodDelete, "/admin/users/"+id+"/consents/webapp", nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if _, err := e.store.GetConsent(context.Background(), id, "webapp"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("consent survived: %v", err)
	}
	if e.refreshUsable(t, webRT) {
		t.Fatal("the refresh token of the revoked client is still usable")
	}
	if !e.refreshUsable(t, mobileRT) || !e.refreshUsable(t, otherRT) {
		t.Fatal("a refresh token of another client or user was revoked")
	}
	if _, err := e.store.GetConsent(context.Background(), other, "webapp"); err != nil {
		t.Fatalf("another user's consent was touched: %v", err)
	}
	r = e.call(t, http.MethodGet, "/admin/users/"+id+"/consents", nil)
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Consents) != 1 {
		t.Fatalf("after revoke: %s", r.body)
	}
	if !strings.Contains(e.logs.String(), "admin: consent revoked") {
		t.Fatal("no log record of the revocation")
	}

	e.call(t, http.MethodDelete, "/admin/users/"+id+"/consents/webapp", nil).wantError(t, 404, "not_found", "no consent")
	e.call(t, http.MethodDelete, "/admin/users/"+id+"/consents/nosuch", nil).wantError(t, 404, "not_found", "no consent")
	e.call(t, http.MethodGet, "/admin/users/nobody/consents", nil).wantError(t, 404, "not_found", "no user")
	e.call(t, http.MethodPost, "/admin/users/"+id+"/consents", nil).wantError(t, 405, "method_not_allowed", "GET")

	// A user without consents lists none.
	r = e.call(t, http.MethodGet, "/admin/users/"+other+"/consents", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"consents":[{`) {
		t.Fatalf("other: %d %s", r.status, r.body)
	}
}

func TestAdminUserAttributeBounds(t *testing.T) {
	e, _ := newUserEnv(t)
	many := map[string]any{}
	for i := range store.MaxAttributes + 1 {
		many[fmt.Sprintf("a%d", i)] = i
	}
	full := map[string]any{}
	for i := range store.MaxAttributes {
		full[fmt.Sprintf("a%d", i)] = i
	}
	tests := []struct {
		name  string
		attrs any
		desc  string
	}{
		{"too many", many, "more than 64"},
		{"too large", map[string]any{"blob": strings.Repeat("x", store.MaxAttributesSize)}, "larger than"},
		{"reserved sub", map[string]any{"sub": "admin"}, "reserved"},
		{"reserved email", map[string]any{"email": "x@example.com"}, "reserved"},
		{"empty name", map[string]any{"": 1}, "1 to 64 bytes"},
		{"long name", map[string]any{strings.Repeat("n", 65): 1}, "1 to 64 bytes"},
		{"space in name", map[string]any{"cost center": 1}, "white space"},
		{"null value", map[string]any{"roles": nil}, "null"},
		{"not an object", []string{"admin"}, "must be an object"},
		{"deep", map[string]any{"x": []any{[]any{[]any{[]any{[]any{[]any{[]any{1}}}}}}}}, "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.call(t, http.MethodPost, "/admin/users", map[string]any{"username": "u-" + tt.name, "attributes": tt.attrs}).
				wantError(t, 400, "invalid_request", tt.desc)
		})
	}
	// At the bounds it works; values are compacted.
	r := e.call(t, http.MethodPost, "/admin/users", map[string]any{"username": "full", "attributes": full})
	if r.status != 201 {
		t.Fatalf("64 attributes: %d %s", r.status, r.body)
	}
	id := e.createUser(t, `{"username": "spaced", "attributes": {"groups": [ "a" , "b" ], "meta": {"k": true}}}`)["id"].(string)
	if got := string(e.user(t, id).Attributes["groups"]); got != `["a","b"]` {
		t.Fatalf("stored %s", got)
	}
	// An empty object or null clears the attributes.
	r = e.call(t, http.MethodPatch, "/admin/users/"+id, map[string]any{"attributes": map[string]any{}})
	if r.status != 200 || e.user(t, id).Attributes != nil {
		t.Fatalf("clear: %d %s", r.status, r.body)
	}
	// Duplicates inside an attribute value are refused like anywhere else.
	e.call(t, http.MethodPost, "/admin/users", `{"username":"dup","attributes":{"m":{"a":1,"a":2}}}`).wantError(t, 400, "invalid_request", "repeats")
}

func TestAdminUserFieldValidation(t *testing.T) {
	e, _ := newUserEnv(t)
	tests := []struct {
		name string
		body any
		desc string
	}{
		{"unknown field", map[string]any{"username": "x", "role": "admin"}, `unknown field "role"`},
		{"id", map[string]any{"username": "x", "id": "chosen"}, "id cannot be set"},
		{"created_at", map[string]any{"username": "x", "created_at": "2020-01-01T00:00:00Z"}, "set by the server"},
		{"no username", map[string]any{"email": "a@example.com"}, "username is required"},
		{"empty username", map[string]any{"username": ""}, "must not be empty"},
		{"leading space", map[string]any{"username": " ada"}, "white space"},
		{"trailing space", map[string]any{"username": "ada "}, "white space"},
		{"control character", map[string]any{"username": "a\nda"}, "control"},
		{"zero-width", map[string]any{"username": "a\u200bda"}, "invisible"},
		{"long username", map[string]any{"username": strings.Repeat("é", admin.MaxUsernameLength+1)}, "longer than 128 characters"},
		{"username type", map[string]any{"username": 7}, "must be a string"},
		{"email", map[string]any{"username": "x", "email": "not-an-address"}, "e-mail address"},
		{"email spaces", map[string]any{"username": "x", "email": "a b@example.com"}, "e-mail address"},
		{"picture", map[string]any{"username": "x", "picture": "javascript:alert(1)"}, "http or https URL"},
		{"birthdate", map[string]any{"username": "x", "birthdate": "1815-13-10"}, "YYYY-MM-DD"},
		{"locale", map[string]any{"username": "x", "locale": "en US"}, "BCP 47"},
		{"zoneinfo", map[string]any{"username": "x", "zoneinfo": "../etc/passwd"}, "IANA"},
		{"name control", map[string]any{"username": "x", "name": "Ada\u0007"}, "control character"},
		{"long name", map[string]any{"username": "x", "name": strings.Repeat("a", admin.MaxClaimLength+1)}, "longer than"},
		{"bool type", map[string]any{"username": "x", "email_verified": "yes"}, "true or false"},
		{"address field", map[string]any{"username": "x", "address": map[string]any{"city": "London"}}, `unknown address field "city"`},
		{"address type", map[string]any{"username": "x", "address": "London"}, "address must be an object"},
		{"duplicate member", `{"username":"x","username":"y"}`, "repeats"},
		{"not an object", `["username"]`, "must be a JSON object"},
		{"not JSON", `{"username":`, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.call(t, http.MethodPost, "/admin/users", tt.body).wantError(t, 400, "invalid_request", tt.desc)
		})
	}
	if list, err := e.store.ListUsers(context.Background(), storeListAll()); err != nil || len(list) != 0 {
		t.Fatalf("refused requests created %d users (%v)", len(list), err)
	}
	// Formats that are accepted.
	ok := e.call(t, http.MethodPost, "/admin/users", map[string]any{
		"username": "Zoë Ångström", "birthdate": "0000-02-29", "locale": "de", "zoneinfo": "America/Argentina/Buenos_Aires",
		"address": map[string]any{"street_address": "1 Main St\r\nApt 2", "region": nil},
	})
	if ok.status != 201 {
		t.Fatalf("valid user refused: %d %s", ok.status, ok.body)
	}
	id := ok.json(t)["id"].(string)
	for _, tt := range []struct {
		body any
		desc string
	}{
		{map[string]any{}, "changes nothing"},
		{map[string]any{"id": "other"}, "id cannot change"},
		{map[string]any{"username": nil}, "cannot be removed"},
	} {
		e.call(t, http.MethodPatch, "/admin/users/"+id, tt.body).wantError(t, 400, "invalid_request", tt.desc)
	}
	// Content type and size limits are those of the rest of the API.
	r := e.callWith(t, http.MethodPost, "/admin/users", `{"username":"x"}`, map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "text/plain"})
	r.wantError(t, 415, "unsupported_media_type", "application/json")
	big := fmt.Sprintf(`{"username":"x","name":%q}`, strings.Repeat("a", admin.DefaultMaxBytes))
	e.call(t, http.MethodPost, "/admin/users", big).wantError(t, 413, "request_too_large", "larger than")
}

func TestAdminUserAuthAndAvailability(t *testing.T) {
	e, _ := newUserEnv(t)
	r := e.callWith(t, http.MethodGet, "/admin/users", nil, map[string]string{"Authorization": "Bearer wrong"})
	r.wantError(t, 401, "invalid_token", "")
	r = e.callWith(t, http.MethodPost, "/admin/users", map[string]any{"username": "x", "password": testPassword}, map[string]string{"Authorization": ""})
	r.wantError(t, 401, "unauthorized", "")
	noSecrets(t, "the log", e.logs.String(), testPassword)

	plain := newEnv(t) // no user store configured
	plain.call(t, http.MethodGet, "/admin/users", nil).wantError(t, 503, "server_error", "user management is not available")
	plain.call(t, http.MethodPost, "/admin/users", map[string]any{"username": "x"}).wantError(t, 503, "server_error", "no user store")
}

// TestAdminUserDefaultHasher checks that without Options.Passwords the
// passwords are hashed with authn's default argon2id parameters.
func TestAdminUserDefaultHasher(t *testing.T) {
	e, _ := newUserEnv(t, func(o *admin.Options) { o.Passwords = nil })
	id := e.createUser(t, map[string]any{"username": "ada", "password": testPassword})["id"].(string)
	hash := e.user(t, id).PasswordHash
	ok, rehash, err := authn.Hasher{}.Verify(testPassword, hash)
	if err != nil || !ok || rehash {
		t.Fatalf("default hash %q: ok %v rehash %v err %v", hash, ok, rehash, err)
	}
}
