package main

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/loadgen"
)

// httpBenchFlags are the flags of "writ bench http".
type httpBenchFlags struct {
	target      string
	method      string
	headers     []string
	status      int
	concurrency int
	duration    time.Duration
	allowRemote bool
	output      string
}

func newBenchHTTPCmd(s *streams) *cobra.Command {
	var f httpBenchFlags
	cmd := &cobra.Command{
		Use:   "http",
		Short: "Load any URL (a gateway route, an API) with one fixed request",
		Long: `Send the same request to --url as fast as it answers, from --concurrency
keep-alive connections, for --duration. Every answer must have the status
--expect-status (200 by default); anything else counts as an error.

A bearer token is taken from the WRIT_BENCH_TOKEN environment variable, so
that it stays out of the process list; --header adds any other header.`,
		Example: `  writ bench http --url http://127.0.0.1:9000/public/ -c 16 -d 10s
  WRIT_BENCH_TOKEN=eyJ... writ bench http --url http://127.0.0.1:9000/orders/7
  writ bench http --url http://127.0.0.1:9000/orders/7 --expect-status 401`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := f.template()
			if err != nil {
				return err
			}
			bf := benchFlags{concurrency: f.concurrency, duration: f.duration, allowRemote: f.allowRemote, output: f.output}
			return runBench(cmd.Context(), s, &bf, f.method+" "+req.URL.Path, f.target,
				func(ctx context.Context, _, _ int) (*http.Request, error) { return req.Clone(ctx), nil },
				func(status int, body []byte) error {
					if status != f.status {
						return fmt.Errorf("status %d, want %d: %.200s", status, f.status, body)
					}
					return nil
				})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.target, "url", "", "absolute URL to load (loopback only unless --allow-remote)")
	fl.StringVarP(&f.method, "method", "X", http.MethodGet, "HTTP method")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, `header to send, "Name: value" (repeatable)`)
	fl.IntVar(&f.status, "expect-status", http.StatusOK, "the status every answer must have")
	fl.IntVarP(&f.concurrency, "concurrency", "c", 16, "concurrent keep-alive connections")
	fl.DurationVarP(&f.duration, "duration", "d", 10*time.Second, "how long to run")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "allow a target outside the loopback range (only servers you operate)")
	fl.StringVarP(&f.output, "output", "o", "table", "table or json")
	return cmd
}

// template validates the flags and builds the request every worker clones.
func (f *httpBenchFlags) template() (*http.Request, error) {
	if f.target == "" {
		return nil, usagef("--url is required")
	}
	if f.output != "table" && f.output != "json" {
		return nil, usagef("--output must be table or json")
	}
	if f.status < 100 || f.status > 599 {
		return nil, usagef("--expect-status must be an HTTP status between 100 and 599")
	}
	if !f.allowRemote {
		if err := loadgen.CheckLoopback(f.target); err != nil {
			return nil, &usageError{err: err}
		}
	}
	req, err := http.NewRequest(strings.ToUpper(f.method), f.target, nil)
	if err != nil {
		return nil, usagef("--url: %v", err)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, usagef("--url must be an http or https URL")
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
			return nil, usagef(`--header %q: want "Name: value"`, name)
		}
		req.Header.Add(textproto.CanonicalMIMEHeaderKey(name), strings.TrimSpace(value))
	}
	if tok := os.Getenv("WRIT_BENCH_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req, nil
}
