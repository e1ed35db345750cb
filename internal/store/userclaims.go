package store

import "time"

// ClaimFormat is the shape of a standard user claim's value.
type ClaimFormat uint8

// Claim formats. The admin API checks each text format; the store checks
// only that text is valid UTF-8 without NUL.
const (
	// FormatText is free text on one line.
	FormatText ClaimFormat = iota + 1
	// FormatEmail is an e-mail address.
	FormatEmail
	// FormatURL is an absolute http or https URL.
	FormatURL
	// FormatBirthdate is YYYY-MM-DD, 0000-MM-DD (year left out) or YYYY.
	FormatBirthdate
	// FormatZoneinfo is a time zone of the IANA database, e.g. Europe/Paris.
	FormatZoneinfo
	// FormatLocale is a BCP 47 language tag, e.g. en-US.
	FormatLocale
	// FormatBool is a boolean (the *_verified claims).
	FormatBool
	// FormatAddress is the address object (User.Address).
	FormatAddress
	// FormatTime is a time the server keeps (updated_at); it cannot be set.
	FormatTime
)

// UserClaim is one standard claim of OpenID Connect Core 1.0 §5.1 that a
// User holds in a field of its own.
type UserClaim struct {
	// Name is the claim name; the admin API member of the same name sets it.
	Name string
	// Scope is the scope that releases it (OpenID Connect Core 1.0 §5.4).
	Scope string
	// Format is the shape of its value.
	Format ClaimFormat
	// MaxLen bounds a text value, in bytes.
	MaxLen int
	// Requires names the claim without which this one means nothing and is
	// not released (email_verified needs email).
	Requires string
	// Text returns the field of a text claim; nil for other formats.
	Text func(*User) *string
	// Bool returns the field of a FormatBool claim; nil for other formats.
	Bool func(*User) *bool
	// Address returns the field of the FormatAddress claim.
	Address func(*User) *Address
	// Time returns the field of a FormatTime claim; nil for other formats.
	Time func(*User) *time.Time
}

// Bounds of user claim values, in bytes.
const (
	// MaxClaimLength bounds the short text claims (name, given_name,
	// gender, ...) and each address component.
	MaxClaimLength = 256
	// MaxEmailLength bounds email (RFC 5321's path limit).
	MaxEmailLength = 254
	// MaxClaimURLLength bounds profile, picture and website.
	MaxClaimURLLength = 2048
	// MaxAddressLineLength bounds the address components that may span
	// lines: formatted and street_address.
	MaxAddressLineLength = 1024
)

// UserClaims returns the standard claims a User holds, by scope in the
// order of OpenID Connect Core 1.0 §5.4: profile, email, address, phone.
// It is the one declaration of them: the admin API decodes and checks user
// fields by it, the store validates by it, and package oidc releases
// claims by it. The slice is new on every call.
func UserClaims() []UserClaim {
	text := func(name, scope string, f ClaimFormat, max int, field func(*User) *string) UserClaim {
		return UserClaim{Name: name, Scope: scope, Format: f, MaxLen: max, Text: field}
	}
	return []UserClaim{
		text("name", "profile", FormatText, MaxClaimLength, func(u *User) *string { return &u.Name }),
		text("family_name", "profile", FormatText, MaxClaimLength, func(u *User) *string { return &u.FamilyName }),
		text("given_name", "profile", FormatText, MaxClaimLength, func(u *User) *string { return &u.GivenName }),
		text("middle_name", "profile", FormatText, MaxClaimLength, func(u *User) *string { return &u.MiddleName }),
		text("nickname", "profile", FormatText, MaxClaimLength, func(u *User) *string { return &u.Nickname }),
		text("preferred_username", "profile", FormatText, MaxClaimLength, func(u *User) *string { return &u.PreferredUsername }),
		text("profile", "profile", FormatURL, MaxClaimURLLength, func(u *User) *string { return &u.Profile }),
		text("picture", "profile", FormatURL, MaxClaimURLLength, func(u *User) *string { return &u.Picture }),
		text("website", "profile", FormatURL, MaxClaimURLLength, func(u *User) *string { return &u.Website }),
		text("gender", "profile", FormatText, MaxClaimLength, func(u *User) *string { return &u.Gender }),
		text("birthdate", "profile", FormatBirthdate, 10, func(u *User) *string { return &u.Birthdate }),
		text("zoneinfo", "profile", FormatZoneinfo, 64, func(u *User) *string { return &u.Zoneinfo }),
		text("locale", "profile", FormatLocale, 35, func(u *User) *string { return &u.Locale }),
		{Name: "updated_at", Scope: "profile", Format: FormatTime, Time: func(u *User) *time.Time { return &u.UpdatedAt }},
		text("email", "email", FormatEmail, MaxEmailLength, func(u *User) *string { return &u.Email }),
		{Name: "email_verified", Scope: "email", Format: FormatBool, Requires: "email", Bool: func(u *User) *bool { return &u.EmailVerified }},
		{Name: "address", Scope: "address", Format: FormatAddress, Address: func(u *User) *Address { return &u.Address }},
		text("phone_number", "phone", FormatText, 64, func(u *User) *string { return &u.PhoneNumber }),
		{Name: "phone_number_verified", Scope: "phone", Format: FormatBool, Requires: "phone_number", Bool: func(u *User) *bool { return &u.PhoneNumberVerified }},
	}
}

// LookupUserClaim returns the standard user claim name, if there is one.
func LookupUserClaim(name string) (UserClaim, bool) {
	for _, c := range UserClaims() {
		if c.Name == name {
			return c, true
		}
	}
	return UserClaim{}, false
}

// AddressComponent is one member of the address claim (OpenID Connect Core
// 1.0 §5.1.1), held in a field of Address.
type AddressComponent struct {
	// Name is the member name in the claim and in the admin API.
	Name string
	// MaxLen bounds the value, in bytes.
	MaxLen int
	// Multiline reports whether the value may hold line breaks ("\n" or
	// "\r\n"), as formatted and street_address may.
	Multiline bool
	// Field returns the field of Address that holds the component.
	Field func(*Address) *string
}

// AddressComponents returns the members of the address claim in the order
// of OpenID Connect Core 1.0 §5.1.1. It is the one declaration of them: the
// admin API encodes, decodes and checks the address object by it, the store
// validates by it, and package oidc releases the address claim by it. The
// slice is new on every call.
func AddressComponents() []AddressComponent {
	return []AddressComponent{
		{Name: "formatted", MaxLen: MaxAddressLineLength, Multiline: true, Field: func(a *Address) *string { return &a.Formatted }},
		{Name: "street_address", MaxLen: MaxAddressLineLength, Multiline: true, Field: func(a *Address) *string { return &a.StreetAddress }},
		{Name: "locality", MaxLen: MaxClaimLength, Field: func(a *Address) *string { return &a.Locality }},
		{Name: "region", MaxLen: MaxClaimLength, Field: func(a *Address) *string { return &a.Region }},
		{Name: "postal_code", MaxLen: MaxClaimLength, Field: func(a *Address) *string { return &a.PostalCode }},
		{Name: "country", MaxLen: MaxClaimLength, Field: func(a *Address) *string { return &a.Country }},
	}
}
