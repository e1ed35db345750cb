package server_test

// A real browser signs in: headless Chromium, driven by chromedp, goes from
// a sample web application to writ's login page, signs in, consents, and
// lands back on the application signed in. With WRIT_UPDATE_SCREENSHOTS=1
// the test also writes the screenshots of the login and consent pages that
// docs/ shows.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/internal/store"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// screenshotWidth is the CSS width of the documentation screenshots.
const screenshotWidth = 1024

// sampleApp is a tiny web application that signs its users in with writ:
// a "Sign in" link starts the authorization code flow, and the callback
// exchanges the code and greets the user by name.
type sampleApp struct {
	rp        *relyingParty
	issuer    string
	signedOut string // the post_logout_redirect_uri
	mu        sync.Mutex
	pending   map[string]authRequest // by state
}

func (a *sampleApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	switch r.URL.Path {
	case "/":
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>Sample app</title><h1>Sample app</h1><p><a id="signin" href="/signin">Sign in</a></p></html>`)
	case "/signin":
		req := a.rp.authorize()
		a.mu.Lock()
		a.pending[req.State] = req
		a.mu.Unlock()
		http.Redirect(w, r, req.URL, http.StatusFound)
	case "/callback":
		name, err := a.callback(r)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `<!doctype html><p id="failure">Sign-in failed: %s</p>`, html.EscapeString(err.Error()))
			return
		}
		signOut := a.issuer + server.PathEndSession + "?" + url.Values{
			"client_id":                {a.rp.ID},
			"post_logout_redirect_uri": {a.signedOut},
			"state":                    {"bye"},
		}.Encode()
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>Sample app</title><p id="result">Signed in as %s</p><p><a id="signout" href="%s">Sign out</a></p></html>`,
			html.EscapeString(name), html.EscapeString(signOut))
	case "/signed-out":
		if r.URL.Query().Get("state") != "bye" {
			http.Error(w, "wrong state", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>Sample app</title><p id="signed-out">Signed out</p></html>`)
	default:
		http.NotFound(w, r)
	}
}

// callback checks the authorization response, redeems the code, verifies
// the ID token and asks UserInfo for the user's name.
func (a *sampleApp) callback(r *http.Request) (string, error) {
	q := r.URL.Query()
	a.mu.Lock()
	req, ok := a.pending[q.Get("state")]
	delete(a.pending, q.Get("state"))
	a.mu.Unlock()
	switch {
	case q.Has("error"):
		return "", fmt.Errorf("%s: %s", q.Get("error"), q.Get("error_description"))
	case !ok:
		return "", errors.New("unknown state")
	case q.Get("iss") != a.issuer:
		return "", fmt.Errorf("iss %q is not the issuer", q.Get("iss"))
	}
	tok, err := a.rp.Config.Exchange(a.rp.Ctx, q.Get("code"), oauth2.VerifierOption(req.Verifier))
	if err != nil {
		return "", err
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.rp.Verifier.Verify(a.rp.Ctx, raw)
	if err != nil {
		return "", err
	}
	if idt.Nonce != req.Nonce {
		return "", errors.New("nonce mismatch")
	}
	info, err := a.rp.Provider.UserInfo(a.rp.Ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return "", err
	}
	if info.Subject != idt.Subject {
		return "", errors.New("UserInfo sub differs from the ID token's")
	}
	var claims struct {
		Name string `json:"name"`
	}
	if err := info.Claims(&claims); err != nil {
		return "", err
	}
	return claims.Name, nil
}

func TestBrowserSignIn(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI installs Chromium at %s, but: %v", chromiumPath, err)
		}
		t.Skipf("Chromium is not installed at %s (Debian package chromium): %v", chromiumPath, err)
	}
	update := os.Getenv("WRIT_UPDATE_SCREENSHOTS") == "1"

	e := newSignInEnv(t, envOptions{})
	e.addUser(t, "u-alice", "alice", alicePassword, named("Alice", "alice@example.test"))
	app := &sampleApp{issuer: e.Issuer, pending: map[string]authRequest{}}
	appServer := httptest.NewServer(app) // 127.0.0.1
	t.Cleanup(appServer.Close)
	redirect := appServer.URL + "/callback"
	app.signedOut = appServer.URL + "/signed-out"
	secret := e.addConfidential(t, "sample-app", webApp(redirect), withPostLogout(app.signedOut),
		func(c *store.Client) { c.Name = "Sample App" })
	app.rp = e.newRP(t, "sample-app", secret, redirect, scopeOpenID, scopeProfile, scopeEmail)

	// The whole browser session is bounded, so that a hung step cannot
	// hang the test run; the steps below are bounded more tightly.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(screenshotWidth, 768),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// Start the browser with the long-lived context (see chromedp.Run).
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(screenshotWidth, 768)); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	// step runs actions with a bound and reports where the browser is on
	// failure.
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, whereIs(bctx))
		}
	}
	location := func() string {
		t.Helper()
		loc, err := chromedp.Run(bctx, chromedp.Location())
		if err != nil {
			t.Fatalf("location: %v", err)
		}
		return loc
	}
	shoot := func(name string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		img, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(img))
		if err != nil {
			t.Fatalf("screenshot %s is not a PNG: %v", name, err)
		}
		if cfg.Width != screenshotWidth {
			t.Errorf("screenshot %s is %d px wide, want %d", name, cfg.Width, screenshotWidth)
		}
		if !update {
			return
		}
		path := filepath.Join("..", "..", "docs", "images", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, img, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%dx%d)", path, cfg.Width, cfg.Height)
	}

	step("open the sample app and follow Sign in",
		chromedp.Navigate(appServer.URL),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	if loc := location(); !strings.HasPrefix(loc, e.url(server.PathAuthorize)+"?") {
		t.Fatalf("login page at %s, want the authorization endpoint", loc)
	}
	title, err := chromedp.Run(bctx, chromedp.Title())
	if err != nil || !strings.HasPrefix(title, "Sign in") {
		t.Errorf("login page title = %q (%v)", title, err)
	}
	shoot("login.png")

	step("sign in",
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), alicePassword),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="approve"]`)),
	)
	heading, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || heading != "Allow Sample App to access your account?" {
		t.Errorf("consent heading = %q (%v)", heading, err)
	}
	shoot("consent.png")

	step("approve",
		chromedp.Click(chromedp.CSS(`button[value="approve"]`)),
		chromedp.WaitVisible(chromedp.ID("result")),
	)
	if loc := location(); !strings.HasPrefix(loc, redirect+"?") {
		t.Errorf("landed on %s, want the sample app's callback", loc)
	}
	result, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("result")))
	if err != nil {
		t.Fatalf("read the result: %v", err)
	}
	if result != "Signed in as Alice" {
		t.Errorf("the sample app says %q, want %q", result, "Signed in as Alice")
	}

	// Sign out through writ's confirmation page.
	step("sign out",
		chromedp.Click(chromedp.ID("signout")),
		chromedp.WaitVisible(chromedp.CSS(`button[value="logout"]`)),
		chromedp.Click(chromedp.CSS(`button[value="logout"]`)),
		chromedp.WaitVisible(chromedp.ID("signed-out")),
	)
	step("signed out at writ",
		chromedp.Navigate(appServer.URL),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
}

// whereIs describes the browser's page for a failure message.
func whereIs(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	return "browser at " + loc + ":\n" + body
}
