package grant_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/mint"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
)

// failingIDTokens fails every ID token, as an issuer whose client key
// cannot be used would.
type failingIDTokens struct{}

func (failingIDTokens) ReadyIDToken(context.Context, *store.Client) error { return nil }

func (failingIDTokens) IssueIDToken(context.Context, *store.User, *store.Client, grant.IDTokenParams) (string, error) {
	return "", errors.New("the ID token cannot be made")
}

// TestSignatureFailureRevokes: the tokens are signed after the redemption
// (or rotation) committed; when signing fails, what was recorded is
// revoked, so that nothing the client never received stays valid, and the
// request fails.
func TestSignatureFailureRevokes(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s, store.AccessTokenJWT)
		ctx := t.Context()
		// A refresh token issued while ID tokens still worked.
		first, err := f.redeem(ctx, f.client, f.newCode(t))
		if err != nil {
			t.Fatal(err)
		}
		f.code.IDTokens = failingIDTokens{}

		code := f.newCode(t)
		_, err = f.redeem(ctx, f.client, code)
		wantOAuthError(t, err, oauth.CodeServerError, 500)
		ac, err := s.GetAuthCode(ctx, opaque.Hash(code))
		if err != nil {
			t.Fatal(err)
		}
		if ac.UsedAt.IsZero() || ac.IssuedFamilyID == "" || ac.IssuedAccessJTI == "" {
			t.Fatalf("the redemption was not recorded: %+v", ac)
		}
		revoked, err := s.IsJTIRevoked(ctx, ac.IssuedAccessJTI)
		if err != nil || !revoked {
			t.Errorf("the unsigned access token's jti is not revoked (%v)", err)
		}
		// Its family is revoked with it: a token added to it is refused.
		err = s.CreateRefreshToken(ctx, store.RefreshToken{Hash: opaque.Hash("rt-probe"), FamilyID: ac.IssuedFamilyID,
			ClientID: "web", UserID: "alice", CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour), FamilyExpiresAt: testNow.Add(24 * time.Hour)})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("adding to the unsent refresh token's family: %v, want ErrNotFound (revoked)", err)
		}

		_, err = f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", first.RefreshToken),
			Client: &oauth.Authenticated{Client: f.client, Method: oauth.AuthSecretBasic}})
		wantOAuthError(t, err, oauth.CodeServerError, 500)
		if !f.refreshRevoked(t, first.RefreshToken) {
			t.Error("a rotation whose tokens could not be signed left the family active")
		}

		// Without rotation (FAPI 2.0) the presented token stays the
		// family's: a refresh whose tokens could not be signed leaves it
		// usable, for the client to retry.
		f.code.IDTokens = nil
		kept, err := f.redeem(ctx, f.client, f.newCode(t))
		if err != nil {
			t.Fatal(err)
		}
		f.refresh.NoRotation = func(*store.Client) bool { return true }
		f.code.IDTokens = failingIDTokens{}
		_, err = f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", kept.RefreshToken),
			Client: &oauth.Authenticated{Client: f.client, Method: oauth.AuthSecretBasic}})
		wantOAuthError(t, err, oauth.CodeServerError, 500)
		if f.refreshRevoked(t, kept.RefreshToken) {
			t.Error("a refresh without rotation whose tokens could not be signed revoked the family")
		}
		f.code.IDTokens = nil
		if _, err := f.refresh.Handle(ctx, &grant.Request{Form: form("refresh_token", kept.RefreshToken),
			Client: &oauth.Authenticated{Client: f.client, Method: oauth.AuthSecretBasic}}); err != nil {
			t.Errorf("the retry with the kept token: %v", err)
		}
	})
}

// unreadyIDTokens cannot issue ID tokens now, and says so before.
type unreadyIDTokens struct{ failingIDTokens }

func (unreadyIDTokens) ReadyIDToken(context.Context, *store.Client) error {
	return oauth.TemporarilyUnavailable(errors.New("jwks_uri did not answer"), "the ID token cannot be encrypted: the client's key set is unavailable; retry later")
}

// TestIDTokenNotReadyConsumesNothing: when the client's ID token cannot be
// made now (its encryption key cannot be had), the grant says so before
// it consumes the code, so that the client may retry it.
func TestIDTokenNotReadyConsumesNothing(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s, store.AccessTokenJWT)
		ctx := t.Context()
		f.code.IDTokens = unreadyIDTokens{}
		code := f.newCode(t)
		_, err := f.redeem(ctx, f.client, code)
		wantOAuthError(t, err, oauth.CodeTemporarilyUnavailable, 503)
		ac, err := s.GetAuthCode(ctx, opaque.Hash(code))
		if err != nil {
			t.Fatal(err)
		}
		if !ac.UsedAt.IsZero() {
			t.Fatal("a redemption whose ID token could not be made consumed the code")
		}
		f.code.IDTokens = nil
		if _, err := f.redeem(ctx, f.client, code); err != nil {
			t.Fatalf("the code once the ID token can be made: %v", err)
		}
	})
}

// TestNoSigningKeyConsumesNothing: without an active signing key nothing
// can be signed, and the code is left unconsumed for when there is one.
func TestNoSigningKeyConsumesNothing(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s, store.AccessTokenJWT)
		ctx := t.Context()
		working := f.code.Minter
		f.code.Minter = mint.New("https://as.test", staticSigner{}, s, nil)
		code := f.newCode(t)
		_, err := f.redeem(ctx, f.client, code)
		wantOAuthError(t, err, oauth.CodeTemporarilyUnavailable, 503)
		ac, err := s.GetAuthCode(ctx, opaque.Hash(code))
		if err != nil {
			t.Fatal(err)
		}
		if !ac.UsedAt.IsZero() {
			t.Fatal("a redemption that could not sign consumed the code")
		}
		f.code.Minter = working
		if _, err := f.redeem(ctx, f.client, code); err != nil {
			t.Fatalf("the code once a key is back: %v", err)
		}
	})
}

func wantOAuthError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var e *oauth.Error
	if !errors.As(err, &e) || e.Code != code || e.Status != status {
		t.Fatalf("err = %v, want %s (%d)", err, code, status)
	}
}
