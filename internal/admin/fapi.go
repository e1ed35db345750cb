package admin

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// The FAPI 2.0 Security Profile at registration: a client registered with
// profile fapi2, or any client of a server in the server-wide mode
// (Options.FAPI2, RegistrationOptions.FAPI2), is refused when its
// metadata contradicts the profile (oauth.CheckFAPI2Client). Dynamic
// registration does not accept profile (a writ extension a client could
// only use to make itself stricter; kept to the admin API, where an
// operator decides), but is held to the server-wide mode.

// fapi2 reports whether c is held to the profile.
func (h *handler) fapi2(c *store.Client) bool {
	return h.fapiServer || c.Profile == store.ProfileFAPI2
}

// checkProfile refuses an unknown profile, and a client held to the FAPI
// 2.0 profile whose metadata contradicts it, with invalid_client_metadata
// (or invalid_redirect_uri for a redirect URI).
func (h *handler) checkProfile(c *store.Client) error {
	switch c.Profile {
	case store.ProfileNone, store.ProfileFAPI2:
	default:
		return badMetadata("profile %q is not known; use %q or leave it out", clip(c.Profile, 32), store.ProfileFAPI2)
	}
	if !h.fapi2(c) {
		return nil
	}
	if err := oauth.CheckFAPI2Client(c); err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), oauth.ErrFAPI2.Error()), ": ")
		if strings.HasPrefix(msg, "redirect_uris") {
			return badRedirect("FAPI 2.0: %s", msg)
		}
		return badMetadata("FAPI 2.0: %s", msg)
	}
	return nil
}

// fapiDefaults fills what a new FAPI 2.0 registration leaves out with a
// value the profile allows, where writ's ordinary default is one it does
// not: id_token_signed_response_alg (RS256 otherwise) becomes the first
// of PS256, ES256 and EdDSA the server signs ID tokens with.
func (h *handler) fapiDefaults(c *store.Client, fields map[string]json.RawMessage) {
	if !h.fapi2(c) {
		return
	}
	if _, ok := fields["id_token_signed_response_alg"]; !ok {
		for _, a := range oauth.FAPI2Algorithms() {
			if slices.Contains(h.idTokenAlgs, a) {
				c.IDTokenSignedResponseAlg = string(a)
				break
			}
		}
	}
}
