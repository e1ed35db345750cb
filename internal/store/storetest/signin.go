package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// signInTests returns the groups for users, sessions, authorization codes,
// refresh tokens and consents.
func signInTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"User/RoundTrip", testUserRoundTrip},
		{"User/Duplicate", testUserDuplicate},
		{"User/NotFound", testUserNotFound},
		{"User/ByUsername", testUserByUsername},
		{"User/List", testUserList},
		{"User/Update", testUserUpdate},
		{"User/UpdateAborts", testUserUpdateAborts},
		{"User/UpdateConcurrent", testUserUpdateConcurrent},
		{"User/DeleteCascades", testUserDeleteCascades},
		{"User/Invalid", testUserInvalid},
		{"Session/RoundTrip", testSessionRoundTrip},
		{"Session/Duplicate", testSessionDuplicate},
		{"Session/NotFound", testSessionNotFound},
		{"Session/Touch", testSessionTouch},
		{"Session/Delete", testSessionDelete},
		{"Session/Invalid", testSessionInvalid},
		{"AuthCode/RoundTrip", testAuthCodeRoundTrip},
		{"AuthCode/Planned", testAuthCodePlanned},
		{"AuthCode/Reuse", testAuthCodeReuse},
		{"AuthCode/NotFound", testAuthCodeNotFound},
		{"AuthCode/Invalid", testAuthCodeInvalid},
		{"AuthCode/RedeemConcurrent", testAuthCodeRedeemConcurrent},
		{"Refresh/RoundTrip", testRefreshRoundTrip},
		{"Refresh/Family", testRefreshFamily},
		{"Refresh/NotFound", testRefreshNotFound},
		{"Refresh/Rotate", testRefreshRotate},
		{"Refresh/Planned", testRefreshPlanned},
		{"Refresh/KeepPresented", testRefreshKeepPresented},
		{"Refresh/Reuse", testRefreshReuse},
		{"Refresh/Expired", testRefreshExpired},
		{"Refresh/RotateRefused", testRefreshRotateRefused},
		{"Refresh/RotateConcurrent", testRefreshRotateConcurrent},
		{"Refresh/Revoke", testRefreshRevoke},
		{"Refresh/Invalid", testRefreshInvalid},
		{"Refresh/RevokeAccess", testRefreshRevokeAccess},
		{"Consent/PutGetDelete", testConsentPutGetDelete},
		{"Consent/List", testConsentList},
		{"Consent/UpdateMerge", testConsentUpdateMerge},
		{"Consent/Invalid", testConsentInvalid},
		{"Client/DeleteCascades", testClientDeleteCascades},
		{"DeleteExpired/SignIn", testDeleteExpiredSignIn},
		{"DeleteExpired/PerAggregate", testDeleteExpiredPerAggregate},
	}
}

// fullUser sets every field of a user to a distinctive value.
func fullUser(id, username string) store.User {
	base := baseTime()
	return store.User{
		ID:                  id,
		Username:            username,
		PasswordHash:        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		Disabled:            true,
		Name:                "Zoë Ångström-Ōtsuka",
		GivenName:           "Zoë",
		FamilyName:          "Ångström-Ōtsuka",
		MiddleName:          "Q.",
		Nickname:            "zo",
		PreferredUsername:   "zoe.a",
		Profile:             "https://people.example/zoe",
		Picture:             "https://people.example/zoe.png",
		Website:             "https://zoe.example",
		Email:               "Zoe@Example.org",
		EmailVerified:       true,
		Gender:              "female",
		Birthdate:           "0000-03-04",
		Zoneinfo:            "Europe/Stockholm",
		Locale:              "sv-SE",
		PhoneNumber:         "+46 8 123 456 ;ext=7",
		PhoneNumberVerified: true,
		Address: store.Address{
			Formatted:     "Storgatan 1\n111 22 Stockholm\nSweden",
			StreetAddress: "Storgatan 1",
			Locality:      "Stockholm",
			Region:        "Stockholms län",
			PostalCode:    "111 22",
			Country:       "Sweden",
		},
		Attributes: map[string]json.RawMessage{
			"roles":      json.RawMessage(`[ "admin",  "ops" ]`),
			"department": json.RawMessage(`"R&D <lab> \u00e9"`),
			"level":      json.RawMessage(`1.50`),
			"nested":     json.RawMessage("{\"b\": 1,\n \"a\": [true, null], \"b\": 2}"),
			"padded":     json.RawMessage(" 7 "),
			"null":       json.RawMessage(`null`),
			"ünïcode 🔑":  json.RawMessage(`"🔑"`),
		},
		CreatedAt:         base,
		UpdatedAt:         base.Add(time.Second),
		PasswordChangedAt: base.Add(-time.Hour),
	}
}

// userDiff lists the fields in which got differs from want (recordDiff).
func userDiff(want, got store.User) []string { return recordDiff(want, got) }

func wantUser(t *testing.T, want, got store.User) {
	t.Helper()
	if d := userDiff(want, got); len(d) > 0 {
		t.Errorf("user %q: fields differ: %s\nwant %+v\ngot  %+v", want.ID, strings.Join(d, ", "), want, got)
	}
}

func mustCreateUser(t *testing.T, s store.Store, u store.User) {
	t.Helper()
	must(t, "CreateUser "+strconv.Quote(u.ID), s.CreateUser(t.Context(), u))
}

func fullSession(userID, cookie, sid string) store.Session {
	base := baseTime()
	return store.Session{
		Hash:       hashOf(cookie),
		ID:         sid,
		UserID:     userID,
		AuthTime:   base.Add(-time.Minute),
		AMR:        []string{"pwd", "otp"},
		ACR:        "urn:writ:acr:mfa",
		CreatedAt:  base.Add(-time.Minute),
		LastSeenAt: base,
		ExpiresAt:  base.Add(12 * time.Hour),
	}
}

// sessionDiff lists the fields in which got differs from want (recordDiff).
func sessionDiff(want, got store.Session) []string { return recordDiff(want, got) }

func wantSession(t *testing.T, want, got store.Session) {
	t.Helper()
	if d := sessionDiff(want, got); len(d) > 0 {
		t.Errorf("session %q: fields differ: %s\nwant %+v\ngot  %+v", want.ID, strings.Join(d, ", "), want, got)
	}
}

func fullAuthCode(clientID, userID, code string) store.AuthCode {
	base := baseTime()
	return store.AuthCode{
		Hash:                hashOf(code),
		ClientID:            clientID,
		UserID:              userID,
		SessionID:           "sid-" + code,
		RedirectURI:         "https://app.example/cb?x=1&y=%20",
		Scopes:              []string{"openid", "profile", "offline_access"},
		Audience:            []string{"https://api.example"},
		Nonce:               "n-0S6_WzA2Mj",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		AuthTime:            base.Add(-time.Minute),
		AMR:                 []string{"pwd"},
		ACR:                 "0",
		Claims:              json.RawMessage(`{"id_token": {"email": {"essential": true}}, "userinfo": null}`),
		DPoPJKT:             "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
		CreatedAt:           base,
		ExpiresAt:           base.Add(time.Minute),
	}
}

// authCodeDiff lists the fields in which got differs from want (recordDiff).
func authCodeDiff(want, got store.AuthCode) []string { return recordDiff(want, got) }

func wantAuthCode(t *testing.T, want, got store.AuthCode) {
	t.Helper()
	if d := authCodeDiff(want, got); len(d) > 0 {
		t.Errorf("authorization code: fields differ: %s\nwant %+v\ngot  %+v", strings.Join(d, ", "), want, got)
	}
}

func fullRefresh(clientID, userID, familyID, token string) store.RefreshToken {
	base := baseTime()
	return store.RefreshToken{
		Hash:      hashOf(token),
		FamilyID:  familyID,
		ClientID:  clientID,
		UserID:    userID,
		SessionID: "sid-" + familyID,
		Scopes:    []string{"openid", "offline_access", "orders:read"},
		Audience:  []string{"https://api.example", "https://other.example"},
		AuthTime:  base.Add(-time.Minute),
		AMR:       []string{"pwd", "hwk"},
		ACR:       "urn:writ:acr:mfa",
		// The family's binding, the same for each of its tokens.
		JKT:             "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		DelegationID:    "dlg-" + familyID,
		Extra:           []byte(`{"act": {"sub": "agent-1", "act": {"sub": "svc"}}, "delegation_id": "dlg-` + familyID + `"}`),
		CreatedAt:       base,
		ExpiresAt:       base.Add(24 * time.Hour),
		FamilyExpiresAt: base.Add(30 * 24 * time.Hour),
	}
}

// refreshDiff lists the fields in which got differs from want (recordDiff).
func refreshDiff(want, got store.RefreshToken) []string { return recordDiff(want, got) }

func wantRefresh(t *testing.T, want, got store.RefreshToken) {
	t.Helper()
	if d := refreshDiff(want, got); len(d) > 0 {
		t.Errorf("refresh token: fields differ: %s\nwant %+v\ngot  %+v", strings.Join(d, ", "), want, got)
	}
}

// consentDiff lists the fields in which got differs from want (recordDiff).
func consentDiff(want, got store.Consent) []string { return recordDiff(want, got) }

func wantConsent(t *testing.T, want, got store.Consent) {
	t.Helper()
	if d := consentDiff(want, got); len(d) > 0 {
		t.Errorf("consent: fields differ: %s\nwant %+v\ngot  %+v", strings.Join(d, ", "), want, got)
	}
}

// wantRevoked checks the Revoked flag of the tokens with the given hashes.
func wantRevoked(t *testing.T, s store.Store, want bool, hashes ...[]byte) {
	t.Helper()
	for _, h := range hashes {
		got, err := s.GetRefreshToken(t.Context(), h)
		must(t, "GetRefreshToken", err)
		if got.Revoked != want {
			t.Errorf("refresh token %x…: Revoked = %v, want %v", h[:4], got.Revoked, want)
		}
	}
}

// signInFixture creates a client "c" and a user "u" (username "User").
func signInFixture(t *testing.T, s store.Store) {
	t.Helper()
	mustCreateClient(t, s, fullClient("c"))
	mustCreateUser(t, s, fullUser("u", "User"))
}

func testUserRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullUser("user-1", "Zoë.Å")
	mustCreateUser(t, s, want)
	got, err := s.GetUser(ctx, want.ID)
	must(t, "GetUser", err)
	wantUser(t, want, got)
	got, err = s.GetUserByUsername(ctx, want.Username)
	must(t, "GetUserByUsername", err)
	wantUser(t, want, got)

	// The store keeps no reference to the caller's maps and slices.
	want.Attributes["roles"][3] = 'X'
	want.Attributes["new"] = json.RawMessage(`1`)
	again, err := s.GetUser(ctx, want.ID)
	must(t, "GetUser", err)
	if string(again.Attributes["roles"]) != `[ "admin",  "ops" ]` || again.Attributes["new"] != nil {
		t.Errorf("stored user aliases the caller's data: %q", again.Attributes)
	}

	// Zero values: no password, no claims, no attributes, zero times.
	minimal := store.User{ID: "user-2", Username: "m"}
	mustCreateUser(t, s, minimal)
	got, err = s.GetUser(ctx, minimal.ID)
	must(t, "GetUser", err)
	wantUser(t, minimal, got)
	if got.Attributes != nil || !got.CreatedAt.IsZero() || !got.PasswordChangedAt.IsZero() {
		t.Errorf("zero values came back as %+v", got)
	}
	empty := store.User{ID: "user-3", Username: "e", Attributes: map[string]json.RawMessage{}}
	mustCreateUser(t, s, empty)
	got, err = s.GetUser(ctx, empty.ID)
	must(t, "GetUser", err)
	wantUser(t, empty, got)

	// Hostile text everywhere is stored verbatim.
	for i, h := range hostileStrings() {
		u := fullUser("hostile-"+strconv.Itoa(i), "hostile "+h)
		u.Name, u.Email, u.Address.Formatted, u.PasswordHash = h, h, h, h
		quoted, _ := json.Marshal(h)
		u.Attributes = map[string]json.RawMessage{h: quoted}
		mustCreateUser(t, s, u)
		got, err := s.GetUserByUsername(ctx, u.Username)
		must(t, "GetUserByUsername", err)
		wantUser(t, u, got)
	}
}

func testUserDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := fullUser("u1", "Alice")
	mustCreateUser(t, s, first)

	sameID := fullUser("u1", "someone-else")
	sameID.PasswordHash = "SECRET-MARKER"
	err := s.CreateUser(ctx, sameID)
	wantErr(t, "CreateUser with a taken ID", err, store.ErrAlreadyExists)
	if strings.Contains(err.Error(), "SECRET-MARKER") {
		t.Errorf("error reveals the password hash: %v", err)
	}
	for _, name := range []string{"Alice", "alice", "ALICE", "aLiCe"} {
		u := fullUser("u-"+name, name)
		err := s.CreateUser(ctx, u)
		wantErr(t, fmt.Sprintf("CreateUser with username %q", name), err, store.ErrAlreadyExists)
		_, err = s.GetUser(ctx, u.ID)
		wantErr(t, "GetUser of a refused user", err, store.ErrNotFound)
	}
	got, err := s.GetUserByUsername(ctx, "alice")
	must(t, "GetUserByUsername", err)
	wantUser(t, first, got)

	// Different names are different, however similar.
	for _, name := range []string{"Alice ", "Alicé", "Alice2", "Ali"} {
		mustCreateUser(t, s, fullUser("u-"+name, name))
	}
}

func testUserNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, fullUser("present", "present"))
	for _, id := range []string{"absent", "", "PRESENT", "present ", strings.Repeat("x", store.MaxIDLength+1), "bad\xffutf8", "nul\x00"} {
		_, err := s.GetUser(ctx, id)
		wantErr(t, fmt.Sprintf("GetUser(%q)", id), err, store.ErrNotFound)
		called := false
		_, err = s.UpdateUser(ctx, id, func(u store.User) (store.User, error) {
			called = true
			return u, nil
		})
		wantErr(t, fmt.Sprintf("UpdateUser(%q)", id), err, store.ErrNotFound)
		if called {
			t.Errorf("UpdateUser(%q) called fn for a missing user", id)
		}
		wantErr(t, fmt.Sprintf("DeleteUser(%q)", id), s.DeleteUser(ctx, id), store.ErrNotFound)
	}
	for _, name := range []string{"absent", "", "present ", "presen", strings.Repeat("x", store.MaxIDLength+1), "bad\xff", "nul\x00"} {
		_, err := s.GetUserByUsername(ctx, name)
		wantErr(t, fmt.Sprintf("GetUserByUsername(%q)", name), err, store.ErrNotFound)
	}
}

func testUserByUsername(t *testing.T, s store.Store) {
	ctx := t.Context()
	users := []store.User{fullUser("a", "Alice.Smith"), fullUser("b", "ÉLODIE"), fullUser("c", "bob")}
	for _, u := range users {
		mustCreateUser(t, s, u)
	}
	for _, c := range []struct{ name, id string }{
		{"Alice.Smith", "a"}, {"alice.smith", "a"}, {"ALICE.SMITH", "a"},
		{"élodie", "b"}, {"Élodie", "b"}, {"ÉLODIE", "b"},
		{"bob", "c"}, {"BOB", "c"},
	} {
		got, err := s.GetUserByUsername(ctx, c.name)
		must(t, fmt.Sprintf("GetUserByUsername(%q)", c.name), err)
		if got.ID != c.id {
			t.Errorf("GetUserByUsername(%q) = user %q, want %q", c.name, got.ID, c.id)
		}
	}
	// The username comes back as it was stored, not folded.
	_, err := s.GetUserByUsername(ctx, "elodie")
	wantErr(t, "GetUserByUsername without the accent", err, store.ErrNotFound)
	got, err := s.GetUserByUsername(ctx, "élodie")
	must(t, "GetUserByUsername", err)
	if got.Username != "ÉLODIE" {
		t.Errorf("Username = %q, want it as stored", got.Username)
	}
	if key := store.UsernameKey("ÉLODIE"); key != "élodie" {
		t.Errorf("UsernameKey = %q", key)
	}
	// Wildcards match only themselves.
	for _, name := range []string{"%", "_ob", "b%", "Alice_Smith"} {
		_, err := s.GetUserByUsername(ctx, name)
		wantErr(t, fmt.Sprintf("GetUserByUsername(%q)", name), err, store.ErrNotFound)
	}
}

func testUserList(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListUsers(ctx, store.ListOptions{})
	must(t, "ListUsers on an empty store", err)
	if len(list) != 0 {
		t.Fatalf("ListUsers on an empty store: %d users", len(list))
	}
	ids := []string{"B", "a", "Z", "_", "é", "e", "z~", "%"}
	for i := range 13 {
		ids = append(ids, fmt.Sprintf("u-%02d", (i*5)%13))
	}
	for _, id := range ids {
		mustCreateUser(t, s, fullUser(id, "name of "+id))
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	for _, limit := range []int{1, 4, len(want), len(want) + 3} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("limit %d: pagination does not end", limit)
			}
			page, err := s.ListUsers(ctx, store.ListOptions{Limit: limit, After: after})
			must(t, "ListUsers", err)
			if len(page) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, u := range page {
				got = append(got, u.ID)
			}
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: listed\n%q\nwant\n%q", limit, got, want)
		}
	}
	page, err := s.ListUsers(ctx, store.ListOptions{})
	must(t, "ListUsers", err)
	if len(page) != len(want) {
		t.Fatalf("default limit listed %d, want %d", len(page), len(want))
	}
	wantUser(t, fullUser(page[0].ID, "name of "+page[0].ID), page[0])
	_, err = s.ListUsers(ctx, store.ListOptions{After: "bad\xff"})
	wantErr(t, "ListUsers with an invalid cursor", err, store.ErrInvalid)
}

func testUserUpdate(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	orig := fullUser("upd", "Bob")
	mustCreateUser(t, s, orig)
	mustCreateUser(t, s, fullUser("other", "Carol"))

	var seen store.User
	updated, err := s.UpdateUser(ctx, "upd", func(u store.User) (store.User, error) {
		seen = u
		u.Username = "Robert"
		u.PasswordHash = ""
		u.Disabled = false
		u.Email = "robert@example.org"
		u.EmailVerified = false
		u.Address = store.Address{Country: "NO"}
		u.Attributes = map[string]json.RawMessage{"roles": json.RawMessage(`["viewer"]`)}
		u.UpdatedAt = base.Add(time.Hour)
		u.PasswordChangedAt = base.Add(time.Hour)
		return u, nil
	})
	must(t, "UpdateUser", err)
	wantUser(t, orig, seen)
	want := orig
	want.Username = "Robert"
	want.PasswordHash = ""
	want.Disabled = false
	want.Email = "robert@example.org"
	want.EmailVerified = false
	want.Address = store.Address{Country: "NO"}
	want.Attributes = map[string]json.RawMessage{"roles": json.RawMessage(`["viewer"]`)}
	want.UpdatedAt = base.Add(time.Hour)
	want.PasswordChangedAt = base.Add(time.Hour)
	wantUser(t, want, updated)
	got, err := s.GetUser(ctx, "upd")
	must(t, "GetUser", err)
	wantUser(t, want, got)

	// The old username is free, the new one found.
	_, err = s.GetUserByUsername(ctx, "bob")
	wantErr(t, "GetUserByUsername of the old name", err, store.ErrNotFound)
	got, err = s.GetUserByUsername(ctx, "ROBERT")
	must(t, "GetUserByUsername of the new name", err)
	wantUser(t, want, got)
	mustCreateUser(t, s, fullUser("new-bob", "BOB"))

	// Changing only the case of one's own username is allowed.
	updated, err = s.UpdateUser(ctx, "upd", func(u store.User) (store.User, error) {
		u.Username = "ROBERT"
		return u, nil
	})
	must(t, "UpdateUser changing the case of the username", err)
	want.Username = "ROBERT"
	wantUser(t, want, updated)

	// Taking another user's username, in any case, is not.
	for _, name := range []string{"Carol", "carol", "bob"} {
		_, err = s.UpdateUser(ctx, "upd", func(u store.User) (store.User, error) {
			u.Username = name
			u.Name = "should not stick"
			return u, nil
		})
		wantErr(t, fmt.Sprintf("UpdateUser to username %q", name), err, store.ErrAlreadyExists)
		got, err = s.GetUser(ctx, "upd")
		must(t, "GetUser", err)
		wantUser(t, want, got)
	}
}

func testUserUpdateAborts(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := fullUser("abort", "abort")
	mustCreateUser(t, s, orig)
	unchanged := func(what string) {
		t.Helper()
		got, err := s.GetUser(ctx, "abort")
		must(t, "GetUser", err)
		if d := userDiff(orig, got); len(d) > 0 {
			t.Errorf("%s changed the user: %v", what, d)
		}
	}
	errStop := errors.New("stop")
	_, err := s.UpdateUser(ctx, "abort", func(u store.User) (store.User, error) {
		u.Name = "half-done"
		return u, fmt.Errorf("policy says no: %w", errStop)
	})
	wantErr(t, "UpdateUser with an fn error", err, errStop)
	unchanged("an fn error")

	_, err = s.UpdateUser(ctx, "abort", func(u store.User) (store.User, error) {
		u.ID = "moved"
		return u, nil
	})
	wantErr(t, "UpdateUser changing the ID", err, store.ErrInvalid)
	unchanged("an ID change")
	_, err = s.GetUser(ctx, "moved")
	wantErr(t, "GetUser of the would-be ID", err, store.ErrNotFound)

	for name, mutate := range map[string]func(*store.User){
		"bad UTF-8 name":     func(u *store.User) { u.Name = "\xff" },
		"empty username":     func(u *store.User) { u.Username = "" },
		"attribute not JSON": func(u *store.User) { u.Attributes = map[string]json.RawMessage{"a": json.RawMessage(`{`)} },
	} {
		_, err = s.UpdateUser(ctx, "abort", func(u store.User) (store.User, error) {
			mutate(&u)
			return u, nil
		})
		wantErr(t, "UpdateUser to a user with "+name, err, store.ErrInvalid)
		unchanged("an invalid result (" + name + ")")
	}

	cctx, cancel := context.WithCancel(ctx)
	_, err = s.UpdateUser(cctx, "abort", func(u store.User) (store.User, error) {
		cancel()
		u.Name = "cancelled"
		return u, nil
	})
	if err == nil {
		t.Error("UpdateUser with a context cancelled in fn: no error")
	}
	unchanged("a cancelled context")
	_, err = s.UpdateUser(ctx, "abort", func(u store.User) (store.User, error) { return u, nil })
	must(t, "UpdateUser after aborts", err)
}

func testUserUpdateConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := fullUser("counter", "counter")
	u.Attributes = map[string]json.RawMessage{"n": json.RawMessage(`0`)}
	mustCreateUser(t, s, u)
	const workers, perWorker = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				_, err := s.UpdateUser(ctx, "counter", func(u store.User) (store.User, error) {
					n, err := strconv.Atoi(string(u.Attributes["n"]))
					if err != nil {
						return u, err
					}
					u.Attributes["n"] = json.RawMessage(strconv.Itoa(n + 1))
					return u, nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent UpdateUser: %v", err)
	}
	got, err := s.GetUser(ctx, "counter")
	must(t, "GetUser", err)
	if want := strconv.Itoa(workers * perWorker); string(got.Attributes["n"]) != want {
		t.Errorf("counter = %s after %s increments: updates were lost", got.Attributes["n"], want)
	}
}

// grantEverything gives user userID at client clientID one of each: a
// session (if withSession), an authorization code, a refresh token family
// and a consent, all named after the pair.
func grantEverything(t *testing.T, s store.Store, clientID, userID string, withSession bool) {
	t.Helper()
	ctx := t.Context()
	pair := clientID + "/" + userID
	if withSession {
		must(t, "CreateSession", s.CreateSession(ctx, fullSession(userID, "cookie "+pair, "sid "+pair)))
	}
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, fullAuthCode(clientID, userID, "code "+pair)))
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, fullRefresh(clientID, userID, "fam "+pair, "rt "+pair)))
	must(t, "PutConsent", s.PutConsent(ctx, store.Consent{UserID: userID, ClientID: clientID, Scopes: []string{"openid"}}))
}

// wantGrants checks whether what grantEverything created for the pair is
// there (present) or gone. It consumes the authorization code when present.
func wantGrants(t *testing.T, s store.Store, clientID, userID string, withSession, present bool) {
	t.Helper()
	ctx := t.Context()
	pair := clientID + "/" + userID
	check := func(what string, err error) {
		t.Helper()
		if present {
			must(t, what+" of "+pair, err)
		} else {
			wantErr(t, what+" of "+pair+" after the delete", err, store.ErrNotFound)
		}
	}
	if withSession {
		_, err := s.GetSession(ctx, hashOf("cookie "+pair))
		check("GetSession", err)
		_, err = s.GetSessionByID(ctx, "sid "+pair)
		check("GetSessionByID", err)
	}
	_, err := s.GetAuthCode(ctx, hashOf("code "+pair))
	check("GetAuthCode", err)
	_, err = s.GetRefreshToken(ctx, hashOf("rt "+pair))
	check("GetRefreshToken", err)
	check("RevokeRefreshFamily", s.RevokeRefreshFamily(ctx, "fam "+pair))
	_, err = s.GetConsent(ctx, userID, clientID)
	check("GetConsent", err)
}

func testUserDeleteCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("c1"))
	mustCreateClient(t, s, fullClient("c2"))
	mustCreateUser(t, s, fullUser("gone", "Gone"))
	mustCreateUser(t, s, fullUser("kept", "Kept"))
	for _, c := range []string{"c1", "c2"} {
		grantEverything(t, s, c, "gone", c == "c1")
		grantEverything(t, s, c, "kept", c == "c1")
	}

	must(t, "DeleteUser", s.DeleteUser(ctx, "gone"))
	_, err := s.GetUser(ctx, "gone")
	wantErr(t, "GetUser after delete", err, store.ErrNotFound)
	_, err = s.GetUserByUsername(ctx, "gone")
	wantErr(t, "GetUserByUsername after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteUser again", s.DeleteUser(ctx, "gone"), store.ErrNotFound)
	for _, c := range []string{"c1", "c2"} {
		wantGrants(t, s, c, "gone", c == "c1", false)
		wantGrants(t, s, c, "kept", c == "c1", true)
	}
	consents, err := s.ListUserConsents(ctx, "gone")
	must(t, "ListUserConsents", err)
	if len(consents) != 0 {
		t.Errorf("a deleted user has %d consents", len(consents))
	}
	sessions, err := s.DeleteUserSessions(ctx, "gone")
	must(t, "DeleteUserSessions", err)
	if len(sessions) != 0 {
		t.Errorf("a deleted user has %d sessions", len(sessions))
	}
	// The clients stay; the ID, username and family IDs can be used again.
	for _, c := range []string{"c1", "c2"} {
		_, err := s.GetClient(ctx, c)
		must(t, "GetClient", err)
	}
	mustCreateUser(t, s, fullUser("gone", "GONE"))
	grantEverything(t, s, "c1", "gone", true)
}

func testUserInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	many := func(n, size int) map[string]json.RawMessage {
		m := make(map[string]json.RawMessage, n)
		for i := range n {
			m[fmt.Sprintf("a%03d", i)] = json.RawMessage(`"` + strings.Repeat("v", size) + `"`)
		}
		return m
	}
	// Exactly at the bounds is accepted: 64 names of 4 bytes and values of
	// 252 bytes make 16 KiB.
	atBounds := fullUser("bounds", "bounds")
	atBounds.Attributes = many(store.MaxAttributes, store.MaxAttributesSize/store.MaxAttributes-4-2)
	mustCreateUser(t, s, atBounds)
	got, err := s.GetUser(ctx, "bounds")
	must(t, "GetUser", err)
	wantUser(t, atBounds, got)

	cases := map[string]func(*store.User){
		"empty ID":                  func(u *store.User) { u.ID = "" },
		"long ID":                   func(u *store.User) { u.ID = strings.Repeat("i", store.MaxIDLength+1) },
		"ID not UTF-8":              func(u *store.User) { u.ID = "id\xc3" },
		"empty username":            func(u *store.User) { u.Username = "" },
		"long username":             func(u *store.User) { u.Username = strings.Repeat("n", store.MaxIDLength+1) },
		"username not UTF-8":        func(u *store.User) { u.Username = "n\xff" },
		"username with NUL":         func(u *store.User) { u.Username = "n\x00" },
		"password hash with NUL":    func(u *store.User) { u.PasswordHash = "$argon2id$\x00" },
		"name not UTF-8":            func(u *store.User) { u.Name = "\xfe" },
		"email with NUL":            func(u *store.User) { u.Email = "a@b\x00" },
		"locale not UTF-8":          func(u *store.User) { u.Locale = "sv\xff" },
		"address country not UTF-8": func(u *store.User) { u.Address.Country = "\xff" },
		"too many attributes":       func(u *store.User) { u.Attributes = many(store.MaxAttributes+1, 1) },
		"attributes too large":      func(u *store.User) { u.Attributes = many(1, store.MaxAttributesSize) },
		"attributes just too large": func(u *store.User) {
			u.Attributes = many(store.MaxAttributes, store.MaxAttributesSize/store.MaxAttributes-4-2+1)
		},
		"attribute not JSON":          func(u *store.User) { u.Attributes = map[string]json.RawMessage{"a": json.RawMessage(`[1,`)} },
		"attribute two JSON values":   func(u *store.User) { u.Attributes = map[string]json.RawMessage{"a": json.RawMessage(`1 2`)} },
		"attribute empty":             func(u *store.User) { u.Attributes = map[string]json.RawMessage{"a": nil} },
		"attribute value not UTF-8":   func(u *store.User) { u.Attributes = map[string]json.RawMessage{"a": json.RawMessage("\"\xff\"")} },
		"attribute with empty name":   func(u *store.User) { u.Attributes = map[string]json.RawMessage{"": json.RawMessage(`1`)} },
		"attribute name not UTF-8":    func(u *store.User) { u.Attributes = map[string]json.RawMessage{"\xff": json.RawMessage(`1`)} },
		"attribute name with NUL":     func(u *store.User) { u.Attributes = map[string]json.RawMessage{"a\x00": json.RawMessage(`1`)} },
		"creation time before year 1": func(u *store.User) { u.CreatedAt = time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC) },
		"password time after 9999":    func(u *store.User) { u.PasswordChangedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	for name, mutate := range cases {
		u := fullUser("valid", "valid")
		mutate(&u)
		err := s.CreateUser(ctx, u)
		wantErr(t, "CreateUser with "+name, err, store.ErrInvalid)
		if strings.Contains(err.Error(), "\xff") || strings.Contains(err.Error(), "\x00") {
			t.Errorf("%s: error quotes the invalid value: %q", name, err)
		}
	}
	list, err := s.ListUsers(ctx, store.ListOptions{})
	must(t, "ListUsers", err)
	if len(list) != 1 {
		t.Errorf("invalid users were stored: %d users", len(list)-1)
	}
}

func testSessionRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	want := fullSession("u", "cookie-1", "sid-1")
	must(t, "CreateSession", s.CreateSession(ctx, want))
	got, err := s.GetSession(ctx, want.Hash)
	must(t, "GetSession", err)
	wantSession(t, want, got)
	got, err = s.GetSessionByID(ctx, want.ID)
	must(t, "GetSessionByID", err)
	wantSession(t, want, got)

	minimal := store.Session{Hash: hashOf("cookie-2"), ID: "sid-2", UserID: "u", ExpiresAt: baseTime()}
	must(t, "CreateSession", s.CreateSession(ctx, minimal))
	got, err = s.GetSession(ctx, minimal.Hash)
	must(t, "GetSession", err)
	wantSession(t, minimal, got)

	// Expired sessions are returned: the caller decides.
	expired := fullSession("u", "cookie-3", "sid-3")
	expired.ExpiresAt = baseTime().Add(-24 * time.Hour)
	must(t, "CreateSession", s.CreateSession(ctx, expired))
	got, err = s.GetSession(ctx, expired.Hash)
	must(t, "GetSession of an expired session", err)
	wantSession(t, expired, got)
}

func testSessionDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	first := fullSession("u", "cookie", "sid")
	must(t, "CreateSession", s.CreateSession(ctx, first))
	sameHash := fullSession("u", "cookie", "other-sid")
	wantErr(t, "CreateSession with a taken hash", s.CreateSession(ctx, sameHash), store.ErrAlreadyExists)
	sameID := fullSession("u", "other-cookie", "sid")
	wantErr(t, "CreateSession with a taken ID", s.CreateSession(ctx, sameID), store.ErrAlreadyExists)
	_, err := s.GetSessionByID(ctx, "other-sid")
	wantErr(t, "GetSessionByID of a refused session", err, store.ErrNotFound)
	_, err = s.GetSession(ctx, hashOf("other-cookie"))
	wantErr(t, "GetSession of a refused session", err, store.ErrNotFound)
	got, err := s.GetSession(ctx, first.Hash)
	must(t, "GetSession", err)
	wantSession(t, first, got)

	unknownUser := fullSession("nobody", "c2", "s2")
	wantErr(t, "CreateSession for an unknown user", s.CreateSession(ctx, unknownUser), store.ErrNotFound)
}

func testSessionNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	must(t, "CreateSession", s.CreateSession(ctx, fullSession("u", "present", "sid")))
	for _, h := range [][]byte{hashOf("absent"), nil, {}, hashOf("present")[:31], append(hashOf("present"), 0)} {
		_, err := s.GetSession(ctx, h)
		wantErr(t, fmt.Sprintf("GetSession(%x)", h), err, store.ErrNotFound)
		wantErr(t, fmt.Sprintf("TouchSession(%x)", h), s.TouchSession(ctx, h, baseTime()), store.ErrNotFound)
		_, err = s.DeleteSession(ctx, h)
		wantErr(t, fmt.Sprintf("DeleteSession(%x)", h), err, store.ErrNotFound)
	}
	for _, id := range []string{"absent", "", "SID", "sid ", "bad\xff", "nul\x00", strings.Repeat("s", store.MaxIDLength+1)} {
		_, err := s.GetSessionByID(ctx, id)
		wantErr(t, fmt.Sprintf("GetSessionByID(%q)", id), err, store.ErrNotFound)
	}
}

func testSessionTouch(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	want := fullSession("u", "cookie", "sid")
	other := fullSession("u", "other", "other-sid")
	must(t, "CreateSession", s.CreateSession(ctx, want))
	must(t, "CreateSession", s.CreateSession(ctx, other))

	must(t, "TouchSession", s.TouchSession(ctx, want.Hash, base.Add(time.Hour)))
	want.LastSeenAt = base.Add(time.Hour)
	got, err := s.GetSession(ctx, want.Hash)
	must(t, "GetSession", err)
	wantSession(t, want, got)

	// LastSeenAt only moves forward.
	must(t, "TouchSession with an earlier time", s.TouchSession(ctx, want.Hash, base))
	got, err = s.GetSession(ctx, want.Hash)
	must(t, "GetSession", err)
	wantSession(t, want, got)

	wantErr(t, "TouchSession with a zero time", s.TouchSession(ctx, want.Hash, time.Time{}), store.ErrInvalid)
	wantErr(t, "TouchSession after 9999", s.TouchSession(ctx, want.Hash, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)), store.ErrInvalid)
	got, err = s.GetSession(ctx, other.Hash)
	must(t, "GetSession", err)
	wantSession(t, other, got)
}

func testSessionDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	mustCreateUser(t, s, fullUser("u2", "User2"))
	mine := []store.Session{
		fullSession("u", "c-b", "sid-b"),
		fullSession("u", "c-a", "sid-a"),
		fullSession("u", "c-c", "sid-c"),
	}
	theirs := fullSession("u2", "c-u2", "sid-u2")
	for _, sess := range append(slices.Clone(mine), theirs) {
		must(t, "CreateSession", s.CreateSession(ctx, sess))
	}

	deleted, err := s.DeleteSession(ctx, mine[2].Hash)
	must(t, "DeleteSession", err)
	wantSession(t, mine[2], deleted)
	_, err = s.GetSession(ctx, mine[2].Hash)
	wantErr(t, "GetSession after DeleteSession", err, store.ErrNotFound)
	_, err = s.DeleteSession(ctx, mine[2].Hash)
	wantErr(t, "DeleteSession again", err, store.ErrNotFound)

	all, err := s.DeleteUserSessions(ctx, "u")
	must(t, "DeleteUserSessions", err)
	if len(all) != 2 {
		t.Fatalf("DeleteUserSessions returned %d sessions, want 2", len(all))
	}
	wantSession(t, mine[1], all[0]) // ordered by ID
	wantSession(t, mine[0], all[1])
	for _, sess := range mine {
		_, err := s.GetSessionByID(ctx, sess.ID)
		wantErr(t, "GetSessionByID after DeleteUserSessions", err, store.ErrNotFound)
	}
	got, err := s.GetSession(ctx, theirs.Hash)
	must(t, "GetSession of another user's session", err)
	wantSession(t, theirs, got)

	for _, id := range []string{"u", "nobody", "", "bad\xff"} {
		none, err := s.DeleteUserSessions(ctx, id)
		if err != nil || len(none) != 0 {
			t.Errorf("DeleteUserSessions(%q) with no sessions = %d sessions, %v", id, len(none), err)
		}
	}
	// The user is still there and can sign in again.
	_, err = s.GetUser(ctx, "u")
	must(t, "GetUser", err)
	must(t, "CreateSession", s.CreateSession(ctx, mine[0]))
}

func testSessionInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	cases := map[string]func(*store.Session){
		"short hash":        func(x *store.Session) { x.Hash = x.Hash[:16] },
		"no hash":           func(x *store.Session) { x.Hash = nil },
		"empty ID":          func(x *store.Session) { x.ID = "" },
		"ID not UTF-8":      func(x *store.Session) { x.ID = "\xff" },
		"empty user":        func(x *store.Session) { x.UserID = "" },
		"AMR with NUL":      func(x *store.Session) { x.AMR = []string{"pwd\x00"} },
		"ACR not UTF-8":     func(x *store.Session) { x.ACR = "\xfe" },
		"no expiry":         func(x *store.Session) { x.ExpiresAt = time.Time{} },
		"auth time in 0000": func(x *store.Session) { x.AuthTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	for name, mutate := range cases {
		sess := fullSession("u", "cookie", "sid")
		mutate(&sess)
		wantErr(t, "CreateSession with "+name, s.CreateSession(ctx, sess), store.ErrInvalid)
	}
	_, err := s.GetSessionByID(ctx, "sid")
	wantErr(t, "GetSessionByID after invalid creates", err, store.ErrNotFound)
}

// jwtIssue is what a redemption or rotation issues with a JWT access token
// (jti) and, when token is not empty, the refresh token token of family.
func jwtIssue(clientID, userID, jti, family, token string) store.Issue {
	i := store.Issue{Access: store.IssuedAccess{JTI: jti, ExpiresAt: baseTime().Add(20 * time.Minute)}}
	if token != "" {
		r := fullRefresh(clientID, userID, family, token)
		i.Refresh = &r
	}
	return i
}

// opaqueIssue is jwtIssue with the opaque access token access.
func opaqueIssue(clientID, userID, access, family, token string) store.Issue {
	i := jwtIssue(clientID, userID, "", family, token)
	r := fullToken(clientID, access)
	r.Subject = userID
	i.Access.Opaque = &r
	return i
}

// rotation is what a rotation to next issues, with a JWT access token.
func rotation(next store.RefreshToken) store.Issue {
	return store.Issue{
		Access:  store.IssuedAccess{JTI: fmt.Sprintf("jti-%x", next.Hash[:8]), ExpiresAt: next.ExpiresAt},
		Refresh: &next,
	}
}

// testAuthCodePlanned: RedeemAuthCodeWith hands its plan the code and its
// user as stored; a plan's error is returned with the code and writes
// nothing; a plan that sees a redeemed code gets it with what it issued;
// the issue a plan returns is redeemed by RedeemAuthCode's rules.
func testAuthCodePlanned(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	want := fullAuthCode("c", "u", "code-1")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, want))
	now := base.Add(10 * time.Second)

	refused := errors.New("refused by the plan")
	calls := 0
	got, err := s.RedeemAuthCodeWith(ctx, want.Hash, now, func(c *store.AuthCode, u *store.User) (store.Issue, error) {
		calls++
		wantAuthCode(t, want, *c)
		wantUser(t, fullUser("u", "User"), *u)
		return store.Issue{}, refused
	})
	if !errors.Is(err, refused) || calls != 1 {
		t.Fatalf("RedeemAuthCodeWith with a refusing plan: %v after %d calls, want the plan's error after 1", err, calls)
	}
	wantAuthCode(t, want, got)
	stored, err := s.GetAuthCode(ctx, want.Hash)
	must(t, "GetAuthCode after a refused plan", err)
	wantAuthCode(t, want, stored)

	issue := opaqueIssue("c", "u", "at-1", "fam-1", "rt-1")
	got, err = s.RedeemAuthCodeWith(ctx, want.Hash, now, func(*store.AuthCode, *store.User) (store.Issue, error) { return issue, nil })
	must(t, "RedeemAuthCodeWith", err)
	want = redeemed(want, now, issue)
	wantAuthCode(t, want, got)
	rt, err := s.GetRefreshToken(ctx, issue.Refresh.Hash)
	must(t, "GetRefreshToken of the issued refresh token", err)
	wantRefresh(t, *issue.Refresh, rt)

	// A redeemed code is shown to the plan as it stands; a plan that
	// issues anyway gets ErrReused.
	again := opaqueIssue("c", "u", "at-2", "fam-2", "rt-2")
	got, err = s.RedeemAuthCodeWith(ctx, want.Hash, now.Add(time.Second), func(c *store.AuthCode, _ *store.User) (store.Issue, error) {
		wantAuthCode(t, want, *c)
		return again, nil
	})
	wantErr(t, "RedeemAuthCodeWith of a redeemed code", err, store.ErrReused)
	wantAuthCode(t, want, got)
	_, err = s.GetRefreshToken(ctx, again.Refresh.Hash)
	wantErr(t, "GetRefreshToken of what a refused redemption planned", err, store.ErrNotFound)

	// An unknown code never reaches the plan, nor does the code of a
	// deleted user: deleting the user deleted it.
	noPlan := func(*store.AuthCode, *store.User) (store.Issue, error) {
		t.Fatal("plan called for a code that does not exist")
		return store.Issue{}, nil
	}
	_, err = s.RedeemAuthCodeWith(ctx, hashOf("no-such-code"), now, noPlan)
	wantErr(t, "RedeemAuthCodeWith of an unknown code", err, store.ErrNotFound)
	mustCreateUser(t, s, fullUser("gone", "Gone"))
	orphan := fullAuthCode("c", "gone", "code-2")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, orphan))
	must(t, "DeleteUser", s.DeleteUser(ctx, "gone"))
	_, err = s.RedeemAuthCodeWith(ctx, orphan.Hash, now, noPlan)
	wantErr(t, "RedeemAuthCodeWith of a deleted user's code", err, store.ErrNotFound)
}

// testRefreshPlanned: RotateRefreshTokenWith hands its plan the token, its
// user and a reader of the user's consent to its client; a plan's error is
// returned with the token and writes nothing; the issue a plan returns is
// rotated by RotateRefreshToken's rules.
func testRefreshPlanned(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	t1 := fullRefresh("c", "u", "fam", "rt-1")
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, t1))
	now := base.Add(time.Hour)
	// Consents of the same user to another client, and of another user to
	// the same client, are not the token's.
	mustCreateClient(t, s, fullClient("c2"))
	mustCreateUser(t, s, fullUser("u2", "Other"))
	for _, c := range []store.Consent{{UserID: "u", ClientID: "c2"}, {UserID: "u2", ClientID: "c"}} {
		c.Scopes, c.GrantedAt, c.UpdatedAt = []string{"openid"}, base, base
		must(t, "PutConsent", s.PutConsent(ctx, c))
	}

	refused := errors.New("refused by the plan")
	_, err := s.RotateRefreshTokenWith(ctx, t1.Hash, now, func(old *store.RefreshToken, u *store.User, consent func() (store.Consent, error)) (store.Issue, error) {
		wantRefresh(t, t1, *old)
		wantUser(t, fullUser("u", "User"), *u)
		_, err := consent()
		wantErr(t, "consent before any was given", err, store.ErrNotFound)
		return store.Issue{}, refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("RotateRefreshTokenWith with a refusing plan: %v, want the plan's error", err)
	}
	got, err := s.GetRefreshToken(ctx, t1.Hash)
	must(t, "GetRefreshToken after a refused plan", err)
	wantRefresh(t, t1, got)

	must(t, "PutConsent", s.PutConsent(ctx, store.Consent{UserID: "u", ClientID: "c", Scopes: []string{"openid"}, GrantedAt: base, UpdatedAt: base}))
	next := t1
	next.Hash, next.CreatedAt, next.ExpiresAt = hashOf("rt-2"), now, now.Add(24*time.Hour)
	old, err := s.RotateRefreshTokenWith(ctx, t1.Hash, now, func(_ *store.RefreshToken, _ *store.User, consent func() (store.Consent, error)) (store.Issue, error) {
		c, err := consent()
		if err != nil || !c.Covers([]string{"openid"}) {
			t.Errorf("consent: %+v, %v; want the stored consent", c, err)
		}
		return rotation(next), nil
	})
	must(t, "RotateRefreshTokenWith", err)
	t1.RotatedAt = now
	wantRefresh(t, t1, old)
	got, err = s.GetRefreshToken(ctx, next.Hash)
	must(t, "GetRefreshToken of the new token", err)
	wantRefresh(t, next, got)

	_, err = s.RotateRefreshTokenWith(ctx, hashOf("no-such-token"), now, func(*store.RefreshToken, *store.User, func() (store.Consent, error)) (store.Issue, error) {
		t.Fatal("plan called for an unknown token")
		return store.Issue{}, nil
	})
	wantErr(t, "RotateRefreshTokenWith of an unknown token", err, store.ErrNotFound)
}

// redeemed is want as RedeemAuthCode(now, i) leaves it.
func redeemed(want store.AuthCode, now time.Time, i store.Issue) store.AuthCode {
	want.UsedAt = now
	want.IssuedAccessJTI = i.Access.JTI
	want.IssuedAccessExpiresAt = i.Access.ExpiresAt
	if i.Access.Opaque != nil {
		want.IssuedAccessHash = i.Access.Opaque.Hash
	}
	if i.Refresh != nil {
		want.IssuedFamilyID = i.Refresh.FamilyID
	}
	return want
}

func testAuthCodeRoundTrip(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	want := fullAuthCode("c", "u", "code-1")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, want))
	got, err := s.GetAuthCode(ctx, want.Hash)
	must(t, "GetAuthCode", err)
	wantAuthCode(t, want, got)
	got, user, err := s.GetAuthCodeUser(ctx, want.Hash)
	must(t, "GetAuthCodeUser", err)
	wantAuthCode(t, want, got)
	wantUser(t, fullUser("u", "User"), user)
	_, _, err = s.GetAuthCodeUser(ctx, hashOf("no-such-code"))
	wantErr(t, "GetAuthCodeUser of an unknown code", err, store.ErrNotFound)
	_, _, err = s.GetAuthCodeUser(ctx, []byte("short"))
	wantErr(t, "GetAuthCodeUser of a malformed hash", err, store.ErrNotFound)

	now := base.Add(10 * time.Second)
	issue := opaqueIssue("c", "u", "at-1", "fam-1", "rt-1")
	got, err = s.RedeemAuthCode(ctx, want.Hash, now, issue)
	must(t, "RedeemAuthCode", err)
	want = redeemed(want, now, issue)
	wantAuthCode(t, want, got)
	got, err = s.GetAuthCode(ctx, want.Hash)
	must(t, "GetAuthCode of a redeemed code", err)
	wantAuthCode(t, want, got)
	// What it issued is stored with it.
	rec, err := s.GetToken(ctx, issue.Access.Opaque.Hash)
	must(t, "GetToken of the issued access token", err)
	wantToken(t, *issue.Access.Opaque, rec)
	rt, err := s.GetRefreshToken(ctx, issue.Refresh.Hash)
	must(t, "GetRefreshToken of the issued refresh token", err)
	wantRefresh(t, *issue.Refresh, rt)

	minimal := store.AuthCode{Hash: hashOf("code-2"), ClientID: "c", UserID: "u", ExpiresAt: base.Add(time.Hour)}
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, minimal))
	issue = jwtIssue("c", "u", "jti-2", "", "")
	got, err = s.RedeemAuthCode(ctx, minimal.Hash, now, issue)
	must(t, "RedeemAuthCode", err)
	wantAuthCode(t, redeemed(minimal, now, issue), got)

	// An expired code is refused and stays unused.
	expired := fullAuthCode("c", "u", "code-3")
	expired.ExpiresAt = now
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, expired))
	issue = jwtIssue("c", "u", "jti-3", "fam-3", "rt-3")
	got, err = s.RedeemAuthCode(ctx, expired.Hash, now, issue)
	wantErr(t, "RedeemAuthCode of an expired code", err, store.ErrExpired)
	wantAuthCode(t, expired, got)
	_, err = s.GetRefreshToken(ctx, issue.Refresh.Hash)
	wantErr(t, "GetRefreshToken of what an expired code would issue", err, store.ErrNotFound)

	wantErr(t, "CreateAuthCode duplicate", s.CreateAuthCode(ctx, fullAuthCode("c", "u", "code-1")), store.ErrAlreadyExists)
	wantErr(t, "CreateAuthCode for an unknown client", s.CreateAuthCode(ctx, fullAuthCode("nobody", "u", "code-4")), store.ErrNotFound)
	wantErr(t, "CreateAuthCode for an unknown user", s.CreateAuthCode(ctx, fullAuthCode("c", "nobody", "code-5")), store.ErrNotFound)
	for _, code := range []string{"code-4", "code-5"} {
		_, err := s.GetAuthCode(ctx, hashOf(code))
		wantErr(t, "GetAuthCode of a refused code", err, store.ErrNotFound)
	}
}

func testAuthCodeReuse(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	want := fullAuthCode("c", "u", "code")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, want))

	// Nothing to revoke before the code is redeemed.
	wantErr(t, "RevokeAuthCodeIssue before RedeemAuthCode", s.RevokeAuthCodeIssue(ctx, want.Hash), store.ErrInvalid)

	first := base.Add(time.Second)
	issue := jwtIssue("c", "u", "jti-1", "family-1", "rt-1")
	_, err := s.RedeemAuthCode(ctx, want.Hash, first, issue)
	must(t, "RedeemAuthCode", err)
	want = redeemed(want, first, issue)

	// A second redemption: the record with what the first issued, and
	// ErrReused; nothing of the second is stored.
	second := jwtIssue("c", "u", "jti-2", "family-2", "rt-2")
	got, err := s.RedeemAuthCode(ctx, want.Hash, base.Add(2*time.Second), second)
	wantErr(t, "RedeemAuthCode again", err, store.ErrReused)
	wantAuthCode(t, want, got)
	_, err = s.GetRefreshToken(ctx, second.Refresh.Hash)
	wantErr(t, "GetRefreshToken of a reuse's refresh token", err, store.ErrNotFound)

	// Revoking what the code issued: the family and the access token.
	wantJTIRevoked(t, s, false, "jti-1")
	must(t, "RevokeAuthCodeIssue", s.RevokeAuthCodeIssue(ctx, want.Hash))
	wantRevoked(t, s, true, issue.Refresh.Hash)
	wantJTIRevoked(t, s, true, "jti-1")
	wantJTIRevoked(t, s, false, "jti-2")
	must(t, "RevokeAuthCodeIssue again", s.RevokeAuthCodeIssue(ctx, want.Hash))

	// An opaque access token without a refresh token.
	other := fullAuthCode("c", "u", "code-opaque")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, other))
	oi := opaqueIssue("c", "u", "at-opaque", "", "")
	_, err = s.RedeemAuthCode(ctx, other.Hash, first, oi)
	must(t, "RedeemAuthCode", err)
	must(t, "RevokeAuthCodeIssue", s.RevokeAuthCodeIssue(ctx, other.Hash))
	rec, err := s.GetToken(ctx, oi.Access.Opaque.Hash)
	must(t, "GetToken", err)
	if !rec.Revoked {
		t.Error("RevokeAuthCodeIssue left the opaque access token active")
	}
}

// wantJTIRevoked checks whether each jti is on the revocation list.
func wantJTIRevoked(t *testing.T, s store.Store, want bool, jtis ...string) {
	t.Helper()
	for _, j := range jtis {
		got, err := s.IsJTIRevoked(t.Context(), j)
		must(t, "IsJTIRevoked", err)
		if got != want {
			t.Errorf("jti %q revoked = %v, want %v", j, got, want)
		}
	}
}

func testAuthCodeNotFound(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	code := fullAuthCode("c", "u", "present")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code))
	issue := jwtIssue("c", "u", "j", "f", "rt")
	for _, h := range [][]byte{hashOf("absent"), nil, {}, code.Hash[:31], append(slices.Clone(code.Hash), 0)} {
		_, err := s.GetAuthCode(ctx, h)
		wantErr(t, fmt.Sprintf("GetAuthCode(%x)", h), err, store.ErrNotFound)
		_, err = s.RedeemAuthCode(ctx, h, base, issue)
		wantErr(t, fmt.Sprintf("RedeemAuthCode(%x)", h), err, store.ErrNotFound)
		wantErr(t, fmt.Sprintf("RevokeAuthCodeIssue(%x)", h), s.RevokeAuthCodeIssue(ctx, h), store.ErrNotFound)
	}
	// An invalid time or issue redeems nothing.
	_, err := s.RedeemAuthCode(ctx, code.Hash, time.Time{}, issue)
	wantErr(t, "RedeemAuthCode at the zero time", err, store.ErrInvalid)
	refused := map[string]store.Issue{
		"no access token":           {Refresh: issue.Refresh},
		"two access tokens":         opaqueIssue("c", "u", "at", "f", "rt"),
		"no access expiry":          {Access: store.IssuedAccess{JTI: "j"}},
		"jti not UTF-8":             jwtIssue("c", "u", "\xff", "", ""),
		"refresh of another user":   jwtIssue("c", "u2", "j", "f", "rt"),
		"refresh of another client": jwtIssue("c2", "u", "j", "f", "rt"),
		"opaque of another user":    opaqueIssue("c", "u2", "at", "", ""),
		"invalid refresh token": func() store.Issue {
			i := jwtIssue("c", "u", "j", "f", "rt")
			i.Refresh.ExpiresAt = time.Time{}
			return i
		}(),
	}
	refused["two access tokens"] = func() store.Issue { i := refused["two access tokens"]; i.Access.JTI = "j"; return i }()
	for name, i := range refused {
		_, err := s.RedeemAuthCode(ctx, code.Hash, base, i)
		wantErr(t, "RedeemAuthCode with "+name, err, store.ErrInvalid)
	}
	// A family that exists already is refused too.
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, fullRefresh("c", "u", "taken", "rt-taken")))
	_, err = s.RedeemAuthCode(ctx, code.Hash, base, jwtIssue("c", "u", "j", "taken", "rt-new"))
	wantErr(t, "RedeemAuthCode starting an existing family", err, store.ErrAlreadyExists)
	got, err := s.GetAuthCode(ctx, code.Hash)
	must(t, "GetAuthCode", err)
	wantAuthCode(t, code, got)
	_, err = s.RedeemAuthCode(ctx, code.Hash, base, issue)
	must(t, "RedeemAuthCode after refused attempts", err)
}

func testAuthCodeInvalid(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	cases := map[string]func(*store.AuthCode){
		"short hash":              func(c *store.AuthCode) { c.Hash = c.Hash[:16] },
		"empty client":            func(c *store.AuthCode) { c.ClientID = "" },
		"empty user":              func(c *store.AuthCode) { c.UserID = "" },
		"session ID not UTF-8":    func(c *store.AuthCode) { c.SessionID = "\xff" },
		"redirect URI with NUL":   func(c *store.AuthCode) { c.RedirectURI = "https://a/\x00" },
		"scope not UTF-8":         func(c *store.AuthCode) { c.Scopes = []string{"openid", "\xfe"} },
		"audience with NUL":       func(c *store.AuthCode) { c.Audience = []string{"\x00"} },
		"nonce not UTF-8":         func(c *store.AuthCode) { c.Nonce = "\xff" },
		"challenge with NUL":      func(c *store.AuthCode) { c.CodeChallenge = "\x00" },
		"AMR not UTF-8":           func(c *store.AuthCode) { c.AMR = []string{"\xff"} },
		"claims not JSON":         func(c *store.AuthCode) { c.Claims = json.RawMessage(`{"id_token":`) },
		"no expiry":               func(c *store.AuthCode) { c.ExpiresAt = time.Time{} },
		"creation after 9999":     func(c *store.AuthCode) { c.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"used already":            func(c *store.AuthCode) { c.UsedAt = base },
		"issued family already":   func(c *store.AuthCode) { c.IssuedFamilyID = "f" },
		"issued access JTI known": func(c *store.AuthCode) { c.IssuedAccessJTI = "j" },
		"issued access hash":      func(c *store.AuthCode) { c.IssuedAccessHash = hashOf("x") },
		"issued access expiry":    func(c *store.AuthCode) { c.IssuedAccessExpiresAt = base },
	}
	for name, mutate := range cases {
		c := fullAuthCode("c", "u", "code")
		mutate(&c)
		wantErr(t, "CreateAuthCode with "+name, s.CreateAuthCode(ctx, c), store.ErrInvalid)
	}
	_, err := s.GetAuthCode(ctx, hashOf("code"))
	wantErr(t, "GetAuthCode after invalid creates", err, store.ErrNotFound)
}

// testAuthCodeRedeemConcurrent races many redemptions of one code: exactly
// one wins, and every loser sees what the winner issued (committed with the
// redemption), so revoking it after any loss revokes the winner's tokens.
func testAuthCodeRedeemConcurrent(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	const workers = 32
	for round := range 3 {
		code := fullAuthCode("c", "u", "race-"+strconv.Itoa(round))
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code))
		type result struct {
			issue store.Issue
			code  store.AuthCode
			err   error
		}
		var wg sync.WaitGroup
		results := make(chan result, workers)
		start := make(chan struct{})
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("%d-%d", round, w)
				issue := jwtIssue("c", "u", "jti-"+name, "fam-"+name, "rt-"+name)
				<-start
				c, err := s.RedeemAuthCode(ctx, code.Hash, base.Add(time.Duration(w+1)*time.Second), issue)
				results <- result{issue, c, err}
			}()
		}
		close(start)
		wg.Wait()
		close(results)
		var winner *result
		var reused []store.AuthCode
		for r := range results {
			switch {
			case r.err == nil:
				if winner != nil {
					t.Errorf("round %d: a second RedeemAuthCode succeeded", round)
				}
				winner = &r
			case errors.Is(r.err, store.ErrReused):
				reused = append(reused, r.code)
			default:
				t.Errorf("concurrent RedeemAuthCode: %v", r.err)
			}
		}
		if winner == nil || len(reused) != workers-1 {
			t.Fatalf("round %d: %d of %d concurrent RedeemAuthCode calls got ErrReused, want exactly one success", round, len(reused), workers)
		}
		for _, c := range reused {
			wantAuthCode(t, winner.code, c)
		}
		must(t, "RevokeAuthCodeIssue", s.RevokeAuthCodeIssue(ctx, code.Hash))
		wantRevoked(t, s, true, winner.issue.Refresh.Hash)
		wantJTIRevoked(t, s, true, winner.issue.Access.JTI)
	}
}

func testRefreshRoundTrip(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	want := fullRefresh("c", "u", "fam", "rt-1")
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, want))
	got, err := s.GetRefreshToken(ctx, want.Hash)
	must(t, "GetRefreshToken", err)
	wantRefresh(t, want, got)
	got, user, err := s.GetRefreshTokenUser(ctx, want.Hash)
	must(t, "GetRefreshTokenUser", err)
	wantRefresh(t, want, got)
	wantUser(t, fullUser("u", "User"), user)
	_, _, err = s.GetRefreshTokenUser(ctx, hashOf("no-such-token"))
	wantErr(t, "GetRefreshTokenUser of an unknown token", err, store.ErrNotFound)
	_, _, err = s.GetRefreshTokenUser(ctx, []byte("short"))
	wantErr(t, "GetRefreshTokenUser of a malformed hash", err, store.ErrNotFound)

	minimal := store.RefreshToken{Hash: hashOf("rt-2"), FamilyID: "fam-2", ClientID: "c", UserID: "u",
		ExpiresAt: base, FamilyExpiresAt: base}
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, minimal))
	got, err = s.GetRefreshToken(ctx, minimal.Hash)
	must(t, "GetRefreshToken", err)
	wantRefresh(t, minimal, got)

	wantErr(t, "CreateRefreshToken duplicate", s.CreateRefreshToken(ctx, fullRefresh("c", "u", "fam-3", "rt-1")), store.ErrAlreadyExists)
	// The refused token did not start its family.
	wantErr(t, "RevokeRefreshFamily of the refused family", s.RevokeRefreshFamily(ctx, "fam-3"), store.ErrNotFound)
}

func testRefreshFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	mustCreateClient(t, s, fullClient("c2"))
	mustCreateUser(t, s, fullUser("u2", "User2"))
	first := fullRefresh("c", "u", "fam", "rt-1")
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, first))

	// A second token continues the family when it agrees with it.
	second := fullRefresh("c", "u", "fam", "rt-2")
	second.Scopes = []string{"openid"}
	second.SessionID = ""
	must(t, "CreateRefreshToken continuing the family", s.CreateRefreshToken(ctx, second))
	got, err := s.GetRefreshToken(ctx, second.Hash)
	must(t, "GetRefreshToken", err)
	wantRefresh(t, second, got)

	for name, mutate := range map[string]func(*store.RefreshToken){
		"another client":        func(r *store.RefreshToken) { r.ClientID = "c2" },
		"another user":          func(r *store.RefreshToken) { r.UserID = "u2" },
		"another family expiry": func(r *store.RefreshToken) { r.FamilyExpiresAt = r.FamilyExpiresAt.Add(time.Second) },
	} {
		r := fullRefresh("c", "u", "fam", "rt-bad")
		mutate(&r)
		wantErr(t, "CreateRefreshToken in the family with "+name, s.CreateRefreshToken(ctx, r), store.ErrInvalid)
		_, err := s.GetRefreshToken(ctx, r.Hash)
		wantErr(t, "GetRefreshToken of a refused token", err, store.ErrNotFound)
	}
	// The family expiry is compared at the stored precision.
	sameExpiry := fullRefresh("c", "u", "fam", "rt-3")
	sameExpiry.FamilyExpiresAt = sameExpiry.FamilyExpiresAt.Add(time.Nanosecond)
	must(t, "CreateRefreshToken with the family expiry differing below the precision", s.CreateRefreshToken(ctx, sameExpiry))

	wantErr(t, "CreateRefreshToken for an unknown client",
		s.CreateRefreshToken(ctx, fullRefresh("nobody", "u", "fam-x", "rt-x")), store.ErrNotFound)
	wantErr(t, "CreateRefreshToken for an unknown user",
		s.CreateRefreshToken(ctx, fullRefresh("c", "nobody", "fam-y", "rt-y")), store.ErrNotFound)

	// A revoked family takes no new tokens.
	must(t, "RevokeRefreshFamily", s.RevokeRefreshFamily(ctx, "fam"))
	err = s.CreateRefreshToken(ctx, fullRefresh("c", "u", "fam", "rt-4"))
	wantErr(t, "CreateRefreshToken in a revoked family", err, store.ErrNotFound)
	if !strings.Contains(err.Error(), "revoked") {
		t.Errorf("error does not say the family is revoked: %v", err)
	}
	wantRevoked(t, s, true, first.Hash, second.Hash, sameExpiry.Hash)
}

func testRefreshNotFound(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	r := fullRefresh("c", "u", "fam", "present")
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
	for _, h := range [][]byte{hashOf("absent"), nil, {}, r.Hash[:31], append(slices.Clone(r.Hash), 0)} {
		_, err := s.GetRefreshToken(ctx, h)
		wantErr(t, fmt.Sprintf("GetRefreshToken(%x)", h), err, store.ErrNotFound)
		old, err := s.RotateRefreshToken(ctx, h, base, rotation(fullRefresh("c", "u", "fam", "next")))
		wantErr(t, fmt.Sprintf("RotateRefreshToken(%x)", h), err, store.ErrNotFound)
		if old.Hash != nil {
			t.Errorf("RotateRefreshToken of an unknown token returned %+v", old)
		}
	}
	for _, id := range []string{"absent", "", "FAM", "bad\xff"} {
		wantErr(t, fmt.Sprintf("RevokeRefreshFamily(%q)", id), s.RevokeRefreshFamily(ctx, id), store.ErrNotFound)
	}
	_, err := s.GetRefreshToken(ctx, hashOf("next"))
	wantErr(t, "GetRefreshToken of a refused next token", err, store.ErrNotFound)
	wantRevoked(t, s, false, r.Hash)
}

func testRefreshRotate(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	t1 := fullRefresh("c", "u", "fam", "rt-1")
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, t1))
	other := fullRefresh("c", "u", "other-fam", "other")
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, other))

	chain := []store.RefreshToken{t1}
	for i := 2; i <= 4; i++ {
		now := base.Add(time.Duration(i) * time.Hour)
		prev := chain[len(chain)-1]
		next := prev
		next.Hash = hashOf("rt-" + strconv.Itoa(i))
		next.CreatedAt = now
		next.ExpiresAt = now.Add(24 * time.Hour)
		next.Scopes = prev.Scopes[:len(prev.Scopes)-1] // narrowing is the caller's business
		old, err := s.RotateRefreshToken(ctx, prev.Hash, now, rotation(next))
		must(t, "RotateRefreshToken", err)
		prev.RotatedAt = now
		wantRefresh(t, prev, old)
		got, err := s.GetRefreshToken(ctx, prev.Hash)
		must(t, "GetRefreshToken of the rotated token", err)
		wantRefresh(t, prev, got)
		got, err = s.GetRefreshToken(ctx, next.Hash)
		must(t, "GetRefreshToken of the new token", err)
		wantRefresh(t, next, got)
		chain[len(chain)-1] = prev
		chain = append(chain, next)
	}
	for _, r := range chain {
		wantRevoked(t, s, false, r.Hash)
	}
	got, err := s.GetRefreshToken(ctx, other.Hash)
	must(t, "GetRefreshToken of another family", err)
	wantRefresh(t, other, got)
}

// testRefreshKeepPresented: a refresh without rotation (Issue.
// KeepPresented, the FAPI 2.0 profile's) leaves the presented token
// usable, again and again, with its expiry moved; the rows stored with
// each refresh carry the access tokens, which revoking the family revokes.
func testRefreshKeepPresented(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	rt := fullRefresh("c", "u", "fam", "kept")
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, rt))
	var jtis []string
	for i := 1; i <= 2; i++ {
		now := base.Add(time.Duration(i) * time.Hour)
		carrier := rt
		carrier.Hash = hashOf("carrier-" + strconv.Itoa(i))
		carrier.CreatedAt = now
		carrier.ExpiresAt = now.Add(24 * time.Hour)
		issue := rotation(carrier)
		issue.KeepPresented = true
		old, err := s.RotateRefreshToken(ctx, rt.Hash, now, issue)
		must(t, "RotateRefreshToken (KeepPresented)", err)
		want := rt
		want.ExpiresAt = carrier.ExpiresAt
		wantRefresh(t, want, old)
		got, err := s.GetRefreshToken(ctx, rt.Hash)
		must(t, "GetRefreshToken of the kept token", err)
		wantRefresh(t, want, got)
		jtis = append(jtis, issue.Access.JTI)
	}
	wantJTIRevoked(t, s, false, jtis...)
	must(t, "RevokeRefreshFamily", s.RevokeRefreshFamily(ctx, "fam"))
	wantJTIRevoked(t, s, true, jtis...)
	wantRevoked(t, s, true, rt.Hash)
}

func testRefreshReuse(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	t1 := fullRefresh("c", "u", "fam", "rt-1")
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, t1))
	other := fullRefresh("c", "u", "other-fam", "other")
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, other))
	t2 := fullRefresh("c", "u", "fam", "rt-2")
	_, err := s.RotateRefreshToken(ctx, t1.Hash, base.Add(time.Minute), rotation(t2))
	must(t, "RotateRefreshToken", err)

	// The thief replays t1: the whole family is revoked.
	t3 := fullRefresh("c", "u", "fam", "rt-3")
	old, err := s.RotateRefreshToken(ctx, t1.Hash, base.Add(2*time.Minute), rotation(t3))
	wantErr(t, "RotateRefreshToken of a rotated token", err, store.ErrReused)
	t1.RotatedAt, t1.Revoked = base.Add(time.Minute), true
	wantRefresh(t, t1, old)
	_, err = s.GetRefreshToken(ctx, t3.Hash)
	wantErr(t, "GetRefreshToken of the next token of a reuse", err, store.ErrNotFound)
	wantRevoked(t, s, true, t1.Hash, t2.Hash)
	wantRevoked(t, s, false, other.Hash)

	// The legitimate client's t2 is now refused as revoked; t1 is still a
	// reuse.
	old, err = s.RotateRefreshToken(ctx, t2.Hash, base.Add(3*time.Minute), rotation(t3))
	wantErr(t, "RotateRefreshToken in a revoked family", err, store.ErrNotFound)
	if !strings.Contains(err.Error(), "revoked") || !old.Revoked {
		t.Errorf("rotating a revoked token: %v, old %+v; want the message and record to say revoked", err, old)
	}
	old, err = s.RotateRefreshToken(ctx, t1.Hash, base.Add(3*time.Minute), rotation(t3))
	wantErr(t, "RotateRefreshToken of a rotated token in a revoked family", err, store.ErrReused)
	wantRefresh(t, t1, old)
	wantErr(t, "CreateRefreshToken in a revoked family", s.CreateRefreshToken(ctx, t3), store.ErrNotFound)
	got, err := s.GetRefreshToken(ctx, t2.Hash)
	must(t, "GetRefreshToken", err)
	if !got.RotatedAt.IsZero() {
		t.Errorf("a refused rotation rotated t2: %+v", got)
	}
}

func testRefreshExpired(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	r := fullRefresh("c", "u", "fam", "rt")
	r.ExpiresAt = base.Add(time.Hour)
	r.FamilyExpiresAt = base.Add(2 * time.Hour)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
	f := fullRefresh("c", "u", "fam-2", "rt-f")
	f.ExpiresAt = base.Add(3 * time.Hour) // outlives its family
	f.FamilyExpiresAt = base.Add(time.Hour)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, f))

	for _, c := range []struct {
		name string
		tok  store.RefreshToken
		now  time.Time
	}{
		{"at the token's expiry", r, r.ExpiresAt},
		{"after the token's expiry", r, r.ExpiresAt.Add(time.Minute)},
		{"at the family's expiry", f, f.FamilyExpiresAt},
		{"after the family's expiry", f, f.FamilyExpiresAt.Add(time.Minute)},
	} {
		next := c.tok
		next.Hash = hashOf("next " + c.name)
		old, err := s.RotateRefreshToken(ctx, c.tok.Hash, c.now, rotation(next))
		wantErr(t, "RotateRefreshToken "+c.name, err, store.ErrExpired)
		wantRefresh(t, c.tok, old)
		_, err = s.GetRefreshToken(ctx, next.Hash)
		wantErr(t, "GetRefreshToken of the next token "+c.name, err, store.ErrNotFound)
		got, err := s.GetRefreshToken(ctx, c.tok.Hash)
		must(t, "GetRefreshToken", err)
		wantRefresh(t, c.tok, got)
	}
	// Just before the expiry the token rotates.
	for _, tok := range []store.RefreshToken{r, f} {
		next := tok
		next.Hash = hashOf("next in time for " + tok.FamilyID)
		_, err := s.RotateRefreshToken(ctx, tok.Hash, base.Add(time.Hour-time.Microsecond), rotation(next))
		must(t, "RotateRefreshToken just before the expiry", err)
	}
}

func testRefreshRotateRefused(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	mustCreateClient(t, s, fullClient("c2"))
	mustCreateUser(t, s, fullUser("u2", "User2"))
	r := fullRefresh("c", "u", "fam", "rt")
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, fullRefresh("c", "u", "fam-2", "elsewhere")))
	now := base.Add(time.Minute)
	good := fullRefresh("c", "u", "fam", "next")

	for name, c := range map[string]struct {
		mutate func(*store.RefreshToken)
		target error
	}{
		"another family":               {func(n *store.RefreshToken) { n.FamilyID = "fam-2" }, store.ErrInvalid},
		"a new family":                 {func(n *store.RefreshToken) { n.FamilyID = "fam-new" }, store.ErrInvalid},
		"another client":               {func(n *store.RefreshToken) { n.ClientID = "c2" }, store.ErrInvalid},
		"another user":                 {func(n *store.RefreshToken) { n.UserID = "u2" }, store.ErrInvalid},
		"a later family expiry":        {func(n *store.RefreshToken) { n.FamilyExpiresAt = n.FamilyExpiresAt.Add(time.Hour) }, store.ErrInvalid},
		"another DPoP key":             {func(n *store.RefreshToken) { n.JKT = "other" }, store.ErrInvalid},
		"no DPoP key":                  {func(n *store.RefreshToken) { n.JKT = "" }, store.ErrInvalid},
		"another delegation":           {func(n *store.RefreshToken) { n.DelegationID = "other" }, store.ErrInvalid},
		"other extra claims":           {func(n *store.RefreshToken) { n.Extra = []byte(`{"act":{"sub":"x"}}`) }, store.ErrInvalid},
		"no extra claims":              {func(n *store.RefreshToken) { n.Extra = nil }, store.ErrInvalid},
		"a short hash":                 {func(n *store.RefreshToken) { n.Hash = n.Hash[:8] }, store.ErrInvalid},
		"a rotation time":              {func(n *store.RefreshToken) { n.RotatedAt = now }, store.ErrInvalid},
		"the revoked flag":             {func(n *store.RefreshToken) { n.Revoked = true }, store.ErrInvalid},
		"no expiry":                    {func(n *store.RefreshToken) { n.ExpiresAt = time.Time{} }, store.ErrInvalid},
		"the hash of another token":    {func(n *store.RefreshToken) { n.Hash = hashOf("elsewhere") }, store.ErrAlreadyExists},
		"the hash of the token itself": {func(n *store.RefreshToken) { n.Hash = hashOf("rt") }, store.ErrAlreadyExists},
	} {
		next := good
		c.mutate(&next)
		_, err := s.RotateRefreshToken(ctx, r.Hash, now, rotation(next))
		wantErr(t, "RotateRefreshToken to a token with "+name, err, c.target)
		_, err = s.GetRefreshToken(ctx, good.Hash)
		wantErr(t, "GetRefreshToken of the refused next token", err, store.ErrNotFound)
	}
	_, err := s.RotateRefreshToken(ctx, r.Hash, time.Time{}, rotation(good))
	wantErr(t, "RotateRefreshToken at the zero time", err, store.ErrInvalid)
	wantErr(t, "RevokeRefreshFamily of the would-be new family", s.RevokeRefreshFamily(ctx, "fam-new"), store.ErrNotFound)

	// Nothing was written: the token still rotates, once.
	got, err := s.GetRefreshToken(ctx, r.Hash)
	must(t, "GetRefreshToken", err)
	wantRefresh(t, r, got)
	_, err = s.RotateRefreshToken(ctx, r.Hash, now, rotation(good))
	must(t, "RotateRefreshToken after refusals", err)
}

func testRefreshRotateConcurrent(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	const workers = 16
	for round := range 3 {
		fam := "race-" + strconv.Itoa(round)
		first := fullRefresh("c", "u", fam, fam+"/first")
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, first))
		type result struct {
			next store.RefreshToken
			err  error
		}
		var wg sync.WaitGroup
		results := make(chan result, workers)
		start := make(chan struct{})
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := fullRefresh("c", "u", fam, fam+"/next-"+strconv.Itoa(w))
				<-start
				_, err := s.RotateRefreshToken(ctx, first.Hash, base.Add(time.Minute), rotation(next))
				results <- result{next, err}
			}()
		}
		close(start)
		wg.Wait()
		close(results)
		var won []store.RefreshToken
		var lost []store.RefreshToken
		for r := range results {
			switch {
			case r.err == nil:
				won = append(won, r.next)
			case errors.Is(r.err, store.ErrReused):
				lost = append(lost, r.next)
			default:
				t.Errorf("concurrent RotateRefreshToken: %v", r.err)
			}
		}
		if len(won) != 1 || len(lost) != workers-1 {
			t.Fatalf("round %d: %d of %d concurrent rotations succeeded and %d got ErrReused; want exactly one success", round, len(won), workers, len(lost))
		}
		// The losers revoked the family, the winner's new token included.
		wantRevoked(t, s, true, first.Hash, won[0].Hash)
		for _, n := range lost {
			_, err := s.GetRefreshToken(ctx, n.Hash)
			wantErr(t, "GetRefreshToken of a losing rotation's token", err, store.ErrNotFound)
		}
	}
}

func testRefreshRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	mustCreateClient(t, s, fullClient("c2"))
	mustCreateUser(t, s, fullUser("u2", "User2"))
	tok := func(client, user, n string) store.RefreshToken {
		return fullRefresh(client, user, "fam "+client+"/"+user+"/"+n, "rt "+client+"/"+user+"/"+n)
	}
	all := []store.RefreshToken{
		tok("c", "u", "1"), tok("c", "u", "2"), tok("c2", "u", "1"),
		tok("c", "u2", "1"), tok("c2", "u2", "1"),
	}
	for _, r := range all {
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
	}
	want := func(revoked ...bool) {
		t.Helper()
		for i, r := range all {
			wantRevoked(t, s, revoked[i], r.Hash)
		}
	}
	must(t, "RevokeRefreshFamily", s.RevokeRefreshFamily(ctx, all[0].FamilyID))
	want(true, false, false, false, false)
	must(t, "RevokeRefreshFamily again", s.RevokeRefreshFamily(ctx, all[0].FamilyID))

	must(t, "RevokeClientUserRefreshTokens", s.RevokeClientUserRefreshTokens(ctx, "c", "u2"))
	want(true, false, false, true, false)
	must(t, "RevokeUserRefreshTokens", s.RevokeUserRefreshTokens(ctx, "u"))
	want(true, true, true, true, false)
	for _, c := range [][2]string{{"c", "nobody"}, {"nobody", "u"}, {"", "u"}, {"c", "\xff"}} {
		must(t, "RevokeClientUserRefreshTokens with no families", s.RevokeClientUserRefreshTokens(ctx, c[0], c[1]))
	}
	for _, u := range []string{"nobody", "", "\xff"} {
		must(t, "RevokeUserRefreshTokens with no families", s.RevokeUserRefreshTokens(ctx, u))
	}
	want(true, true, true, true, false)
	must(t, "RevokeUserRefreshTokens", s.RevokeUserRefreshTokens(ctx, "u2"))
	want(true, true, true, true, true)
}

// testRefreshRevokeAccess checks that a family knows the access tokens
// issued under it (by the redemption that started it and by each rotation)
// and that every way of revoking the family revokes them (RFC 7009 §2.1).
func testRefreshRevokeAccess(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	// start redeems a code into family fam with a JWT access token, then
	// rotates once with an opaque one.
	start := func(fam string) (jti string, opaque []byte, current store.RefreshToken) {
		code := fullAuthCode("c", "u", "code-"+fam)
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code))
		issue := jwtIssue("c", "u", "jti-"+fam, fam, "rt1-"+fam)
		_, err := s.RedeemAuthCode(ctx, code.Hash, base, issue)
		must(t, "RedeemAuthCode", err)
		next := fullRefresh("c", "u", fam, "rt2-"+fam)
		rot := opaqueIssue("c", "u", "at-"+fam, fam, "")
		rot.Refresh = &next
		_, err = s.RotateRefreshToken(ctx, issue.Refresh.Hash, base.Add(time.Second), rot)
		must(t, "RotateRefreshToken", err)
		return issue.Access.JTI, rot.Access.Opaque.Hash, next
	}
	wantOpaqueRevoked := func(h []byte, want bool) {
		t.Helper()
		rec, err := s.GetToken(ctx, h)
		must(t, "GetToken", err)
		if rec.Revoked != want {
			t.Errorf("opaque access token revoked = %v, want %v", rec.Revoked, want)
		}
	}
	revokers := map[string]func(fam string) error{
		"RevokeRefreshFamily":     func(fam string) error { return s.RevokeRefreshFamily(ctx, fam) },
		"RevokeUserRefreshTokens": func(string) error { return s.RevokeUserRefreshTokens(ctx, "u") },
		"RevokeClientUserRefreshTokens": func(string) error {
			return s.RevokeClientUserRefreshTokens(ctx, "c", "u")
		},
		"reuse": func(fam string) error {
			_, err := s.RotateRefreshToken(ctx, hashOf("rt1-"+fam), base.Add(2*time.Second),
				rotation(fullRefresh("c", "u", fam, "rt3-"+fam)))
			if !errors.Is(err, store.ErrReused) {
				return fmt.Errorf("reuse: %w, want ErrReused", err)
			}
			return nil
		},
	}
	for name, revoke := range revokers {
		fam := "fam-" + name
		jti, opaque, current := start(fam)
		other, otherOpaque, _ := start("other-" + name)
		wantJTIRevoked(t, s, false, jti)
		wantOpaqueRevoked(opaque, false)
		must(t, name, revoke(fam))
		wantJTIRevoked(t, s, true, jti)
		wantOpaqueRevoked(opaque, true)
		wantRevoked(t, s, true, current.Hash)
		if name == "RevokeRefreshFamily" || name == "reuse" {
			wantJTIRevoked(t, s, false, other)
			wantOpaqueRevoked(otherOpaque, false)
		}
		must(t, "RevokeUserRefreshTokens", s.RevokeUserRefreshTokens(ctx, "u"))
	}
}

func testRefreshInvalid(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	cases := map[string]func(*store.RefreshToken){
		"no hash":              func(r *store.RefreshToken) { r.Hash = nil },
		"long hash":            func(r *store.RefreshToken) { r.Hash = append(r.Hash, 0) },
		"empty family":         func(r *store.RefreshToken) { r.FamilyID = "" },
		"family not UTF-8":     func(r *store.RefreshToken) { r.FamilyID = "\xff" },
		"empty client":         func(r *store.RefreshToken) { r.ClientID = "" },
		"empty user":           func(r *store.RefreshToken) { r.UserID = "" },
		"session ID with NUL":  func(r *store.RefreshToken) { r.SessionID = "\x00" },
		"scope with NUL":       func(r *store.RefreshToken) { r.Scopes = []string{"a\x00"} },
		"audience not UTF-8":   func(r *store.RefreshToken) { r.Audience = []string{"\xfe"} },
		"AMR not UTF-8":        func(r *store.RefreshToken) { r.AMR = []string{"\xfe"} },
		"ACR with NUL":         func(r *store.RefreshToken) { r.ACR = "\x00" },
		"no expiry":            func(r *store.RefreshToken) { r.ExpiresAt = time.Time{} },
		"no family expiry":     func(r *store.RefreshToken) { r.FamilyExpiresAt = time.Time{} },
		"auth time after 9999": func(r *store.RefreshToken) { r.AuthTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"rotated already":      func(r *store.RefreshToken) { r.RotatedAt = base },
		"revoked already":      func(r *store.RefreshToken) { r.Revoked = true },
		"JKT not UTF-8":        func(r *store.RefreshToken) { r.JKT = "\xff" },
		"long JKT":             func(r *store.RefreshToken) { r.JKT = strings.Repeat("j", store.MaxIDLength+1) },
		"delegation with NUL":  func(r *store.RefreshToken) { r.DelegationID = "d\x00" },
		"extra not JSON":       func(r *store.RefreshToken) { r.Extra = []byte(`{"act":`) },
		"extra not an object":  func(r *store.RefreshToken) { r.Extra = []byte(`["act"]`) },
		"extra not UTF-8":      func(r *store.RefreshToken) { r.Extra = []byte("{\"a\":\"\xff\"}") },
		"extra too large": func(r *store.RefreshToken) {
			r.Extra = []byte(`{"a":"` + strings.Repeat("x", store.MaxExtraSize) + `"}`)
		},
	}
	for name, mutate := range cases {
		r := fullRefresh("c", "u", "fam", "rt")
		mutate(&r)
		wantErr(t, "CreateRefreshToken with "+name, s.CreateRefreshToken(ctx, r), store.ErrInvalid)
	}
	_, err := s.GetRefreshToken(ctx, hashOf("rt"))
	wantErr(t, "GetRefreshToken after invalid creates", err, store.ErrNotFound)
	wantErr(t, "RevokeRefreshFamily after invalid creates", s.RevokeRefreshFamily(ctx, "fam"), store.ErrNotFound)
}

func testConsentPutGetDelete(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	_, err := s.GetConsent(ctx, "u", "c")
	wantErr(t, "GetConsent before PutConsent", err, store.ErrNotFound)

	want := store.Consent{UserID: "u", ClientID: "c", Scopes: []string{"openid", "profile"}, GrantedAt: base, UpdatedAt: base}
	must(t, "PutConsent", s.PutConsent(ctx, want))
	got, err := s.GetConsent(ctx, "u", "c")
	must(t, "GetConsent", err)
	wantConsent(t, want, got)

	// Replacing keeps the first grant time.
	replaced := store.Consent{UserID: "u", ClientID: "c", Scopes: []string{"email"},
		GrantedAt: base.Add(time.Hour), UpdatedAt: base.Add(time.Hour)}
	must(t, "PutConsent again", s.PutConsent(ctx, replaced))
	got, err = s.GetConsent(ctx, "u", "c")
	must(t, "GetConsent", err)
	want.Scopes, want.UpdatedAt = replaced.Scopes, replaced.UpdatedAt
	wantConsent(t, want, got)
	// Down to no scopes at all.
	must(t, "PutConsent with no scopes", s.PutConsent(ctx, store.Consent{UserID: "u", ClientID: "c"}))
	got, err = s.GetConsent(ctx, "u", "c")
	must(t, "GetConsent", err)
	if len(got.Scopes) != 0 || !sameTime(base, got.GrantedAt) {
		t.Errorf("consent with no scopes: %+v", got)
	}

	for _, c := range [][2]string{{"U", "c"}, {"u", "C"}, {"", "c"}, {"u", ""}, {"\xff", "c"}, {"u", "c\x00"}} {
		_, err := s.GetConsent(ctx, c[0], c[1])
		wantErr(t, fmt.Sprintf("GetConsent(%q, %q)", c[0], c[1]), err, store.ErrNotFound)
		wantErr(t, fmt.Sprintf("DeleteConsent(%q, %q)", c[0], c[1]), s.DeleteConsent(ctx, c[0], c[1]), store.ErrNotFound)
	}
	must(t, "DeleteConsent", s.DeleteConsent(ctx, "u", "c"))
	_, err = s.GetConsent(ctx, "u", "c")
	wantErr(t, "GetConsent after DeleteConsent", err, store.ErrNotFound)
	wantErr(t, "DeleteConsent again", s.DeleteConsent(ctx, "u", "c"), store.ErrNotFound)

	wantErr(t, "PutConsent for an unknown user",
		s.PutConsent(ctx, store.Consent{UserID: "nobody", ClientID: "c"}), store.ErrNotFound)
	wantErr(t, "PutConsent for an unknown client",
		s.PutConsent(ctx, store.Consent{UserID: "u", ClientID: "nobody"}), store.ErrNotFound)
}

// testConsentUpdateMerge: UpdateConsent is an update by function in one
// transaction, so concurrent merges of scopes lose none.
func testConsentUpdateMerge(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	merge := func(scope string) func(store.Consent, bool) (store.Consent, error) {
		return func(old store.Consent, found bool) (store.Consent, error) {
			if !found {
				old = store.Consent{UserID: "u", ClientID: "c", GrantedAt: base}
			}
			if !slices.Contains(old.Scopes, scope) {
				old.Scopes = append(old.Scopes, scope)
			}
			old.UpdatedAt = base.Add(time.Minute)
			return old, nil
		}
	}
	const workers = 16
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.UpdateConsent(ctx, "u", "c", merge(fmt.Sprintf("s%02d", w))); err != nil {
				t.Errorf("UpdateConsent: %v", err)
			}
		}()
	}
	wg.Wait()
	got, err := s.GetConsent(ctx, "u", "c")
	must(t, "GetConsent", err)
	if len(got.Scopes) != workers {
		t.Errorf("after %d concurrent merges the consent has %d scopes: %q", workers, len(got.Scopes), got.Scopes)
	}
	if !sameTime(base, got.GrantedAt) {
		t.Errorf("GrantedAt = %v, want the first consent's %v", got.GrantedAt, base)
	}
	boom := errors.New("boom")
	_, err = s.UpdateConsent(ctx, "u", "c", func(store.Consent, bool) (store.Consent, error) { return store.Consent{}, boom })
	wantErr(t, "UpdateConsent with a failing function", err, boom)
	_, err = s.UpdateConsent(ctx, "u", "c", func(old store.Consent, _ bool) (store.Consent, error) {
		old.ClientID = "c2"
		return old, nil
	})
	wantErr(t, "UpdateConsent changing the client", err, store.ErrInvalid)
	_, err = s.UpdateConsent(ctx, "nobody", "c", func(store.Consent, bool) (store.Consent, error) {
		return store.Consent{UserID: "nobody", ClientID: "c", Scopes: []string{"x"}, GrantedAt: base, UpdatedAt: base}, nil
	})
	wantErr(t, "UpdateConsent for an unknown user", err, store.ErrNotFound)
	again, err := s.GetConsent(ctx, "u", "c")
	must(t, "GetConsent", err)
	wantConsent(t, got, again)
}

func testConsentList(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	mustCreateUser(t, s, fullUser("u2", "User2"))
	clients := []string{"b", "a", "Z", "é", "_"}
	for i, c := range clients {
		mustCreateClient(t, s, fullClient(c))
		must(t, "PutConsent", s.PutConsent(ctx, store.Consent{UserID: "u", ClientID: c,
			Scopes: []string{"openid", c}, GrantedAt: base.Add(time.Duration(i) * time.Minute), UpdatedAt: base}))
	}
	must(t, "PutConsent", s.PutConsent(ctx, store.Consent{UserID: "u2", ClientID: "c", Scopes: []string{"openid"}}))
	list, err := s.ListUserConsents(ctx, "u")
	must(t, "ListUserConsents", err)
	want := slices.Clone(clients)
	slices.Sort(want)
	var got []string
	for _, c := range list {
		got = append(got, c.ClientID)
		if c.UserID != "u" {
			t.Errorf("ListUserConsents(u) lists a consent of %q", c.UserID)
		}
		i := slices.Index(clients, c.ClientID)
		wantConsent(t, store.Consent{UserID: "u", ClientID: c.ClientID, Scopes: []string{"openid", c.ClientID},
			GrantedAt: base.Add(time.Duration(i) * time.Minute), UpdatedAt: base}, c)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListUserConsents listed %q, want %q", got, want)
	}
	for _, u := range []string{"nobody", "", "\xff"} {
		list, err := s.ListUserConsents(ctx, u)
		if err != nil || len(list) != 0 {
			t.Errorf("ListUserConsents(%q) = %d consents, %v; want none", u, len(list), err)
		}
	}
}

func testConsentInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	for name, c := range map[string]store.Consent{
		"empty user":        {ClientID: "c"},
		"empty client":      {UserID: "u"},
		"user not UTF-8":    {UserID: "\xff", ClientID: "c"},
		"scope with NUL":    {UserID: "u", ClientID: "c", Scopes: []string{"\x00"}},
		"scope not UTF-8":   {UserID: "u", ClientID: "c", Scopes: []string{"ok", "\xff"}},
		"grant before 0001": {UserID: "u", ClientID: "c", GrantedAt: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		wantErr(t, "PutConsent with "+name, s.PutConsent(ctx, c), store.ErrInvalid)
	}
	_, err := s.GetConsent(ctx, "u", "c")
	wantErr(t, "GetConsent after invalid puts", err, store.ErrNotFound)
}

func testClientDeleteCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("gone"))
	mustCreateClient(t, s, fullClient("kept"))
	mustCreateUser(t, s, fullUser("u1", "One"))
	mustCreateUser(t, s, fullUser("u2", "Two"))
	for _, u := range []string{"u1", "u2"} {
		grantEverything(t, s, "gone", u, false)
		grantEverything(t, s, "kept", u, false)
	}
	must(t, "DeleteClient", s.DeleteClient(ctx, "gone"))
	for _, u := range []string{"u1", "u2"} {
		wantGrants(t, s, "gone", u, false, false)
		wantGrants(t, s, "kept", u, false, true)
		_, err := s.GetUser(ctx, u)
		must(t, "GetUser after deleting a client", err)
		list, err := s.ListUserConsents(ctx, u)
		must(t, "ListUserConsents", err)
		if len(list) != 1 || list[0].ClientID != "kept" {
			t.Errorf("consents of %s after deleting a client: %+v", u, list)
		}
	}
	// The client ID and the family IDs can be used again.
	mustCreateClient(t, s, fullClient("gone"))
	grantEverything(t, s, "gone", "u1", false)
}

func testDeleteExpiredSignIn(t *testing.T, s store.Store) {
	base := baseTime()
	ctx := t.Context()
	signInFixture(t, s)
	now := base.Add(time.Hour)

	session := func(name string, exp time.Time) store.Session {
		x := fullSession("u", "cookie "+name, "sid "+name)
		x.ExpiresAt = exp
		must(t, "CreateSession", s.CreateSession(ctx, x))
		return x
	}
	expiredSessions := []store.Session{session("old", now.Add(-time.Minute)), session("now", now)}
	liveSessions := []store.Session{session("live", now.Add(time.Microsecond))}

	code := func(name string, exp time.Time, consume bool) store.AuthCode {
		c := fullAuthCode("c", "u", name)
		c.ExpiresAt = exp
		must(t, "CreateAuthCode", s.CreateAuthCode(ctx, c))
		if consume {
			_, err := s.RedeemAuthCode(ctx, c.Hash, exp.Add(-time.Minute), jwtIssue("c", "u", "jti-"+name, "", ""))
			must(t, "RedeemAuthCode", err)
		}
		return c
	}
	expiredCodes := []store.AuthCode{code("used", now.Add(-store.UsedAuthCodeRetention), true), code("unused", now.Add(-time.Second), false)}
	liveCodes := []store.AuthCode{code("live", now.Add(time.Second), false)}
	// A redeemed code outlives its expiry by UsedAuthCodeRetention, so that
	// a replay still finds what it issued.
	keptCodes := []store.AuthCode{code("used recently", now, true), code("used a day ago", now.Add(time.Second-store.UsedAuthCodeRetention), true)}

	// Family f1 has passed its absolute expiry: both its tokens go, though
	// their own expiry is later.
	f1a := fullRefresh("c", "u", "f1", "f1a")
	f1a.FamilyExpiresAt, f1a.ExpiresAt = now, now.Add(time.Hour)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, f1a))
	f1b := f1a
	f1b.Hash = hashOf("f1b")
	_, err := s.RotateRefreshToken(ctx, f1a.Hash, base, rotation(f1b))
	must(t, "RotateRefreshToken", err)
	// Family f2 lives on: its rotated token whose own expiry passed goes,
	// its current token stays.
	f2a := fullRefresh("c", "u", "f2", "f2a")
	f2a.ExpiresAt = now.Add(-time.Minute)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, f2a))
	f2b := fullRefresh("c", "u", "f2", "f2b")
	_, err = s.RotateRefreshToken(ctx, f2a.Hash, base, rotation(f2b))
	must(t, "RotateRefreshToken", err)
	expiredTokens := [][]byte{f1a.Hash, f1b.Hash, f2a.Hash}

	n, err := s.DeleteExpired(ctx, now)
	must(t, "DeleteExpired", err)
	if want := int64(len(expiredSessions) + len(expiredCodes) + len(expiredTokens)); n != want {
		t.Errorf("DeleteExpired removed %d records, want %d", n, want)
	}
	for _, x := range expiredSessions {
		_, err := s.GetSession(ctx, x.Hash)
		wantErr(t, "GetSession of an expired session", err, store.ErrNotFound)
	}
	for _, x := range liveSessions {
		got, err := s.GetSession(ctx, x.Hash)
		must(t, "GetSession of a live session", err)
		wantSession(t, x, got)
	}
	for _, c := range expiredCodes {
		_, err := s.GetAuthCode(ctx, c.Hash)
		wantErr(t, "GetAuthCode of a purged code", err, store.ErrNotFound)
	}
	for _, c := range liveCodes {
		got, err := s.GetAuthCode(ctx, c.Hash)
		must(t, "GetAuthCode of a live code", err)
		wantAuthCode(t, c, got)
	}
	for _, c := range keptCodes {
		got, err := s.GetAuthCode(ctx, c.Hash)
		must(t, "GetAuthCode of a redeemed code within its retention", err)
		if got.UsedAt.IsZero() || got.IssuedAccessJTI == "" {
			t.Errorf("kept code %x lost its redemption: %+v", c.Hash, got)
		}
	}
	for _, h := range expiredTokens {
		_, err := s.GetRefreshToken(ctx, h)
		wantErr(t, "GetRefreshToken of a purged token", err, store.ErrNotFound)
	}
	got, err := s.GetRefreshToken(ctx, f2b.Hash)
	must(t, "GetRefreshToken of a live token", err)
	wantRefresh(t, f2b, got)
	// The expired family is gone with its tokens; the live one is not.
	wantErr(t, "RevokeRefreshFamily of a purged family", s.RevokeRefreshFamily(ctx, "f1"), store.ErrNotFound)
	must(t, "RevokeRefreshFamily of a live family", s.RevokeRefreshFamily(ctx, "f2"))

	n, err = s.DeleteExpired(ctx, now)
	must(t, "DeleteExpired again", err)
	if n != 0 {
		t.Errorf("DeleteExpired again removed %d records", n)
	}
	_, err = s.GetUser(ctx, "u")
	must(t, "GetUser after DeleteExpired", err)
}

// testDeleteExpiredPerAggregate: each aggregate's purge removes its own
// expired records and nothing of the others.
func testDeleteExpiredPerAggregate(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	base := baseTime()
	now := base.Add(48 * time.Hour)
	tok := fullToken("c", "tok")
	must(t, "CreateToken", s.CreateToken(ctx, tok))
	must(t, "UseJTI", s.UseJTI(ctx, "c", "assertion", base.Add(time.Minute)))
	must(t, "CreateSession", s.CreateSession(ctx, fullSession("u", "cookie", "sid")))
	code := fullAuthCode("c", "u", "code")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code))
	rt := fullRefresh("c", "u", "fam", "rt")
	rt.FamilyExpiresAt = base.Add(24 * time.Hour)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, rt))

	present := func() map[string]bool {
		_, errTok := s.GetToken(ctx, tok.Hash)
		errJTI := s.UseJTI(ctx, "c", "assertion", now.Add(time.Minute))
		_, errSess := s.GetSessionByID(ctx, "sid")
		_, errCode := s.GetAuthCode(ctx, code.Hash)
		_, errRT := s.GetRefreshToken(ctx, rt.Hash)
		return map[string]bool{
			"token": errTok == nil, "replay": errors.Is(errJTI, store.ErrAlreadyExists), "session": errSess == nil,
			"code": errCode == nil, "refresh": errRT == nil,
		}
	}
	steps := []struct {
		name  string
		purge func(context.Context, time.Time) (int64, error)
		want  int64
	}{
		{"token", s.DeleteExpiredTokens, 1},
		{"session", s.DeleteExpiredSessions, 1},
		{"code", s.DeleteExpiredAuthCodes, 1},
		{"refresh", s.DeleteExpiredRefreshTokens, 1},
		{"replay", s.DeleteExpiredReplays, 1},
	}
	gone := map[string]bool{}
	for _, st := range steps {
		n, err := st.purge(ctx, now)
		must(t, "purge "+st.name, err)
		if n != st.want {
			t.Errorf("purge %s removed %d, want %d", st.name, n, st.want)
		}
		gone[st.name] = true
		for what, there := range present() {
			if there == gone[what] {
				t.Errorf("after purging %s: %s present = %v", st.name, what, there)
			}
		}
	}
}
