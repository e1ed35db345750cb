package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"time"

	"github.com/writ-dev/writ/internal/gateway/config"
)

// DefaultReloadInterval is how often the route file is checked for
// changes.
const DefaultReloadInterval = time.Second

// Server runs a Gateway on its listeners and reloads its route file.
type Server struct {
	// Gateway is what is served.
	Gateway *Gateway
	// Path is the route file, reloaded when its content changes.
	Path string
	// Logger receives operational messages.
	Logger *slog.Logger
	// Tick, when set, replaces the reload ticker (tests).
	Tick <-chan time.Time
	// Hangup delivers SIGHUP: reload now, even when the content looks
	// unchanged.
	Hangup <-chan struct{}
	// Ready, when set, is called with the listeners' addresses once they
	// accept connections (the metrics address is "" without one).
	Ready func(addr, metricsAddr string)

	lastHash [32]byte
}

// Run serves until ctx ends, then shuts down gracefully: the listeners
// close, requests in flight get timeouts.shutdown to finish.
func (s *Server) Run(ctx context.Context) error {
	f := s.Gateway.File()
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if data, err := config.ReadFile(s.Path); err == nil {
		s.lastHash = sha256.Sum256(data)
	}
	ln, err := net.Listen("tcp", f.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := s.httpServer(s.Gateway, f, log)
	var servers []*http.Server
	errc := make(chan error, 2)
	scheme := "http"
	if f.TLS != nil {
		cert, err := tls.LoadX509KeyPair(f.TLS.CertFile, f.TLS.KeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	servers = append(servers, srv)
	go func() { errc <- srv.Serve(ln) }()
	metricsAddr := ""
	if m := f.Metrics; m != nil && m.Listen != "" {
		h := s.Gateway.Handler()
		if h == nil {
			return errors.New("metrics: the gateway has no metrics registry")
		}
		mln, err := net.Listen("tcp", m.Listen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle(m.Path, h)
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
		servers = append(servers, msrv)
		metricsAddr = mln.Addr().String()
		go func() { errc <- msrv.Serve(mln) }()
	}
	log.Info("writ gateway serving", "addr", ln.Addr().String(), "scheme", scheme, "routes", len(f.Routes), "metrics", metricsAddr)
	if s.Ready != nil {
		s.Ready(ln.Addr().String(), metricsAddr)
	}
	tick := s.Tick
	if tick == nil {
		t := time.NewTicker(DefaultReloadInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return s.shutdown(servers, f.Timeouts.Shutdown, log)
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				_ = s.shutdown(servers, f.Timeouts.Shutdown, log)
				return fmt.Errorf("serve: %w", err)
			}
		case <-tick:
			s.ReloadIfChanged(ctx, false)
		case <-s.Hangup:
			log.Info("SIGHUP: reloading the route file", "file", s.Path)
			s.ReloadIfChanged(ctx, true)
		}
	}
}

func (s *Server) shutdown(servers []*http.Server, timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("writ gateway stopped")
	return nil
}

func (s *Server) httpServer(h http.Handler, f *config.File, log *slog.Logger) *http.Server {
	t := f.Timeouts
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    f.Limits.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// ReloadIfChanged reads the route file and, when its content changed (or
// force is set), validates, compiles and swaps it in. A file that does not
// load keeps the configuration being served; the log says why. It reports
// whether a new configuration is being served.
func (s *Server) ReloadIfChanged(ctx context.Context, force bool) bool {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	data, err := config.ReadFile(s.Path)
	if err != nil {
		log.Error("route file not reloaded: the old configuration stays", "file", s.Path, "error", err.Error())
		return false
	}
	sum := sha256.Sum256(data)
	if sum == s.lastHash && !force {
		return false
	}
	s.lastHash = sum
	f, err := config.Parse(data, s.Path)
	if err == nil {
		old := s.Gateway.File()
		for _, w := range restartOnly(old, f) {
			log.Warn("route file: a change that needs a restart is ignored", "setting", w)
		}
		err = s.Gateway.Reload(ctx, f)
	}
	if err != nil {
		log.Error("route file not reloaded: the old configuration stays", "file", s.Path, "error", err.Error())
		return false
	}
	log.Info("route file reloaded", "file", s.Path, "routes", len(f.Routes))
	return true
}

// restartOnly names the settings a reload cannot apply.
func restartOnly(old, f *config.File) []string {
	var out []string
	if old.Listen != f.Listen {
		out = append(out, "listen")
	}
	if !reflect.DeepEqual(old.TLS, f.TLS) {
		out = append(out, "tls")
	}
	if !reflect.DeepEqual(old.Metrics, f.Metrics) {
		out = append(out, "metrics")
	}
	if old.Timeouts.ReadHeader != f.Timeouts.ReadHeader || old.Timeouts.Read != f.Timeouts.Read || old.Timeouts.Write != f.Timeouts.Write || old.Timeouts.Idle != f.Timeouts.Idle || old.Timeouts.Shutdown != f.Timeouts.Shutdown {
		out = append(out, "timeouts (of the listener)")
	}
	if old.Limits.MaxHeaderBytes != f.Limits.MaxHeaderBytes {
		out = append(out, "limits.max_header_bytes")
	}
	return out
}
