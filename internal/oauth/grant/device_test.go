package grant_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jose"
)

// deviceFixture is a public client "tv" with the device grant, a user,
// the device authorization endpoint and the grant, on one fake clock.
type deviceFixture struct {
	s      store.Store
	clock  *clocktest.Clock
	client store.Client
	authz  *grant.DeviceAuthorization
	grant  *grant.DeviceCode
}

func newDeviceFixture(t *testing.T, s store.Store) *deviceFixture {
	t.Helper()
	ctx := t.Context()
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New(testNow)
	c := store.Client{
		ID: "tv", Scopes: []string{"openid", "read", "offline_access"}, Audiences: []string{"https://api.test"},
		GrantTypes:              []string{grant.TypeDeviceCode, grant.TypeRefreshToken},
		TokenEndpointAuthMethod: oauth.AuthNone, CreatedAt: testNow, UpdatedAt: testNow,
	}
	other := store.Client{ID: "other", GrantTypes: []string{grant.TypeDeviceCode}, TokenEndpointAuthMethod: oauth.AuthNone, CreatedAt: testNow, UpdatedAt: testNow}
	for _, err := range []error{
		s.CreateClient(ctx, c), s.CreateClient(ctx, other),
		s.CreateUser(ctx, store.User{ID: "alice", Username: "alice", CreatedAt: testNow, UpdatedAt: testNow}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	tokens := &grant.Tokens{
		Minter: mint.New("https://as.test", staticSigner{key}, s, clock.Now), AccessTTL: 10 * time.Minute,
		RefreshTTL: time.Hour, RefreshMaxTTL: 24 * time.Hour, Now: clock.Now,
	}
	return &deviceFixture{
		s: s, clock: clock, client: c,
		authz: &grant.DeviceAuthorization{Store: s, VerificationURI: "https://as.test/device", DefaultAudience: "https://as.test", Now: clock.Now},
		grant: &grant.DeviceCode{Tokens: tokens, Store: s},
	}
}

func (f *deviceFixture) request(c store.Client, kv ...string) *grant.Request {
	return &grant.Request{Form: form(kv...), Client: &oauth.Authenticated{Client: c, Method: oauth.AuthNone}}
}

// start runs a device authorization for tv.
func (f *deviceFixture) start(t *testing.T) *grant.DeviceAuthorizationResponse {
	t.Helper()
	resp, err := f.authz.Authorize(t.Context(), f.request(f.client, "scope", "openid read offline_access"))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (f *deviceFixture) decide(t *testing.T, userCode string, approve bool) {
	t.Helper()
	uc, ok := grant.NormalizeUserCode(userCode)
	if !ok {
		t.Fatalf("user code %q does not normalise", userCode)
	}
	_, err := f.s.DecideDeviceCode(t.Context(), uc, f.clock.Now(), store.DeviceDecision{
		Approve: approve, UserID: "alice", SessionID: "sid", AuthTime: f.clock.Now(), AMR: []string{"pwd"}})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *deviceFixture) poll(ctx context.Context, c store.Client, deviceCode string) (*grant.Response, error) {
	return f.grant.Handle(ctx, f.request(c, "grant_type", grant.TypeDeviceCode, "device_code", deviceCode))
}

func TestDeviceAuthorization(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newDeviceFixture(t, s)
		resp := f.start(t)
		if len(resp.DeviceCode) < 43 || resp.ExpiresIn != 600 || resp.Interval != 5 {
			t.Errorf("response %+v", resp)
		}
		if len(resp.UserCode) != 9 || resp.UserCode[4] != '-' {
			t.Errorf("user code %q is not XXXX-XXXX", resp.UserCode)
		}
		if resp.VerificationURI != "https://as.test/device" ||
			resp.VerificationURIComplete != "https://as.test/device?user_code="+url.QueryEscape(resp.UserCode) {
			t.Errorf("verification URIs %q %q", resp.VerificationURI, resp.VerificationURIComplete)
		}
		uc, _ := grant.NormalizeUserCode(resp.UserCode)
		d, err := s.GetDeviceCodeByUserCode(t.Context(), uc)
		if err != nil {
			t.Fatal(err)
		}
		if d.ClientID != "tv" || strings.Join(d.Scopes, " ") != "openid read offline_access" || strings.Join(d.Audience, " ") != "https://api.test" {
			t.Errorf("stored %+v", d)
		}

		noGrant := f.client
		noGrant.GrantTypes = []string{grant.TypeAuthorizationCode}
		for _, tc := range []struct {
			name   string
			client store.Client
			kv     []string
			code   string
		}{
			{"grant not registered", noGrant, nil, oauth.CodeUnauthorizedClient},
			{"scope beyond the client's", f.client, []string{"scope", "admin"}, oauth.CodeInvalidScope},
			{"resource not allowed", f.client, []string{"resource", "https://elsewhere.test"}, oauth.CodeInvalidTarget},
			{"resource with a fragment", f.client, []string{"resource", "https://api.test#x"}, oauth.CodeInvalidTarget},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.authz.Authorize(t.Context(), f.request(tc.client, tc.kv...))
				wantOAuthCode(t, err, tc.code)
			})
		}
	})
}

// TestDeviceCodeGrantErrors walks every answer of RFC 8628 §3.5 and the
// RFC 6749 errors of the token request.
func TestDeviceCodeGrantErrors(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newDeviceFixture(t, s)
		noGrant := f.client
		noGrant.GrantTypes = []string{grant.TypeRefreshToken}
		other := store.Client{ID: "other", GrantTypes: []string{grant.TypeDeviceCode}}
		tests := []struct {
			name string
			// setup runs a device authorization and returns the
			// device_code to poll with.
			setup  func(t *testing.T) string
			client store.Client
			code   string
		}{
			{"missing device_code", func(*testing.T) string { return "" }, f.client, oauth.CodeInvalidRequest},
			{"unknown device_code", func(*testing.T) string { return "nope" }, f.client, oauth.CodeInvalidGrant},
			{"grant not registered", func(t *testing.T) string { return f.start(t).DeviceCode }, noGrant, oauth.CodeUnauthorizedClient},
			{"another client's code", func(t *testing.T) string { return f.start(t).DeviceCode }, other, oauth.CodeInvalidGrant},
			{"pending", func(t *testing.T) string { return f.start(t).DeviceCode }, f.client, grant.CodeAuthorizationPending},
			{"polling too fast", func(t *testing.T) string {
				dc := f.start(t).DeviceCode
				_, err := f.poll(t.Context(), f.client, dc)
				wantOAuthCode(t, err, grant.CodeAuthorizationPending)
				f.clock.Advance(4 * time.Second)
				return dc
			}, f.client, grant.CodeSlowDown},
			{"expired", func(t *testing.T) string {
				dc := f.start(t).DeviceCode
				f.clock.Advance(grant.DeviceCodeTTL)
				return dc
			}, f.client, grant.CodeExpiredToken},
			{"expired after approval", func(t *testing.T) string {
				r := f.start(t)
				f.decide(t, r.UserCode, true)
				f.clock.Advance(grant.DeviceCodeTTL)
				return r.DeviceCode
			}, f.client, grant.CodeExpiredToken},
			{"denied", func(t *testing.T) string {
				r := f.start(t)
				f.decide(t, r.UserCode, false)
				return r.DeviceCode
			}, f.client, oauth.CodeAccessDenied},
			{"redeemed before", func(t *testing.T) string {
				r := f.start(t)
				f.decide(t, r.UserCode, true)
				if _, err := f.poll(t.Context(), f.client, r.DeviceCode); err != nil {
					t.Fatal(err)
				}
				f.clock.Advance(grant.DeviceInterval)
				return r.DeviceCode
			}, f.client, oauth.CodeInvalidGrant},
			{"resource not granted", func(t *testing.T) string {
				r := f.start(t)
				f.decide(t, r.UserCode, true)
				return r.DeviceCode
			}, f.client, oauth.CodeInvalidTarget},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				f.clock.Advance(time.Hour) // each case on its own
				dc := tc.setup(t)
				kv := []string{"grant_type", grant.TypeDeviceCode, "device_code", dc}
				if tc.name == "resource not granted" {
					kv = append(kv, "resource", "https://elsewhere.test")
				}
				_, err := f.grant.Handle(t.Context(), f.request(tc.client, kv...))
				wantOAuthCode(t, err, tc.code)
				var e *oauth.Error
				if errors.As(err, &e) && e.Status != 400 {
					t.Errorf("status %d, want 400", e.Status)
				}
			})
		}
	})
}

// TestDeviceCodeSlowDownGrows: each early poll adds 5 s to the interval
// the device must keep (RFC 8628 §3.5).
func TestDeviceCodeSlowDownGrows(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newDeviceFixture(t, s)
		r := f.start(t)
		steps := []struct {
			wait time.Duration
			code string
		}{
			{0, grant.CodeAuthorizationPending},
			{5 * time.Second, grant.CodeAuthorizationPending},
			{time.Second, grant.CodeSlowDown},     // interval now 10 s
			{9 * time.Second, grant.CodeSlowDown}, // interval now 15 s
			{15 * time.Second, grant.CodeAuthorizationPending},
		}
		for i, st := range steps {
			f.clock.Advance(st.wait)
			_, err := f.poll(t.Context(), f.client, r.DeviceCode)
			var e *oauth.Error
			if !errors.As(err, &e) || e.Code != st.code {
				t.Fatalf("poll %d: %v, want %s", i, err, st.code)
			}
		}
		uc, _ := grant.NormalizeUserCode(r.UserCode)
		d, err := s.GetDeviceCodeByUserCode(t.Context(), uc)
		if err != nil || d.Interval != 15*time.Second {
			t.Errorf("interval %v (%v), want 15s", d.Interval, err)
		}
	})
}

// TestDeviceCodeTokens: an approved code gives the tokens of the code
// grant (access, refresh with offline_access), bound to a DPoP key when
// the poll has a proof; of concurrent pollers exactly one gets them.
func TestDeviceCodeTokens(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newDeviceFixture(t, s)
		r := f.start(t)
		f.decide(t, r.UserCode, true)
		req := f.request(f.client, "grant_type", grant.TypeDeviceCode, "device_code", r.DeviceCode)
		req.DPoPKey = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
		resp, err := f.grant.Handle(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.AccessToken == "" || resp.RefreshToken == "" || resp.TokenType != "DPoP" || resp.Scope != "openid read offline_access" {
			t.Errorf("response %+v", resp)
		}
		rt, err := s.GetRefreshToken(t.Context(), opaque.Hash(resp.RefreshToken))
		if err != nil || rt.UserID != "alice" || rt.SessionID != "sid" || rt.JKT != req.DPoPKey {
			t.Errorf("refresh token %+v (%v): want alice's, of session sid, bound to the key", rt, err)
		}

		// Concurrent pollers of one approved code: one gets tokens.
		r = f.start(t)
		f.decide(t, r.UserCode, true)
		const workers = 8
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.poll(t.Context(), f.client, r.DeviceCode)
				mu.Lock()
				defer mu.Unlock()
				var e *oauth.Error
				switch {
				case err == nil:
					wins++
				case errors.As(err, &e) && (e.Code == grant.CodeSlowDown || e.Code == oauth.CodeInvalidGrant):
				default:
					t.Errorf("concurrent poll: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d concurrent pollers got tokens, want 1", wins)
		}
	})
}

func TestUserCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c := grant.NewUserCode()
		if len(c) != grant.UserCodeLength || strings.Trim(c, grant.UserCodeAlphabet) != "" {
			t.Fatalf("user code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 199 {
		t.Errorf("%d distinct codes of 200", len(seen))
	}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"BCDF-GHJK", "BCDFGHJK", true},
		{"bcdf-ghjk", "BCDFGHJK", true},
		{" bcdf ghjk ", "BCDFGHJK", true},
		{"BCDFGHJK", "BCDFGHJK", true},
		{"BCDF-GHJ", "", false},       // short
		{"BCDF-GHJKL", "", false},     // long
		{"ABCD-EFGH", "", false},      // vowels are not in the alphabet
		{"BCDF-GHJ1", "", false},      // digits neither
		{"BCDF-GHJ\u212a", "", false}, // Kelvin sign, folds to K elsewhere
		{strings.Repeat("-", 100) + "BCDFGHJK", "", false},
	} {
		got, ok := grant.NormalizeUserCode(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if grant.FormatUserCode("BCDFGHJK") != "BCDF-GHJK" {
		t.Error("FormatUserCode")
	}
}

func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "", "ÄÖÜ", "\u212a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := grant.NormalizeUserCode(in)
		if !ok {
			return
		}
		if len(got) != grant.UserCodeLength || strings.Trim(got, grant.UserCodeAlphabet) != "" {
			t.Fatalf("NormalizeUserCode(%q) = %q", in, got)
		}
		again, ok := grant.NormalizeUserCode(grant.FormatUserCode(got))
		if !ok || again != got {
			t.Fatalf("not idempotent: %q → %q → %q", in, got, again)
		}
	})
}
