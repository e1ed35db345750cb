package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/writ-dev/writ/jose"
)

// tokenEndpoint is a test token endpoint: it records each request and
// answers with status and body.
type tokenEndpoint struct {
	srv    *httptest.Server
	mu     sync.Mutex
	forms  []url.Values
	auths  []string
	status int
	body   string
	ctype  string
}

func newTokenEndpoint(t *testing.T, status int, body string) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{status: status, body: body, ctype: "application/json"}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		e.mu.Lock()
		e.forms = append(e.forms, form)
		e.auths = append(e.auths, r.Header.Get("Authorization"))
		e.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/oauth2/token" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad request line", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", e.ctype)
		w.WriteHeader(e.status)
		_, _ = io.WriteString(w, e.body)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *tokenEndpoint) last(t *testing.T) (url.Values, string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.forms) == 0 {
		t.Fatal("no request reached the token endpoint")
	}
	return e.forms[len(e.forms)-1], e.auths[len(e.auths)-1]
}

func (e *tokenEndpoint) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.forms)
}

// exchangeFixture writes a subject and an actor token and mints the token
// the endpoint returns: an access token of user-1 acted on by an agent
// that acts for service A.
type exchangeFixture struct {
	subjectFile, actorFile string
	issued                 string
}

func newExchangeFixture(t *testing.T) exchangeFixture {
	t.Helper()
	dir := t.TempDir()
	g := genKey(t, dir, jose.ES256)
	f := exchangeFixture{subjectFile: filepath.Join(dir, "subject.jwt"), actorFile: filepath.Join(dir, "actor.jwt")}
	if err := os.WriteFile(f.subjectFile, []byte(mint(t, g.keyFile, "--subject", "user-1")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.actorFile, []byte(mint(t, g.keyFile, "--subject", "agent-7")), 0o600); err != nil {
		t.Fatal(err)
	}
	f.issued = mint(t, g.keyFile, "--subject", "user-1", "--claims",
		`{"scope":"tools:read","act":{"sub":"agent-7","client_id":"agent-7","act":{"sub":"service-a"}},"delegation_id":"d-1"}`)
	return f
}

func (f exchangeFixture) response() string {
	b, _ := json.Marshal(map[string]any{
		"access_token": f.issued, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type": "Bearer", "expires_in": 300, "scope": "tools:read",
	})
	return string(b)
}

func TestTokenExchangeRequestAndHumanOutput(t *testing.T) {
	f := newExchangeFixture(t)
	ep := newTokenEndpoint(t, http.StatusOK, f.response())
	r := writ(t, "", "token", "exchange", "--url", ep.srv.URL, "--client-id", "svc a", "--client-secret", "s:e/c",
		"--subject-token-file", f.subjectFile, "--actor-token-file", f.actorFile, "--actor-token-type", "jwt",
		"--audience", "b", "--audience", "c", "--resource", "https://mcp.example.test/mcp", "--resource", "https://x.test",
		"--scope", "tools:read", "--requested-token-type", "access_token").mustSucceed(t)

	form, auth := ep.last(t)
	subject, _ := os.ReadFile(f.subjectFile)
	actor, _ := os.ReadFile(f.actorFile)
	want := url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":        {strings.TrimSpace(string(subject))},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:access_token"},
		"actor_token":          {string(actor)},
		"actor_token_type":     {"urn:ietf:params:oauth:token-type:jwt"},
		"audience":             {"b", "c"},
		"resource":             {"https://mcp.example.test/mcp", "https://x.test"},
		"scope":                {"tools:read"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
	}
	if got, exp := form.Encode(), want.Encode(); got != exp {
		t.Errorf("form\n got %s\nwant %s", got, exp)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", auth)
	id, secret, ok := req.BasicAuth()
	if !ok || id != "svc+a" || secret != "s%3Ae%2Fc" {
		t.Errorf("Basic credentials %q %q %v: want them form-urlencoded (RFC 6749 §2.3.1)", id, secret, ok)
	}
	if r.stdout != f.issued+"\n" {
		t.Errorf("stdout %q, want the token alone", r.stdout)
	}
	for _, w := range []string{
		"issued_token_type: urn:ietf:params:oauth:token-type:access_token\n",
		"token_type: Bearer  expires_in: 300  scope: tools:read\n",
		"NOT verified",
		"  sub: user-1  aud: https://api.test\n",
		"  act (current actor first):\n    sub: agent-7  client_id: agent-7\n      sub: service-a\n",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not hold %q:\n%s", w, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "delegation_id") {
		t.Error("claims printed without --decode")
	}

	r = writ(t, "", "token", "exchange", "--url", ep.srv.URL, "--client-id", "svc", "--client-secret", "x",
		"--subject-token-file", f.subjectFile, "--decode").mustSucceed(t)
	if !strings.Contains(r.stderr, `"delegation_id": "d-1"`) {
		t.Errorf("--decode does not print the claims:\n%s", r.stderr)
	}
	r = writ(t, "", "token", "exchange", "--url", ep.srv.URL, "--client-id", "svc", "--client-secret", "x",
		"--subject-token-file", f.subjectFile, "-q").mustSucceed(t)
	if r.stderr != "" || r.stdout != f.issued+"\n" {
		t.Errorf("--quiet: stdout %q stderr %q", r.stdout, r.stderr)
	}
	form, _ = ep.last(t)
	for _, k := range []string{"actor_token", "actor_token_type", "audience", "resource", "scope", "requested_token_type", "client_id"} {
		if form.Has(k) {
			t.Errorf("%s sent without its flag", k)
		}
	}
}

func TestTokenExchangeJSON(t *testing.T) {
	f := newExchangeFixture(t)
	ep := newTokenEndpoint(t, http.StatusOK, f.response())
	subject, _ := os.ReadFile(f.subjectFile)
	// The subject token from standard input; a public client (no secret).
	r := writ(t, string(subject), "token", "exchange", "--url", ep.srv.URL+"/", "--client-id", "pub",
		"--subject-token-file", "-", "--json").mustSucceed(t)
	form, auth := ep.last(t)
	if auth != "" || form.Get("client_id") != "pub" || form.Get("subject_token") != strings.TrimSpace(string(subject)) {
		t.Errorf("public client: auth %q, form %v", auth, form)
	}
	var out struct {
		AccessToken     string           `json:"access_token"`
		IssuedTokenType string           `json:"issued_token_type"`
		ExpiresIn       int              `json:"expires_in"`
		Claims          map[string]any   `json:"claims"`
		ActChain        []map[string]any `json:"act_chain"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if out.AccessToken != f.issued || out.IssuedTokenType == "" || out.ExpiresIn != 300 || out.Claims["sub"] != "user-1" {
		t.Errorf("--json: %+v", out)
	}
	if len(out.ActChain) != 2 || out.ActChain[0]["sub"] != "agent-7" || out.ActChain[1]["sub"] != "service-a" || out.ActChain[0]["act"] != nil {
		t.Errorf("act_chain = %v, want agent-7 then service-a, flattened", out.ActChain)
	}
	if r.stderr != "" {
		t.Errorf("--json wrote on standard error: %q", r.stderr)
	}
}

func TestTokenExchangeOpaqueAndEnvSecret(t *testing.T) {
	f := newExchangeFixture(t)
	ep := newTokenEndpoint(t, http.StatusOK, `{"access_token":"writ_at_abc","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","refresh_token":"writ_rt_x"}`)
	t.Setenv("WRIT_CLIENT_SECRET", "from-env")
	r := writ(t, "", "token", "exchange", "--token-endpoint", ep.srv.URL+"/oauth2/token", "--client-id", "svc",
		"--subject-token-file", f.subjectFile).mustSucceed(t)
	if r.stdout != "writ_at_abc\n" || !strings.Contains(r.stderr, "not a JWT") || !strings.Contains(r.stderr, "refresh_token: (issued") {
		t.Errorf("opaque: stdout %q stderr %q", r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "writ_rt_x") {
		t.Error("the refresh token was printed on standard error")
	}
	_, auth := ep.last(t)
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", auth)
	if _, secret, _ := req.BasicAuth(); secret != "from-env" {
		t.Errorf("secret %q, want WRIT_CLIENT_SECRET", secret)
	}
}

func TestTokenExchangeRefused(t *testing.T) {
	f := newExchangeFixture(t)
	for _, tc := range []struct {
		name, body, ctype string
		status, code      int
		want              []string
	}{
		{"oauth error", `{"error":"invalid_target","error_description":"this client may not exchange for that audience"}`, "application/json", 400, exitRejected,
			[]string{"writ: exchange refused: invalid_target: this client may not exchange for that audience"}},
		{"oauth error with control characters", `{"error":"invalid_grant","error_description":"bad\u001b[31m\nnews"}`, "application/json;charset=utf-8", 400, exitRejected,
			[]string{"exchange refused: invalid_grant: bad?[31m news"}},
		{"server error page", `<html>oops</html>`, "text/html", 502, exitUsage, []string{"answered 502"}},
		{"not JSON", `access_token=x`, "text/plain", 200, exitUsage, []string{"not JSON"}},
		{"no issued_token_type", `{"access_token":"x","token_type":"Bearer"}`, "application/json", 200, exitUsage, []string{"issued_token_type"}},
		{"duplicate members", `{"access_token":"x","access_token":"y","issued_token_type":"t","token_type":"Bearer"}`, "application/json", 200, exitUsage, []string{"not a JSON object"}},
		{"redirect not followed", ``, "text/plain", 307, exitUsage, []string{"answered 307"}},
		{"token with a control character", `{"access_token":"x\u001b[2Jy","issued_token_type":"t","token_type":"Bearer"}`, "application/json", 200, exitUsage, []string{"characters a token cannot have"}},
		{"token with a newline", `{"access_token":"x\ny","issued_token_type":"t","token_type":"Bearer"}`, "application/json", 200, exitUsage, []string{"characters a token cannot have"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := newTokenEndpoint(t, tc.status, tc.body)
			ep.ctype = tc.ctype
			r := writ(t, "", "token", "exchange", "--url", ep.srv.URL, "--client-id", "svc", "--client-secret", "x",
				"--subject-token-file", f.subjectFile)
			r.mustFail(t, tc.code, tc.want...)
			if r.stdout != "" {
				t.Errorf("stdout %q on failure", r.stdout)
			}
		})
	}
}

func TestTokenExchangeUsage(t *testing.T) {
	f := newExchangeFixture(t)
	ep := newTokenEndpoint(t, http.StatusOK, f.response())
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	two := filepath.Join(t.TempDir(), "two")
	os.WriteFile(two, []byte("a b"), 0o600)
	base := []string{"token", "exchange", "--url", ep.srv.URL, "--client-secret", "x"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no client", []string{"--subject-token-file", f.subjectFile}, "--client-id is required"},
		{"no subject", []string{"--client-id", "c"}, "--subject-token-file is required"},
		{"both stdin", []string{"--client-id", "c", "--subject-token-file", "-", "--actor-token-file", "-"}, "only one of"},
		{"actor type alone", []string{"--client-id", "c", "--subject-token-file", f.subjectFile, "--actor-token-type", "jwt"}, "--actor-token-type needs --actor-token-file"},
		{"bad token type", []string{"--client-id", "c", "--subject-token-file", f.subjectFile, "--subject-token-type", "bearer"}, "--subject-token-type"},
		{"bad requested type", []string{"--client-id", "c", "--subject-token-file", f.subjectFile, "--requested-token-type", "x y"}, "--requested-token-type"},
		{"resource with fragment", []string{"--client-id", "c", "--subject-token-file", f.subjectFile, "--resource", "https://a.test/#x"}, "--resource"},
		{"relative resource", []string{"--client-id", "c", "--subject-token-file", f.subjectFile, "--resource", "/mcp"}, "--resource"},
		{"missing file", []string{"--client-id", "c", "--subject-token-file", "/nonexistent/t"}, "subject token file"},
		{"empty token", []string{"--client-id", "c", "--subject-token-file", empty}, "is empty"},
		{"two tokens", []string{"--client-id", "c", "--subject-token-file", two}, "one token"},
		{"plain http elsewhere", []string{"--client-id", "c", "--subject-token-file", f.subjectFile, "--token-endpoint", "http://as.example.test/token"}, "loopback"},
		{"not a URL", []string{"--client-id", "c", "--subject-token-file", f.subjectFile, "--token-endpoint", "ftp://x/token"}, "not an http(s) URL"},
		{"argument", []string{"--client-id", "c", "--subject-token-file", f.subjectFile, "extra"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := writ(t, "", append(base, tc.args...)...)
			if tc.want == "" {
				r.mustFail(t, exitUsage)
			} else {
				r.mustFail(t, exitUsage, tc.want)
			}
		})
	}
	if n := ep.count(); n != 0 {
		t.Errorf("%d requests reached the token endpoint on usage errors", n)
	}
	// Short names and URIs both work.
	for _, typ := range []string{"id_token", "urn:ietf:params:oauth:token-type:id_token"} {
		writ(t, "", append(base, "--client-id", "c", "--subject-token-file", f.subjectFile, "--subject-token-type", typ)...).mustSucceed(t)
		if form, _ := ep.last(t); form.Get("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token" {
			t.Errorf("%s: subject_token_type %q", typ, form.Get("subject_token_type"))
		}
	}
}

// FuzzActChain: any claims give a chain no deeper than maxActDepth, whose
// links hold no act, without panicking.
func FuzzActChain(f *testing.F) {
	f.Add(`{"act":{"sub":"a","act":{"sub":"b"}}}`)
	f.Add(`{"act":"x"}`)
	f.Add(`{"act":{"act":{"act":null}}}`)
	f.Add(`{"act":[1]}`)
	f.Fuzz(func(t *testing.T, claims string) {
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(claims), &m) != nil {
			return
		}
		chain := actChain(m)
		if len(chain) > maxActDepth {
			t.Fatalf("chain of %d links", len(chain))
		}
		for _, l := range chain {
			if _, ok := l["act"]; ok {
				t.Fatal("a link kept its act")
			}
			_ = linkText(l)
		}
	})
}

// TestTokenExchangeDPoP: --dpop-key sends a proof signed by the key (its
// public half in the header, htm POST, htu the endpoint), retries once
// with the server's nonce, and the bound token's type is shown.
func TestTokenExchangeDPoP(t *testing.T) {
	f := newExchangeFixture(t)
	dir := t.TempDir()
	g := genKey(t, dir, jose.ES256)
	var (
		mu     sync.Mutex
		proofs []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proofs = append(proofs, r.Header.Get("DPoP"))
		n := len(proofs)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n == 1 {
			w.Header().Set("DPoP-Nonce", "nonce-1")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"use_dpop_nonce","error_description":"use the nonce"}`)
			return
		}
		io.WriteString(w, `{"access_token":"writ_at_bound","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"DPoP","expires_in":60}`)
	}))
	t.Cleanup(srv.Close)
	r := writ(t, "", "token", "exchange", "--url", srv.URL, "--client-id", "svc", "--client-secret", "x",
		"--subject-token-file", f.subjectFile, "--dpop-key", g.keyFile).mustSucceed(t)
	if r.stdout != "writ_at_bound\n" || !strings.Contains(r.stderr, "token_type: DPoP") {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if len(proofs) != 2 {
		t.Fatalf("%d requests, want 2 (the nonce retry)", len(proofs))
	}
	for i, proof := range proofs {
		jws, err := jose.ParseCompact(proof, 0)
		if err != nil {
			t.Fatalf("proof %d: %v", i, err)
		}
		var hdr struct {
			Typ string          `json:"typ"`
			JWK json.RawMessage `json:"jwk"`
		}
		var claims struct {
			HTM, HTU, Nonce string
		}
		if json.Unmarshal([]byte(jws.Header.Raw), &hdr) != nil || json.Unmarshal([]byte(jws.Payload()), &claims) != nil {
			t.Fatalf("proof %d: %s %s", i, jws.Header.Raw, jws.Payload())
		}
		pub, err := jose.ParsePublicKey(hdr.JWK, jws.Header.Algorithm)
		if err != nil || pub.ThumbprintSHA256() != g.key.ThumbprintSHA256() || jws.VerifyKey(pub) != nil {
			t.Errorf("proof %d is not signed by the --dpop-key key: %v", i, err)
		}
		wantNonce := map[int]string{0: "", 1: "nonce-1"}[i]
		if hdr.Typ != "dpop+jwt" || claims.HTM != "POST" || claims.HTU != srv.URL+"/oauth2/token" || claims.Nonce != wantNonce {
			t.Errorf("proof %d: typ %q htm %q htu %q nonce %q", i, hdr.Typ, claims.HTM, claims.HTU, claims.Nonce)
		}
	}

	// A symmetric key cannot sign a proof; a public key neither.
	h := genKey(t, dir, jose.HS256)
	writ(t, "", "token", "exchange", "--url", srv.URL, "--client-id", "svc", "--client-secret", "x",
		"--subject-token-file", f.subjectFile, "--dpop-key", h.keyFile).mustFail(t, exitUsage, "--dpop-key")
	writ(t, "", "token", "exchange", "--url", srv.URL, "--client-id", "svc", "--client-secret", "x",
		"--subject-token-file", f.subjectFile, "--dpop-key", g.jwks).mustFail(t, exitUsage, "--dpop-key")
}
