package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/store"
)

// claimFlagSample is a valid value of the flag of the standard claim c,
// and that value set on want; ok is false for the claims the server keeps.
func claimFlagSample(t *testing.T, c store.UserClaim, want *store.User) (value string, ok bool) {
	t.Helper()
	v := ""
	switch c.Format {
	case store.FormatText:
		v = "text of " + c.Name
	case store.FormatEmail:
		v = c.Name + "@example.com"
	case store.FormatURL:
		v = "https://example.com/" + c.Name
	case store.FormatBirthdate:
		v = "1815-12-10"
	case store.FormatZoneinfo:
		v = "Europe/London"
	case store.FormatLocale:
		v = "en-GB"
	case store.FormatBool:
		*c.Bool(want) = true
		return "true", true
	case store.FormatAddress:
		*c.Address(want) = store.Address{Locality: "London", Country: "UK"}
		return `{"locality": "London", "country": "UK"}`, true
	case store.FormatTime:
		return "", false
	default:
		t.Fatalf("claim %s: no sample value of format %d: teach this test and writ user create the new format", c.Name, c.Format)
	}
	*c.Text(want) = v
	return v, true
}

// TestUserClaimFlags: every claim of store.UserClaims that can be set has
// a documented flag on "writ user create" and "writ user update", and its
// value goes through the admin API to the store and back into the output,
// so that a claim added to the table is handled by the CLI.
func TestUserClaimFlags(t *testing.T) {
	e := newUserEnv(t)
	root := newRootCmd(&streams{in: strings.NewReader(""), out: new(strings.Builder), err: new(strings.Builder)})
	var want store.User
	args := []string{"--username", "ada"}
	var settable []string
	for _, c := range store.UserClaims() {
		value, ok := claimFlagSample(t, c, &want)
		if !ok {
			continue
		}
		settable = append(settable, c.Name)
		flag := claimFlag(c.Name)
		if _, ok := claimFlagHelp[c.Name]; !ok {
			t.Errorf("%s: no help for --%s in claimFlagHelp", c.Name, flag)
		}
		for _, verb := range []string{"create", "update"} {
			cmd, _, err := root.Find([]string{"user", verb})
			if err != nil || cmd.Flags().Lookup(flag) == nil {
				t.Errorf("%s: writ user %s has no --%s", c.Name, verb, flag)
			}
		}
		args = append(args, "--"+flag+"="+value)
	}
	for name := range claimFlagHelp {
		if !slices.Contains(settable, name) {
			t.Errorf("claimFlagHelp documents %q, not a claim that can be set", name)
		}
	}
	// The documented names stay.
	for _, flag := range []string{"email", "email-verified", "name", "given-name", "phone", "phone-verified", "address", "locale"} {
		if !slices.ContainsFunc(settable, func(n string) bool { return claimFlag(n) == flag }) {
			t.Errorf("no --%s", flag)
		}
	}

	u := e.createUserJSON(t, "", args...)
	stored := e.user(t, u.ID)
	details := writ(t, "", "user", "get", u.ID).mustSucceed(t).stdout
	for _, c := range store.UserClaims() {
		switch {
		case c.Text != nil:
			if *c.Text(&want) == "" || *c.Text(&u.User) != *c.Text(&want) || *c.Text(&stored) != *c.Text(&want) {
				t.Errorf("%s: printed %q, stored %q, want %q", c.Name, *c.Text(&u.User), *c.Text(&stored), *c.Text(&want))
			}
			if !strings.Contains(details, *c.Text(&want)) {
				t.Errorf("%s: writ user get does not show it:\n%s", c.Name, details)
			}
		case c.Bool != nil:
			if !*c.Bool(&want) || !*c.Bool(&u.User) || !*c.Bool(&stored) {
				t.Errorf("%s: printed %v, stored %v", c.Name, *c.Bool(&u.User), *c.Bool(&stored))
			}
		case c.Address != nil:
			if *c.Address(&u.User) != *c.Address(&want) || *c.Address(&stored) != *c.Address(&want) {
				t.Errorf("%s: printed %+v, stored %+v", c.Name, *c.Address(&u.User), *c.Address(&stored))
			}
			if !strings.Contains(details, "London, UK") {
				t.Errorf("%s: writ user get does not show it:\n%s", c.Name, details)
			}
		}
	}
	if !strings.Contains(details, "(verified)") {
		t.Errorf("writ user get does not show a verified claim:\n%s", details)
	}

	// On update an empty value clears each text claim and the address, and
	// =false clears each boolean.
	update := []string{"user", "update", u.ID}
	for _, c := range store.UserClaims() {
		switch {
		case c.Bool != nil:
			update = append(update, "--"+claimFlag(c.Name)+"=false")
		case c.Text != nil, c.Address != nil:
			update = append(update, "--"+claimFlag(c.Name)+"=")
		}
	}
	writ(t, "", update...).mustSucceed(t)
	cleared := e.user(t, u.ID)
	for _, c := range store.UserClaims() {
		switch {
		case c.Text != nil && *c.Text(&cleared) != "",
			c.Bool != nil && *c.Bool(&cleared),
			c.Address != nil && *c.Address(&cleared) != (store.Address{}):
			t.Errorf("%s is not cleared by writ user update", c.Name)
		}
	}
}
