package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/writ-dev/writ/internal/admin"
)

// userRef is the user a "writ user" command acts on: its USER_ID argument,
// or --username NAME, looked up through the admin API. Every command that
// takes a user id takes --username instead.
type userRef struct {
	username string
}

// register declares --username on fs.
func (u *userRef) register(fs *pflag.FlagSet) {
	fs.StringVar(&u.username, "username", "", "the user's sign-in `NAME` (regardless of case), instead of USER_ID")
}

// byName tells whether --username was given.
func (u *userRef) byName(cmd *cobra.Command) bool { return cmd.Flags().Changed("username") }

// args checks the positional arguments: the user id (unless --username is
// given) followed by want more.
func (u *userRef) args(want int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		n := want
		if !u.byName(cmd) {
			n++
		}
		if len(args) > n {
			if u.byName(cmd) && len(args) == want+1 {
				return usagef("give the user id or --username, not both")
			}
			return usagef("too many arguments: %s takes at most %d (%s), got %d", cmd.CommandPath(), n, what, len(args))
		}
		return nil
	}
}

// resolve checks the shared flags and returns the user id: the first
// argument, or the id of the user named by --username; and the arguments
// after it.
func (u *userRef) resolve(cmd *cobra.Command, s *streams, af *adminFlags, args []string) (string, []string, error) {
	if err := af.check(); err != nil {
		return "", nil, err
	}
	if !u.byName(cmd) {
		if len(args) == 0 {
			return "", nil, usagef("%s needs the user id as its argument, or --username NAME", cmd.CommandPath())
		}
		id, err := userIDArg(cmd, args[:1])
		return id, args[1:], err
	}
	if u.username == "" {
		return "", nil, usagef("--username must not be empty")
	}
	c, err := af.client(s)
	if err != nil {
		return "", nil, err
	}
	id, err := lookupUserID(cmd.Context(), c, u.username)
	return id, args, err
}

// lookupUserID returns the id of the user with the given username.
func lookupUserID(ctx context.Context, c *adminClient, username string) (string, error) {
	raw, err := lookupUser(ctx, c, username)
	if err != nil {
		return "", err
	}
	var u admin.UserResponse
	if err := json.Unmarshal(raw, &u); err != nil || u.ID == "" {
		return "", fmt.Errorf("the admin API answered with something that is not a user")
	}
	return u.ID, nil
}

// lookupUser returns the admin API's record of the user with the given
// username.
func lookupUser(ctx context.Context, c *adminClient, username string) ([]byte, error) {
	data, err := c.call(ctx, "GET", admin.PathUsers+"?"+url.Values{"username": {username}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	users, _, ok := decodeUserPage(data)
	if !ok {
		return nil, fmt.Errorf("the admin API answered with something that is not a user list")
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("no user with username %q", truncate(username, 64))
	}
	return users[0], nil
}
