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

		_, err = f.rotate(ctx, first.RefreshToken)
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
		_, err = f.rotate(ctx, kept.RefreshToken)
		wantOAuthError(t, err, oauth.CodeServerError, 500)
		if f.refreshRevoked(t, kept.RefreshToken) {
			t.Error("a refresh without rotation whose tokens could not be signed revoked the family")
		}
		f.code.IDTokens = nil
		if _, err := f.rotate(ctx, kept.RefreshToken); err != nil {
			t.Errorf("the retry with the kept token: %v", err)
		}
	})
}

// unreadyIDTokens cannot issue ID tokens now, and says so before.
type unreadyIDTokens struct{ failingIDTokens }

func (unreadyIDTokens) ReadyIDToken(context.Context, *store.Client) error {
	return oauth.TemporarilyUnavailable(errors.New("jwks_uri did not answer"), "the ID token cannot be encrypted: the client's key set is unavailable; retry later")
}

// TestNotReadyConsumesNothing: when no token could be made now (no
// active signing key; the client's ID token encryption key cannot be had),
// the grant says so before it consumes the code, so that the client may
// retry it once the cause is gone.
func TestNotReadyConsumesNothing(t *testing.T) {
	tests := []struct {
		name string
		// breakTokens makes the tokens unmakeable and returns what undoes it.
		breakTokens func(f *fixture, s store.Store) (restore func())
	}{
		{"no signing key", func(f *fixture, s store.Store) func() {
			working := f.code.Minter
			f.code.Minter = mint.New("https://as.test", staticSigner{}, s, nil)
			return func() { f.code.Minter = working }
		}},
		{"ID token encryption key unavailable", func(f *fixture, _ store.Store) func() {
			f.code.IDTokens = unreadyIDTokens{}
			return func() { f.code.IDTokens = nil }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			backends(t, func(t *testing.T, s store.Store) {
				f := newFixture(t, s, store.AccessTokenJWT)
				ctx := t.Context()
				restore := tt.breakTokens(f, s)
				code := f.newCode(t)
				_, err := f.redeem(ctx, f.client, code)
				wantOAuthError(t, err, oauth.CodeTemporarilyUnavailable, 503)
				ac, err := s.GetAuthCode(ctx, opaque.Hash(code))
				if err != nil {
					t.Fatal(err)
				}
				if !ac.UsedAt.IsZero() {
					t.Fatal("a redemption that could not make its tokens consumed the code")
				}
				restore()
				if _, err := f.redeem(ctx, f.client, code); err != nil {
					t.Fatalf("the code once the tokens can be made: %v", err)
				}
			})
		})
	}
}
