package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/apptest"
)

var hiddenInputRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hiddenFields are the hidden inputs of an HTML page.
func hiddenFields(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInputRe.FindAllStringSubmatch(body, -1) {
		v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// approveAsUser plays the person with a browser: opens the verification
// URL, signs in, confirms the code and allows the device.
func approveAsUser(t *testing.T, issuer, verification, username, password string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	read := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d\n%s", resp.Request.Method, resp.Request.URL, resp.StatusCode, b)
		}
		return string(b)
	}
	u, err := url.Parse(verification)
	if err != nil {
		t.Fatal(err)
	}
	code := u.Query().Get("user_code")
	login := read(hc.Get(verification))
	form := hiddenFields(login)
	form.Set("username", username)
	form.Set("password", password)
	device := read(hc.PostForm(issuer+"/login", form))
	if !strings.Contains(device, `value="`+code+`"`) {
		t.Fatalf("after login, not the prefilled device page:\n%s", device)
	}
	form = hiddenFields(device)
	form.Set("user_code", code)
	consent := read(hc.PostForm(issuer+"/device", form))
	form = hiddenFields(consent)
	form.Set("decision", "approve")
	if done := read(hc.PostForm(issuer+"/device", form)); !strings.Contains(done, "the device is connected") {
		t.Fatalf("approval:\n%s", done)
	}
}

// lockedWriter is an io.Writer safe for the command and the test at once.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// loginApproved runs "writ login" with args while a scripted user
// approves the code it prints.
func loginApproved(t *testing.T, issuer string, args []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	var out bytes.Buffer
	errs := &lockedWriter{}
	done := make(chan int, 1)
	go func() {
		code := run(ctx, args, strings.NewReader(""), &out, io.MultiWriter(pw, errs))
		pw.Close()
		done <- code
	}()
	sc := bufio.NewScanner(pr)
	var verification string
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "(or open "); ok {
			verification = strings.TrimSuffix(rest, ")")
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if verification == "" {
		<-done
		t.Fatalf("writ login printed no verification URL: %s", errs.b.String())
	}
	approveAsUser(t, issuer, verification, "dana", "correct horse battery staple")
	if code := <-done; code != 0 {
		errs.mu.Lock()
		defer errs.mu.Unlock()
		t.Fatalf("writ login: exit %d\n%s", code, errs.b.String())
	}
}

// TestLoginEndToEnd: "writ login" against a running writ node, the device
// flow approved by a scripted user; the tokens land in a 0600 file;
// --print-token prints them, and refreshes them once expired.
func TestLoginEndToEnd(t *testing.T) {
	dir := t.TempDir()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   filepath.Join(dir, "data"),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
	}, app.Options{Announce: io.Discard})
	admin := func(path string, body map[string]any) map[string]any {
		t.Helper()
		var out map[string]any
		apptest.Admin(t, a, http.MethodPost, path, body, &out, http.StatusCreated)
		return out
	}
	client := admin("/admin/clients", map[string]any{"client_name": "writ CLI", "token_endpoint_auth_method": "none",
		"grant_types": []string{"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"}, "scope": "openid offline_access"})
	clientID, _ := client["client_id"].(string)
	admin("/admin/users", map[string]any{"username": "dana", "password": "correct horse battery staple"})

	tokenFile := filepath.Join(dir, "config", "writ", "tokens.json")
	args := []string{"login", "--issuer", a.Issuer, "--client-id", clientID, "--token-file", tokenFile}

	// Not signed in yet: --print-token refuses, and starts nothing.
	writ(t, "", append(args, "--print-token")...).mustFail(t, exitUsage, "not signed in", "writ login")

	loginApproved(t, a.Issuer, args)
	st, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", st.Mode().Perm())
	}
	var lf loginFile
	raw, _ := os.ReadFile(tokenFile)
	if err := json.Unmarshal(raw, &lf); err != nil {
		t.Fatal(err)
	}
	l := lf.Logins[loginKey(a.Issuer, clientID)]
	if l.AccessToken == "" || l.RefreshToken == "" || l.IDToken == "" || l.Expiry.IsZero() {
		t.Fatalf("stored login %+v", l)
	}

	// --print-token prints the stored token while it is valid.
	r := writ(t, "", append(args, "--print-token")...).mustSucceed(t)
	if strings.TrimSpace(r.stdout) != l.AccessToken {
		t.Errorf("--print-token printed %q, want the stored access token", r.stdout)
	}
	// Once expired, it refreshes (a new access and refresh token, stored).
	l.Expiry = time.Now().Add(-time.Minute)
	lf.Logins[loginKey(a.Issuer, clientID)] = l
	if err := writeLoginFile(tokenFile, lf); err != nil {
		t.Fatal(err)
	}
	r = writ(t, "", append(args, "--print-token")...).mustSucceed(t)
	fresh := strings.TrimSpace(r.stdout)
	if fresh == "" || fresh == l.AccessToken {
		t.Fatalf("--print-token after expiry printed %q, want a new token", fresh)
	}
	raw, _ = os.ReadFile(tokenFile)
	var again loginFile
	if err := json.Unmarshal(raw, &again); err != nil {
		t.Fatal(err)
	}
	if n := again.Logins[loginKey(a.Issuer, clientID)]; n.AccessToken != fresh || n.RefreshToken == l.RefreshToken || !n.Expiry.After(time.Now()) {
		t.Errorf("after the refresh the file holds %+v", n)
	}
	// A token file others may read is refused.
	if err := os.Chmod(tokenFile, 0o644); err != nil {
		t.Fatal(err)
	}
	writ(t, "", append(args, "--print-token")...).mustFail(t, exitUsage, "readable by others")

	// With --dpop-key the tokens are DPoP-bound, and refreshing (the
	// refresh family is bound too) signs proofs with the remembered key.
	key := genKey(t, dir, "ES256")
	dpopFile := filepath.Join(dir, "dpop-tokens.json")
	dargs := []string{"login", "--issuer", a.Issuer, "--client-id", clientID, "--token-file", dpopFile}
	loginApproved(t, a.Issuer, append(dargs, "--dpop-key", key.keyFile))
	raw, _ = os.ReadFile(dpopFile)
	var dl loginFile
	if err := json.Unmarshal(raw, &dl); err != nil {
		t.Fatal(err)
	}
	bound := dl.Logins[loginKey(a.Issuer, clientID)]
	if bound.TokenType != "DPoP" || bound.DPoPKey != key.keyFile {
		t.Fatalf("DPoP login stored %+v", bound)
	}
	jkt := strings.TrimSpace(writ(t, "", "dpop", "thumbprint", "--key", key.keyFile).mustSucceed(t).stdout)
	if !strings.Contains(decodePayload(t, bound.AccessToken), `"jkt":"`+jkt+`"`) {
		t.Errorf("the access token is not bound to the key %s: %s", jkt, decodePayload(t, bound.AccessToken))
	}
	bound.Expiry = time.Now().Add(-time.Minute)
	dl.Logins[loginKey(a.Issuer, clientID)] = bound
	if err := writeLoginFile(dpopFile, dl); err != nil {
		t.Fatal(err)
	}
	r = writ(t, "", append(dargs, "--print-token")...).mustSucceed(t)
	if got := strings.TrimSpace(r.stdout); got == bound.AccessToken || !strings.Contains(decodePayload(t, got), jkt) {
		t.Errorf("the refreshed token %q is not a new token bound to the key", got)
	}
}

// decodePayload returns the JSON payload of a JWS.
func decodePayload(t *testing.T, jws string) string {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", jws)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoginUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"login", "--client-id", "x"}, "--issuer is required"},
		{[]string{"login", "--issuer", "http://127.0.0.1:1"}, "--client-id is required"},
		{[]string{"login", "--issuer", "http://issuer.example", "--client-id", "x"}, "loopback"},
		{[]string{"login", "--issuer", "ftp://issuer.example", "--client-id", "x"}, "https"},
		{[]string{"login", "--issuer", "https://issuer.example?x=1", "--client-id", "x"}, "without query"},
	} {
		writ(t, "", tc.args...).mustFail(t, exitUsage, tc.want)
	}
}

// TestLoginBrowser: "writ login --browser" against a running node: the
// authorization code flow with PKCE and a loopback redirect, the user's
// browser scripted (login, consent, redirect back to writ's listener).
func TestLoginBrowser(t *testing.T) {
	dir := t.TempDir()
	a := apptest.Start(t, map[string]string{
		"WRIT_MODE":       "development",
		"WRIT_DATA_DIR":   filepath.Join(dir, "data"),
		"WRIT_ADDR":       "127.0.0.1:0",
		"WRIT_ADMIN_ADDR": "127.0.0.1:0",
	}, app.Options{Announce: io.Discard})
	admin := func(path string, body map[string]any) map[string]any {
		t.Helper()
		var out map[string]any
		apptest.Admin(t, a, http.MethodPost, path, body, &out, http.StatusCreated)
		return out
	}
	client := admin("/admin/clients", map[string]any{"client_name": "writ CLI", "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "redirect_uris": []string{"http://127.0.0.1/callback"},
		"scope": "openid offline_access"})
	clientID, _ := client["client_id"].(string)
	admin("/admin/users", map[string]any{"username": "dana", "password": "correct horse battery staple"})
	tokenFile := filepath.Join(dir, "tokens.json")
	args := []string{"login", "--browser", "--issuer", a.Issuer, "--client-id", clientID, "--token-file", tokenFile}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	var out bytes.Buffer
	errs := &lockedWriter{}
	done := make(chan int, 1)
	go func() {
		code := run(ctx, args, strings.NewReader(""), &out, io.MultiWriter(pw, errs))
		pw.Close()
		done <- code
	}()
	sc := bufio.NewScanner(pr)
	var authURL string
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), a.Issuer+"/oauth2/authorize?") {
			authURL = sc.Text()
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if authURL == "" {
		<-done
		t.Fatalf("writ login --browser printed no authorization URL: %s", errs.b.String())
	}
	q, _ := url.Parse(authURL)
	if q.Query().Get("code_challenge_method") != "S256" || !strings.HasPrefix(q.Query().Get("redirect_uri"), "http://127.0.0.1:") {
		t.Errorf("authorization URL %s", authURL)
	}

	// A redirect without writ's state (a forged one) is refused and does
	// not end the wait.
	forged, err := http.Get(q.Query().Get("redirect_uri") + "?code=stolen&state=guess")
	if err != nil {
		t.Fatal(err)
	}
	forged.Body.Close()
	if forged.StatusCode != http.StatusBadRequest {
		t.Errorf("a redirect with another state: %d, want 400", forged.StatusCode)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	read := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d\n%s", resp.Request.Method, resp.Request.URL, resp.StatusCode, b)
		}
		return string(b)
	}
	form := hiddenFields(read(hc.Get(authURL)))
	form.Set("username", "dana")
	form.Set("password", "correct horse battery staple")
	consent := read(hc.PostForm(a.Issuer+"/login", form))
	form = hiddenFields(consent)
	form.Set("decision", "approve")
	if back := read(hc.PostForm(a.Issuer+"/consent", form)); !strings.Contains(back, "Signed in.") {
		t.Fatalf("the redirect to writ's listener answered %q", back)
	}
	if code := <-done; code != 0 {
		errs.mu.Lock()
		defer errs.mu.Unlock()
		t.Fatalf("writ login --browser: exit %d\n%s", code, errs.b.String())
	}
	raw, _ := os.ReadFile(tokenFile)
	var lf loginFile
	if err := json.Unmarshal(raw, &lf); err != nil {
		t.Fatal(err)
	}
	if l := lf.Logins[loginKey(a.Issuer, clientID)]; l.AccessToken == "" || l.RefreshToken == "" || l.IDToken == "" {
		t.Fatalf("stored %+v", l)
	}
	r := writ(t, "", "login", "--print-token", "--issuer", a.Issuer, "--client-id", clientID, "--token-file", tokenFile).mustSucceed(t)
	if strings.TrimSpace(r.stdout) == "" {
		t.Error("--print-token printed nothing")
	}
}
