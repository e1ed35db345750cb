package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/writ-dev/writ/internal/admin"
)

// Settings of the admin API client.
const (
	// envAdminEndpoint names the default admin API URL.
	envAdminEndpoint = "WRIT_ADMIN_ENDPOINT"
	// envAdminToken names the admin credential (the server reads it too).
	envAdminToken = admin.EnvAdminToken
	// defaultAdminEndpoint is where "writ serve" listens for the admin API
	// by default.
	defaultAdminEndpoint = "http://127.0.0.1:8081"
	// adminTimeout bounds one admin API call.
	adminTimeout = 10 * time.Second
	// maxAdminResponse bounds an admin API response body.
	maxAdminResponse = 1 << 20
)

// Output formats of the admin commands.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// adminFlags are the flags every admin API command shares.
type adminFlags struct {
	endpoint string
	output   string
}

// register adds --endpoint and -o/--output to fs.
func (f *adminFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.endpoint, "endpoint", "", "admin API base `URL` (default $"+envAdminEndpoint+", else "+defaultAdminEndpoint+")")
	fs.StringVarP(&f.output, "output", "o", formatTable, "output `FORMAT`: table or json (the API response, for scripts)")
}

// check validates the output format.
func (f *adminFlags) check() error {
	if f.output != formatTable && f.output != formatJSON {
		return usagef("-o %q: choose table or json", truncate(f.output, 16))
	}
	return nil
}

// adminClient calls the writ admin API.
type adminClient struct {
	base  string // endpoint without a trailing slash
	where string // endpoint for messages (no user information)
	token string
	hc    *http.Client
}

// client validates the flags and the environment and returns an API client.
// It warns on s.err when the credential would travel unencrypted to a host
// that is not the loopback.
func (f *adminFlags) client(s *streams) (*adminClient, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	endpoint := f.endpoint
	if endpoint == "" {
		endpoint = os.Getenv(envAdminEndpoint)
	}
	if endpoint == "" {
		endpoint = defaultAdminEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--endpoint %q: want an http or https URL such as %s", truncate(endpoint, 64), defaultAdminEndpoint)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, usagef("--endpoint must not contain user information, a query or a fragment; give the admin credential in %s", envAdminToken)
	}
	token := os.Getenv(envAdminToken)
	if token == "" {
		return nil, fmt.Errorf("%s is not set: export the admin token of the server, e.g. export %s=$(cat DATA_DIR/admin-token) (in development \"writ serve\" generates one and prints where it stored it)", envAdminToken, envAdminToken)
	}
	if strings.ContainsAny(token, "\r\n") {
		return nil, fmt.Errorf("%s contains a line break; set it to the token alone", envAdminToken)
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		fmt.Fprintf(s.err, "writ: warning: sending the admin token over plain http to %s; use https outside the loopback interface\n", u.Host)
	}
	return &adminClient{
		base:  strings.TrimSuffix(u.String(), "/"),
		where: u.Redacted(),
		token: token,
		hc: &http.Client{
			Timeout: adminTimeout,
			// Redirects are not followed: the credential stays with the
			// endpoint it was meant for.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// isLoopbackHost reports whether host is a loopback name or address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiCallError is an error response of the admin API.
type apiCallError struct {
	status      int
	code        string
	description string
}

// Error implements error: the API's description first, then its code.
func (e *apiCallError) Error() string {
	desc := e.description
	if desc == "" {
		desc = "the admin API refused the request"
	}
	return fmt.Sprintf("%s (%s, HTTP %d)", desc, e.code, e.status)
}

// call sends one request and returns the response body of a 2xx answer.
// path is relative to the endpoint and already escaped; body, when not
// nil, is sent as JSON.
func (c *adminClient) call(ctx context.Context, method, path string, body any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("cannot encode the request: %w", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("cannot build the request for %s: %w", c.where, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "writ/"+buildVersion())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err() // interrupted
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
			if uerr.Timeout() {
				err = fmt.Errorf("no answer within %s", adminTimeout)
			}
		}
		return nil, fmt.Errorf("cannot reach the admin API at %s: %w (is \"writ serve\" running? point --endpoint or %s at its admin listener)", c.where, err, envAdminEndpoint)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the answer of the admin API at %s: %w", c.where, err)
	}
	if len(data) > maxAdminResponse {
		return nil, fmt.Errorf("the admin API at %s answered with more than %d bytes", c.where, maxAdminResponse)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, fmt.Errorf("the admin API at %s answered with a redirect to %q; point --endpoint at the final URL", c.where, truncate(resp.Header.Get("Location"), 128))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			return nil, fmt.Errorf("the admin API at %s answered %q: is --endpoint the admin listener of writ?", c.where, resp.Status)
		}
		return nil, &apiCallError{status: resp.StatusCode, code: truncate(e.Error, 64), description: truncate(e.Description, 400)}
	}
	return data, nil
}
