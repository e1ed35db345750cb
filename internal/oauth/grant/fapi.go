package grant

import "github.com/writ-dev/writ/internal/store"

// keepPresented turns a rotation into a refresh without rotation, as the
// FAPI 2.0 Security Profile asks of the authorization server (§5.3.2.1:
// it "shall not use refresh token rotation unless, in the case a response
// with a new refresh token is not received and stored by the client,
// retrying the request (with the previous refresh token) will succeed";
// its note discourages rotation for confidential clients, which are the
// only clients the profile has). writ takes the first branch: no
// rotation, so there is nothing a lost response could leave the client
// without, and no reuse detection to trip on a retry.
//
// The new refresh token minted for the rotation is kept out of the
// response and stored only as the carrier of the access token issued
// (store.Issue.KeepPresented): revoking the family still revokes every
// access token issued under it. The presented token's sliding lifetime
// moves to the carrier's; the family's absolute lifetime still bounds it.
func keepPresented(resp *Response, issue *store.Issue) {
	resp.RefreshToken = ""
	issue.KeepPresented = true
}
