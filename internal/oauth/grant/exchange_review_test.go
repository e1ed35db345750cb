package grant_test

import (
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/oauth/grant"
)

// A writ JWT access token without a scope claim was issued no scope: an
// exchange of it gets none, never the exchanging client's whole scope.
func TestTokenExchangeScopelessSubjectDoesNotWiden(t *testing.T) {
	f := newXFixture(t)
	noScope := f.userToken(t, "https://a.test", nil, 10*time.Minute, nil)
	_, err := f.exchange(xClientA(), "", "subject_token", noScope, "subject_token_type", grant.TokenTypeAccessToken,
		"audience", "https://b.test", "scope", "write")
	wantOAuthCode(t, err, oauth.CodeInvalidScope)
	resp, err := f.exchange(xClientA(), "", "subject_token", noScope, "subject_token_type", grant.TokenTypeAccessToken,
		"audience", "https://b.test")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Scope != "" {
		t.Fatalf("scope = %q, want none", resp.Scope)
	}
}
