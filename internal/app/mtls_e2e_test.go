package app_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/testcert"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// mtlsNode is a running node with TLS on the public listener, an mTLS
// listener, a client CA, and a trusted proxy header believed from
// 127.0.0.2 only.
type mtlsNode struct {
	app        *app.App
	serverPool *x509.CertPool
	clientCA   *testcert.CA
}

const proxyHeader = "X-SSL-Client-Cert"

func startMTLSNode(t *testing.T) *mtlsNode {
	t.Helper()
	dir := t.TempDir()
	caFile, certFile, keyFile := testcert.Write(t, dir)
	clientCA := testcert.NewCA(t, "writ test client CA")
	a := apptest.Start(t, map[string]string{
		"WRIT_DATA_DIR":                dir,
		"WRIT_ADDR":                    "127.0.0.1:0",
		"WRIT_ADMIN_ADDR":              "127.0.0.1:0",
		"WRIT_TLS_CERT_FILE":           certFile,
		"WRIT_TLS_KEY_FILE":            keyFile,
		"WRIT_MTLS_ADDR":               "127.0.0.1:0",
		"WRIT_MTLS_CLIENT_CA_FILE":     clientCA.WritePEM(t, dir, "client-ca.pem"),
		"WRIT_MTLS_CLIENT_CERT_HEADER": proxyHeader,
		"WRIT_MTLS_TRUSTED_PROXIES":    "127.0.0.2",
	}, app.Options{})
	return &mtlsNode{app: a, serverPool: testcert.Pool(t, caFile), clientCA: clientCA}
}

// client returns an HTTP client trusting the node, presenting cert when it
// has one, connecting from source (127.0.0.1 when empty).
func (n *mtlsNode) client(cert *tls.Certificate, source string) *http.Client {
	cfg := &tls.Config{RootCAs: n.serverPool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	if source != "" {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
		tr.DialContext = d.DialContext
	}
	return &http.Client{Transport: tr}
}

func (n *mtlsNode) mtlsURL(path string) string { return "https://" + n.app.MTLSAddr().String() + path }

func post(t *testing.T, c *http.Client, u string, form url.Values, header http.Header) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("POST %s: %d %s", u, resp.StatusCode, body)
	}
	return resp.StatusCode, out
}

// jwtCnf returns the cnf.x5t#S256 of a JWT access token (not verified:
// the tests check what writ put there).
func jwtCnf(t *testing.T, tok string) string {
	t.Helper()
	var j jose.JWS
	if err := j.Parse(tok, 1<<16); err != nil {
		t.Fatalf("access token: %v", err)
	}
	var claims struct {
		Cnf map[string]string `json:"cnf"`
	}
	if err := json.Unmarshal([]byte(j.Payload()), &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Cnf["x5t#S256"]
}

func TestMTLSEndToEnd(t *testing.T) {
	n := startMTLSNode(t)
	subject := pkix.Name{CommonName: "orders", Organization: []string{"Example"}}
	good := n.clientCA.Client(t, x509.Certificate{Subject: subject})
	rotated := n.clientCA.Client(t, x509.Certificate{Subject: subject})
	otherCA := testcert.NewCA(t, "another CA").Client(t, x509.Certificate{Subject: subject})
	wrongName := n.clientCA.Client(t, x509.Certificate{Subject: pkix.Name{CommonName: "billing", Organization: []string{"Example"}}})
	self := testcert.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "reporter"}})
	stranger := testcert.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "reporter"}})

	apptest.Admin(t, n.app, "POST", "/admin/clients", map[string]any{
		"client_id": "orders", "grant_types": []string{"client_credentials"}, "scope": "orders:read",
		"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=orders, O=Example",
		"tls_client_certificate_bound_access_tokens": true,
	}, nil, http.StatusCreated)
	selfKey, err := jose.NewKey(jose.ES256, self.Leaf.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	apptest.Admin(t, n.app, "POST", "/admin/clients", map[string]any{
		"client_id": "reporter", "grant_types": []string{"client_credentials"}, "scope": "orders:read",
		"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": jose.NewKeySet(selfKey),
		"access_token_format": "opaque", "tls_client_certificate_bound_access_tokens": true,
	}, nil, http.StatusCreated)
	// Admin validation: a tls_client_auth client names exactly one identity.
	apptest.Admin(t, n.app, "POST", "/admin/clients", map[string]any{
		"client_id": "nameless", "grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "tls_client_auth",
	}, nil, http.StatusBadRequest)

	t.Run("discovery", func(t *testing.T) {
		resp, err := n.client(nil, "").Get(n.app.Issuer + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct {
			Bound   bool              `json:"tls_client_certificate_bound_access_tokens"`
			Methods []string          `json:"token_endpoint_auth_methods_supported"`
			Aliases map[string]string `json:"mtls_endpoint_aliases"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		if !m.Bound || !strings.Contains(strings.Join(m.Methods, " "), "tls_client_auth self_signed_tls_client_auth") {
			t.Fatalf("discovery: %+v", m)
		}
		for name, path := range map[string]string{"token_endpoint": "/oauth2/token", "introspection_endpoint": "/oauth2/introspect",
			"revocation_endpoint": "/oauth2/revoke", "userinfo_endpoint": "/oauth2/userinfo"} {
			if m.Aliases[name] != n.mtlsURL(path) {
				t.Errorf("mtls_endpoint_aliases.%s = %q, want %q", name, m.Aliases[name], n.mtlsURL(path))
			}
		}
	})

	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"orders"}}
	var orderToken string
	t.Run("tls_client_auth issues a certificate-bound token", func(t *testing.T) {
		status, body := post(t, n.client(&good, ""), n.mtlsURL("/oauth2/token"), cc, nil)
		if status != http.StatusOK {
			t.Fatalf("token: %d %v", status, body)
		}
		orderToken, _ = body["access_token"].(string)
		if got, want := jwtCnf(t, orderToken), oauth.CertThumbprint(good.Leaf.Raw); got != want {
			t.Fatalf("cnf.x5t#S256 = %q, want %q", got, want)
		}
		if body["token_type"] != "Bearer" {
			t.Fatalf("token_type %v", body["token_type"])
		}
	})

	t.Run("introspection shows cnf", func(t *testing.T) {
		status, body := post(t, n.client(&good, ""), n.mtlsURL("/oauth2/introspect"),
			url.Values{"client_id": {"orders"}, "token": {orderToken}}, nil)
		cnf, _ := body["cnf"].(map[string]any)
		if status != http.StatusOK || body["active"] != true || cnf["x5t#S256"] != oauth.CertThumbprint(good.Leaf.Raw) {
			t.Fatalf("introspection: %d %v", status, body)
		}
	})

	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		url  string
	}{
		{"no certificate at the alias", nil, n.mtlsURL("/oauth2/token")},
		{"the public listener asks for none", &good, n.app.Issuer + "/oauth2/token"},
		{"a certificate of another CA", &otherCA, n.mtlsURL("/oauth2/token")},
		{"another subject", &wrongName, n.mtlsURL("/oauth2/token")},
		{"a self-signed certificate", &self, n.mtlsURL("/oauth2/token")},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			status, body := post(t, n.client(tc.cert, ""), tc.url, cc, nil)
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("%d %v, want 401 invalid_client", status, body)
			}
		})
	}

	t.Run("DPoP at the alias: both confirmations", func(t *testing.T) {
		key, err := jose.GenerateKey(jose.ES256)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := dpop.NewProof(key, http.MethodPost, n.mtlsURL("/oauth2/token"), "", "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		status, body := post(t, n.client(&good, ""), n.mtlsURL("/oauth2/token"), cc, http.Header{"Dpop": {proof}})
		if status != http.StatusOK || body["token_type"] != "DPoP" {
			t.Fatalf("%d %v", status, body)
		}
		var j jose.JWS
		if err := j.Parse(body["access_token"].(string), 1<<16); err != nil {
			t.Fatal(err)
		}
		var claims struct {
			Cnf map[string]string `json:"cnf"`
		}
		if err := json.Unmarshal([]byte(j.Payload()), &claims); err != nil {
			t.Fatal(err)
		}
		if claims.Cnf["jkt"] != key.ThumbprintSHA256() || claims.Cnf["x5t#S256"] != oauth.CertThumbprint(good.Leaf.Raw) {
			t.Fatalf("cnf %v", claims.Cnf)
		}
	})

	t.Run("a rotated certificate of the same subject", func(t *testing.T) {
		status, body := post(t, n.client(&rotated, ""), n.mtlsURL("/oauth2/token"), cc, nil)
		if status != http.StatusOK || jwtCnf(t, body["access_token"].(string)) != oauth.CertThumbprint(rotated.Leaf.Raw) {
			t.Fatalf("%d %v", status, body)
		}
	})

	t.Run("self_signed_tls_client_auth", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"reporter"}}
		status, body := post(t, n.client(&self, ""), n.mtlsURL("/oauth2/token"), form, nil)
		if status != http.StatusOK {
			t.Fatalf("token: %d %v", status, body)
		}
		tok, _ := body["access_token"].(string)
		status, intro := post(t, n.client(&self, ""), n.mtlsURL("/oauth2/introspect"), url.Values{"client_id": {"reporter"}, "token": {tok}}, nil)
		cnf, _ := intro["cnf"].(map[string]any)
		if status != http.StatusOK || cnf["x5t#S256"] != oauth.CertThumbprint(self.Leaf.Raw) {
			t.Fatalf("opaque token introspection: %d %v", status, intro)
		}
		status, body = post(t, n.client(&stranger, ""), n.mtlsURL("/oauth2/token"), form, nil)
		if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Fatalf("another self-signed key: %d %v", status, body)
		}
	})

	t.Run("trusted proxy header", func(t *testing.T) {
		escaped := url.QueryEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good.Leaf.Raw})))
		h := http.Header{proxyHeader: {escaped}}
		status, body := post(t, n.client(nil, "127.0.0.2"), n.app.Issuer+"/oauth2/token", cc, h)
		if status != http.StatusOK || jwtCnf(t, body["access_token"].(string)) != oauth.CertThumbprint(good.Leaf.Raw) {
			t.Fatalf("from the trusted proxy: %d %v", status, body)
		}
		status, body = post(t, n.client(nil, "127.0.0.1"), n.app.Issuer+"/oauth2/token", cc, h)
		if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Fatalf("the header from an untrusted source must be ignored: %d %v", status, body)
		}
		status, body = post(t, n.client(nil, "127.0.0.2"), n.app.Issuer+"/oauth2/token", cc, http.Header{proxyHeader: {"garbage"}})
		if status != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Fatalf("a malformed header from the proxy: %d %v", status, body)
		}
	})
}
