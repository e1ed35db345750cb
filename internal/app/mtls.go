package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"

	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/server"
)

// mtlsOptions builds the server's mutual-TLS options from cfg, nil when
// mutual TLS is off. mtlsLn is the bound mTLS listener, or nil.
func mtlsOptions(cfg *config.Config, mtlsLn net.Listener) (*server.MTLSOptions, error) {
	if !cfg.MTLSEnabled() {
		return nil, nil
	}
	o := &server.MTLSOptions{BaseURL: cfg.MTLSURL, Header: cfg.MTLSClientCertHeader}
	if cfg.MTLSURL != "" && cfg.MTLSClientCertHeader != "" {
		// A proxy fronts the mTLS host name: its header is believed there
		// only (server.MTLSOptions.HeaderHost).
		if u, err := url.Parse(cfg.MTLSURL); err == nil {
			o.HeaderHost = u.Host
		}
	}
	if o.BaseURL == "" && mtlsLn != nil {
		o.BaseURL = "https://" + mtlsLn.Addr().String()
	}
	var err error
	if o.TrustedProxies, err = cfg.MTLSTrustedProxyList(); err != nil {
		return nil, err
	}
	if cfg.MTLSClientCAFile != "" {
		pem, err := os.ReadFile(cfg.MTLSClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("mtls_client_ca_file: %w", err)
		}
		o.ClientCAs = x509.NewCertPool()
		if !o.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mtls_client_ca_file %s holds no PEM certificate", cfg.MTLSClientCAFile)
		}
	}
	return o, nil
}

// mtlsListener wraps ln in TLS with the public certificate, requesting a
// client certificate without requiring or verifying one (RFC 8705 §2:
// self-signed certificates authenticate self_signed_tls_client_auth
// clients, and client authentication checks tls_client_auth chains
// itself; tls.VerifyClientCertIfGiven would refuse the self-signed ones).
func mtlsListener(ln net.Listener, certFile, keyFile string) (net.Listener, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequestClientCert,
	}), nil
}

// MTLSAddr is the bound address of the mutual-TLS listener, nil without
// one.
func (a *App) MTLSAddr() net.Addr {
	if a.mtlsLn == nil {
		return nil
	}
	return a.mtlsLn.Addr()
}
