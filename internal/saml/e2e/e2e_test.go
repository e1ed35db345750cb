// Package e2e drives writ's SAML identity provider with a service provider
// no one here wrote: OneLogin's python-saml (Debian's
// python3-onelogin-saml2), configured from writ's metadata, completes
// SP-initiated sign-on through writ's sign-in page and single logout, and
// xmlsec1 verifies the signed response with the IdP certificate.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
)

// python is Debian's interpreter, where python3-onelogin-saml2 lives (a
// python3 earlier on PATH may be another installation without it).
const python = "/usr/bin/python3"

func requireTools(t *testing.T) {
	t.Helper()
	missing := []string{}
	if err := exec.Command(python, "-c", "import onelogin.saml2.auth").Run(); err != nil {
		missing = append(missing, "python3-onelogin-saml2")
	}
	if _, err := exec.LookPath("xmlsec1"); err != nil {
		missing = append(missing, "xmlsec1")
	}
	if len(missing) == 0 {
		return
	}
	msg := "the SAML end-to-end test needs Debian's " + strings.Join(missing, " and ") + " (apt-get install python3-onelogin-saml2 xmlsec1)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

type writNode struct {
	app    *app.App
	issuer string
	admin  string
}

func startWrit(t *testing.T) *writNode {
	t.Helper()
	dir := t.TempDir()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   filepath.Join(dir, "data"),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
		"WRIT_LOG_LEVEL":  "warn",
	}, app.Options{Announce: io.Discard})
	return &writNode{app: a, issuer: a.Issuer, admin: "http://" + a.AdminAddr().String()}
}

func (n *writNode) adminCall(t *testing.T, method, path string, body any, want int) []byte {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.admin+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.app.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out
}

// sp is a running python-saml service provider.
type sp struct {
	base string
}

func startSP(t *testing.T, idpMetadataURL string, flags ...string) *sp {
	t.Helper()
	dir := t.TempDir()
	keyFile, certFile := filepath.Join(dir, "sp.key"), filepath.Join(dir, "sp.crt")
	writeKeyPair(t, keyFile, certFile)
	args := append([]string{"../../../examples/saml-sp/sp.py", idpMetadataURL, keyFile, certFile}, flags...)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Stderr = &testWriter{t: t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening ") {
		t.Fatalf("the SP did not start: %q %v", line, err)
	}
	return &sp{base: "http://127.0.0.1:" + strings.TrimSpace(strings.TrimPrefix(line, "listening "))}
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) { w.t.Logf("sp: %s", p); return len(p), nil }

func writeKeyPair(t *testing.T, keyFile, certFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "python SP"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// browser is a cookie-keeping HTTP client that follows redirects, the way
// a browser without scripts does.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.client.Get(u)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	return resp, readBody(b.t, resp)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.client.PostForm(u, form)
	if err != nil {
		b.t.Fatalf("POST %s: %v", u, err)
	}
	return resp, readBody(b.t, resp)
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	formRE   = regexp.MustCompile(`(?s)<form method="post"(?: action="([^"]*)")?[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// form returns the action and hidden fields of the page's first form.
func form(t *testing.T, page, base string) (string, url.Values) {
	t.Helper()
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in the page:\n%s", page)
	}
	action := html.UnescapeString(m[1])
	if action == "" || strings.HasPrefix(action, "/") {
		action = base + action
	}
	v := url.Values{}
	for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
		v.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	return action, v
}

type acsResult struct {
	Errors        []string            `json:"errors"`
	Reason        string              `json:"reason"`
	Authenticated bool                `json:"authenticated"`
	NameID        string              `json:"name_id"`
	NameIDFormat  string              `json:"name_id_format"`
	SessionIndex  string              `json:"session_index"`
	Attributes    map[string][]string `json:"attributes"`
	RelayState    string              `json:"relay_state"`
}

// signIn runs SP-initiated SSO in b through writ's login page and returns
// what the SP concluded and the SAMLResponse it got.
func signIn(t *testing.T, b *browser, n *writNode, s *sp, login bool) (acsResult, []byte) {
	t.Helper()
	resp, page := b.get(s.base + "/login")
	if login {
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
			t.Fatalf("want writ's login page, got %d:\n%s", resp.StatusCode, page)
		}
		action, fields := form(t, page, n.issuer)
		fields.Set("username", "ada")
		fields.Set("password", "correct horse battery")
		resp, page = b.post(action, fields)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="SAMLResponse"`) {
		t.Fatalf("want the SAML post page, got %d:\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:") {
		t.Errorf("the post page's CSP does not admit the ACS: %s", csp)
	}
	action, fields := form(t, page, n.issuer)
	if action != s.base+"/acs" {
		t.Fatalf("the response goes to %s, not the SP's ACS", action)
	}
	raw, err := base64.StdEncoding.DecodeString(fields.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	resp, body := b.post(action, fields)
	var r acsResult
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil {
		t.Fatalf("ACS: %d %s", resp.StatusCode, body)
	}
	return r, raw
}

func registerSP(t *testing.T, n *writNode, s *sp, extra map[string]any) {
	t.Helper()
	resp, err := http.Get(s.base + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	meta := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SP metadata: %d %s", resp.StatusCode, meta)
	}
	body := map[string]any{"metadata": meta, "name": "Python SP",
		"attributes": []map[string]string{
			{"claim": "email", "name": "urn:oid:0.9.2342.19200300.100.1.3", "name_format": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri", "friendly_name": "mail"},
			{"claim": "name", "name": "displayName"},
		}}
	for k, v := range extra {
		body[k] = v
	}
	n.adminCall(t, http.MethodPost, "/admin/saml-sps", body, http.StatusCreated)
}

func TestSAMLWithPythonSP(t *testing.T) {
	requireTools(t)
	n := startWrit(t)
	n.adminCall(t, http.MethodPost, "/admin/users", map[string]any{"username": "ada", "password": "correct horse battery",
		"email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace"}, http.StatusCreated)
	s := startSP(t, n.issuer+"/saml/metadata")
	registerSP(t, n, s, nil)
	b := newBrowser(t)

	r, raw := signIn(t, b, n, s, true)
	if !r.Authenticated || len(r.Errors) != 0 {
		t.Fatalf("the SP refused writ's response: %v %s", r.Errors, r.Reason)
	}
	if r.NameIDFormat != "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" || r.NameID == "" || r.SessionIndex == "" {
		t.Errorf("subject: %+v", r)
	}
	if got := r.Attributes["urn:oid:0.9.2342.19200300.100.1.3"]; len(got) != 1 || got[0] != "ada@example.com" {
		t.Errorf("email attribute = %v", r.Attributes)
	}
	if got := r.Attributes["displayName"]; len(got) != 1 || got[0] != "Ada Lovelace" {
		t.Errorf("displayName attribute = %v", r.Attributes)
	}
	if r.RelayState != s.base+"/after" {
		t.Errorf("RelayState = %q", r.RelayState)
	}
	xmlsecVerify(t, n, raw)
	exchangeAssertion(t, n, s, raw, r.NameID)

	// One sign-in serves both: the session is writ's, so the next
	// sign-on skips the login page and the pairwise NameID is stable.
	again, _ := signIn(t, b, n, s, false)
	if !again.Authenticated || again.NameID != r.NameID || again.SessionIndex != r.SessionIndex {
		t.Errorf("second sign-on: %+v", again)
	}

	// A replayed response is refused by the SP (InResponseTo no longer
	// matches its request).
	resp, body := b.post(s.base+"/acs", url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}})
	var replay acsResult
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &replay) != nil || replay.Authenticated {
		t.Errorf("a replayed response was accepted: %s", body)
	}

	// Single logout: the SP's signed LogoutRequest ends writ's session and
	// the SP accepts writ's signed LogoutResponse.
	resp, body = b.get(s.base + "/logout")
	var slo struct {
		Errors []string `json:"errors"`
		Reason string   `json:"reason"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &slo) != nil || len(slo.Errors) != 0 {
		t.Fatalf("single logout: %d %s", resp.StatusCode, body)
	}
	if resp.Request.URL.Path != "/sls" {
		t.Errorf("logout ended at %s", resp.Request.URL)
	}
	// The session is gone: the next sign-on asks for the password.
	resp, page := b.get(s.base + "/login")
	if !strings.Contains(page, `name="password"`) {
		t.Fatalf("after single logout writ did not ask to sign in again: %d\n%s", resp.StatusCode, page)
	}
}

func TestSAMLEncryptedAndSignedResponse(t *testing.T) {
	requireTools(t)
	n := startWrit(t)
	n.adminCall(t, http.MethodPost, "/admin/users", map[string]any{"username": "ada", "password": "correct horse battery",
		"email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace"}, http.StatusCreated)
	s := startSP(t, n.issuer+"/saml/metadata", "--encrypted", "--signed-response", "--email")
	registerSP(t, n, s, map[string]any{"encrypt_assertions": true, "sign_response": true})
	r, raw := signIn(t, b(t), n, s, true)
	if !r.Authenticated || len(r.Errors) != 0 {
		t.Fatalf("the SP refused writ's encrypted response: %v %s", r.Errors, r.Reason)
	}
	if r.NameID != "ada@example.com" {
		t.Errorf("NameID = %q (%+v)", r.NameID, r)
	}
	if strings.Contains(string(raw), "ada@example.com") {
		t.Error("the encrypted response shows the user's address")
	}
}

func b(t *testing.T) *browser { return newBrowser(t) }

// xmlsecVerify checks the assertion's signature with xmlsec1 and the
// certificate writ's metadata publishes.
func xmlsecVerify(t *testing.T, n *writNode, response []byte) {
	t.Helper()
	resp, err := http.Get(n.issuer + "/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString(readBody(t, resp)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	respFile := filepath.Join(dir, "response.xml")
	if err := os.WriteFile(respFile, response, 0o600); err != nil {
		t.Fatal(err)
	}
	var tried int
	for _, c := range doc.FindElements("//X509Certificate") {
		der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.Text()))
		if err != nil {
			t.Fatal(err)
		}
		certFile := filepath.Join(dir, "idp.pem")
		if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		tried++
		out, err := exec.Command("xmlsec1", "--verify", "--pubkey-cert-pem", certFile,
			"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", respFile).CombinedOutput()
		if err == nil {
			return
		}
		t.Logf("xmlsec1 with certificate %d: %s", tried, out)
	}
	t.Fatalf("xmlsec1 verified the response with none of the %d certificates of writ's metadata", tried)
}

// exchangeAssertion presents the assertion of a response to writ's token
// endpoint (RFC 8693, subject_token_type saml2) as the SAML application's
// OAuth client, whose exchange policy names writ's SAML IdP as a subject
// issuer and the SP's entity ID (the assertion's audience) as a subject
// audience, and checks that a second presentation is refused.
func exchangeAssertion(t *testing.T, n *writNode, s *sp, response []byte, nameID string) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(response); err != nil {
		t.Fatal(err)
	}
	a := etree.NewDocument()
	a.SetRoot(doc.Root().SelectElement("Assertion").Copy())
	assertion, err := a.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	out := n.adminCall(t, http.MethodPost, "/admin/clients", map[string]any{
		"client_name": "Python SP's API access",
		"grant_types": []string{"urn:ietf:params:oauth:grant-type:token-exchange"}, "scope": "orders:read",
		"token_exchange": map[string]any{"subject_issuers": []string{n.issuer + "/saml/metadata"},
			"subject_audiences": []string{s.base + "/metadata"}},
	}, http.StatusCreated)
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	exchange := func() (int, map[string]any) {
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token":      {base64.RawURLEncoding.EncodeToString(assertion)},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:saml2"}, "scope": {"orders:read"}}
		req, err := http.NewRequest(http.MethodPost, n.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.Unmarshal([]byte(readBody(t, resp)), &body)
		return resp.StatusCode, body
	}
	status, body := exchange()
	if status != http.StatusOK {
		t.Fatalf("token exchange of the assertion: %d %v", status, body)
	}
	tok, _ := body["access_token"].(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("access token = %q", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["sub"] != nameID || body["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" {
		t.Errorf("exchanged token: %v / %v", claims, body)
	}
	if status, body := exchange(); status != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("a replayed assertion: %d %v", status, body)
	}
}
