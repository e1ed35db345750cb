package admin_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/store"
)

// sampleClaim is a valid value of the standard claim c in a request; ok is
// false for the claims the server keeps (updated_at).
func sampleClaim(t *testing.T, c store.UserClaim) (v any, ok bool) {
	t.Helper()
	switch c.Format {
	case store.FormatText:
		return "text of " + c.Name, true
	case store.FormatEmail:
		return c.Name + "@example.com", true
	case store.FormatURL:
		return "https://example.com/" + c.Name, true
	case store.FormatBirthdate:
		return "1815-12-10", true
	case store.FormatZoneinfo:
		return "Europe/London", true
	case store.FormatLocale:
		return "en-GB", true
	case store.FormatBool:
		return true, true
	case store.FormatAddress:
		return json.RawMessage(`{"locality":"London","country":"UK"}`), true
	case store.FormatTime:
		return nil, false
	}
	t.Fatalf("claim %s: no sample value of format %d: teach this test and the admin API the new format", c.Name, c.Format)
	return nil, false
}

// TestAdminUserClaimsRoundTrip: every claim of store.UserClaims can be set
// through the admin API, is stored, comes back under its claim name, and
// decodes into UserResponse, so that a claim added to the table is
// handled by the admin API (and a backend that forgets to store it fails).
func TestAdminUserClaimsRoundTrip(t *testing.T) {
	e, _ := newUserEnv(t)
	body := map[string]any{"username": "ada"}
	for _, c := range store.UserClaims() {
		if v, ok := sampleClaim(t, c); ok {
			body[c.Name] = v
		}
	}
	id := e.createUser(t, body)["id"].(string)
	r := e.call(t, http.MethodGet, "/admin/users/"+id, nil)
	var members map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &members); err != nil || r.status != http.StatusOK {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	var got admin.UserResponse
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	stored := e.user(t, id)
	for _, c := range store.UserClaims() {
		raw, ok := members[c.Name]
		if !ok {
			t.Errorf("%s: not in the response %s", c.Name, r.body)
			continue
		}
		if v, ok := sampleClaim(t, c); ok {
			want, _ := json.Marshal(v)
			if string(raw) != string(want) {
				t.Errorf("%s = %s, want %s", c.Name, raw, want)
			}
		}
		switch {
		case c.Text != nil:
			if *c.Text(&stored) == "" || *c.Text(&got.User) != *c.Text(&stored) {
				t.Errorf("%s: stored %q, decoded %q", c.Name, *c.Text(&stored), *c.Text(&got.User))
			}
		case c.Bool != nil:
			if !*c.Bool(&stored) || !*c.Bool(&got.User) {
				t.Errorf("%s: stored %v, decoded %v", c.Name, *c.Bool(&stored), *c.Bool(&got.User))
			}
		case c.Address != nil:
			if *c.Address(&stored) == (store.Address{}) || *c.Address(&got.User) != *c.Address(&stored) {
				t.Errorf("%s: stored %+v, decoded %+v", c.Name, *c.Address(&stored), *c.Address(&got.User))
			}
		case c.Time != nil:
			if c.Time(&stored).IsZero() || !c.Time(&got.User).Equal(*c.Time(&stored)) {
				t.Errorf("%s: stored %v, decoded %v", c.Name, *c.Time(&stored), *c.Time(&got.User))
			}
		default:
			t.Errorf("%s: no field", c.Name)
		}
	}
	if got.ID != id || got.Username != "ada" || got.HasPassword || got.PasswordHash != "" {
		t.Errorf("account decoded as %+v", got)
	}

	// Null clears each settable claim (the booleans become false).
	reset := map[string]any{}
	for _, c := range store.UserClaims() {
		if _, ok := sampleClaim(t, c); ok {
			reset[c.Name] = nil
		}
	}
	if r := e.call(t, http.MethodPatch, "/admin/users/"+id, reset); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	cleared := e.user(t, id)
	for _, c := range store.UserClaims() {
		switch {
		case c.Text != nil && *c.Text(&cleared) != "",
			c.Bool != nil && *c.Bool(&cleared),
			c.Address != nil && *c.Address(&cleared) != (store.Address{}):
			t.Errorf("%s is not cleared by null", c.Name)
		}
	}
}

// TestAdminUserJSON pins the JSON of a user: every member of the form the
// admin API had before the claims table drove it, in the table's order,
// HTML characters unescaped, no password hash.
func TestAdminUserJSON(t *testing.T) {
	e, _ := newUserEnv(t)
	id := e.createUser(t, map[string]any{
		"username": "ada<>&", "password": testPassword, "email": "ada@example.com", "email_verified": true,
		"name": "Ada <Lovelace> & co", "given_name": "Ada", "family_name": "Lovelace", "middle_name": "Augusta", "nickname": "Countess",
		"preferred_username": "ada", "profile": "https://example.com/ada?a=1&b=2", "picture": "https://example.com/ada.png", "website": "https://example.com/",
		"gender": "female", "birthdate": "1815-12-10", "zoneinfo": "Europe/London", "locale": "en-GB", "phone_number": "+44 20 7946 0000", "phone_number_verified": true,
		"address":    map[string]any{"locality": "London", "country": "UK", "formatted": "12 St James's Square\nLondon"},
		"attributes": map[string]any{"roles": []string{"admin", "analyst"}, "department": "engines", "level": 3},
	})["id"].(string)
	bare := e.createUser(t, map[string]any{"username": "bare"})["id"].(string)
	for _, tc := range []struct{ id, username, want string }{
		{id, "ada<>&", `{"id":"ID","username":"ada<>&","disabled":false,"has_password":true,` +
			`"name":"Ada <Lovelace> & co","family_name":"Lovelace","given_name":"Ada","middle_name":"Augusta","nickname":"Countess",` +
			`"preferred_username":"ada","profile":"https://example.com/ada?a=1&b=2","picture":"https://example.com/ada.png",` +
			`"website":"https://example.com/","gender":"female","birthdate":"1815-12-10","zoneinfo":"Europe/London","locale":"en-GB",` +
			`"updated_at":"2026-03-01T12:00:00.123456Z","email":"ada@example.com","email_verified":true,` +
			`"address":{"formatted":"12 St James's Square\nLondon","locality":"London","country":"UK"},` +
			`"phone_number":"+44 20 7946 0000","phone_number_verified":true,` +
			`"attributes":{"department":"engines","level":3,"roles":["admin","analyst"]},` +
			`"created_at":"2026-03-01T12:00:00.123456Z","password_changed_at":"2026-03-01T12:00:00.123456Z"}` + "\n"},
		{bare, "bare", `{"id":"ID","username":"bare","disabled":false,"has_password":false,"updated_at":"2026-03-01T12:00:00.123456Z",` +
			`"email_verified":false,"phone_number_verified":false,"created_at":"2026-03-01T12:00:00.123456Z"}` + "\n"},
	} {
		r := e.call(t, http.MethodGet, "/admin/users/"+tc.id, nil)
		if got := strings.Replace(string(r.body), `"id":"`+tc.id+`"`, `"id":"ID"`, 1); got != tc.want {
			t.Errorf("user JSON\n got %s\nwant %s", got, tc.want)
		}
		// The list holds the same objects.
		r = e.call(t, http.MethodGet, "/admin/users?username="+url.QueryEscape(tc.username), nil)
		if !strings.Contains(string(r.body), strings.TrimSuffix(strings.Replace(tc.want, `"id":"ID"`, `"id":"`+tc.id+`"`, 1), "\n")) {
			t.Errorf("list JSON %s", r.body)
		}
	}

	// UserResponse encodes and decodes itself the same way.
	r := e.call(t, http.MethodGet, "/admin/users/"+id, nil)
	var u admin.UserResponse
	if err := json.Unmarshal(r.body, &u); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(u); err != nil || buf.String() != string(r.body) {
		t.Fatalf("re-encoded %v\n got %s\nwant %s", err, buf.String(), r.body)
	}
	// A password hash set by mistake is never encoded.
	u.PasswordHash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA"
	data, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	noSecrets(t, "encoded user", string(data), u.PasswordHash)
}
