package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/writ-dev/writ/internal/admin"
)

// This file holds what the admin API commands (client, user, key list and
// rotate) share: resolving their argument, calling the API, and printing
// its answer as a table or, with -o json, as the API sent it.

// resolve checks the shared flags, then resolves the resource a command
// acts on with arg. The flags come first, so that a bad -o is reported
// before a missing argument.
func (f *adminFlags) resolve(cmd *cobra.Command, args []string, arg func(*cobra.Command, []string) (string, error)) (string, error) {
	if err := f.check(); err != nil {
		return "", err
	}
	return arg(cmd, args)
}

// call validates the flags and the environment, then sends one request to
// the admin API and returns the body of its 2xx answer (see
// adminClient.call).
func (f *adminFlags) call(ctx context.Context, s *streams, method, path string, body any) ([]byte, error) {
	c, err := f.client(s)
	if err != nil {
		return nil, err
	}
	return c.call(ctx, method, path, body)
}

// printAnswer decodes an admin API answer as a T and prints it: as the API
// sent it with -o json, else with table. valid tells a T from another JSON
// document, and what names a T in the error for an answer that is not one
// ("a client"). The T is returned for the notes a command adds on standard
// error.
func printAnswer[T any](s *streams, af *adminFlags, data []byte, what string, valid func(*T) bool, table func(*streams, T) error) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil || !valid(&v) {
		return v, fmt.Errorf("the admin API answered with something that is not %s", what)
	}
	if af.output == formatJSON {
		return v, writeJSONOutput(s, data)
	}
	return v, table(s, v)
}

// printDone reports a change the admin API answered without a body: with
// -o json as the JSON object doc, else as one line on standard output.
func printDone(s *streams, af *adminFlags, doc map[string]any, format string, args ...any) error {
	if af.output == formatJSON {
		data, _ := json.Marshal(doc)
		return writeJSONOutput(s, data)
	}
	_, err := fmt.Fprintln(s.out, fmt.Sprintf(format, args...))
	return err
}

// writeJSONOutput prints an API response indented, for scripts.
func writeJSONOutput(s *streams, data []byte) error {
	out, err := indentJSON(data)
	if err != nil {
		return fmt.Errorf("the admin API answered with invalid JSON: %w", err)
	}
	if _, err := s.out.Write(out); err != nil {
		return fmt.Errorf("cannot write to standard output: %w", err)
	}
	return nil
}

// writeTable prints a table: the header, then the rows, in aligned
// columns (see writeColumns); without rows, the line none instead.
func writeTable(s *streams, none string, header []string, rows [][]string) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(s.out, none)
		return err
	}
	return writeColumns(s, append([][]string{header}, rows...))
}

// writeColumns prints rows in aligned columns, each cell made safe by
// tableCell.
func writeColumns(s *streams, rows [][]string) error {
	tw := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = tableCell(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("cannot write to standard output: %w", err)
	}
	return nil
}

// appendSet appends to rows those of optional whose value, the last cell,
// is not empty.
func appendSet(rows [][]string, optional ...[]string) [][]string {
	for _, r := range optional {
		if r[len(r)-1] != "" {
			rows = append(rows, r)
		}
	}
	return rows
}

// tableCell makes a value safe for one table cell: no tabs, newlines or other
// control characters (the API answer is not trusted to be printable).
func tableCell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// clearHint completes the help of the flags of update commands that an
// empty value clears; create commands have nothing to clear.
func clearHint(update bool) string {
	if update {
		return "; an empty value clears it"
	}
	return ""
}

// listFlags are the paging flags of the list commands.
type listFlags struct {
	limit int
	after string
	all   bool
}

// register adds --limit, --after and --all to fs. noun names one listed
// item ("client") and cursor the after value ("CLIENT_ID") in the help.
func (o *listFlags) register(fs *pflag.FlagSet, noun, cursor string) {
	fs.IntVar(&o.limit, "limit", admin.DefaultPageSize, fmt.Sprintf("page size `N`, 1 to %d", admin.MaxPageSize))
	fs.StringVar(&o.after, "after", "", "start after `"+cursor+"` (the \"next\" value of the previous page)")
	fs.BoolVar(&o.all, "all", false, "follow the pages and list every "+noun)
}

// listing is what a list command says about its route, for runList.
type listing struct {
	// path is the API path of the list route.
	path string
	// noun names one listed item in messages: "client", "user".
	noun string
	// decode decodes a page: its items, kept raw so that -o json passes on
	// what the server sent, and the after value of the next page ("" on
	// the last). ok is false when data is not a page.
	decode func(data []byte) (items []json.RawMessage, next string, ok bool)
	// document is the -o json output of --all: the items of every page,
	// and the next value of the last, as one page.
	document func(items []json.RawMessage, next string) any
	// table prints the items of the pages.
	table func(s *streams, items []json.RawMessage) error
}

// runList runs a list command: it gets one page of --limit items after
// --after, or with --all every page from there to the end, and prints
// them as a table, with a note on standard error when more follow, or with
// -o json as the API answered (with --all, as one page of all the items).
func runList(ctx context.Context, s *streams, af *adminFlags, o *listFlags, l listing) error {
	if err := af.check(); err != nil {
		return err
	}
	if o.limit < 1 || o.limit > admin.MaxPageSize {
		return usagef("--limit %d: must be between 1 and %d", o.limit, admin.MaxPageSize)
	}
	c, err := af.client(s)
	if err != nil {
		return err
	}
	var items []json.RawMessage
	next, after := "", o.after
	for {
		q := url.Values{"limit": {strconv.Itoa(o.limit)}}
		if after != "" {
			q.Set("after", after)
		}
		data, err := c.call(ctx, "GET", l.path+"?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		page, pageNext, ok := l.decode(data)
		if !ok {
			return fmt.Errorf("the admin API answered with something that is not a %s list", l.noun)
		}
		if !o.all && af.output == formatJSON {
			return writeJSONOutput(s, data)
		}
		items, next = append(items, page...), pageNext
		if !o.all || next == "" {
			break
		}
		if next <= after {
			return fmt.Errorf("the admin API returned a page cursor that does not advance (%q); stopping", truncate(next, 32))
		}
		after = next
	}
	if af.output == formatJSON {
		data, err := json.Marshal(l.document(items, next))
		if err != nil {
			return fmt.Errorf("cannot encode the %s list: %w", l.noun, err)
		}
		return writeJSONOutput(s, data)
	}
	if err := l.table(s, items); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(s.err, "writ: more %ss follow: use --all, or --after %s for the next page\n", l.noun, tableCell(next))
	}
	return nil
}
