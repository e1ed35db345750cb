package server_test

import (
	"context"
	"testing"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jwt"
)

// TestNotifyLogout: sessions ended outside the browser (an admin disabling
// a user) reach first-party clients and clients holding the user's consent
// through their back-channel logout URI, one token per session; clients
// the user never used hear nothing.
func TestNotifyLogout(t *testing.T) {
	e := newSignInEnv(t, envOptions{})
	u := e.addUser(t, "u-notify", "nora", "correct horse battery")
	first, consented, stranger := newLogoutReceiver(t), newLogoutReceiver(t), newLogoutReceiver(t)
	e.addConfidential(t, "first", firstParty(), withBackchannel(first.URL))
	e.addConfidential(t, "consented", withBackchannel(consented.URL))
	e.addConfidential(t, "stranger", withBackchannel(stranger.URL))
	ctx := context.Background()
	now := e.Clock.Now()
	if err := e.Store.PutConsent(ctx, store.Consent{UserID: u.ID, ClientID: "consented", Scopes: []string{"profile"}, GrantedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	// Two sessions: the notifier handles them one after the other and each
	// round returns only when every delivery of it finished, so once the
	// tokens for sid-2 arrive, any (wrong) delivery for sid-1 to the
	// stranger has already happened.
	e.Server.NotifyLogout(ctx, u.ID, []store.Session{{ID: "sid-1", UserID: u.ID}, {ID: "sid-2", UserID: u.ID}})
	v, err := jwt.NewVerifier(e.Ring, jwt.Config{Issuer: e.Issuer, SkipAudienceCheck: true, Type: "logout+jwt", Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"sid-1", "sid-2"} {
		for name, lr := range map[string]*logoutReceiver{"first-party": first, "consented": consented} {
			got, err := v.Verify(ctx, lr.next(t))
			if err != nil {
				t.Fatalf("%s: logout token: %v", name, err)
			}
			if gotSID, _ := got.StringClaim("sid"); gotSID != sid || got.Claims().Subject != u.ID {
				t.Fatalf("%s: sid %q sub %q, want %s", name, gotSID, got.Claims().Subject, sid)
			}
		}
	}
	select {
	case tok := <-stranger.Tokens:
		t.Fatalf("a client the user never used was told: %.40s", tok)
	default:
	}
}
