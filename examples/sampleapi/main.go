// Command sampleapi is the small API that the gateway walkthrough
// (docs/gateway-walkthrough.md) puts behind writ gateway. It trusts nothing itself: it
// answers every request with a JSON echo of what reached it — the method,
// the path, the identity headers the gateway set, and whether an
// Authorization header got through — so that a reader can see what the
// gateway forwards and what it strips.
//
//	go run ./examples/sampleapi --addr 127.0.0.1:9200
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9200", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "sampleapi:", err)
		os.Exit(1)
	}
}

// serve listens on addr and answers until ctx ends. ready, when not nil,
// receives the bound address once the listener is open.
func serve(ctx context.Context, addr string, ready chan<- string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	slog.Info("sampleapi listening", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	srv := &http.Server{Handler: handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// echo is what the API answers.
type echo struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	// Identity holds the X-* headers that reached the API (the ones a
	// gateway sets), by lower-case name.
	Identity map[string]string `json:"identity,omitempty"`
	// Authorization tells whether an Authorization header reached the API
	// and with which scheme; the credential itself is never echoed.
	Authorization string `json:"authorization,omitempty"`
}

func handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := echo{Method: r.Method, Path: r.URL.Path}
		for name, values := range r.Header {
			lower := strings.ToLower(name)
			if strings.HasPrefix(lower, "x-") && !strings.HasPrefix(lower, "x-forwarded-") {
				if e.Identity == nil {
					e.Identity = map[string]string{}
				}
				e.Identity[lower] = strings.Join(values, ",")
			}
		}
		if a := r.Header.Get("Authorization"); a != "" {
			// Only a scheme name is shown; a header without one is a bare
			// credential.
			e.Authorization = "(credential not shown)"
			if scheme, _, ok := strings.Cut(a, " "); ok && schemeName(scheme) {
				e.Authorization = scheme + " " + e.Authorization
			}
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		_ = enc.Encode(e)
	})
}

// schemeName reports whether s looks like an authentication scheme name
// (Bearer, DPoP, Basic): a few letters, digits or dashes.
func schemeName(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// identityNames returns the identity header names of e, sorted (for tests).
func (e echo) identityNames() []string {
	names := make([]string, 0, len(e.Identity))
	for n := range e.Identity {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
