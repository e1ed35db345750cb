package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/authn"
	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
)

// PathUsers is the path of the user routes of the admin API.
const PathUsers = "/admin/users"

// CodeInvalidPassword is the error code of a new password that the
// password policy refuses (authn.CheckPasswordPolicy).
const CodeInvalidPassword = "invalid_password"

// Bounds on user fields.
const (
	// MaxUsernameLength bounds a username, in characters; at 4 bytes a
	// character it stays within store.MaxIDLength.
	MaxUsernameLength = 128
	// MaxClaimLength bounds the short text claims (name, given_name,
	// gender, ...) and the one-line address components, in bytes. Each
	// claim's bound is declared in store.UserClaims, each address
	// component's in store.AddressComponents.
	MaxClaimLength = store.MaxClaimLength
	// MaxEmailLength bounds email, in bytes (RFC 5321's path limit).
	MaxEmailLength = store.MaxEmailLength
	// MaxAddressLineLength bounds address.formatted and
	// address.street_address, which may span lines, in bytes.
	MaxAddressLineLength = store.MaxAddressLineLength
	// MaxAttributeNameLength bounds the name of a custom attribute, in
	// bytes.
	MaxAttributeNameLength = 64
)

// UserStore is what the user routes need from the store: the accounts,
// and the sessions, refresh tokens and consents that hang off them.
// store.Store implements it.
type UserStore interface {
	store.UserStore
	// DeleteUserSessions ends every session of the user.
	DeleteUserSessions(ctx context.Context, userID string) ([]store.Session, error)
	// RevokeUserRefreshTokens revokes every refresh token of the user.
	RevokeUserRefreshTokens(ctx context.Context, userID string) error
	// RevokeClientUserRefreshTokens revokes the user's refresh tokens at
	// one client.
	RevokeClientUserRefreshTokens(ctx context.Context, clientID, userID string) error
	// GetConsent returns the user's consent to the client.
	GetConsent(ctx context.Context, userID, clientID string) (store.Consent, error)
	// DeleteConsent removes the user's consent to the client.
	DeleteConsent(ctx context.Context, userID, clientID string) error
	// ListUserConsents returns the user's consents ordered by client ID.
	ListUserConsents(ctx context.Context, userID string) ([]store.Consent, error)
}

// PasswordHasher hashes new passwords into the encoded form the store
// keeps (User.PasswordHash). authn.Hasher implements it.
type PasswordHasher interface {
	// Hash returns the encoded hash of password.
	Hash(password string) (string, error)
}

// addressJSON is the JSON form of the OIDC address claim in responses:
// the non-empty components of store.AddressComponents, in its order.
type addressJSON store.Address

// MarshalJSON encodes the non-empty components of a, in the order of
// store.AddressComponents.
func (a addressJSON) MarshalJSON() ([]byte, error) {
	addr := store.Address(a)
	var o jsonObject
	for _, c := range store.AddressComponents() {
		if v := *c.Field(&addr); v != "" {
			o.add(c.Name, v)
		}
	}
	return o.close()
}

// UnmarshalJSON decodes an address as MarshalJSON encodes it. Unknown
// members are ignored, and a component that is absent or null stays unset.
func (a *addressJSON) UnmarshalJSON(data []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return err
	}
	var addr store.Address
	for _, c := range store.AddressComponents() {
		raw, ok := members[c.Name]
		if !ok || isNull(raw) {
			continue
		}
		if err := json.Unmarshal(raw, c.Field(&addr)); err != nil {
			return fmt.Errorf("address member %s: %w", c.Name, err)
		}
	}
	*a = addressJSON(addr)
	return nil
}

// UserResponse is the JSON form of a user in responses: the account's
// state, the OIDC standard claims under their claim names and the custom
// attributes. Its members are id, username, disabled, has_password, then
// each claim of store.UserClaims in the table's order (a text claim only
// when set, a boolean always, address only when set, updated_at always),
// then attributes (when there are any), created_at and
// password_changed_at (when the password was ever set).
//
// Neither the password nor its hash is ever included: User.PasswordHash is
// always empty, and HasPassword tells whether one is set.
type UserResponse struct {
	// User is the account. Its PasswordHash is never encoded nor decoded.
	store.User
	// HasPassword reports whether the user can sign in with a password.
	HasPassword bool
}

// userAccountJSON holds the members of a UserResponse that are not
// standard claims; updated_at is a claim (store.UserClaims).
type userAccountJSON struct {
	ID                string                     `json:"id"`
	Username          string                     `json:"username"`
	Disabled          bool                       `json:"disabled"`
	HasPassword       bool                       `json:"has_password"`
	Attributes        map[string]json.RawMessage `json:"attributes,omitempty"`
	CreatedAt         time.Time                  `json:"created_at"`
	PasswordChangedAt time.Time                  `json:"password_changed_at,omitzero"`
}

// MarshalJSON encodes r as the admin API does: the account's state, the
// standard claims by store.UserClaims, the attributes and the times; HTML
// characters are escaped only when the caller's encoder escapes them.
func (r UserResponse) MarshalJSON() ([]byte, error) {
	u := r.User
	var o jsonObject
	o.add("id", u.ID)
	o.add("username", u.Username)
	o.add("disabled", u.Disabled)
	o.add("has_password", r.HasPassword)
	for _, c := range store.UserClaims() {
		switch {
		case c.Text != nil:
			if v := *c.Text(&u); v != "" {
				o.add(c.Name, v)
			}
		case c.Bool != nil:
			o.add(c.Name, *c.Bool(&u))
		case c.Address != nil:
			if a := *c.Address(&u); a != (store.Address{}) {
				o.add(c.Name, addressJSON(a))
			}
		case c.Time != nil:
			o.add(c.Name, *c.Time(&u))
		}
	}
	if len(u.Attributes) > 0 {
		o.add("attributes", u.Attributes)
	}
	o.add("created_at", u.CreatedAt)
	if !u.PasswordChangedAt.IsZero() {
		o.add("password_changed_at", u.PasswordChangedAt)
	}
	return o.close()
}

// UnmarshalJSON decodes a user as MarshalJSON encodes it. Unknown members
// are ignored, and a claim that is absent or null stays unset.
func (r *UserResponse) UnmarshalJSON(data []byte) error {
	var acct userAccountJSON
	if err := json.Unmarshal(data, &acct); err != nil {
		return err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return err
	}
	u := store.User{
		ID: acct.ID, Username: acct.Username, Disabled: acct.Disabled, Attributes: acct.Attributes,
		CreatedAt: acct.CreatedAt, PasswordChangedAt: acct.PasswordChangedAt,
	}
	for _, c := range store.UserClaims() {
		raw, ok := members[c.Name]
		if !ok || isNull(raw) {
			continue
		}
		var err error
		switch {
		case c.Text != nil:
			err = json.Unmarshal(raw, c.Text(&u))
		case c.Bool != nil:
			err = json.Unmarshal(raw, c.Bool(&u))
		case c.Address != nil:
			var a addressJSON
			err = json.Unmarshal(raw, &a)
			*c.Address(&u) = store.Address(a)
		case c.Time != nil:
			err = json.Unmarshal(raw, c.Time(&u))
		}
		if err != nil {
			return fmt.Errorf("admin: user member %s: %w", c.Name, err)
		}
	}
	*r = UserResponse{User: u, HasPassword: acct.HasPassword}
	return nil
}

// jsonObject writes a JSON object member by member, in the order added,
// without escaping HTML characters (the encoder that embeds it decides).
type jsonObject struct {
	buf bytes.Buffer
	err error
}

// add appends the member name: v.
func (o *jsonObject) add(name string, v any) {
	if o.err != nil {
		return
	}
	if o.buf.Len() == 0 {
		o.buf.WriteByte('{')
	} else {
		o.buf.WriteByte(',')
	}
	enc := json.NewEncoder(&o.buf)
	enc.SetEscapeHTML(false)
	if o.err = enc.Encode(name); o.err != nil {
		return
	}
	// Encode ends each value with a newline.
	o.buf.Truncate(o.buf.Len() - 1)
	o.buf.WriteByte(':')
	if o.err = enc.Encode(v); o.err == nil {
		o.buf.Truncate(o.buf.Len() - 1)
	}
}

// close ends the object and returns it.
func (o *jsonObject) close() ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	if o.buf.Len() == 0 {
		return []byte("{}"), nil
	}
	o.buf.WriteByte('}')
	return o.buf.Bytes(), nil
}

// UserListResponse is the body of GET /admin/users. Next, when not empty,
// is the after value of the following page.
type UserListResponse struct {
	// Users are the users of the page, ordered by id.
	Users []UserResponse `json:"users"`
	// Next is the after value of the next page, or "" on the last page.
	Next string `json:"next"`
}

// PasswordRequest is the body of POST /admin/users/{id}/password.
type PasswordRequest struct {
	// Password is the new password; the password policy applies.
	Password string `json:"password"`
}

// ConsentResponse is one consent in GET /admin/users/{id}/consents.
type ConsentResponse struct {
	// ClientID is the client consented to.
	ClientID string `json:"client_id"`
	// Scope is the space-separated list of the scopes consented to.
	Scope string `json:"scope"`
	// GrantedAt is when the user first consented to the client.
	GrantedAt time.Time `json:"granted_at"`
	// UpdatedAt is when the consent last changed.
	UpdatedAt time.Time `json:"updated_at"`
}

// ConsentListResponse is the body of GET /admin/users/{id}/consents.
type ConsentListResponse struct {
	// Consents are ordered by client_id.
	Consents []ConsentResponse `json:"consents"`
}

// userFieldNames returns the members a user request may hold, in
// documentation order. "id" is handled by the routes themselves.
func userFieldNames() []string {
	names := []string{"username", "password", "disabled"}
	for _, c := range store.UserClaims() {
		if c.Format != store.FormatTime {
			names = append(names, c.Name)
		}
	}
	return append(names, "attributes")
}

// userReadOnly explains why a response member a caller may send back by
// mistake cannot be set; "" for other names.
func userReadOnly(name string) string {
	switch name {
	case "password_hash":
		return "writ hashes passwords itself: send password (on create) or use POST /admin/users/{id}/password"
	case "has_password":
		return "it follows from the password: send password (on create) or use POST /admin/users/{id}/password"
	case "created_at", "updated_at", "password_changed_at":
		return "it is set by the server"
	}
	return ""
}

// reservedClaims are the names a custom attribute may not take: the
// registered JWT claims, those writ sets in its tokens, and the OIDC
// standard claims (which have fields of their own), so that an attribute
// released as a claim can never shadow one of them.
func reservedClaims() []string {
	names := []string{
		"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "typ", "cnf", "scope",
		"client_id", "act", "may_act", "auth_time", "nonce", "acr", "amr", "azp", "sid",
		"at_hash", "c_hash", "s_hash", "events", "sub_jwk", "_claim_names", "_claim_sources",
		"id", "username", "disabled",
	}
	for _, c := range store.UserClaims() {
		names = append(names, c.Name)
	}
	return names
}

// Shapes of the claims with a format of their own (OIDC Core §5.1). The
// compiled expressions are never modified.
var (
	birthdatePattern = regexp.MustCompile(`^[0-9]{4}(-[0-9]{2}-[0-9]{2})?$`)
	localePattern    = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`)
	zoneinfoPattern  = regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`)
)

// checkUsers fails when the handler has no user store.
func (h *handler) checkUsers() error {
	if h.users == nil {
		return apiErrorf(http.StatusServiceUnavailable, CodeServerError, "user management is not available: the server has no user store")
	}
	return nil
}

// userTarget checks that user management is available and returns the
// {id} of the route, or a 404 for a value that no user can have.
func (h *handler) userTarget(r *http.Request) (string, error) {
	if err := h.checkUsers(); err != nil {
		return "", err
	}
	id := r.PathValue("id")
	if store.CheckID("id", id) != nil {
		return "", noUser(id)
	}
	return id, nil
}

func noUser(id string) *apiError {
	return apiErrorf(http.StatusNotFound, CodeNotFound, "no user with id %q", clip(id, 128))
}

func usernameTaken(username string) *apiError {
	return apiErrorf(http.StatusConflict, CodeConflict, "username %q is taken by another user (usernames are unique regardless of case)", clip(username, 128))
}

// userStoreError maps a store failure to a response, logging unexpected
// ones. username, when known, names the username of a conflict.
func (h *handler) userStoreError(ctx context.Context, op, id, username string, err error) error {
	var e *apiError
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, store.ErrNotFound):
		return noUser(id)
	case errors.Is(err, store.ErrAlreadyExists):
		return usernameTaken(username)
	case errors.Is(err, store.ErrInvalid):
		return badRequest("the user cannot be stored: %s", invalidReason(err))
	}
	return h.storeFailure(ctx, op, "user_id", id, err)
}

// decodeUserFields decodes a body of user fields. Unknown and read-only
// members are rejected; "id" is accepted only when allowID (PATCH, which
// checks it against the path).
func decodeUserFields(body []byte, allowID bool) (map[string]json.RawMessage, error) {
	return decodeMembers(body, badRequest, func(name string) error {
		if name == "id" {
			if !allowID {
				return badRequest("id cannot be set: user IDs are generated by writ")
			}
			return nil
		}
		return settable(badRequest, name, userFieldNames(), userReadOnly)
	})
}

// checkUsername enforces writ's rule for usernames: 1 to
// MaxUsernameLength characters of valid UTF-8, no control or invisible
// formatting characters, no white space at either end.
func checkUsername(s string) error {
	switch {
	case s == "":
		return badRequest("username is required and must not be empty")
	case !utf8.ValidString(s):
		return badRequest("username is not valid UTF-8")
	case utf8.RuneCountInString(s) > MaxUsernameLength:
		return badRequest("username is longer than %d characters", MaxUsernameLength)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return badRequest("username contains a control or invisible formatting character")
		}
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return badRequest("username must not begin or end with white space")
	}
	return nil
}

func checkEmail(name, s string) error {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsFunc(s, unicode.IsSpace) {
		return badRequest("%s must be an e-mail address such as ada@example.com", name)
	}
	return nil
}

func checkWebURL(name, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\\") {
		return badRequest("%s must be an absolute http or https URL", name)
	}
	return nil
}

func checkBirthdate(name, s string) error {
	ok := birthdatePattern.MatchString(s)
	if ok && len(s) > 4 {
		// 0000-MM-DD leaves the year out; check it in a leap year.
		d := s
		if strings.HasPrefix(s, "0000-") {
			d = "2000" + s[4:]
		}
		_, err := time.Parse(time.DateOnly, d)
		ok = err == nil
	}
	if !ok {
		return badRequest("%s must be YYYY-MM-DD, 0000-MM-DD (year left out) or YYYY", name)
	}
	return nil
}

func checkLocale(name, s string) error {
	if len(s) > 35 || !localePattern.MatchString(s) {
		return badRequest("%s must be a BCP 47 language tag such as en-US", name)
	}
	return nil
}

func checkZoneinfo(name, s string) error {
	if len(s) > 64 || !zoneinfoPattern.MatchString(s) {
		return badRequest("%s must be a time zone name of the IANA database such as Europe/Paris", name)
	}
	return nil
}

// applyUserFields sets the members present in fields on u, except id and
// password, which the routes handle. A member set to null is reset.
func applyUserFields(u *store.User, fields map[string]json.RawMessage) error {
	// applyUserField has no case for password: the routes handle it.
	return applyEach(u, userFieldNames(), fields, applyUserField)
}

func applyUserField(u *store.User, name string, raw json.RawMessage) error {
	null := isNull(raw)
	// text sets a text claim: null and "" clear it; a non-empty value
	// must pass check.
	text := func(dst *string, max int, check func(name, s string) error) error {
		*dst = ""
		if null {
			return nil
		}
		s, err := decodeText(badRequest, name, raw, max, false)
		if err != nil {
			return err
		}
		if s != "" && check != nil {
			if err := check(name, s); err != nil {
				return err
			}
		}
		*dst = s
		return nil
	}
	var err error
	switch name {
	case "username":
		if null {
			return badRequest("username cannot be removed")
		}
		// The body limit bounds the string; checkUsername bounds it in
		// characters.
		if json.Unmarshal(raw, &u.Username) != nil {
			return badRequest("username must be a string")
		}
		return checkUsername(u.Username)
	case "disabled":
		u.Disabled, err = decodeBool(badRequest, name, raw)
	case "attributes":
		u.Attributes = nil
		if !null {
			u.Attributes, err = decodeAttributes(raw)
		}
	default:
		c, ok := store.LookupUserClaim(name)
		switch {
		case !ok:
		case c.Text != nil:
			err = text(c.Text(u), c.MaxLen, formatCheck(c.Format))
		case c.Bool != nil:
			*c.Bool(u), err = decodeBool(badRequest, name, raw)
		case c.Address != nil:
			*c.Address(u) = store.Address{}
			if !null {
				*c.Address(u), err = decodeAddress(raw)
			}
		}
	}
	return err
}

// formatCheck returns the check of a text claim format; nil for free text.
func formatCheck(f store.ClaimFormat) func(name, s string) error {
	switch f {
	case store.FormatEmail:
		return checkEmail
	case store.FormatURL:
		return checkWebURL
	case store.FormatBirthdate:
		return checkBirthdate
	case store.FormatZoneinfo:
		return checkZoneinfo
	case store.FormatLocale:
		return checkLocale
	}
	return nil
}

// decodeAddress decodes the address object by store.AddressComponents. Its
// members are matched by exact name; unknown ones are refused.
func decodeAddress(raw json.RawMessage) (store.Address, error) {
	components := store.AddressComponents()
	names := make([]string, len(components))
	for i, c := range components {
		names[i] = c.Name
	}
	last := len(names) - 1
	what := "address must be an object with some of " + strings.Join(names[:last], ", ") + " and " + names[last] + ", each a string"
	members, err := strictjson.ParseObject(string(raw), 2, nil)
	if err != nil {
		return store.Address{}, badRequest("%s", what)
	}
	var a store.Address
	for _, m := range members {
		i := slices.IndexFunc(components, func(c store.AddressComponent) bool { return c.Name == m.Name })
		if i < 0 {
			return store.Address{}, badRequest("unknown address field %q; %s", clip(m.Name, 64), what)
		}
		c := components[i]
		if isNull(json.RawMessage(m.Value)) {
			continue
		}
		if *c.Field(&a), err = decodeText(badRequest, "address."+m.Name, json.RawMessage(m.Value), c.MaxLen, c.Multiline); err != nil {
			return store.Address{}, err
		}
	}
	return a, nil
}

// decodeAttributes decodes the custom attributes: an object of at most
// store.MaxAttributes members whose names are 1 to MaxAttributeNameLength
// printable bytes without white space and not a reserved claim name, and
// whose values are any JSON but null, kept compacted; names and values
// together take at most store.MaxAttributesSize bytes.
func decodeAttributes(raw json.RawMessage) (map[string]json.RawMessage, error) {
	members, err := strictjson.ParseObject(string(raw), 0, nil)
	if err != nil {
		return nil, badRequest("attributes must be an object of attribute names to JSON values, e.g. {\"roles\": [\"admin\"], \"department\": \"sales\"}")
	}
	if len(members) > store.MaxAttributes {
		return nil, badRequest("attributes has more than %d entries", store.MaxAttributes)
	}
	attrs := make(map[string]json.RawMessage, len(members))
	size := 0
	for _, m := range members {
		name := m.Name
		if name == "" || len(name) > MaxAttributeNameLength {
			return nil, badRequest("attribute names must be 1 to %d bytes long", MaxAttributeNameLength)
		}
		if !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
			return nil, badRequest("attribute name %q contains white space or a control character", clip(name, 64))
		}
		if slices.Contains(reservedClaims(), name) {
			return nil, badRequest("attribute name %q is reserved: it is a registered or standard claim (standard claims have fields of their own)", name)
		}
		if isNull(json.RawMessage(m.Value)) {
			return nil, badRequest("attribute %q is null; leave it out instead", clip(name, 64))
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(m.Value)); err != nil {
			return nil, badRequest("attribute %q is not valid JSON", clip(name, 64))
		}
		size += len(name) + buf.Len()
		attrs[name] = json.RawMessage(buf.Bytes())
	}
	if size > store.MaxAttributesSize {
		return nil, badRequest("attributes are larger than %d bytes (names and compacted values together)", store.MaxAttributesSize)
	}
	if len(attrs) == 0 {
		return nil, nil
	}
	return attrs, nil
}

// decodePassword decodes a new password member and applies the policy.
func decodePassword(raw json.RawMessage) (string, error) {
	var pw string
	if isNull(raw) || json.Unmarshal(raw, &pw) != nil {
		return "", badRequest("password must be a string")
	}
	if pw == "" {
		return "", apiErrorf(http.StatusBadRequest, CodeInvalidPassword, "password must not be empty")
	}
	if err := authn.CheckPasswordPolicy(pw); err != nil {
		// The policy's message says what is wrong and never holds the
		// password.
		return "", apiErrorf(http.StatusBadRequest, CodeInvalidPassword, "%s", err.Error())
	}
	return pw, nil
}

// hashPassword hashes a password that passed the policy.
func (h *handler) hashPassword(ctx context.Context, id, password string) (string, error) {
	hasher := h.passwords
	if hasher == nil {
		hasher = authn.Hasher{}
	}
	hash, err := hasher.Hash(password)
	if err != nil {
		// authn errors never hold the password.
		h.log.ErrorContext(ctx, "admin: cannot hash a password", "user_id", clip(id, 128), "error", err)
		return "", fmt.Errorf("admin: hash password: %w", err)
	}
	return hash, nil
}

// endUserAccess ends every session of the user and revokes every refresh
// token, then tells SessionsEnded. It returns how many sessions ended.
func (h *handler) endUserAccess(ctx context.Context, id string) (int, error) {
	sessions, err := h.users.DeleteUserSessions(ctx, id)
	if err != nil {
		return 0, h.userStoreError(ctx, "end user sessions", id, "", err)
	}
	if err := h.users.RevokeUserRefreshTokens(ctx, id); err != nil {
		return 0, h.userStoreError(ctx, "revoke user refresh tokens", id, "", err)
	}
	if len(sessions) > 0 && h.sessionsEnded != nil {
		h.sessionsEnded(ctx, id, sessions)
	}
	return len(sessions), nil
}

// userJSON renders u without its password hash.
func userJSON(u store.User) UserResponse {
	hasPassword := u.PasswordHash != ""
	u.PasswordHash = ""
	return UserResponse{User: u, HasPassword: hasPassword}
}

// userFieldList lists the member names of a request, sorted, for logs
// (names only, never values).
func userFieldList(fields map[string]json.RawMessage) []string {
	names := changedFields(fields)
	return slices.DeleteFunc(names, func(n string) bool { return n == "password" || n == "id" })
}

// createUser serves POST /admin/users.
func (h *handler) createUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkUsers(); err != nil {
		return err
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	fields, err := decodeUserFields(body, false)
	if err != nil {
		return err
	}
	if _, ok := fields["username"]; !ok {
		return badRequest("username is required")
	}
	now := h.clock()
	u := store.User{CreatedAt: now, UpdatedAt: now}
	if err := applyUserFields(&u, fields); err != nil {
		return err
	}
	if u.ID, err = randomID("user id"); err != nil {
		return err
	}
	// Every cheap check comes before the deliberately expensive hash.
	var password string
	if raw, ok := fields["password"]; ok && !isNull(raw) {
		if password, err = decodePassword(raw); err != nil {
			return err
		}
	}
	if err := u.Validate(); err != nil {
		return h.userStoreError(ctx, "create user", u.ID, u.Username, err)
	}
	if password != "" {
		if u.PasswordHash, err = h.hashPassword(ctx, u.ID, password); err != nil {
			return err
		}
		u.PasswordChangedAt = now
	}
	// ErrAlreadyExists is a taken username, or (2^-128) a generated ID
	// that collides, which is simply drawn again.
	// A generated id that is a client_id (2^-128) is drawn again too.
	for attempt := 1; ; attempt++ {
		isClient, cerr := h.isClientID(ctx, u.ID)
		switch {
		case cerr != nil:
			return cerr
		case isClient:
			err = store.ErrAlreadyExists
		default:
			err = h.users.CreateUser(ctx, u)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrAlreadyExists) || attempt == 3 {
			return h.userStoreError(ctx, "create user", u.ID, u.Username, err)
		}
		if _, gerr := h.users.GetUserByUsername(ctx, u.Username); gerr == nil {
			return usernameTaken(u.Username)
		}
		if u.ID, err = randomID("user id"); err != nil {
			return err
		}
	}
	h.log.InfoContext(ctx, "admin: user created", "user_id", u.ID, "fields", userFieldList(fields),
		"password_set", u.PasswordHash != "", "disabled", u.Disabled)
	w.Header().Set("Location", PathUsers+"/"+url.PathEscape(u.ID))
	writeJSON(w, http.StatusCreated, userJSON(u))
	return nil
}

// listUsers serves GET /admin/users?limit=&after= and
// GET /admin/users?username=NAME.
func (h *handler) listUsers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := h.checkUsers(); err != nil {
		return err
	}
	q, p, err := parseListQuery(r, "a user id", "username")
	if err != nil {
		return err
	}
	if _, ok := q["username"]; ok {
		if len(q) != 1 {
			return badRequest("username looks one user up and cannot be combined with limit or after")
		}
		return h.lookupUsername(w, r, q.Get("username"))
	}
	list, next, err := fetchPage(ctx, p, h.users.ListUsers, func(u store.User) string { return u.ID })
	if err != nil {
		return h.userStoreError(ctx, "list users", "", "", err)
	}
	resp := UserListResponse{Users: make([]UserResponse, 0, len(list)), Next: next}
	for _, u := range list {
		resp.Users = append(resp.Users, userJSON(u))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// lookupUsername answers GET /admin/users?username=NAME with a list of the
// one user whose username matches case-insensitively, or none.
func (h *handler) lookupUsername(w http.ResponseWriter, r *http.Request, username string) error {
	ctx := r.Context()
	if username == "" || len(username) > store.MaxIDLength || !utf8.ValidString(username) {
		return badRequest("username must be 1 to %d bytes of UTF-8", store.MaxIDLength)
	}
	resp := UserListResponse{Users: []UserResponse{}}
	u, err := h.users.GetUserByUsername(ctx, username)
	switch {
	case err == nil:
		resp.Users = append(resp.Users, userJSON(u))
	case !errors.Is(err, store.ErrNotFound):
		return h.userStoreError(ctx, "get user by username", "", "", err)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// getUser serves GET /admin/users/{id}.
func (h *handler) getUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.userTarget(r)
	if err != nil {
		return err
	}
	u, err := h.users.GetUser(ctx, id)
	if err != nil {
		return h.userStoreError(ctx, "get user", id, "", err)
	}
	writeJSON(w, http.StatusOK, userJSON(u))
	return nil
}

// patchUser serves PATCH /admin/users/{id}: the members present replace
// the stored values (null resets one; address and attributes are replaced
// whole), all in one store transaction. A new username must be free. A
// changed email or phone_number is no longer verified unless the request
// sets email_verified or phone_number_verified too. A patch that disables
// the user also ends their sessions and revokes their refresh tokens, as
// POST /admin/users/{id}/disable does.
func (h *handler) patchUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.userTarget(r)
	if err != nil {
		return err
	}
	fields, scratch, err := readPatch(h, w, r, id, mergePatch[store.User]{
		bad:     badRequest,
		decode:  func(body []byte) (map[string]json.RawMessage, error) { return decodeUserFields(body, true) },
		idField: "id",
		idFixed: "id cannot change",
		refuse: func(fields map[string]json.RawMessage) error {
			if _, ok := fields["password"]; ok {
				return badRequest("password cannot be changed with PATCH: use POST /admin/users/{id}/password, which also ends the user's sessions")
			}
			return nil
		},
		apply: applyUserFields,
	})
	if err != nil {
		return err
	}
	now := h.clock()
	updated, err := h.users.UpdateUser(ctx, id, func(old store.User) (store.User, error) {
		u := old
		if err := applyUserFields(&u, fields); err != nil {
			return store.User{}, err
		}
		// A new address is not verified unless the request says so.
		if _, ok := fields["email_verified"]; !ok && u.Email != old.Email {
			u.EmailVerified = false
		}
		if _, ok := fields["phone_number_verified"]; !ok && u.PhoneNumber != old.PhoneNumber {
			u.PhoneNumberVerified = false
		}
		u.UpdatedAt = now
		return u, nil
	})
	if err != nil {
		return h.userStoreError(ctx, "update user", id, scratch.Username, err)
	}
	ended := 0
	if _, ok := fields["disabled"]; ok && updated.Disabled {
		if ended, err = h.endUserAccess(ctx, id); err != nil {
			return err
		}
	}
	h.log.InfoContext(ctx, "admin: user updated", "user_id", id, "fields", userFieldList(fields), "disabled", updated.Disabled, "sessions_ended", ended)
	writeJSON(w, http.StatusOK, userJSON(updated))
	return nil
}

// setDisabled serves POST /admin/users/{id}/disable and /enable.
// Disabling ends the user's sessions and revokes their refresh tokens
// before answering, also when the user was disabled already (so that a
// retry after a failure completes the job).
func (h *handler) setDisabled(disabled bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		id, err := h.userTarget(r)
		if err != nil {
			return err
		}
		if err := h.emptyBody(w, r); err != nil {
			return err
		}
		now := h.clock()
		updated, err := h.users.UpdateUser(ctx, id, func(u store.User) (store.User, error) {
			if u.Disabled != disabled {
				u.Disabled, u.UpdatedAt = disabled, now
			}
			return u, nil
		})
		if err != nil {
			return h.userStoreError(ctx, "update user", id, "", err)
		}
		if disabled {
			ended, err := h.endUserAccess(ctx, id)
			if err != nil {
				return err
			}
			h.log.InfoContext(ctx, "admin: user disabled", "user_id", id, "sessions_ended", ended)
		} else {
			h.log.InfoContext(ctx, "admin: user enabled", "user_id", id)
		}
		writeJSON(w, http.StatusOK, userJSON(updated))
		return nil
	}
}

// setPassword serves POST /admin/users/{id}/password: the new password
// replaces the old one, and the user's sessions end and refresh tokens are
// revoked before the 204.
func (h *handler) setPassword(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.userTarget(r)
	if err != nil {
		return err
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	var password string
	if err := decodeOnly(body, "password", func(raw json.RawMessage) (err error) {
		password, err = decodePassword(raw)
		return err
	}); err != nil {
		return err
	}
	if password == "" {
		return badRequest("password is required: {\"password\": \"...\"}")
	}
	// Fail fast on an unknown user before the expensive hash.
	if _, err := h.users.GetUser(ctx, id); err != nil {
		return h.userStoreError(ctx, "get user", id, "", err)
	}
	hash, err := h.hashPassword(ctx, id, password)
	if err != nil {
		return err
	}
	now := h.clock()
	if _, err := h.users.UpdateUser(ctx, id, func(u store.User) (store.User, error) {
		u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = hash, now, now
		return u, nil
	}); err != nil {
		return h.userStoreError(ctx, "set user password", id, "", err)
	}
	ended, err := h.endUserAccess(ctx, id)
	if err != nil {
		return err
	}
	h.log.InfoContext(ctx, "admin: user password set", "user_id", id, "sessions_ended", ended)
	writeNoContent(w)
	return nil
}

// deleteUser serves DELETE /admin/users/{id}: the user's sessions end and
// refresh tokens are revoked first (so that SessionsEnded hears of them),
// then the user is deleted with everything that depends on it.
func (h *handler) deleteUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.userTarget(r)
	if err != nil {
		return err
	}
	ended, err := h.endUserAccess(ctx, id)
	if err != nil {
		return err
	}
	if err := h.users.DeleteUser(ctx, id); err != nil {
		return h.userStoreError(ctx, "delete user", id, "", err)
	}
	h.log.InfoContext(ctx, "admin: user deleted", "user_id", id, "sessions_ended", ended)
	writeNoContent(w)
	return nil
}

// listConsents serves GET /admin/users/{id}/consents.
func (h *handler) listConsents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.userTarget(r)
	if err != nil {
		return err
	}
	// The store lists none for an unknown user: look the user up for a 404.
	if _, err := h.users.GetUser(ctx, id); err != nil {
		return h.userStoreError(ctx, "get user", id, "", err)
	}
	list, err := h.users.ListUserConsents(ctx, id)
	if err != nil {
		return h.userStoreError(ctx, "list consents", id, "", err)
	}
	resp := ConsentListResponse{Consents: make([]ConsentResponse, 0, len(list))}
	for _, c := range list {
		resp.Consents = append(resp.Consents, ConsentResponse{
			ClientID: c.ClientID, Scope: oauth.JoinScope(c.Scopes), GrantedAt: c.GrantedAt, UpdatedAt: c.UpdatedAt,
		})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// revokeConsent serves DELETE /admin/users/{id}/consents/{client_id}: the
// user's refresh tokens at that client are revoked, then the consent is
// removed, so that a failure in between leaves the consent to retry with.
func (h *handler) revokeConsent(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := h.userTarget(r)
	if err != nil {
		return err
	}
	clientID := r.PathValue("client_id")
	noConsent := apiErrorf(http.StatusNotFound, CodeNotFound, "user %q has no consent for client %q", clip(id, 128), clip(clientID, 128))
	if store.CheckID("client_id", clientID) != nil {
		return noConsent
	}
	if _, err := h.users.GetConsent(ctx, id, clientID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return noConsent
		}
		return h.userStoreError(ctx, "get consent", id, "", err)
	}
	if err := h.users.RevokeClientUserRefreshTokens(ctx, clientID, id); err != nil {
		return h.userStoreError(ctx, "revoke client refresh tokens", id, "", err)
	}
	// Gone already means a concurrent revocation won: the outcome is the
	// same.
	if err := h.users.DeleteConsent(ctx, id, clientID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return h.userStoreError(ctx, "delete consent", id, "", err)
	}
	h.log.InfoContext(ctx, "admin: consent revoked", "user_id", id, "client_id", clientID)
	writeNoContent(w)
	return nil
}
