package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/loadgen"
)

// benchFlags are shared by the "writ bench" subcommands.
type benchFlags struct {
	issuer      string
	clientID    string
	secret      string
	scope       string
	concurrency int
	duration    time.Duration
	allowRemote bool
	output      string
	// count, when positive, bounds the requests (prepared credentials).
	count int
}

func (f *benchFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.issuer, "url", "http://127.0.0.1:8080", "base URL of the writ server (its issuer)")
	fl.StringVar(&f.clientID, "client-id", "", "client_id of a confidential client allowed the client_credentials grant")
	fl.StringVar(&f.secret, "client-secret", "", "its secret (or set WRIT_CLIENT_SECRET, which keeps it out of the process list)")
	fl.StringVar(&f.scope, "scope", "", "scope to request (default: all of the client's)")
	fl.IntVarP(&f.concurrency, "concurrency", "c", 16, "concurrent keep-alive connections")
	fl.DurationVarP(&f.duration, "duration", "d", 10*time.Second, "how long to run")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "allow a target outside the loopback range (only servers you operate)")
	fl.StringVarP(&f.output, "output", "o", "table", "table or json")
}

func (f *benchFlags) validate() error {
	if f.clientID == "" {
		return usagef("--client-id is required")
	}
	if f.secret == "" {
		f.secret = os.Getenv("WRIT_CLIENT_SECRET")
	}
	if f.secret == "" {
		return usagef("--client-secret or WRIT_CLIENT_SECRET is required")
	}
	if f.output != "table" && f.output != "json" {
		return usagef("--output must be table or json")
	}
	if !f.allowRemote {
		if err := loadgen.CheckLoopback(f.issuer); err != nil {
			return &usageError{err: err}
		}
	}
	f.issuer = strings.TrimSuffix(f.issuer, "/")
	return nil
}

func (f *benchFlags) post(ctx context.Context, path string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(f.clientID), url.QueryEscape(f.secret))
	return req, nil
}

func newBenchCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load a running writ server and report requests per second, p50 and p99",
		Long: `Drive a running writ server with N concurrent keep-alive clients for a fixed
time and report requests per second, latency percentiles (p50, p90, p99,
max), status codes and errors. Targets must be loopback addresses unless
--allow-remote is given. Progress is printed to standard error every second.`,
		Example: `  export WRIT_CLIENT_SECRET=...
  writ bench token --client-id billing -c 16 -d 10s
  writ bench introspect --client-id resource-server -d 10s
  writ bench code --client-id webapp -n 20000
  writ bench refresh --client-id webapp -n 20000`,
		GroupID: groupServer,
		Args:    noUnknownSubcommand,
		RunE:    showHelp,
	}
	cmd.AddCommand(newBenchTokenCmd(s), newBenchIntrospectCmd(s), newBenchCodeCmd(s), newBenchRefreshCmd(s), newBenchHTTPCmd(s))
	return cmd
}

func newBenchTokenCmd(s *streams) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Load the token endpoint with the client credentials grant",
		Long: `Request access tokens with the client credentials grant as fast as the
server answers, from --concurrency keep-alive connections, for --duration.
Every answer must carry an access_token; anything else counts as an error.`,
		Example: `  export WRIT_CLIENT_SECRET=...
  writ bench token --client-id billing -c 16 -d 10s`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			form := url.Values{"grant_type": {"client_credentials"}}
			if f.scope != "" {
				form.Set("scope", f.scope)
			}
			return runBench(cmd.Context(), s, &f, "token (client_credentials)", f.issuer+"/oauth2/token",
				func(ctx context.Context, _, _ int) (*http.Request, error) { return f.post(ctx, "/oauth2/token", form) },
				expectJSONMember("access_token"))
		},
	}
	f.bind(cmd)
	return cmd
}

func newBenchIntrospectCmd(s *streams) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "introspect",
		Short: "Load the introspection endpoint with one token obtained first",
		Long: `Obtain one access token with the client credentials grant (opaque when the
client's access_token_format is opaque), then introspect it repeatedly with
the same client's credentials. Every answer must say active: true.`,
		Example: `  writ client create --name rs --grant-type client_credentials --token-format opaque -o json
  WRIT_CLIENT_SECRET=... writ bench introspect --client-id <id> -d 10s`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			token, err := f.fetchToken(cmd.Context())
			if err != nil {
				return err
			}
			form := url.Values{"token": {token}}
			return runBench(cmd.Context(), s, &f, "introspection", f.issuer+"/oauth2/introspect",
				func(ctx context.Context, _, _ int) (*http.Request, error) {
					return f.post(ctx, "/oauth2/introspect", form)
				},
				func(status int, body []byte) error {
					if status != http.StatusOK || !strings.Contains(string(body), `"active":true`) {
						return fmt.Errorf("status %d, not active", status)
					}
					return nil
				})
		},
	}
	f.bind(cmd)
	return cmd
}

func (f *benchFlags) fetchToken(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if f.scope != "" {
		form.Set("scope", f.scope)
	}
	req, err := f.post(ctx, "/oauth2/token", form)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("get a token to introspect: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("get a token to introspect: status %d: %s %s", resp.StatusCode, tr.Error, tr.Description)
	}
	return tr.AccessToken, nil
}

func expectJSONMember(name string) loadgen.Check {
	want := `"` + name + `":`
	return func(status int, body []byte) error {
		if status != http.StatusOK {
			return fmt.Errorf("status %d: %.200s", status, body)
		}
		if !strings.Contains(string(body), want) {
			return errors.New("response without " + name)
		}
		return nil
	}
}

func runBench(ctx context.Context, s *streams, f *benchFlags, what, target string, req loadgen.Request, check loadgen.Check) error {
	fmt.Fprintf(s.err, "writ: loading %s at %s with %d connections for %s\n", what, target, f.concurrency, f.duration)
	res, err := loadgen.Run(ctx, loadgen.Config{
		Target:      target,
		AllowRemote: f.allowRemote,
		Concurrency: f.concurrency,
		Duration:    f.duration,
		MaxRequests: int64(f.count),
		Request:     req,
		Check:       check,
		Progress: func(elapsed time.Duration, done int64) {
			fmt.Fprintf(s.err, "  %3.0fs  %d requests\n", elapsed.Seconds(), done)
		},
	})
	if err != nil {
		return err
	}
	if f.output == "json" {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(s.out, "%s: %d requests in %.1fs, %.0f req/s, %d errors\n", what, res.Requests, res.Elapsed.Seconds(), res.RPS, res.Errors)
	fmt.Fprintf(s.out, "latency p50 %s  p90 %s  p99 %s  max %s\n", round(res.P50), round(res.P90), round(res.P99), round(res.Max))
	fmt.Fprintf(s.out, "statuses %s\n", formatStatuses(res.Statuses))
	if res.FirstError != "" {
		fmt.Fprintf(s.out, "first error: %s\n", res.FirstError)
	}
	return nil
}

// formatStatuses lists the HTTP statuses and their counts in status order:
// "200: 35551, 429: 12" ("none" when no request completed).
func formatStatuses(m map[int]int64) string {
	if len(m) == 0 {
		return "none"
	}
	codes := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d: %d", c, m[c])
	}
	return strings.Join(parts, ", ")
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
