package server_test

// A real browser approves a device: headless Chromium, driven by chromedp,
// opens verification_uri_complete, signs in, confirms the prefilled code,
// allows the device on the consent page; the device's next poll gets its
// tokens.

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestBrowserDeviceApproval(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI installs Chromium at %s, but: %v", chromiumPath, err)
		}
		t.Skipf("Chromium is not installed at %s (Debian package chromium): %v", chromiumPath, err)
	}
	e := newDeviceEnv(t)
	d := e.deviceAuthorize(t, "openid offline_access")
	wantOAuthError(t, e.pollDevice(t, d.DeviceCode), http.StatusBadRequest, "authorization_pending")

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
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(screenshotWidth, 768)); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, whereIs(bctx))
		}
	}

	step("open verification_uri_complete",
		chromedp.Navigate(d.VerificationURIComplete),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	step("sign in",
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse battery staple"),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("user_code")),
	)
	code, err := chromedp.Run(bctx, chromedp.Value(chromedp.ID("user_code")))
	if err != nil || code != d.UserCode {
		t.Errorf("the code field holds %q (%v), want %q", code, err, d.UserCode)
	}
	step("confirm the code",
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="approve"]`)),
	)
	heading, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || heading != "Allow Living room TV to access your account?" {
		t.Errorf("consent heading = %q (%v)", heading, err)
	}
	step("allow",
		chromedp.Click(chromedp.CSS(`button[value="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p[role="status"]`)),
	)
	status, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`p[role="status"]`)))
	if err != nil || !strings.Contains(status, "the device is connected") {
		t.Errorf("result = %q (%v)", status, err)
	}

	e.Clock.Advance(5 * time.Second)
	r := e.pollDevice(t, d.DeviceCode)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"id_token"`) {
		t.Fatalf("the device's poll after approval: %s", r)
	}
}
