// Command writ is the command-line front end of the writ security token
// service: it generates signing keys, mints JSON Web Tokens and verifies
// them with the strict defaults of the writ token core.
//
// Run "writ --help" for the commands and their examples. The exit status is
// 0 on success, 1 when a token is rejected, 2 for usage and configuration
// errors and 130 when interrupted; "writ serve" shuts down gracefully on
// SIGINT or SIGTERM and exits 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/config"
)

// Exit statuses of the writ binary. They are documented in the root
// command's long help; scripts rely on them.
const (
	// exitOK: the command did what was asked (for "token verify": the
	// token is valid).
	exitOK = 0
	// exitRejected: the token was rejected (verify) or could not be
	// decoded (decode).
	exitRejected = 1
	// exitUsage: anything else went wrong: bad flags or arguments, an
	// unreadable or invalid key, claims or key set, a JWKS URL that could
	// not be fetched, a file that could not be written.
	exitUsage = 2
	// exitInterrupted: the command was interrupted by SIGINT or SIGTERM.
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the writ command line args with the given streams and
// returns the process exit status. It is the whole program except for
// signal handling and os.Exit, so that tests can run commands in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(&streams{in: stdin, out: stdout, err: stderr})
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	msg, code := describeError(ctx, cmd, err)
	var logged *loggedError
	if !errors.As(err, &logged) {
		fmt.Fprintf(stderr, "writ: %s\n", msg)
	}
	return code
}

// describeError turns the error a command returned into the one line
// printed on standard error and the exit status.
func describeError(ctx context.Context, cmd *cobra.Command, err error) (string, int) {
	var verdict *verdictError
	var usage *usageError
	var invalid *config.ValidationError
	switch {
	case errors.As(err, &invalid):
		return problemList(invalid.Problems), exitUsage
	case errors.As(err, &verdict):
		return oneLine(verdict.Error()), exitRejected
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return "interrupted", exitInterrupted
	case errors.As(err, &usage):
		path := "writ"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		return fmt.Sprintf("%s (see '%s --help')", oneLine(usage.Error()), path), exitUsage
	}
	if prefix, problems, ok := joined(err); ok {
		head := fmt.Sprintf("%d problems:", len(problems))
		if prefix != "" {
			head = prefix + " " + head
		}
		return listLines(head, problems), exitUsage
	}
	return oneLine(err.Error()), exitUsage
}

// joined finds, in err's chain, an error of several (errors.Join) and
// returns the text err puts before it ("production mode: ") and its
// errors, so that each can be listed on a line of its own.
func joined(err error) (prefix string, problems []error, ok bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		multi, isMulti := e.(interface{ Unwrap() []error })
		if !isMulti {
			continue
		}
		problems = multi.Unwrap()
		if len(problems) < 2 {
			return "", nil, false
		}
		outer, inner := err.Error(), e.Error()
		if !strings.HasSuffix(outer, inner) {
			return "", nil, false
		}
		return oneLine(strings.TrimSuffix(outer, inner)), problems, true
	}
	return "", nil, false
}

// problemList formats configuration problems one per line, each line
// cleaned like oneLine.
func problemList(problems []error) string {
	if len(problems) == 1 {
		return "configuration: " + oneLine(problems[0].Error())
	}
	return listLines(fmt.Sprintf("the configuration has %d problems:", len(problems)), problems)
}

// listLines is head followed by one indented line per error, each cleaned
// like oneLine.
func listLines(head string, errs []error) string {
	var b strings.Builder
	b.WriteString(head)
	for _, e := range errs {
		b.WriteString("\n  - " + oneLine(e.Error()))
	}
	return b.String()
}

// oneLine collapses every run of white space (newlines included) into one
// space and replaces other control characters, so that a message is always
// exactly one line and cannot drive the terminal.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// verdictError is a judgement on a token: rejected by verify, or not
// decodable by decode. It makes the process exit with exitRejected.
type verdictError struct {
	prefix string // "token rejected" or "cannot decode token"
	err    error
}

func (e *verdictError) Error() string { return e.prefix + ": " + e.err.Error() }
func (e *verdictError) Unwrap() error { return e.err }

// rejected marks err as the reason a token was rejected by verify.
func rejected(err error) error { return &verdictError{prefix: "token rejected", err: err} }

// undecodable marks err as the reason decode could not parse a token.
func undecodable(err error) error { return &verdictError{prefix: "cannot decode token", err: err} }

// loggedError is an error a command has already written to its structured
// log (writ serve --log-format json): run prints nothing more, so that
// standard error holds only JSON.
type loggedError struct{ err error }

func (e *loggedError) Error() string { return e.err.Error() }
func (e *loggedError) Unwrap() error { return e.err }

// usageError is a mistake in the command line: a missing or invalid flag
// or argument. It is printed with a pointer to the command's help.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...)}
}
