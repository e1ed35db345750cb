package interop_test

// oauth2-proxy (v7.15.6, `go install
// github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6`) in front of a small
// upstream, with writ as its OpenID Connect provider, run with the flags of
// the command in docs/oauth2-proxy.md (addresses, secrets and the issuer
// replaced; writ serves https here, so --provider-ca-file is added): the
// browser flow reaches the upstream with the user's identity headers;
// --skip-jwt-bearer-tokens lets a writ access token for the API audience
// through (and no other); --backend-logout-url ends the writ session with
// {id_token}.

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiAudience is the audience the proxied application's tokens carry: the
// proxy's client is registered for it, and oauth2-proxy accepts it with
// --oidc-extra-audience. It is the one docs/oauth2-proxy.md uses.
const apiAudience = "https://app.example.com"

// The documented setup: its issuer, and the file whose oauth2-proxy
// command the test runs.
const (
	docIssuer    = "http://127.0.0.1:8080"
	docProxyFile = "../../docs/oauth2-proxy.md"
)

// documentedProxyFlags returns the flags of the oauth2-proxy command in
// docs/oauth2-proxy.md, as --name=value and --name words, so that the test runs what
// the documentation says.
func documentedProxyFlags(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(docProxyFile)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "oauth2-proxy --") {
			continue
		}
		// The command ends where its output is redirected.
		if i := strings.IndexAny(line, ">&"); i >= 0 {
			line = line[:i]
		}
		words, err := shellWords(line)
		if err != nil {
			t.Fatalf("%s: %v", docProxyFile, err)
		}
		return words[1:]
	}
	t.Fatalf("%s: no line starts with \"oauth2-proxy --\"", docProxyFile)
	return nil
}

// shellWords splits a command line as sh does for the plain words, single
// and double quotes of a documented command (no expansions).
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// proxyFlags turns the documented flags into the test's: values of the
// flags in set are replaced (or added), the listener flags are left to
// startProxy, oldIssuer becomes newIssuer in the other values, and any
// value still naming a shell variable or the documented address fails.
func proxyFlags(t *testing.T, documented []string, set map[string]string, oldIssuer, newIssuer string) []string {
	t.Helper()
	var out []string
	done := map[string]bool{}
	for _, word := range documented {
		if !strings.HasPrefix(word, "--") {
			t.Fatalf("%s: write oauth2-proxy flags as --name=value or --name, not %q", docProxyFile, word)
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(word, "--"), "=")
		if _, ok := set[name]; !hasValue && !ok {
			out = append(out, word) // a boolean flag
			continue
		}
		switch name {
		case "http-address", "redirect-url":
			if !strings.Contains(value, "127.0.0.1:4180") {
				t.Errorf("%s: --%s=%s, want 127.0.0.1:4180", docProxyFile, name, value)
			}
			continue // startProxy sets them
		}
		if v, ok := set[name]; ok {
			value, done[name] = v, true
		} else {
			value = strings.ReplaceAll(value, oldIssuer, newIssuer)
		}
		if strings.Contains(value, "$") || strings.Contains(value, "127.0.0.1:8080") {
			t.Fatalf("%s: --%s=%s is not replaced by the test", docProxyFile, name, value)
		}
		out = append(out, "--"+name+"="+value)
	}
	for name, v := range set {
		if !done[name] {
			out = append(out, "--"+name+"="+v)
		}
	}
	return out
}

// lockedBuffer collects a subprocess's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// seen is what the upstream received: the identity headers oauth2-proxy
// sets.
type seen struct {
	User, Email, PreferredUsername, AccessToken, Authorization string
}

// newUpstream starts the application behind the proxy: it answers with
// the identity headers it received, as JSON.
func newUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{
			User:              r.Header.Get("X-Forwarded-User"),
			Email:             r.Header.Get("X-Forwarded-Email"),
			PreferredUsername: r.Header.Get("X-Forwarded-Preferred-Username"),
			AccessToken:       r.Header.Get("X-Forwarded-Access-Token"),
			Authorization:     r.Header.Get("Authorization"),
		})
	}))
	t.Cleanup(ts.Close)
	return ts
}

// proxy is a running oauth2-proxy.
type proxy struct {
	URL string
	out *lockedBuffer
}

// startProxy runs oauth2-proxy on a loopback listener it inherits (fd 3,
// systemd socket activation), so that its address is known before it
// starts and no other process can take the port, with the given flags plus
// --http-address and --redirect-url. SSL_CERT_FILE makes it trust the test
// CA everywhere: --provider-ca-file covers discovery, tokens and keys, but
// the backend logout call uses Go's default HTTP client.
func startProxy(t *testing.T, bin string, w *writNode, flags func(proxyURL string) []string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &proxy{URL: "http://" + ln.Addr().String(), out: &lockedBuffer{}}
	args := append([]string{"--http-address=fd:3", "--redirect-url=" + p.URL + "/oauth2/callback"}, flags(p.URL)...)
	// oauth2-proxy takes fd:3 as a systemd socket: LISTEN_FDS and
	// LISTEN_PID must name it, so a shell exports its own pid and execs.
	cmd := exec.Command("/bin/sh", append([]string{"-c", `export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" "$@"`, bin}, args...)...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+w.CAFile)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start oauth2-proxy: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("oauth2-proxy output:\n%s", p.out)
		}
	})
	// The listener already accepts; /ping answers once oauth2-proxy has
	// discovered writ and serves.
	ping := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("oauth2-proxy exited: %v\n%s", err, p.out)
		default:
		}
		resp, err := ping.Get(p.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy did not answer /ping: %v\n%s", err, p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// auth asks the proxy's /oauth2/auth (nginx auth_request) endpoint about a
// bearer token.
func (p *proxy) auth(t *testing.T, token string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.URL+"/oauth2/auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("auth request: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// bearer sends GET /api/orders to the proxy with a bearer token and no
// cookie.
func (p *proxy) bearer(t *testing.T, token string) (int, seen) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.URL+"/api/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("bearer request: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var s seen
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatalf("upstream answer %q: %v", body, err)
		}
	}
	return resp.StatusCode, s
}

func TestOAuth2Proxy(t *testing.T) {
	bin := needProgram(t, "oauth2-proxy", "go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6 (.ci/run does)")
	w := startWrit(t)
	carol := w.createUser(t, "carol")
	upstream := newUpstream(t)

	// The proxy's client: a confidential web application registered for the
	// API audience, so that the access tokens of its users carry it. Its
	// redirect URI is known once the proxy's listener is, so it is
	// registered from inside the flags callback.
	var proxyClient client
	cookieSecret := make([]byte, 32)
	if _, err := rand.Read(cookieSecret); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, bin, w, func(proxyURL string) []string {
		proxyClient = w.createClient(t, map[string]any{
			"client_name":   "oauth2-proxy",
			"redirect_uris": []string{proxyURL + "/oauth2/callback"},
			"grant_types":   []string{"authorization_code", "refresh_token"},
			"scope":         "openid email profile",
			"audiences":     []string{apiAudience},
		})
		return proxyFlags(t, documentedProxyFlags(t), map[string]string{
			"oidc-issuer-url": w.Issuer,
			"client-id":       proxyClient.ID,
			"client-secret":   proxyClient.Secret,
			"cookie-secret":   base64.URLEncoding.EncodeToString(cookieSecret),
			"upstream":        upstream.URL,
			// Only here: writ serves https with a test CA.
			"provider-ca-file": w.CAFile,
		}, docIssuer, w.Issuer)
	})

	b := w.newBrowser(t, carol)
	var atFromSession string
	t.Run("browser_flow", func(t *testing.T) {
		pg := b.visit(t, p.URL+"/dashboard", nil)
		if pg.Status != http.StatusOK || !strings.HasPrefix(pg.URL.String(), p.URL+"/dashboard") {
			t.Fatalf("the browser did not reach the upstream through the proxy: %s", pg)
		}
		var s seen
		if err := json.Unmarshal([]byte(pg.Body), &s); err != nil {
			t.Fatalf("upstream answer %q: %v", pg.Body, err)
		}
		if s.User != carol.ID || s.Email != carol.Email || s.PreferredUsername != "" && s.PreferredUsername != carol.Username {
			t.Errorf("upstream saw user %q email %q preferred_username %q, want %q %q %q", s.User, s.Email, s.PreferredUsername, carol.ID, carol.Email, carol.Username)
		}
		if s.AccessToken == "" {
			t.Fatal("no X-Forwarded-Access-Token (--pass-access-token)")
		}
		t.Logf("upstream saw X-Forwarded-User %q, X-Forwarded-Email %q, X-Forwarded-Preferred-Username %q", s.User, s.Email, s.PreferredUsername)
		atFromSession = s.AccessToken
	})

	t.Run("jwt_bearer", func(t *testing.T) {
		// A service with the API audience gets a token for itself...
		svc := w.createClient(t, map[string]any{
			"client_name": "orders service",
			"grant_types": []string{"client_credentials"},
			"scope":       "orders:read",
			"audiences":   []string{apiAudience},
		})
		// ...and one without an audience gets one for the issuer.
		other := w.createClient(t, map[string]any{
			"client_name": "some other service",
			"grant_types": []string{"client_credentials"},
			"scope":       "orders:read",
		})
		for _, tc := range []struct {
			name     string
			token    func(t *testing.T) string
			wantUser string
		}{
			{"service_token_for_the_api", func(t *testing.T) string { return w.clientCredentials(t, svc) }, svc.ID},
			{"user_token_from_the_proxy_session", func(t *testing.T) string {
				if atFromSession == "" {
					t.Skip("the browser flow failed")
				}
				return atFromSession
			}, carol.ID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				token := tc.token(t)
				status, s := p.bearer(t, token)
				if status != http.StatusOK {
					t.Fatalf("status %d for a writ access token with aud %s, want 200", status, apiAudience)
				}
				if s.User != tc.wantUser {
					t.Errorf("upstream saw user %q, want %q", s.User, tc.wantUser)
				}
				// The nginx auth_request endpoint answers the same, with
				// the identity in response headers (--set-xauthrequest).
				status, h := p.auth(t, token)
				if status != http.StatusAccepted || h.Get("X-Auth-Request-User") != tc.wantUser {
					t.Errorf("/oauth2/auth: %d, X-Auth-Request-User %q, want 202 and %q", status, h.Get("X-Auth-Request-User"), tc.wantUser)
				}
			})
		}
		t.Run("other_audience_refused", func(t *testing.T) {
			token := w.clientCredentials(t, other)
			if status, _ := p.bearer(t, token); status == http.StatusOK {
				t.Fatalf("a token for another audience reached the upstream")
			}
			if status, _ := p.auth(t, token); status != http.StatusUnauthorized {
				t.Errorf("/oauth2/auth: %d for a token for another audience, want 401", status)
			}
		})
		t.Run("garbage_refused", func(t *testing.T) {
			status, _ := p.bearer(t, "eyJhbGciOiJub25lIn0.e30.")
			if status == http.StatusOK {
				t.Fatalf("an unsigned token reached the upstream")
			}
		})
	})

	t.Run("backend_logout", func(t *testing.T) {
		if atFromSession == "" {
			t.Skip("the browser flow failed")
		}
		pg := b.visit(t, p.URL+"/oauth2/sign_out", func(*url.URL) bool { return true })
		if pg.Status >= 400 {
			t.Fatalf("sign_out: %s", pg)
		}
		if strings.Contains(p.out.String(), "backend logout") {
			t.Errorf("oauth2-proxy reports: %s", lastLines(p.out.String(), "backend logout"))
		}
		// The proxy's session is gone: the next visit goes to writ.
		pg = b.visit(t, p.URL+"/dashboard", func(u *url.URL) bool { return strings.HasPrefix(u.String(), w.Issuer) })
		if pg.Location == nil || !strings.HasPrefix(pg.Location.String(), w.Issuer+"/oauth2/authorize") {
			t.Fatalf("after sign_out, the proxy let the browser through: %s", pg)
		}
		// And writ's session is gone too: prompt=none answers
		// login_required instead of a code.
		auth := pg.Location.Query()
		auth.Set("prompt", "none")
		pg = b.visit(t, w.Issuer+"/oauth2/authorize?"+auth.Encode(), func(u *url.URL) bool {
			return strings.HasPrefix(u.String(), p.URL)
		})
		if pg.Location == nil {
			t.Fatalf("prompt=none did not redirect back: %s", pg)
		}
		q := pg.Location.Query()
		needFeature(t, q.Get("code") == "", "item 17: the end-session endpoint ends the session named by id_token_hint without a cookie (oauth2-proxy's --backend-logout-url)")
		if q.Get("error") != "login_required" {
			t.Errorf("prompt=none after backend logout: %s, want error=login_required", pg.Location)
		}
	})
}

// clientCredentials gets an access token for c with Basic credentials.
func (w *writNode) clientCredentials(t *testing.T, c client) string {
	t.Helper()
	resp := w.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, c.Secret)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("client credentials for %s: %s", c.ID, resp)
	}
	return tr.AccessToken
}

// lastLines returns the lines of out that contain s.
func lastLines(out, s string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
