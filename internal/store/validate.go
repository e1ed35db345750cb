package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/strictjson"
)

// MaxIDLength is the longest key (client ID, JTI, token kind) a store
// accepts, in bytes.
const MaxIDLength = 512

func invalid(field, why string) error {
	return fmt.Errorf("%w: %s %s", ErrInvalid, field, why)
}

// CheckID reports an error wrapping ErrInvalid unless id can be a key: 1 to
// MaxIDLength bytes of valid UTF-8 without NUL. field names the argument in
// the error; the value itself never appears in it.
func CheckID(field, id string) error {
	if id == "" {
		return invalid(field, "is empty")
	}
	if len(id) > MaxIDLength {
		return invalid(field, fmt.Sprintf("is longer than %d bytes", MaxIDLength))
	}
	return checkText(field, id)
}

// CheckTime reports an error wrapping ErrInvalid unless t lies in the years
// 1 to 9999, the range every backend stores exactly.
func CheckTime(field string, t time.Time) error {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return invalid(field, "is outside the years 1 to 9999")
	}
	return nil
}

// CheckExpiry is CheckTime for an expiry, or another instant that must be
// set (not the zero time), such as the "now" of RedeemAuthCode.
func CheckExpiry(field string, t time.Time) error {
	if t.IsZero() {
		return invalid(field, "is not set")
	}
	return CheckTime(field, t)
}

// checkText accepts valid UTF-8 without NUL bytes: what both SQLite TEXT and
// PostgreSQL text/jsonb store verbatim.
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid(field, "is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return invalid(field, "contains a NUL byte")
	}
	return nil
}

func checkList(field string, list []string) error {
	for i, s := range list {
		if err := checkText(fmt.Sprintf("%s[%d]", field, i), s); err != nil {
			return err
		}
	}
	return nil
}

func checkDuration(field string, d time.Duration) error {
	if d < 0 {
		return invalid(field, "is negative")
	}
	return nil
}

func checkJSON(field string, b []byte) error {
	if len(b) > 0 && !json.Valid(b) {
		return invalid(field, "is not valid JSON")
	}
	return nil
}

// Validate reports an error wrapping ErrInvalid unless c can be stored
// faithfully: a valid ID, text fields of valid UTF-8 without NUL, times in
// range, non-negative lifetimes and JWKS that is valid JSON when set. It
// does not judge policy (grant types, URIs); the caller does.
func (c Client) Validate() error {
	if err := CheckID("client ID", c.ID); err != nil {
		return err
	}
	texts := []struct{ field, value string }{
		{"client name", c.Name},
		{"token_endpoint_auth_method", c.TokenEndpointAuthMethod},
		{"jwks_uri", c.JWKSURI},
		{"access token format", c.AccessTokenFormat},
		{"backchannel_logout_uri", c.BackchannelLogoutURI},
		{"id_token_encrypted_response_alg", c.IDTokenEncryptedResponseAlg},
		{"id_token_encrypted_response_enc", c.IDTokenEncryptedResponseEnc},
		{"userinfo_signed_response_alg", c.UserinfoSignedResponseAlg},
		{"userinfo_encrypted_response_alg", c.UserinfoEncryptedResponseAlg},
		{"userinfo_encrypted_response_enc", c.UserinfoEncryptedResponseEnc},
	}
	if a := c.TLSClientAuth; a != nil {
		texts = append(texts, []struct{ field, value string }{
			{"tls_client_auth_subject_dn", a.SubjectDN}, {"tls_client_auth_san_dns", a.SANDNS},
			{"tls_client_auth_san_uri", a.SANURI}, {"tls_client_auth_san_ip", a.SANIP},
			{"tls_client_auth_san_email", a.SANEmail},
		}...)
		if a.Count() == 0 {
			return invalid("tls_client_auth", "names no certificate identity")
		}
	}
	switch c.Profile {
	case ProfileNone, ProfileFAPI2:
	default:
		return invalid("profile", fmt.Sprintf("is not a known profile (want %q or none)", ProfileFAPI2))
	}
	for _, f := range texts {
		if err := checkText(f.field, f.value); err != nil {
			return err
		}
	}
	lists := []struct {
		field string
		value []string
	}{
		{"redirect_uris", c.RedirectURIs},
		{"post_logout_redirect_uris", c.PostLogoutRedirectURIs},
		{"grant_types", c.GrantTypes},
		{"response_types", c.ResponseTypes},
		{"scopes", c.Scopes},
		{"audiences", c.Audiences},
	}
	for _, f := range lists {
		if err := checkList(f.field, f.value); err != nil {
			return err
		}
	}
	for k, v := range c.Metadata {
		if err := checkText("metadata key", k); err != nil {
			return err
		}
		if err := checkText("metadata value", v); err != nil {
			return err
		}
	}
	if err := checkJSON("jwks", c.JWKS); err != nil {
		return err
	}
	durations := []struct {
		field string
		value time.Duration
	}{
		{"access token TTL", c.AccessTokenTTL},
		{"refresh token TTL", c.RefreshTokenTTL},
		{"ID token TTL", c.IDTokenTTL},
	}
	for _, f := range durations {
		if err := checkDuration(f.field, f.value); err != nil {
			return err
		}
	}
	if err := c.validateDelegation(); err != nil {
		return err
	}
	times := []struct {
		field string
		value time.Time
	}{
		{"secret rotation time", c.SecretRotatedAt},
		{"tokens-revoked-before time", c.TokensRevokedBefore},
		{"creation time", c.CreatedAt},
		{"update time", c.UpdatedAt},
	}
	for _, f := range times {
		if err := CheckTime(f.field, f.value); err != nil {
			return err
		}
	}
	return nil
}

// Count is how many of a's certificate identities are set.
func (a TLSClientAuth) Count() int {
	n := 0
	for _, v := range []string{a.SubjectDN, a.SANDNS, a.SANURI, a.SANIP, a.SANEmail} {
		if v != "" {
			n++
		}
	}
	return n
}

// Validate reports an error wrapping ErrInvalid unless r can be stored: a
// 32-byte hash, a valid kind and client ID, text of valid UTF-8 without NUL,
// times in range with a non-zero expiry, and Extra that is valid JSON when
// set.
func (r TokenRecord) Validate() error {
	if len(r.Hash) != sha256.Size {
		return invalid("token hash", fmt.Sprintf("is not %d bytes", sha256.Size))
	}
	if err := CheckID("token kind", r.Kind); err != nil {
		return err
	}
	if err := CheckID("client ID", r.ClientID); err != nil {
		return err
	}
	if err := checkText("subject", r.Subject); err != nil {
		return err
	}
	if err := checkList("scopes", r.Scopes); err != nil {
		return err
	}
	if err := checkList("audience", r.Audience); err != nil {
		return err
	}
	if err := CheckTime("issue time", r.IssuedAt); err != nil {
		return err
	}
	if err := CheckExpiry("expiry", r.ExpiresAt); err != nil {
		return err
	}
	return checkJSON("extra", r.Extra)
}

func checkHash(field string, h []byte) error {
	if len(h) != sha256.Size {
		return invalid(field, fmt.Sprintf("is not %d bytes", sha256.Size))
	}
	return nil
}

// checkOptionalID accepts the empty string or a valid key.
func checkOptionalID(field, id string) error {
	if id == "" {
		return nil
	}
	return CheckID(field, id)
}

type textField struct{ field, value string }

func checkTexts(fields []textField) error {
	for _, f := range fields {
		if err := checkText(f.field, f.value); err != nil {
			return err
		}
	}
	return nil
}

type timeField struct {
	field string
	value time.Time
}

func checkTimes(fields []timeField) error {
	for _, f := range fields {
		if err := CheckTime(f.field, f.value); err != nil {
			return err
		}
	}
	return nil
}

// checkAttributes enforces the bounds documented on User.Attributes. Values
// must be valid UTF-8 as well as valid JSON, so that they are stored byte
// for byte.
func checkAttributes(attrs map[string]json.RawMessage) error {
	if len(attrs) > MaxAttributes {
		return invalid("attributes", fmt.Sprintf("are more than %d", MaxAttributes))
	}
	size := 0
	for name, value := range attrs {
		if name == "" {
			return invalid("attribute name", "is empty")
		}
		if err := checkText("attribute name", name); err != nil {
			return err
		}
		if len(value) == 0 {
			return invalid("attribute value", "is empty")
		}
		if !utf8.Valid(value) {
			return invalid("attribute value", "is not valid UTF-8")
		}
		if !json.Valid(value) {
			return invalid("attribute value", "is not valid JSON")
		}
		size += len(name) + len(value)
	}
	if size > MaxAttributesSize {
		return invalid("attributes", fmt.Sprintf("are larger than %d bytes", MaxAttributesSize))
	}
	return nil
}

// Validate reports an error wrapping ErrInvalid unless u can be stored
// faithfully: a valid ID and username, text fields of valid UTF-8 without
// NUL, attributes within the bounds documented on User.Attributes and
// times in range. It does not judge policy (password strength, e-mail
// syntax, reserved claim names); the caller does.
func (u User) Validate() error {
	if err := CheckID("user ID", u.ID); err != nil {
		return err
	}
	if err := CheckID("username", u.Username); err != nil {
		return err
	}
	texts := []textField{{"password hash", u.PasswordHash}}
	for _, c := range UserClaims() {
		if c.Text != nil {
			texts = append(texts, textField{c.Name, *c.Text(&u)})
		}
	}
	for _, c := range AddressComponents() {
		texts = append(texts, textField{"address " + c.Name, *c.Field(&u.Address)})
	}
	if err := checkTexts(texts); err != nil {
		return err
	}
	if err := checkAttributes(u.Attributes); err != nil {
		return err
	}
	return checkTimes([]timeField{
		{"creation time", u.CreatedAt},
		{"update time", u.UpdatedAt},
		{"password change time", u.PasswordChangedAt},
	})
}

// Validate reports an error wrapping ErrInvalid unless s can be stored: a
// 32-byte hash, a valid session ID and user ID, text of valid UTF-8 without
// NUL and times in range with a non-zero expiry.
func (s Session) Validate() error {
	if err := checkHash("session hash", s.Hash); err != nil {
		return err
	}
	if err := CheckID("session ID", s.ID); err != nil {
		return err
	}
	if err := CheckID("user ID", s.UserID); err != nil {
		return err
	}
	if err := checkList("amr", s.AMR); err != nil {
		return err
	}
	if err := checkText("acr", s.ACR); err != nil {
		return err
	}
	if err := checkTimes([]timeField{
		{"auth time", s.AuthTime},
		{"creation time", s.CreatedAt},
		{"last-seen time", s.LastSeenAt},
	}); err != nil {
		return err
	}
	return CheckExpiry("expiry", s.ExpiresAt)
}

// Validate reports an error wrapping ErrInvalid unless c can be stored as a
// new code: a 32-byte hash, valid client and user IDs, a session ID that is
// empty or valid, text of valid UTF-8 without NUL, times in range with a
// non-zero expiry, Claims that is valid JSON when set, and the fields set
// by redemption (UsedAt and the Issued fields) unset.
func (c AuthCode) Validate() error {
	if err := checkHash("code hash", c.Hash); err != nil {
		return err
	}
	if err := CheckID("client ID", c.ClientID); err != nil {
		return err
	}
	if err := CheckID("user ID", c.UserID); err != nil {
		return err
	}
	if err := checkOptionalID("session ID", c.SessionID); err != nil {
		return err
	}
	if err := checkOptionalID("dpop_jkt", c.DPoPJKT); err != nil {
		return err
	}
	if err := checkTexts([]textField{
		{"redirect_uri", c.RedirectURI},
		{"nonce", c.Nonce},
		{"code_challenge", c.CodeChallenge},
		{"code_challenge_method", c.CodeChallengeMethod},
		{"acr", c.ACR},
	}); err != nil {
		return err
	}
	for _, l := range []struct {
		field string
		value []string
	}{{"scopes", c.Scopes}, {"audience", c.Audience}, {"amr", c.AMR}} {
		if err := checkList(l.field, l.value); err != nil {
			return err
		}
	}
	if err := checkJSON("claims", c.Claims); err != nil {
		return err
	}
	if err := checkTimes([]timeField{
		{"auth time", c.AuthTime},
		{"creation time", c.CreatedAt},
	}); err != nil {
		return err
	}
	if err := CheckExpiry("expiry", c.ExpiresAt); err != nil {
		return err
	}
	if !c.UsedAt.IsZero() {
		return invalid("use time", "is set on a new code")
	}
	if c.IssuedFamilyID != "" || c.IssuedAccessJTI != "" || c.IssuedAccessHash != nil || !c.IssuedAccessExpiresAt.IsZero() {
		return invalid("issued family and access token", "are set on a new code")
	}
	return nil
}

// Validate reports an error wrapping ErrInvalid unless t can be stored as a
// new token: a 32-byte hash, valid family, client and user IDs, a session
// ID that is empty or valid, text of valid UTF-8 without NUL, times in
// range with non-zero expiries, and the state set by the store (RotatedAt,
// Revoked) unset.
func (t RefreshToken) Validate() error {
	if err := checkHash("refresh token hash", t.Hash); err != nil {
		return err
	}
	for _, id := range []textField{
		{"family ID", t.FamilyID},
		{"client ID", t.ClientID},
		{"user ID", t.UserID},
	} {
		if err := CheckID(id.field, id.value); err != nil {
			return err
		}
	}
	if err := checkOptionalID("session ID", t.SessionID); err != nil {
		return err
	}
	for _, l := range []struct {
		field string
		value []string
	}{{"scopes", t.Scopes}, {"audience", t.Audience}, {"amr", t.AMR}} {
		if err := checkList(l.field, l.value); err != nil {
			return err
		}
	}
	if err := checkText("acr", t.ACR); err != nil {
		return err
	}
	if err := checkOptionalID("jkt", t.JKT); err != nil {
		return err
	}
	if err := checkOptionalID("delegation ID", t.DelegationID); err != nil {
		return err
	}
	if err := checkJSONObject("extra", t.Extra, MaxExtraSize); err != nil {
		return err
	}
	if err := checkTimes([]timeField{
		{"auth time", t.AuthTime},
		{"creation time", t.CreatedAt},
	}); err != nil {
		return err
	}
	if err := CheckExpiry("expiry", t.ExpiresAt); err != nil {
		return err
	}
	if err := CheckExpiry("family expiry", t.FamilyExpiresAt); err != nil {
		return err
	}
	if !t.RotatedAt.IsZero() {
		return invalid("rotation time", "is set on a new token")
	}
	if t.Revoked {
		return invalid("revoked flag", "is set on a new token")
	}
	return nil
}

// Validate reports an error wrapping ErrInvalid unless c can be stored:
// valid user and client IDs, scopes of valid UTF-8 without NUL and times in
// range.
func (c Consent) Validate() error {
	if err := CheckID("user ID", c.UserID); err != nil {
		return err
	}
	if err := CheckID("client ID", c.ClientID); err != nil {
		return err
	}
	if err := checkList("scopes", c.Scopes); err != nil {
		return err
	}
	return checkTimes([]timeField{
		{"grant time", c.GrantedAt},
		{"update time", c.UpdatedAt},
	})
}

// CheckRedeemable is the rule every backend applies in RedeemAuthCode once
// the code is locked: ErrReused if it was redeemed, ErrExpired if it
// expired at or before now, ErrInvalid if what it issues is not for the
// code's client and user.
func CheckRedeemable(c AuthCode, now time.Time, i Issue) error {
	if !c.UsedAt.IsZero() {
		return ErrReused
	}
	if !c.ExpiresAt.After(now) {
		return ErrExpired
	}
	if r := i.Refresh; r != nil && (r.ClientID != c.ClientID || r.UserID != c.UserID) {
		return invalid("issued refresh token", "is not for the code's client and user")
	}
	if o := i.Access.Opaque; o != nil && (o.ClientID != c.ClientID || o.Subject != c.UserID) {
		return invalid("issued access token", "is not for the code's client and user")
	}
	return nil
}

// CheckRotation is the rule every backend applies in RotateRefreshToken
// once the old token and its family are locked, after reuse detection:
// ErrNotFound if the family is revoked, ErrExpired if the token or its
// family expired at or before now, ErrInvalid if the new token or the
// opaque access token are not of the old token's family, client and user.
func CheckRotation(old RefreshToken, now time.Time, i Issue) error {
	next := i.Refresh
	switch {
	case old.Revoked:
		return fmt.Errorf("%w: the refresh token is revoked", ErrNotFound)
	case !old.ExpiresAt.After(now) || !old.FamilyExpiresAt.After(now):
		return ErrExpired
	case next.FamilyID != old.FamilyID:
		return invalid("new refresh token", "is of another family")
	case next.ClientID != old.ClientID || next.UserID != old.UserID ||
		!next.FamilyExpiresAt.Truncate(TimePrecision).Equal(old.FamilyExpiresAt):
		return invalid("new refresh token", "differs from its family in client, user or family expiry")
	case !SameFamilyBinding(*next, old):
		return invalid("new refresh token", "differs from its family in jkt, delegation ID or extra")
	}
	if o := i.Access.Opaque; o != nil && (o.ClientID != old.ClientID || o.Subject != old.UserID) {
		return invalid("issued access token", "is not for the family's client and user")
	}
	return nil
}

// SameFamilyBinding reports whether a and b carry the same family-wide
// binding: JKT, DelegationID and Extra (byte for byte; nil and empty are
// the same). A token continuing a family must carry its family's.
func SameFamilyBinding(a, b RefreshToken) bool {
	return a.JKT == b.JKT && a.DelegationID == b.DelegationID && bytes.Equal(a.Extra, b.Extra)
}

// Bounds of the delegation records, beyond those of keys (MaxIDLength).
const (
	// MaxDelegationDepth is the longest chain of delegations (ParentID
	// links) and of actors a store keeps, and the largest
	// ExchangePolicy.MaxChain.
	MaxDelegationDepth = 16
	// MaxPolicyEntries bounds each list of a policy (ExchangePolicy lists,
	// TrustedIssuer.Uses and Rules, a TrustRule's lists) and a
	// delegation's audiences and scopes.
	MaxPolicyEntries = 100
	// MaxURILength bounds an issuer, audience or URI in those lists, in
	// bytes.
	MaxURILength = 2048
	// MaxExtraSize bounds RefreshToken.Extra and AuditEvent.Details, in
	// bytes.
	MaxExtraSize = 16 << 10
	// MaxJWKSSize bounds TrustedIssuer.JWKS, in bytes.
	MaxJWKSSize = 64 << 10
)

// checkBoundedText accepts valid UTF-8 without NUL of at most limit bytes.
func checkBoundedText(field, s string, limit int) error {
	if len(s) > limit {
		return invalid(field, fmt.Sprintf("is longer than %d bytes", limit))
	}
	return checkText(field, s)
}

// checkBoundedList accepts at most maxItems elements, each valid UTF-8
// without NUL of at most maxLen bytes.
func checkBoundedList(field string, list []string, maxItems, maxLen int) error {
	if len(list) > maxItems {
		return invalid(field, fmt.Sprintf("has more than %d entries", maxItems))
	}
	for i, s := range list {
		if err := checkBoundedText(fmt.Sprintf("%s[%d]", field, i), s, maxLen); err != nil {
			return err
		}
	}
	return nil
}

// checkJSONObject accepts nil/empty, or a JSON object of valid UTF-8 of at
// most limit bytes.
func checkJSONObject(field string, b []byte, limit int) error {
	if len(b) == 0 {
		return nil
	}
	if len(b) > limit {
		return invalid(field, fmt.Sprintf("is larger than %d bytes", limit))
	}
	// What strictjson accepts (one value, valid UTF-8, no duplicate
	// member names, no lone surrogate escapes, at most 32 levels deep) is
	// valid JSON, several times faster to check; only what it refuses
	// takes encoding/json's check, so the rule stays encoding/json's.
	if strictjson.ValidateBytes(b, 0) != nil && (!utf8.Valid(b) || !json.Valid(b)) {
		return invalid(field, "is not valid JSON")
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); t[0] != '{' {
		return invalid(field, "is not a JSON object")
	}
	return nil
}

// validateDelegation checks the client's agent and exchange policies,
// origin and registration token hash.
func (c Client) validateDelegation() error {
	if a := c.Agent; a != nil {
		if err := checkBoundedText("agent owner", a.Owner, MaxIDLength+len(OwnerClient)); err != nil {
			return err
		}
		if err := checkDuration("agent max token TTL", a.MaxTokenTTL); err != nil {
			return err
		}
	}
	if e := c.Exchange; e != nil {
		for _, l := range []struct {
			field string
			value []string
		}{
			{"exchange subject issuers", e.SubjectIssuers},
			{"exchange subject audiences", e.SubjectAudiences},
			{"exchange actors", e.Actors},
			{"exchange ID-JAG audiences", e.IDJAGAudiences},
		} {
			if err := checkBoundedList(l.field, l.value, MaxPolicyEntries, MaxURILength); err != nil {
				return err
			}
		}
		if e.MaxChain < 0 || e.MaxChain > MaxDelegationDepth {
			return invalid("exchange max chain", fmt.Sprintf("is not between 0 and %d", MaxDelegationDepth))
		}
	}
	switch c.Origin {
	case OriginAdmin, OriginDynamic, OriginMetadataDocument:
	default:
		return invalid("origin", "is not a known origin")
	}
	if len(c.RegistrationTokenHash) != 0 {
		if err := checkHash("registration token hash", c.RegistrationTokenHash); err != nil {
			return err
		}
	}
	return nil
}

// checkOptionalText accepts the empty string or valid UTF-8 without NUL
// of at most MaxIDLength bytes: the optional names of delegation records.
func checkOptionalText(field, s string) error {
	return checkBoundedText(field, s, MaxIDLength)
}

// Validate reports an error wrapping ErrInvalid unless e can be appended:
// a type that can be a key, a time set and in range, the names optional
// and bounded (MaxIDLength), at most MaxDelegationDepth actors, and
// Details a JSON object of at most MaxExtraSize bytes when set. Seq is
// ignored: the store assigns it.
func (e AuditEvent) Validate() error {
	if err := CheckID("audit type", e.Type); err != nil {
		return err
	}
	if err := CheckExpiry("audit time", e.Time); err != nil {
		return err
	}
	for _, f := range []textField{
		{"client ID", e.ClientID},
		{"subject", e.Subject},
		{"delegation ID", e.DelegationID},
		{"by", e.By},
		{"request ID", e.RequestID},
	} {
		if err := checkOptionalText(f.field, f.value); err != nil {
			return err
		}
	}
	if err := checkBoundedList("actors", e.Actors, MaxDelegationDepth, MaxIDLength); err != nil {
		return err
	}
	return checkJSONObject("details", e.Details, MaxExtraSize)
}

// Validate reports an error wrapping ErrInvalid unless q can be asked: a
// non-negative AfterSeq and filters of valid UTF-8 without NUL of at most
// MaxIDLength bytes.
func (q AuditQuery) Validate() error {
	if q.AfterSeq < 0 {
		return invalid("after sequence number", "is negative")
	}
	for _, f := range []textField{{"type", q.Type}, {"client ID", q.ClientID}, {"subject", q.Subject}} {
		if err := checkOptionalText(f.field, f.value); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		field string
		t     time.Time
	}{{"since", q.Since}, {"until", q.Until}} {
		if !f.t.IsZero() {
			if err := CheckTime(f.field, f.t); err != nil {
				return err
			}
		}
	}
	return nil
}

// EffectiveLimit returns the number of events a backend returns for q
// (ListOptions.EffectiveLimit rules).
func (q AuditQuery) EffectiveLimit() int { return ListOptions{Limit: q.Limit}.EffectiveLimit() }

// EffectiveLimit returns the number of delegations a backend returns for
// q (ListOptions.EffectiveLimit rules).
func (q DelegationQuery) EffectiveLimit() int { return ListOptions{Limit: q.Limit}.EffectiveLimit() }

// Validate reports an error wrapping ErrInvalid unless d can be stored as
// a new delegation: valid ID, root, client and subject (and parent when
// set; a delegation without a parent is its own root, one with a parent
// is not its own parent), a subject issuer of at most MaxURILength bytes,
// at most MaxDelegationDepth actors of at most MaxIDLength bytes, at most
// MaxPolicyEntries audiences and scopes of at most MaxURILength bytes,
// times in range with a non-zero expiry, and RevokedAt unset.
func (d Delegation) Validate() error {
	for _, id := range []textField{
		{"delegation ID", d.ID},
		{"root delegation ID", d.RootID},
		{"client ID", d.ClientID},
		{"subject", d.Subject},
	} {
		if err := CheckID(id.field, id.value); err != nil {
			return err
		}
	}
	if err := checkOptionalID("parent delegation ID", d.ParentID); err != nil {
		return err
	}
	switch {
	case d.ParentID == "" && d.RootID != d.ID:
		return invalid("root delegation ID", "is not the ID of a delegation without a parent")
	case d.ParentID == d.ID:
		return invalid("parent delegation ID", "is the delegation's own ID")
	}
	if err := checkBoundedText("subject issuer", d.SubjectIssuer, MaxURILength); err != nil {
		return err
	}
	if err := checkBoundedList("actors", d.Actors, MaxDelegationDepth, MaxIDLength); err != nil {
		return err
	}
	if err := checkBoundedList("audience", d.Audience, MaxPolicyEntries, MaxURILength); err != nil {
		return err
	}
	if err := checkBoundedList("scopes", d.Scopes, MaxPolicyEntries, MaxURILength); err != nil {
		return err
	}
	if err := CheckTime("creation time", d.CreatedAt); err != nil {
		return err
	}
	if err := CheckExpiry("expiry", d.ExpiresAt); err != nil {
		return err
	}
	if !d.RevokedAt.IsZero() {
		return invalid("revocation time", "is set on a new delegation")
	}
	return nil
}

// Validate reports an error wrapping ErrInvalid unless q can be asked:
// filters of valid UTF-8 without NUL of at most MaxIDLength bytes and
// ActiveAt in range.
func (q DelegationQuery) Validate() error {
	for _, f := range []textField{{"subject", q.Subject}, {"client ID", q.ClientID}, {"actor", q.Actor}} {
		if err := checkOptionalText(f.field, f.value); err != nil {
			return err
		}
	}
	return CheckTime("active-at time", q.ActiveAt)
}

// checkIssuer accepts an issuer identifier: 1 to MaxURILength bytes of
// valid UTF-8 without NUL.
func checkIssuer(field, issuer string) error {
	if issuer == "" {
		return invalid(field, "is empty")
	}
	return checkBoundedText(field, issuer, MaxURILength)
}

// Validate reports an error wrapping ErrInvalid unless t can be stored: an
// issuer of 1 to MaxURILength bytes, JWKS a JSON object of at most
// MaxJWKSSize bytes when set, a JWKS URI of at most MaxURILength bytes,
// uses among the Trust* constants, at most MaxPolicyEntries uses and
// rules, each rule with a client ID that can be a key and bounded lists,
// and times in range. It does not judge policy (that a key set or URI is
// set, that the URI is https); the caller does.
func (t TrustedIssuer) Validate() error {
	if err := checkIssuer("issuer", t.Issuer); err != nil {
		return err
	}
	if err := checkJSONObject("jwks", t.JWKS, MaxJWKSSize); err != nil {
		return err
	}
	if err := checkBoundedText("jwks_uri", t.JWKSURI, MaxURILength); err != nil {
		return err
	}
	if len(t.Uses) > MaxPolicyEntries {
		return invalid("uses", fmt.Sprintf("has more than %d entries", MaxPolicyEntries))
	}
	for _, u := range t.Uses {
		switch u {
		case TrustSubjectToken, TrustJWTBearer, TrustIDJAG:
		default:
			return invalid("uses", "has an unknown use")
		}
	}
	if len(t.Rules) > MaxPolicyEntries {
		return invalid("rules", fmt.Sprintf("has more than %d entries", MaxPolicyEntries))
	}
	for i, r := range t.Rules {
		if err := CheckID(fmt.Sprintf("rules[%d] client ID", i), r.ClientID); err != nil {
			return err
		}
		if err := checkBoundedList(fmt.Sprintf("rules[%d] audiences", i), r.Audiences, MaxPolicyEntries, MaxURILength); err != nil {
			return err
		}
		if err := checkBoundedList(fmt.Sprintf("rules[%d] scopes", i), r.Scopes, MaxPolicyEntries, MaxURILength); err != nil {
			return err
		}
	}
	return checkTimes([]timeField{{"creation time", t.CreatedAt}, {"update time", t.UpdatedAt}})
}

// CheckIssuer reports an error wrapping ErrInvalid unless issuer can be a
// TrustedIssuer key.
func CheckIssuer(issuer string) error { return checkIssuer("issuer", issuer) }
