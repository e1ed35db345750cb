package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/gateway"
	"github.com/writ-dev/writ/internal/gateway/config"
)

const gatewayLong = `Run writ gateway, the policy enforcement point in front of APIs: a reverse
proxy configured by one YAML route file (--config).

For every request the gateway
  1. strips the headers it sets itself (identity headers of every route, the
     identity assertion, X-Forwarded-*, Forwarded), whatever the outcome;
  2. normalises the path once: dot segments resolved, "//" collapsed,
     encoded unreserved characters decoded (/%61dmin is /admin); an encoded
     slash, backslash, dot or percent sign, a control character, a ";"
     path parameter or a ".." above the root is refused with 400. The
     upstream gets the same path;
  3. picks the route: host, method, then the most specific path (exact,
     then templates such as /orders/{id}, then the longest prefix ending in
     "/"); none → 404 (405 when only the method differs);
  4. on a route that is not anonymous: takes the token from Authorization
     (Bearer or DPoP scheme), verifies it (JWT of a configured issuer, or
     opaque by introspection), checks its issuer and audience for the route
     and its DPoP proof when it is bound or the route requires DPoP, then
     asks the route's rule (scopes, roles, groups, claims, CEL allow/deny);
     401 with WWW-Authenticate for a missing or bad token, 403 when the rule
     denies, 503 when keys or introspection are out of reach;
  5. proxies: Authorization removed (unless forward_token; phantom routes
     send the introspection's JWT instead), identity headers from claims,
     and optionally a short-lived identity assertion signed by the gateway.

Each decision is logged as one JSON line (decision id, route, rule,
allow/deny, reason, status; never a token) on stderr, written in batches:
at most 100 ms late, warnings and errors at once, the rest on exit. Prometheus metrics are served on
metrics.listen (or metrics.path of the gateway's listener). The route file is
reloaded when its content changes (checked every second) and on SIGHUP;
an invalid file keeps the configuration being served and the log says why.
SIGINT or SIGTERM shut the gateway down gracefully.

The route file (YAML; unknown keys are errors with their line):
  listen, tls {cert_file, key_file}, metrics {listen, path},
  timeouts {read_header, read, write, idle, upstream, dial, shutdown},
  limits {max_header_bytes, max_body_bytes},
  issuers [{name, issuer, jwks_uri | jwks_file (none: discovery), audiences,
    algorithms, types, allow_untyped_tokens, required_claims, claim_mapping,
    leeway}],
  introspection {endpoint, client_id, client_secret_file, auth_method,
    jwt_response, issuer, jwks_uri, audience, cache_size, cache_ttl, timeout},
  dpop {replay: memory|redis, redis_url, redis_prefix, cache_size, max_age,
    nonce, nonce_secret_file, algorithms, origin},
  identity_assertion {header, key_file, issuer, ttl, jwks_path},
  routes [{name, host, path (/exact, /prefix/, /template/{name}), methods,
    upstream, token: jwt|opaque|any, dpop: allowed|required, issuers,
    audiences, headers {Header: claim.path}, forward_token, phantom,
    mcp {resource, scopes, authorization_servers, max_body_bytes},
    identity_assertion, timeout, max_body_bytes,
    and the rule: allow, deny (CEL), scopes {all, any}, roles, groups
    {claim, all, any}, claims [{path, equals|in|contains|exists|gt|ge|lt|le}],
    attributes, anonymous}],
  tests [{name, request {method, path, host, headers, query, source, mcp},
    claims, expect: allow|deny, rule}].

Validate a file and run its policy tests with "writ gateway check FILE".`

const gatewayExample = `  # Serve the routes of gateway.yaml
  writ gateway --config gateway.yaml

  # A minimal route file
  listen: 127.0.0.1:9000
  issuers:
    - issuer: http://127.0.0.1:8080
      audiences: [https://api.example.com]
  routes:
    - path: /orders/{id}
      methods: [GET]
      upstream: http://127.0.0.1:9200
      allow: '"orders:read" in claims.scope.split(" ")'
      headers: {X-User: sub}
    - path: /public/
      upstream: http://127.0.0.1:9200
      anonymous: true`

func newGatewayCmd(s *streams) *cobra.Command {
	var file, logLevel string
	var gcPercent int
	cmd := &cobra.Command{
		Use:     "gateway --config FILE",
		Short:   "Run the policy enforcement point (reverse proxy) of a route file",
		Long:    gatewayLong,
		Example: gatewayExample,
		GroupID: groupServer,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("--config is required: the route file to serve")
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usagef("--log-level: %v", err)
			}
			if gcPercent < -1 || gcPercent == 0 {
				return usagef("--gc-percent must be positive, or -1 to turn the collector off")
			}
			setting := ""
			if cmd.Flags().Changed("gc-percent") {
				setting = strconv.Itoa(gcPercent)
			}
			debug.SetGCPercent(collectorTarget(setting, os.Getenv("GOGC"), defaultGCPercent))
			// Decisions are buffered: one write per batch of lines,
			// not per request; what is left is written on the way out.
			log, flush := bufferedJSONLog(s.err, level)
			defer flush()
			return runGateway(cmd.Context(), file, log)
		},
	}
	cmd.Flags().StringVar(&file, "config", "", "the route file (YAML) to serve")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error (decisions are logged at info)")
	cmd.Flags().IntVar(&gcPercent, "gc-percent", defaultGCPercent,
		"Go garbage collector target (as GOGC): higher spends less CPU on collection and more memory; the GOGC environment variable is used when this flag is not given")
	cmd.AddCommand(newGatewayCheckCmd(s))
	return cmd
}

func runGateway(ctx context.Context, file string, log *slog.Logger) error {
	f, err := config.Load(file)
	if err != nil {
		return configError(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	deps := gatewayDeps(log)
	deps.Registerer = reg
	gw, err := gateway.New(ctx, f, deps)
	if err != nil {
		return &usageError{err: err}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	hangup := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case hangup <- struct{}{}:
				default:
				}
			}
		}
	}()
	srv := &gateway.Server{Gateway: gw, Path: file, Logger: log, Hangup: hangup}
	if err := srv.Run(ctx); err != nil {
		log.Error("writ gateway stopped", "error", err.Error())
		return &loggedError{err: err}
	}
	return nil
}

// configError makes a route file's problems one line each.
func configError(err error) error {
	var verr *config.ValidationError
	if errors.As(err, &verr) {
		problems := make([]error, len(verr.Problems))
		for i, p := range verr.Problems {
			problems[i] = p
		}
		name := verr.File
		if len(problems) == 1 {
			return &usageError{err: fmt.Errorf("%s: %w", name, problems[0])}
		}
		return fmt.Errorf("%s: %w", name, errors.Join(problems...))
	}
	return &usageError{err: err}
}

const gatewayCheckLong = `Validate a route file and run its policy tests, without serving and without
reaching the network.

The file is checked as "writ gateway" would load it (unknown keys, types,
paths, upstreams, issuers, rules compiled and type-checked), then every case
under "tests:" is decided through the same path normalisation, route
matching, issuer, audience and scope checks and rules as a real request:

  tests:
    - name: reader may read
      request: {method: GET, path: /orders/7}     # host, headers, query, source, mcp: {method, tool}
      claims: {scope: "orders:read", sub: alice}  # absent: a request without a token
      expect: allow                               # or deny
      rule: orders                                # optional: the rule expected to decide

Exit status: 0 when the file is valid and every case holds; 1 when a case
fails (each failure is printed with what was expected and what was
decided); 2 when the file is invalid (each problem with its line).`

func newGatewayCheckCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a route file and run its policy tests (exit 0 all pass, 1 a test fails, 2 invalid file)",
		Long:  gatewayCheckLong,
		Example: `  writ gateway check gateway.yaml
  writ gateway check gateway.yaml && systemctl reload writ-gateway`,
		Args: oneFileArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := config.Load(args[0])
			if err != nil {
				return configError(err)
			}
			gw, err := gateway.CompileOffline(cmd.Context(), f, gatewayPolicyCompiler())
			if err != nil {
				return &usageError{err: fmt.Errorf("%s: %w", args[0], err)}
			}
			report := gw.RunTests(cmd.Context())
			if err := report.WriteText(s.out); err != nil {
				return err
			}
			if !report.OK() {
				return &verdictError{prefix: "policy tests failed", err: fmt.Errorf("%d of %d", report.Failed(), len(report.Results))}
			}
			return nil
		},
	}
}

// oneFileArg requires exactly one argument, the route file.
func oneFileArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef("%s takes one argument, the route file; got %d", cmd.CommandPath(), len(args))
	}
	return nil
}
