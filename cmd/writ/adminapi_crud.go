package main

import "github.com/spf13/cobra"

// This file holds what the admin API commands of a resource named by one
// argument share (issuer, saml-sp): their help, their argument, and their
// get and delete commands.

// adminAPIHelp ends the help of the commands that call the admin API.
const adminAPIHelp = `The commands call the admin API of a running writ server: --endpoint (or
WRIT_ADMIN_ENDPOINT, default http://127.0.0.1:8081) and the admin token in
WRIT_ADMIN_TOKEN. Output is a table by default; -o json prints the API
response for scripts.`

// adminResource is a resource of the admin API named by one argument.
type adminResource struct {
	// what names the argument in usage errors ("the issuer identifier"),
	// short in the error of an empty one ("issuer"), and list is the
	// command that lists the resources ("writ issuer list").
	what, short, list string
	// path is the API path of one resource.
	path func(id string) string
	// print prints the API's answer about one resource.
	print func(s *streams, af *adminFlags, data []byte) error
}

// arg resolves the one argument of a command.
func (res adminResource) arg(cmd *cobra.Command, args []string) (string, error) {
	switch {
	case len(args) != 1:
		return "", usagef("%s needs %s as its one argument (see '%s')", cmd.CommandPath(), res.what, res.list)
	case args[0] == "":
		return "", usagef("the %s argument is empty", res.short)
	}
	return args[0], nil
}

// get runs a get command: it prints the resource the argument names.
func (res adminResource) get(cmd *cobra.Command, args []string, s *streams, af *adminFlags) error {
	id, err := af.resolve(cmd, args, res.arg)
	if err != nil {
		return err
	}
	data, err := af.call(cmd.Context(), s, "GET", res.path(id), nil)
	if err != nil {
		return err
	}
	return res.print(s, af, data)
}

// delete runs a delete command: it deletes the resource the argument
// names and reports it, with -o json as {key: id, "deleted": true}, else
// as done with the id.
func (res adminResource) delete(cmd *cobra.Command, args []string, s *streams, af *adminFlags, key, done string) error {
	id, err := af.resolve(cmd, args, res.arg)
	if err != nil {
		return err
	}
	if _, err := af.call(cmd.Context(), s, "DELETE", res.path(id), nil); err != nil {
		return err
	}
	return printDone(s, af, map[string]any{key: id, "deleted": true}, done, tableCell(id))
}
