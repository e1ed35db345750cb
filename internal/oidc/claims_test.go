package oidc

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/jwt"
)

func fullUser() store.User {
	return store.User{
		ID:                  "user-1",
		Username:            "ada",
		Name:                "Ada Lovelace",
		GivenName:           "Ada",
		FamilyName:          "Lovelace",
		MiddleName:          "Augusta",
		Nickname:            "Countess",
		PreferredUsername:   "ada",
		Profile:             "https://example.com/ada",
		Picture:             "https://example.com/ada.png",
		Website:             "https://ada.example.com",
		Email:               "ada@example.com",
		EmailVerified:       true,
		Gender:              "female",
		Birthdate:           "1815-12-10",
		Zoneinfo:            "Europe/London",
		Locale:              "en-GB",
		PhoneNumber:         "+44 20 7946 0000",
		PhoneNumberVerified: false,
		Address: store.Address{
			Formatted:     "12 St James's Square\nLondon",
			StreetAddress: "12 St James's Square",
			Locality:      "London",
			PostalCode:    "SW1Y 4JH",
			Country:       "United Kingdom",
		},
		Attributes: map[string]json.RawMessage{
			"groups":     json.RawMessage(`["admins","dev"]`),
			"department": json.RawMessage(`"analytics"`),
			"level":      json.RawMessage(` 7 `),
			"empty":      json.RawMessage(`null`),
			"broken":     json.RawMessage(`{"a":`),
			"folded":     json.RawMessage(`{"a":1,"A":2}`),
			"email":      json.RawMessage(`"shadow@evil.example"`),
			"Email":      json.RawMessage(`"shadow@evil.example"`),
			"sub":        json.RawMessage(`"admin"`),
			"SUB":        json.RawMessage(`"admin"`),
			"nonce":      json.RawMessage(`"x"`),
			"Groups":     json.RawMessage(`["root"]`),
		},
		UpdatedAt: t0.Add(-time.Hour),
	}
}

func profileClaims(u store.User) map[string]any {
	return map[string]any{
		"name": u.Name, "given_name": u.GivenName, "family_name": u.FamilyName, "middle_name": u.MiddleName,
		"nickname": u.Nickname, "preferred_username": u.PreferredUsername, "profile": u.Profile,
		"picture": u.Picture, "website": u.Website, "gender": u.Gender, "birthdate": u.Birthdate,
		"zoneinfo": u.Zoneinfo, "locale": u.Locale, "updated_at": jwt.NewNumericDate(u.UpdatedAt),
	}
}

func merge(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func mustParse(t *testing.T, raw string) *ClaimsRequest {
	t.Helper()
	req, err := ParseClaimsRequest(raw)
	if err != nil {
		t.Fatalf("ParseClaimsRequest(%s): %v", raw, err)
	}
	return req
}

func TestRelease(t *testing.T) {
	u := fullUser()
	email := map[string]any{"email": "ada@example.com", "email_verified": true}
	phone := map[string]any{"phone_number": "+44 20 7946 0000", "phone_number_verified": false}
	address := map[string]any{"address": map[string]any{
		"formatted": "12 St James's Square\nLondon", "street_address": "12 St James's Square",
		"locality": "London", "postal_code": "SW1Y 4JH", "country": "United Kingdom",
	}}
	groups := map[string]any{"groups": json.RawMessage(`["admins","dev"]`)}
	tests := []struct {
		name   string
		user   store.User
		scopes []string
		req    string
		target Target
		want   map[string]any
	}{
		{"no scope", u, nil, "", TargetUserInfo, map[string]any{}},
		{"openid only", u, []string{"openid"}, "", TargetUserInfo, map[string]any{}},
		{"profile", u, []string{"openid", "profile"}, "", TargetUserInfo, profileClaims(u)},
		{"email", u, []string{"openid", "email"}, "", TargetUserInfo, email},
		{"phone", u, []string{"openid", "phone"}, "", TargetUserInfo, phone},
		{"address", u, []string{"openid", "address"}, "", TargetUserInfo, address},
		{"all standard", u, []string{"openid", "profile", "email", "address", "phone"}, "", TargetUserInfo,
			merge(profileClaims(u), email, phone, address)},
		{"custom scope releases its attribute", u, []string{"openid", "groups"}, "", TargetUserInfo, groups},
		{"attribute value trimmed", u, []string{"level"}, "", TargetUserInfo, map[string]any{"level": json.RawMessage(`7`)}},
		{"attribute not released without scope or request", u, []string{"openid", "profile"}, "", TargetUserInfo, profileClaims(u)},
		{"scope claims never go to the ID token", u, []string{"openid", "profile", "email", "groups"}, "", TargetIDToken, map[string]any{}},
		{"claims request for userinfo adds a standard claim", u, []string{"openid"}, `{"userinfo":{"email":null}}`, TargetUserInfo,
			map[string]any{"email": "ada@example.com"}},
		{"claims request narrows to single claims", u, []string{"openid"}, `{"userinfo":{"given_name":{"essential":true},"phone_number_verified":null}}`, TargetUserInfo,
			map[string]any{"given_name": "Ada", "phone_number_verified": false}},
		{"claims request adds an attribute", u, []string{"openid"}, `{"userinfo":{"department":null}}`, TargetUserInfo,
			map[string]any{"department": json.RawMessage(`"analytics"`)}},
		{"userinfo request does not reach the ID token", u, []string{"openid"}, `{"userinfo":{"email":null,"department":null}}`, TargetIDToken,
			map[string]any{}},
		{"id_token request reaches the ID token only", u, []string{"openid", "profile"}, `{"id_token":{"email":null,"groups":null,"name":null}}`, TargetIDToken,
			map[string]any{"email": "ada@example.com", "groups": json.RawMessage(`["admins","dev"]`), "name": "Ada Lovelace"}},
		{"id_token request does not reach userinfo", u, []string{"openid"}, `{"id_token":{"email":null}}`, TargetUserInfo, map[string]any{}},
		{"claims request adds to scope claims", u, []string{"openid", "email"}, `{"userinfo":{"locale":null}}`, TargetUserInfo,
			merge(email, map[string]any{"locale": "en-GB"})},
		{"protocol claims are never released", u, []string{"openid", "sub", "nonce", "SUB"}, `{"userinfo":{"sub":null,"nonce":null,"iss":null,"acr":{"essential":true}},"id_token":{"sub":{"value":"admin"},"nonce":null}}`, TargetUserInfo,
			map[string]any{}},
		{"attribute folding to a protocol claim is ignored", u, []string{"openid", "SUB"}, `{"userinfo":{"SUB":null}}`, TargetUserInfo, map[string]any{}},
		{"attribute shadowing a standard claim is ignored", u, []string{"openid"}, `{"userinfo":{"Email":null}}`, TargetUserInfo, map[string]any{}},
		{"standard claim wins over a same-named attribute", u, []string{"openid", "email"}, `{"userinfo":{"email":null}}`, TargetUserInfo, email},
		{"case-folded attribute twins: first wins", u, []string{"openid", "groups"}, `{"userinfo":{"Groups":null}}`, TargetUserInfo, groups},
		{"null, invalid and folded attributes are left out", u, []string{"empty", "broken", "folded"}, `{"userinfo":{"empty":null,"broken":null,"folded":null,"missing":null}}`, TargetUserInfo,
			map[string]any{}},
		{"unknown scope releases nothing", u, []string{"openid", "offline_access", "api:read"}, "", TargetUserInfo, map[string]any{}},
		{"value and values do not change the released value", u, []string{"openid"}, `{"userinfo":{"email":{"value":"root@example.com"},"locale":{"values":["fr","de"]}}}`, TargetUserInfo,
			map[string]any{"email": "ada@example.com", "locale": "en-GB"}},
		{"empty user releases nothing", store.User{ID: "u2"}, []string{"openid", "profile", "email", "address", "phone"}, "", TargetUserInfo, map[string]any{}},
		{"verified flags need the value", store.User{ID: "u3", EmailVerified: true, PhoneNumberVerified: true}, []string{"email", "phone"}, "", TargetUserInfo, map[string]any{}},
		{"partial address", store.User{ID: "u4", Address: store.Address{Country: "FR"}, UpdatedAt: t0}, []string{"address", "profile"}, "", TargetUserInfo,
			map[string]any{"address": map[string]any{"country": "FR"}, "updated_at": jwt.NumericDate(t0.Unix())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req *ClaimsRequest
			if tt.req != "" {
				req = mustParse(t, tt.req)
			}
			got := Release(tt.user, tt.scopes, req, tt.target)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got %#v\nwant %#v", got, tt.want)
			}
			if _, ok := got["sub"]; ok {
				t.Error("sub released")
			}
			// Whatever is released can go into an ID token.
			for name := range got {
				if ReservedClaim(name) {
					t.Errorf("reserved claim %q released", name)
				}
			}
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("released claims do not encode: %v", err)
			}
		})
	}
}

func TestReleaseDoesNotAlias(t *testing.T) {
	u := fullUser()
	got := Release(u, []string{"groups"}, nil, TargetUserInfo)
	raw := got["groups"].(json.RawMessage)
	raw[0] = '{'
	if string(u.Attributes["groups"]) != `["admins","dev"]` {
		t.Error("released attribute aliases the user record")
	}
}

func TestReleasedClaimsMintIntoIDToken(t *testing.T) {
	u := fullUser()
	req := mustParse(t, `{"id_token":{"name":null,"email":null,"address":null,"updated_at":null,"groups":null,"folded":null,"sub":null}}`)
	claims := Release(u, []string{"openid", "profile"}, req, TargetIDToken)
	key := genKey(t, "ES256")
	if _, err := (IDTokens{Issuer: testIssuer, Keys: staticKeys{key}}).Mint(IDToken{Subject: u.ID, ClientID: "c", TTL: time.Minute, Claims: claims}); err != nil {
		t.Fatalf("released claims cannot be minted: %v", err)
	}
}

func TestScopeClaims(t *testing.T) {
	want := map[string][]string{
		"profile": {"name", "family_name", "given_name", "middle_name", "nickname", "preferred_username", "profile",
			"picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"},
		"email":   {"email", "email_verified"},
		"address": {"address"},
		"phone":   {"phone_number", "phone_number_verified"},
		"openid":  nil,
		"groups":  nil,
	}
	for scope, w := range want {
		if got := ScopeClaims(scope); !reflect.DeepEqual(got, w) {
			t.Errorf("%s: %v, want %v", scope, got, w)
		}
	}
	// Callers cannot change the mapping.
	ScopeClaims("email")[0] = "evil"
	if ScopeClaims("email")[0] != "email" {
		t.Error("ScopeClaims shares its slice")
	}
	if n := len(StandardClaims()); n != 19 {
		t.Errorf("%d standard claims, want 19", n)
	}
	for _, c := range []string{"sub", "at_hash", "sid", "email"} {
		found := false
		for _, s := range SupportedClaims() {
			found = found || s == c
		}
		if !found {
			t.Errorf("claims_supported lacks %s", c)
		}
	}
}

func TestParseClaimsRequest(t *testing.T) {
	// OpenID Connect Core 1.0 §5.5, non-normative example.
	const example = `{
   "userinfo":
    {
     "given_name": {"essential": true},
     "nickname": null,
     "email": {"essential": true},
     "email_verified": {"essential": true},
     "picture": null,
     "http://example.info/claims/groups": null
    },
   "id_token":
    {
     "auth_time": {"essential": true},
     "acr": {"values": ["urn:mace:incommon:iap:silver"] }
    }
  }`
	req := mustParse(t, example)
	want := &ClaimsRequest{
		Userinfo: map[string]IndividualClaim{
			"given_name":                        {Essential: true},
			"nickname":                          {},
			"email":                             {Essential: true},
			"email_verified":                    {Essential: true},
			"picture":                           {},
			"http://example.info/claims/groups": {},
		},
		IDToken: map[string]IndividualClaim{
			"auth_time": {Essential: true},
			"acr":       {Values: []any{"urn:mace:incommon:iap:silver"}},
		},
	}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("\n got %#v\nwant %#v", req, want)
	}
	if got := req.Names(TargetIDToken); !reflect.DeepEqual(got, []string{"acr", "auth_time"}) {
		t.Errorf("Names(id_token) = %v", got)
	}
	if !req.Requested(TargetUserInfo, "picture") || req.Requested(TargetIDToken, "picture") {
		t.Error("Requested is wrong")
	}

	valid := map[string]*ClaimsRequest{
		`{}`:                                {},
		`{"userinfo":null,"id_token":null}`: {},
		`{"userinfo":{}}`:                   {Userinfo: map[string]IndividualClaim{}},
		`{"other":[1,2],"userinfo":{"x":{"unknown":1,"essential":false}}}`:    {Userinfo: map[string]IndividualClaim{"x": {}}},
		`{"id_token":{"sub":{"value":"248289761001"}}}`:                       {IDToken: map[string]IndividualClaim{"sub": {Value: "248289761001"}}},
		`{"id_token":{"n":{"value":12345678901234567890}}}`:                   {IDToken: map[string]IndividualClaim{"n": {Value: json.Number("12345678901234567890")}}},
		`{"id_token":{"n":{"value":null,"values":null,"essential":null}}}`:    {IDToken: map[string]IndividualClaim{"n": {}}},
		`{"id_token":{"n":{"values":[]}}}`:                                    {IDToken: map[string]IndividualClaim{"n": {Values: []any{}}}},
		` {"userinfo" : {"email" : { "essential" : true } } } `:               {Userinfo: map[string]IndividualClaim{"email": {Essential: true}}},
		`{"userinfo":{"groups":{"value":{"deep":["a",{"b":1}]}}}}`:            {Userinfo: map[string]IndividualClaim{"groups": {Value: map[string]any{"deep": []any{"a", map[string]any{"b": json.Number("1")}}}}}},
		`{"userinfo":{"\u00e9":null}}`:                                        {Userinfo: map[string]IndividualClaim{"é": {}}},
		`{"UserInfo":{"email":null}}`:                                         {},
		`{"userinfo":{"email":null},"id_token":{"email":{"essential":true}}}`: {Userinfo: map[string]IndividualClaim{"email": {}}, IDToken: map[string]IndividualClaim{"email": {Essential: true}}},
	}
	for raw, want := range valid {
		got, err := ParseClaimsRequest(raw)
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", raw, got, want)
		}
	}
	if req, err := ParseClaimsRequest(""); req != nil || err != nil {
		t.Errorf("empty: %v, %v", req, err)
	}

	invalid := map[string]string{
		"not JSON":                   `{"userinfo":`,
		"trailing bytes":             `{} {}`,
		"top-level array":            `[{"userinfo":{}}]`,
		"top-level string":           `"userinfo"`,
		"top-level null":             `null`,
		"duplicate target":           `{"userinfo":{},"userinfo":{}}`,
		"duplicate claim":            `{"userinfo":{"email":null,"email":null}}`,
		"duplicate under folding":    `{"userinfo":{"email":null,"EMAIL":null}}`,
		"duplicate target folded":    `{"userinfo":{},"USERINFO":{}}`,
		"duplicate member":           `{"userinfo":{"email":{"essential":true,"essential":false}}}`,
		"target is an array":         `{"userinfo":["email"]}`,
		"target is a string":         `{"id_token":"email"}`,
		"claim is a string":          `{"userinfo":{"email":"yes"}}`,
		"claim is true":              `{"userinfo":{"email":true}}`,
		"claim is an array":          `{"userinfo":{"email":[]}}`,
		"essential is a string":      `{"userinfo":{"email":{"essential":"true"}}}`,
		"essential is a number":      `{"userinfo":{"email":{"essential":1}}}`,
		"values is a string":         `{"userinfo":{"email":{"values":"a"}}}`,
		"values is an object":        `{"userinfo":{"email":{"values":{}}}}`,
		"value and values":           `{"userinfo":{"email":{"value":"a","values":["a"]}}}`,
		"empty claim name":           `{"userinfo":{"":null}}`,
		"long claim name":            `{"userinfo":{"` + strings.Repeat("a", 257) + `":null}}`,
		"too deep":                   `{"userinfo":{"x":{"value":{"a":{"b":{"c":{}}}}}}}`,
		"invalid UTF-8":              "{\"userinfo\":{\"\xff\":null}}",
		"lone surrogate":             `{"userinfo":{"\ud800":null}}`,
		"too large":                  `{"userinfo":{"x":{"value":"` + strings.Repeat("a", MaxClaimsRequestSize) + `"}}}`,
		"just over the size limit":   `{"userinfo":{` + strings.Repeat(" ", MaxClaimsRequestSize-14) + `}}`,
		"leading zero number":        `{"userinfo":{"x":{"value":01}}}`,
		"single quotes":              `{'userinfo':{}}`,
		"comment":                    `{/* */}`,
		"whitespace only":            `   `,
		"unescaped control":          "{\"userinfo\":{\"a\tb\":null}}",
		"duplicate in a value":       `{"userinfo":{"x":{"value":{"a":1,"a":2}}}}`,
		"duplicate value under fold": `{"userinfo":{"x":{"value":{"a":1,"A":2}}}}`,
	}
	for name, raw := range invalid {
		req, err := ParseClaimsRequest(raw)
		if err == nil {
			t.Errorf("%s: accepted as %#v", name, req)
			continue
		}
		if !errors.Is(err, ErrInvalidClaimsRequest) {
			t.Errorf("%s: error %v does not wrap ErrInvalidClaimsRequest", name, err)
		}
		if strings.Contains(err.Error(), "aaaa") {
			t.Errorf("%s: error echoes the input", name)
		}
	}
	// Exactly at the size limit is fine.
	atLimit := `{"userinfo":{` + strings.Repeat(" ", MaxClaimsRequestSize-15) + `}}`
	if len(atLimit) != MaxClaimsRequestSize {
		t.Fatalf("atLimit is %d bytes", len(atLimit))
	}
	if _, err := ParseClaimsRequest(atLimit); err != nil {
		t.Errorf("request of exactly %d bytes: %v", MaxClaimsRequestSize, err)
	}
}

func TestAccessTokenClaimsRoundTrip(t *testing.T) {
	if AccessTokenClaims(nil) != nil {
		t.Error("nil request carries claims")
	}
	if AccessTokenClaims(mustParse(t, `{"id_token":{"email":null}}`)) != nil {
		t.Error("id_token request carries claims")
	}
	req := mustParse(t, `{"userinfo":{"email":{"essential":true},"groups":null,"sub":null,"nonce":null}}`)
	extra := AccessTokenClaims(req)
	b, err := json.Marshal(extra)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"`+UserinfoClaimsClaim+`":["email","groups"]}` {
		t.Errorf("extra = %s", b)
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	back, err := userinfoRequest(string(m[UserinfoClaimsClaim]))
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Names(TargetUserInfo); !reflect.DeepEqual(got, []string{"email", "groups"}) {
		t.Errorf("round trip: %v", got)
	}
	for _, bad := range []string{`"email"`, `[1]`, `{"a":1}`, `["a",`, `[` + strings.Repeat(`"a",`, maxCarriedClaims) + `"a"]`} {
		if _, err := userinfoRequest(bad); err == nil {
			t.Errorf("carried %s accepted", bad)
		}
	}
}

func TestTargetString(t *testing.T) {
	if TargetUserInfo.String() != "userinfo" || TargetIDToken.String() != "id_token" || Target(9).String() != "Target(9)" {
		t.Error("Target.String")
	}
}
