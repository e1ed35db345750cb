package config

import (
	"strings"
	"testing"
)

func TestMTLSSettings(t *testing.T) {
	tls := map[string]string{"WRIT_TLS_CERT_FILE": "c.pem", "WRIT_TLS_KEY_FILE": "k.pem"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		bad  string // part of the error; "" = accepted
	}{
		{"off", nil, ""},
		{"listener", with(tls, "WRIT_MTLS_ADDR", "127.0.0.1:0", "WRIT_MTLS_CLIENT_CA_FILE", "ca.pem"), ""},
		{"listener with url", with(tls, "WRIT_MTLS_ADDR", "127.0.0.1:0", "WRIT_MTLS_URL", "https://mtls.example.com"), ""},
		{"listener without TLS", with(nil, "WRIT_MTLS_ADDR", "127.0.0.1:0"), "mtls_addr needs tls_cert_file"},
		{"listener not host:port", with(tls, "WRIT_MTLS_ADDR", "nowhere"), "mtls_addr"},
		{"header", with(nil, "WRIT_MTLS_CLIENT_CERT_HEADER", "X-Client-Cert", "WRIT_MTLS_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1,::1"), ""},
		{"header without proxies", with(nil, "WRIT_MTLS_CLIENT_CERT_HEADER", "X-Client-Cert"), "needs mtls_trusted_proxies"},
		{"proxies without header", with(nil, "WRIT_MTLS_TRUSTED_PROXIES", "10.0.0.1"), "without mtls_client_cert_header"},
		{"bad proxy", with(nil, "WRIT_MTLS_CLIENT_CERT_HEADER", "X-Client-Cert", "WRIT_MTLS_TRUSTED_PROXIES", "proxy.local"), "mtls_trusted_proxies"},
		{"ca file while off", with(nil, "WRIT_MTLS_CLIENT_CA_FILE", "ca.pem"), "mutual TLS is off"},
		{"http url", with(tls, "WRIT_MTLS_ADDR", "127.0.0.1:0", "WRIT_MTLS_URL", "http://mtls.example.com"), "mtls_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(nil, func(k string) string { return tc.env[k] })
			if err == nil {
				err = c.Validate(func(string) string { return "" })
			}
			switch {
			case tc.bad == "" && err != nil:
				t.Fatal(err)
			case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("err = %v, want one saying %q", err, tc.bad)
			}
		})
	}
	c, err := Load(nil, func(k string) string {
		return map[string]string{"WRIT_MTLS_CLIENT_CERT_HEADER": "X", "WRIT_MTLS_TRUSTED_PROXIES": "10.1.2.3/8,::ffff:192.0.2.1"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.MTLSTrustedProxyList()
	if err != nil || len(ps) != 2 || ps[0].String() != "10.0.0.0/8" || ps[1].String() != "192.0.2.1/32" {
		t.Fatalf("MTLSTrustedProxyList = %v, %v", ps, err)
	}
}
