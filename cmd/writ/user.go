package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/writ-dev/writ/internal/admin"
	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/store"
)

// userAdminHelp is shared by the user commands' help.
const userAdminHelp = `The commands talk to the admin API of a running "writ serve" (its admin
listener, --admin-addr, by default 127.0.0.1:8081). Give its URL with
--endpoint or WRIT_ADMIN_ENDPOINT. The admin credential is read from
WRIT_ADMIN_TOKEN, the same variable the server reads:

  export WRIT_ADMIN_TOKEN=$(cat DATA_DIR/admin-token)

Output is a table by default; -o json prints the API response for scripts.
Passwords are never printed, and writ keeps only their argon2id hash.`

// passwordWarning is printed when a password is given on the command line.
const passwordWarning = "writ: warning: a password given with --password is visible to other local users (in the process list) and may stay in your shell history; prefer --password-stdin\n"

// newUserCmd builds "writ user", the group of user account commands.
func newUserCmd(s *streams) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create and manage the user accounts of a running writ server",
		Long: `Create, list, change, disable and delete the user accounts that sign in to a
running writ server, set their passwords, and revoke the consents they gave
to applications.

Disabling or deleting a user, and setting their password, ends all their
sign-in sessions and revokes all their refresh tokens at once.

` + userAdminHelp,
		Example: `  export WRIT_ADMIN_TOKEN=$(cat ./writ-data/admin-token)

  # Create a user, reading the password from standard input
  printf '%s' "$PASSWORD" | writ user create --username ada \
    --email ada@example.com --password-stdin

  # List the users, then show one
  writ user list
  writ user get --username ada`,
		GroupID: groupServer,
		Args:    noUnknownSubcommand,
		RunE:    showHelp,
		// Only groups subcommands: its usage line is "writ user [command]".
		DisableFlagsInUseLine: true,
	}
	af.register(cmd.PersistentFlags())
	cmd.AddCommand(
		newUserCreateCmd(s, af),
		newUserListCmd(s, af),
		newUserGetCmd(s, af),
		newUserUpdateCmd(s, af),
		newUserStateCmd(s, af, true),
		newUserStateCmd(s, af, false),
		newUserDeleteCmd(s, af),
		newUserSetPasswordCmd(s, af),
		newUserConsentsCmd(s, af),
		newUserRevokeConsentCmd(s, af),
	)
	return cmd
}

// userFlags are the account flags of create and update. The flags of the
// standard claims are registered from store.UserClaims (see claimFlag) and
// read back from the flag set.
type userFlags struct {
	username   string
	attributes []string
	disabled   bool
	update     bool
}

// claimFlag is the flag name of a standard claim: the claim name with
// dashes, phone_number shortened to phone (--phone, --phone-verified).
func claimFlag(claim string) string {
	return strings.Replace(strings.ReplaceAll(claim, "_", "-"), "phone-number", "phone", 1)
}

// claimFlagHelp is the help of the flag of each standard claim that can be
// set; a claim missing here still gets a flag, with a plain help.
var claimFlagHelp = map[string]string{
	"name":                  "full `NAME` (the name claim)",
	"family_name":           "family or last `NAME`",
	"given_name":            "given or first `NAME`",
	"middle_name":           "middle `NAME`",
	"nickname":              "casual `NAME`",
	"preferred_username":    "preferred_username claim `NAME` (need not be the username)",
	"profile":               "profile page `URL`",
	"picture":               "profile picture `URL`",
	"website":               "web page or blog `URL`",
	"gender":                "gender `VALUE`",
	"birthdate":             "birth `DATE`: YYYY-MM-DD, 0000-MM-DD or YYYY",
	"zoneinfo":              "time `ZONE`, e.g. Europe/Paris",
	"locale":                "BCP 47 language `TAG`, e.g. en-US",
	"email":                 "e-mail `ADDRESS` (the email claim)",
	"email_verified":        "mark the e-mail address as verified (email_verified)",
	"address":               "postal address as a JSON `OBJECT` with ",
	"phone_number":          "telephone `NUMBER`, preferably E.164 (+33 1 23 45 67 89)",
	"phone_number_verified": "mark the telephone number as verified (phone_number_verified)",
}

// addressComponentNames lists the members of the address object, as
// store.AddressComponents declares them.
func addressComponentNames() string {
	var names []string
	for _, c := range store.AddressComponents() {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}

// register adds the account flags to fs.
func (f *userFlags) register(fs *pflag.FlagSet, update bool) {
	f.update = update
	hint := clearHint(update)
	if update {
		fs.StringVar(&f.username, "username", "", "new sign-in `NAME` (unique regardless of case)")
	} else {
		fs.StringVar(&f.username, "username", "", "sign-in `NAME` (required; unique regardless of case, at most 128 characters)")
	}
	for _, c := range store.UserClaims() {
		help, ok := claimFlagHelp[c.Name]
		if !ok {
			help = "the " + c.Name + " claim"
		}
		if c.Address != nil {
			help += addressComponentNames()
		}
		switch {
		case c.Bool != nil:
			fs.Bool(claimFlag(c.Name), false, help)
		case c.Text != nil, c.Address != nil:
			fs.String(claimFlag(c.Name), "", help+hint)
		}
		// The server keeps the time claims (updated_at).
	}
	replaces := ""
	if update {
		replaces = "; the flags given replace all the attributes, and an empty value removes them all"
	}
	fs.StringArrayVar(&f.attributes, "attribute", nil, "custom attribute `KEY=JSON` (repeatable), e.g. roles='[\"admin\"]' or department=sales; a value that is not JSON is taken as a string"+replaces)
	fs.BoolVar(&f.disabled, "disabled", false, "the user cannot sign in (disabling ends their sessions and refresh tokens)")
}

// body turns the flags that were given into an admin API request body.
func (f *userFlags) body(cmd *cobra.Command) (map[string]any, error) {
	fs := cmd.Flags()
	b := map[string]any{}
	if fs.Changed("username") {
		if f.username == "" {
			return nil, usagef("--username must not be empty")
		}
		b["username"] = f.username
	}
	if fs.Changed("disabled") {
		b["disabled"] = f.disabled
	}
	for _, c := range store.UserClaims() {
		flag := claimFlag(c.Name)
		if !fs.Changed(flag) {
			continue
		}
		if c.Bool != nil {
			v, err := fs.GetBool(flag)
			if err != nil {
				return nil, err
			}
			b[c.Name] = v
			continue
		}
		v, err := fs.GetString(flag)
		switch {
		case err != nil:
			return nil, err
		case v == "" && f.update:
			b[c.Name] = nil
		case v == "":
		case c.Address != nil:
			var obj map[string]json.RawMessage
			if json.Unmarshal([]byte(v), &obj) != nil || obj == nil {
				return nil, usagef(`--%s: want a JSON object such as '{"street_address": "1 Main St", "locality": "Springfield", "country": "US"}'`, flag)
			}
			b[c.Name] = json.RawMessage(v)
		default:
			b[c.Name] = v
		}
	}
	if fs.Changed("attribute") {
		attrs, err := parseAttributes(f.attributes)
		if err != nil {
			return nil, err
		}
		b["attributes"] = attrs
	}
	return b, nil
}

// parseAttributes reads --attribute KEY=JSON values. A value that is not
// JSON is taken as a JSON string, so department=sales works unquoted; to
// store a string that looks like JSON (such as "42" or "true"), quote it:
// level='"42"'. Empty flag values are skipped, so that --attribute ""
// clears the attributes.
func parseAttributes(kvs []string) (map[string]json.RawMessage, error) {
	attrs := map[string]json.RawMessage{}
	for _, kv := range nonEmpty(kvs) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--attribute %q: want KEY=JSON, e.g. roles='[\"admin\"]' or department=sales", truncate(kv, 32))
		}
		if _, dup := attrs[k]; dup {
			return nil, usagef("--attribute %q is given twice", truncate(k, 32))
		}
		if json.Valid([]byte(v)) {
			attrs[k] = json.RawMessage(strings.TrimSpace(v))
		} else {
			attrs[k] = jsonString(v)
		}
	}
	return attrs, nil
}

// passwordFlags are the password flags of create and set-password.
type passwordFlags struct {
	password string
	stdin    bool
}

// register adds --password and --password-stdin to fs.
func (p *passwordFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&p.password, "password", "", "the `PASSWORD` (visible to other local users: prefer --password-stdin)")
	fs.BoolVar(&p.stdin, "password-stdin", false, "read the password from standard input (one trailing newline is removed)")
}

// read returns the password from the flags, or from standard input when
// --password-stdin is given, or (implicit) when neither flag is given and
// standard input is not a terminal. ok is false when there is none.
func (p *passwordFlags) read(ctx context.Context, cmd *cobra.Command, s *streams, implicit bool) (pw string, ok bool, err error) {
	given := cmd.Flags().Changed("password")
	switch {
	case given && p.stdin:
		return "", false, usagef("give --password or --password-stdin, not both")
	case given:
		if p.password == "" {
			return "", false, usagef("--password is empty")
		}
		fmt.Fprint(s.err, passwordWarning)
		return p.password, true, nil
	case !p.stdin && (!implicit || isTerminal(s.in)):
		return "", false, nil
	}
	if isTerminal(s.in) {
		return "", false, usagef("--password-stdin reads the password from a pipe or a file, but standard input is a terminal (where it would be echoed): printf '%%s' \"$PASSWORD\" | %s ...", cmd.CommandPath())
	}
	// Two bytes of slack for a trailing CRLF.
	data, tooLarge, err := readAllContext(ctx, s.in, authn.MaxPasswordLength+2)
	switch {
	case err != nil:
		return "", false, fmt.Errorf("cannot read the password from standard input: %w", err)
	case tooLarge:
		return "", false, usagef("the password on standard input is longer than %d bytes", authn.MaxPasswordLength)
	}
	pw = string(data)
	if t, cut := strings.CutSuffix(pw, "\n"); cut {
		pw = strings.TrimSuffix(t, "\r")
	}
	if pw == "" {
		return "", false, usagef("standard input holds no password")
	}
	return pw, true, nil
}

// userIDArg is the one USER_ID argument of a command.
func userIDArg(cmd *cobra.Command, args []string) (string, error) {
	switch {
	case len(args) == 0:
		return "", usagef("%s needs the user id as its argument (see 'writ user list' or 'writ user get --username NAME')", cmd.CommandPath())
	case len(args) > 1:
		return "", usagef("%s takes one argument, the user id; got %d", cmd.CommandPath(), len(args))
	case args[0] == "":
		return "", usagef("the user id argument is empty")
	}
	return args[0], nil
}

// userPath is the API path of one user.
func userPath(id string) string { return admin.PathUsers + "/" + url.PathEscape(id) }

// newUserCreateCmd builds "writ user create".
func newUserCreateCmd(s *streams, af *adminFlags) *cobra.Command {
	f := &userFlags{}
	p := &passwordFlags{}
	cmd := &cobra.Command{
		Use:   "create --username NAME [flags]",
		Short: "Create a user account",
		Long: `Create a user account. The password is optional (a user without one cannot
sign in with a password until it is set with "writ user set-password"); it
must be at least 8 characters long. Give it on standard input with
--password-stdin: --password puts it where other local users can see it.

The profile flags set the OpenID Connect standard claims; --attribute sets
custom attributes (roles, groups, department, ...) that can be released as
claims. The new user's id is printed: it is their stable identifier (the sub
claim of their tokens).

` + userAdminHelp,
		Example: `  # Password from standard input (no trailing newline needed; one is removed)
  printf '%s' "$PASSWORD" | writ user create --endpoint http://127.0.0.1:8081 \
    --username ada --email ada@example.com --email-verified --password-stdin

  # Password on the command line (visible to other local users)
  writ user create --username ada --password 'correct horse battery staple' \
    --email ada@example.com

  # Profile claims and custom attributes, printed as JSON
  writ user create --username grace --name "Grace Hopper" --given-name Grace \
    --family-name Hopper --locale en-US --attribute roles='["admin","auditor"]' \
    --attribute department=navy -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := af.check(); err != nil {
				return err
			}
			if !cmd.Flags().Changed("username") {
				return usagef("--username is required")
			}
			body, err := f.body(cmd)
			if err != nil {
				return err
			}
			c, err := af.client(s)
			if err != nil {
				return err
			}
			pw, ok, err := p.read(ctx, cmd, s, false)
			if err != nil {
				return err
			}
			if ok {
				body["password"] = pw
			}
			data, err := c.call(ctx, "POST", admin.PathUsers, body)
			if err != nil {
				return err
			}
			return printUser(s, af, data)
		},
	}
	f.register(cmd.Flags(), false)
	p.register(cmd.Flags())
	return cmd
}

// newUserUpdateCmd builds "writ user update".
func newUserUpdateCmd(s *streams, af *adminFlags) *cobra.Command {
	f := &userFlags{}
	var pwHint string
	var pwStdinHint bool
	cmd := &cobra.Command{
		Use:   "update USER_ID [flags]",
		Short: "Change a user's profile, username or attributes",
		Long: `Change a user account. Only the flags given change; each replaces the
stored value, and an empty value clears it (--email ""). --attribute
replaces all the custom attributes at once (--attribute "" removes them
all), like --address replaces the whole address.

--disabled (or --disabled=false) disables or enables the user; disabling
ends their sessions and revokes their refresh tokens. To change the
password use "writ user set-password".

` + userAdminHelp,
		Example: `  writ user update USER_ID --name "Ada King" --email ada@example.org --email-verified

  # Rename (usernames are unique regardless of case)
  writ user update USER_ID --username ada.king

  # Replace the custom attributes
  writ user update USER_ID --attribute roles='["viewer"]' --attribute department=research

  # Clear the phone number
  writ user update USER_ID --phone ""`,
		Args: maxArgs(1, "the user id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.check(); err != nil {
				return err
			}
			if cmd.Flags().Changed("password") || pwStdinHint {
				return usagef("update does not change passwords: use writ user set-password USER_ID --password-stdin")
			}
			id, err := userIDArg(cmd, args)
			if err != nil {
				return err
			}
			body, err := f.body(cmd)
			if err != nil {
				return err
			}
			if len(body) == 0 {
				return usagef("nothing to change: give at least one flag such as --email, --name or --attribute")
			}
			data, err := af.call(cmd.Context(), s, "PATCH", userPath(id), body)
			if err != nil {
				return err
			}
			return printUser(s, af, data)
		},
	}
	f.register(cmd.Flags(), true)
	// Accepted only to point at set-password.
	cmd.Flags().StringVar(&pwHint, "password", "", "use writ user set-password")
	cmd.Flags().BoolVar(&pwStdinHint, "password-stdin", false, "use writ user set-password")
	_ = cmd.Flags().MarkHidden("password")
	_ = cmd.Flags().MarkHidden("password-stdin")
	return cmd
}

// printUser prints one user: the API response (json) or its fields
// (table).
func printUser(s *streams, af *adminFlags, data []byte) error {
	_, err := printAnswer(s, af, data, "a user", func(u *admin.UserResponse) bool { return u.ID != "" }, writeUserDetails)
	return err
}

// writeUserDetails prints a user as a two-column table: the columns of
// "writ user list" and the password, then the other standard claims that
// are set (by store.UserClaims, labelled by their flag names, a *_verified
// claim beside the claim it verifies), the attributes and the times.
func writeUserDetails(s *streams, r admin.UserResponse) error {
	u := &r.User
	label := func(claim string) string {
		return strings.ToUpper(strings.ReplaceAll(strings.TrimSuffix(claimFlag(claim), "-at"), "-", " "))
	}
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	claims := store.UserClaims()
	verified := map[string]bool{}
	for _, c := range claims {
		if c.Bool != nil && c.Requires != "" && *c.Bool(u) {
			verified[c.Requires] = true
		}
	}
	text := func(c store.UserClaim) string {
		v := *c.Text(u)
		if v != "" && verified[c.Name] {
			v += " (verified)"
		}
		return v
	}
	password := "not set"
	if r.HasPassword {
		password = "set"
	}
	const head = "email" // a column of "writ user list", always shown
	email, _ := store.LookupUserClaim(head)
	rows := [][]string{
		{"ID", u.ID},
		{"USERNAME", u.Username},
		{label(head), text(email)},
		{"DISABLED", yesNo(u.Disabled)},
		{"PASSWORD", password},
	}
	var times [][]string
	for _, c := range claims {
		switch {
		case c.Name == head:
		case c.Text != nil:
			if v := text(c); v != "" {
				rows = append(rows, []string{label(c.Name), v})
			}
		case c.Bool != nil && c.Requires == "":
			rows = append(rows, []string{label(c.Name), yesNo(*c.Bool(u))})
		case c.Address != nil:
			a := *c.Address(u)
			addr := a.Formatted
			if addr == "" {
				addr = strings.Join(slices.DeleteFunc([]string{a.StreetAddress, a.Locality, a.Region, a.PostalCode, a.Country}, func(v string) bool { return v == "" }), ", ")
			}
			if addr != "" {
				rows = append(rows, []string{label(c.Name), strings.Join(strings.Fields(addr), " ")})
			}
		case c.Time != nil:
			times = append(times, []string{label(c.Name), c.Time(u).UTC().Format(time.RFC3339)})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(u.Attributes)) {
		rows = append(rows, []string{"ATTRIBUTE " + k, string(u.Attributes[k])})
	}
	rows = append(rows, []string{"CREATED", u.CreatedAt.UTC().Format(time.RFC3339)})
	rows = append(rows, times...)
	if !u.PasswordChangedAt.IsZero() {
		rows = append(rows, []string{"PASSWORD CHANGED", u.PasswordChangedAt.UTC().Format(time.RFC3339)})
	}
	return writeColumns(s, rows)
}

// userListPage is a page of GET /admin/users with the users kept raw, so
// that -o json passes on what the server sent.
type userListPage struct {
	Users []json.RawMessage `json:"users"`
	Next  string            `json:"next"`
}

// decodeUserPage decodes a userListPage; ok is false when data is not one.
func decodeUserPage(data []byte) (users []json.RawMessage, next string, ok bool) {
	var page userListPage
	err := json.Unmarshal(data, &page)
	return page.Users, page.Next, err == nil && page.Users != nil
}

// newUserListCmd builds "writ user list".
func newUserListCmd(s *streams, af *adminFlags) *cobra.Command {
	o := &listFlags{}
	cmd := &cobra.Command{
		Use:   "list [--limit N] [--all]",
		Short: "List the user accounts, ordered by id",
		Long: `List the user accounts, one page at a time (ordered by id).

Without --all one page of --limit users is printed; when more follow, a note
on standard error says how to get them (with -o json, the "next" member of
the response is the --after value of the next page). --all follows the
pages to the end.

` + userAdminHelp,
		Example: `  writ user list
  writ user list --all -o json | jq -r '.users[] | select(.disabled) | .username'
  writ user list --limit 20 --after LAST_USER_ID`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd.Context(), s, af, o, listing{
				path:   admin.PathUsers,
				noun:   "user",
				decode: decodeUserPage,
				document: func(items []json.RawMessage, next string) any {
					if items == nil {
						items = []json.RawMessage{} // "users": [] when there are none
					}
					return userListPage{Users: items, Next: next}
				},
				table: writeUserTable,
			})
		},
	}
	o.register(cmd.Flags(), "user", "USER_ID")
	return cmd
}

// writeUserTable prints users one per row: id, username, email, disabled.
func writeUserTable(s *streams, raw []json.RawMessage) error {
	rows := make([][]string, 0, len(raw))
	for _, r := range raw {
		var u admin.UserResponse
		if err := json.Unmarshal(r, &u); err != nil {
			return fmt.Errorf("the admin API answered with a malformed user")
		}
		disabled := "no"
		if u.Disabled {
			disabled = "yes"
		}
		rows = append(rows, []string{u.ID, u.Username, u.Email, disabled})
	}
	return writeTable(s, "No users.", []string{"ID", "USERNAME", "EMAIL", "DISABLED"}, rows)
}

// newUserGetCmd builds "writ user get".
func newUserGetCmd(s *streams, af *adminFlags) *cobra.Command {
	var username string
	cmd := &cobra.Command{
		Use:   "get USER_ID | --username NAME",
		Short: "Show one user account (never its password)",
		Long: `Show one user account, by id or by username (matched exactly, regardless of
case). The password is never shown: writ keeps only its argon2id hash.

` + userAdminHelp,
		Example: `  writ user get USER_ID
  writ user get --username ada
  writ user get --username ada -o json | jq -r .id`,
		Args: maxArgs(1, "the user id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := af.check(); err != nil {
				return err
			}
			byName := cmd.Flags().Changed("username")
			switch {
			case byName && len(args) > 0:
				return usagef("give the user id or --username, not both")
			case byName && username == "":
				return usagef("--username must not be empty")
			}
			var id string
			if !byName {
				var err error
				if id, err = userIDArg(cmd, args); err != nil {
					return err
				}
			}
			c, err := af.client(s)
			if err != nil {
				return err
			}
			if !byName {
				data, err := c.call(ctx, "GET", userPath(id), nil)
				if err != nil {
					return err
				}
				return printUser(s, af, data)
			}
			data, err := lookupUser(ctx, c, username)
			if err != nil {
				return err
			}
			return printUser(s, af, data)
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "look the user up by sign-in `NAME` (regardless of case)")
	return cmd
}

// newUserStateCmd builds "writ user disable" (disable) or "writ user
// enable".
func newUserStateCmd(s *streams, af *adminFlags, disable bool) *cobra.Command {
	verb, short, long, action := "enable", "Let a disabled user sign in again",
		`Enable a disabled user account: the user can sign in again. Their earlier
sessions and refresh tokens stay ended.`, "enable"
	if disable {
		verb, short, long, action = "disable", "Disable a user: end their sessions and refresh tokens",
			`Disable a user account at once: the user can no longer sign in or get
tokens, all their sign-in sessions end and all their refresh tokens are
revoked before the command returns. Access tokens already issued stay valid
until they expire (minutes). "writ user enable" undoes it; the account and
its data are kept.`, "disable"
	}
	ref := &userRef{}
	cmd := &cobra.Command{
		Use:     verb + " USER_ID | --username NAME",
		Short:   short,
		Long:    long + "\n\n" + userAdminHelp,
		Example: "  writ user " + verb + " USER_ID\n  writ user " + verb + " --username ada",
		Args:    ref.args(0, "the user id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, _, err := ref.resolve(cmd, s, af, args)
			if err != nil {
				return err
			}
			data, err := af.call(cmd.Context(), s, "POST", userPath(id)+"/"+action, nil)
			if err != nil {
				return err
			}
			if err := printUser(s, af, data); err != nil {
				return err
			}
			if disable {
				fmt.Fprintf(s.err, "writ: disabled user %s: their sessions ended and their refresh tokens were revoked\n", tableCell(id))
			}
			return nil
		},
	}
	ref.register(cmd.Flags())
	return cmd
}

// newUserDeleteCmd builds "writ user delete".
func newUserDeleteCmd(s *streams, af *adminFlags) *cobra.Command {
	ref := &userRef{}
	cmd := &cobra.Command{
		Use:   "delete USER_ID | --username NAME",
		Short: "Delete a user with their sessions, refresh tokens and consents",
		Long: `Delete a user account at once, without asking: their sessions end, and
their refresh tokens, authorization codes and consents are deleted with it.
Access tokens already issued stay valid until they expire (minutes). To
keep the account but stop its use, "writ user disable" it instead.

` + userAdminHelp,
		Example: `  writ user delete USER_ID
  writ user delete --username ada`,
		Args: ref.args(0, "the user id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, _, err := ref.resolve(cmd, s, af, args)
			if err != nil {
				return err
			}
			if _, err := af.call(cmd.Context(), s, "DELETE", userPath(id), nil); err != nil {
				return err
			}
			return printDone(s, af, map[string]any{"id": id, "deleted": true}, "deleted user %s", tableCell(id))
		},
	}
	ref.register(cmd.Flags())
	return cmd
}

// newUserSetPasswordCmd builds "writ user set-password".
func newUserSetPasswordCmd(s *streams, af *adminFlags) *cobra.Command {
	p := &passwordFlags{}
	ref := &userRef{}
	cmd := &cobra.Command{
		Use:   "set-password USER_ID | --username NAME [--password-stdin | --password PASSWORD]",
		Short: "Set a user's password and end their sessions",
		Long: `Set a new password for a user (at least 8 characters). All the user's
sign-in sessions end and their refresh tokens are revoked, so that whoever
knew the old password is signed out everywhere.

The password is read from standard input with --password-stdin, or when
neither flag is given and standard input is not a terminal; one trailing
newline is removed. --password puts it where other local users can see it.

` + userAdminHelp,
		Example: `  printf '%s' "$NEW_PASSWORD" | writ user set-password USER_ID

  writ user set-password --username ada --password-stdin < password.txt`,
		Args: ref.args(0, "the user id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, _, err := ref.resolve(cmd, s, af, args)
			if err != nil {
				return err
			}
			c, err := af.client(s)
			if err != nil {
				return err
			}
			pw, ok, err := p.read(ctx, cmd, s, true)
			if err != nil {
				return err
			}
			if !ok {
				return usagef("no password given: pipe it in with --password-stdin (printf '%%s' \"$PASSWORD\" | writ user set-password %s --password-stdin)", truncate(id, 32))
			}
			if _, err := c.call(ctx, "POST", userPath(id)+"/password", admin.PasswordRequest{Password: pw}); err != nil {
				return err
			}
			return printDone(s, af, map[string]any{"id": id, "password_set": true}, "set the password of user %s; their sessions ended and their refresh tokens were revoked", tableCell(id))
		},
	}
	p.register(cmd.Flags())
	ref.register(cmd.Flags())
	return cmd
}

// newUserConsentsCmd builds "writ user consents".
func newUserConsentsCmd(s *streams, af *adminFlags) *cobra.Command {
	ref := &userRef{}
	cmd := &cobra.Command{
		Use:   "consents USER_ID | --username NAME",
		Short: "List the applications a user consented to, with the scopes",
		Long: `List the consents a user gave: for each client, the scopes the user allowed
it to have. "writ user revoke-consent" withdraws one.

` + userAdminHelp,
		Example: `  writ user consents USER_ID
  writ user consents --username ada -o json`,
		Args: ref.args(0, "the user id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, _, err := ref.resolve(cmd, s, af, args)
			if err != nil {
				return err
			}
			data, err := af.call(cmd.Context(), s, "GET", userPath(id)+"/consents", nil)
			if err != nil {
				return err
			}
			_, err = printAnswer(s, af, data, "a consent list", func(l *admin.ConsentListResponse) bool { return l.Consents != nil }, writeConsentTable)
			return err
		},
	}
	ref.register(cmd.Flags())
	return cmd
}

// writeConsentTable prints the consents one per row.
func writeConsentTable(s *streams, list admin.ConsentListResponse) error {
	rows := make([][]string, 0, len(list.Consents))
	for _, c := range list.Consents {
		rows = append(rows, []string{c.ClientID, c.Scope, c.GrantedAt.UTC().Format(time.RFC3339), c.UpdatedAt.UTC().Format(time.RFC3339)})
	}
	return writeTable(s, "No consents.", []string{"CLIENT ID", "SCOPES", "GRANTED", "UPDATED"}, rows)
}

// newUserRevokeConsentCmd builds "writ user revoke-consent".
func newUserRevokeConsentCmd(s *streams, af *adminFlags) *cobra.Command {
	ref := &userRef{}
	cmd := &cobra.Command{
		Use:   "revoke-consent USER_ID CLIENT_ID | --username NAME CLIENT_ID",
		Short: "Withdraw a user's consent to a client and revoke its refresh tokens",
		Long: `Withdraw the consent a user gave to a client: the client's refresh tokens
for the user are revoked at once, and the user is asked to consent again
the next time the client signs them in.

` + userAdminHelp,
		Example: `  writ user revoke-consent USER_ID CLIENT_ID
  writ user revoke-consent --username ada CLIENT_ID`,
		Args: func(cmd *cobra.Command, args []string) error {
			want := 2
			if ref.byName(cmd) {
				want = 1
			}
			for _, a := range args {
				if a == "" {
					return usagef("%s: an argument is empty", cmd.CommandPath())
				}
			}
			if len(args) != want {
				if want == 1 {
					return usagef("%s --username NAME takes one argument, the client_id; got %d", cmd.CommandPath(), len(args))
				}
				return usagef("%s takes two arguments, the user id and the client_id (or --username NAME and the client_id); got %d", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id, rest, err := ref.resolve(cmd, s, af, args)
			if err != nil {
				return err
			}
			clientID := rest[0]
			if _, err := af.call(cmd.Context(), s, "DELETE", userPath(id)+"/consents/"+url.PathEscape(clientID), nil); err != nil {
				return err
			}
			return printDone(s, af, map[string]any{"id": id, "client_id": clientID, "revoked": true},
				"revoked the consent of user %s to client %s and its refresh tokens", tableCell(id), tableCell(clientID))
		},
	}
	ref.register(cmd.Flags())
	return cmd
}
