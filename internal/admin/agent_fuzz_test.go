package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/writ-dev/writ/internal/store"
)

// FuzzDelegationMetadata: the agent and token_exchange members, whatever
// their bytes, decode into a policy or a 400, never a panic, and what
// validates renders back into members that decode to the same policy.
func FuzzDelegationMetadata(f *testing.F) {
	for _, s := range []string{
		`{"owner":"user:u1","max_token_ttl":600,"allow_refresh":true,"require_dpop":false}`,
		`{"owner":"client:svc"}`, `{"owner":null,"max_token_ttl":null}`, `null`, `{}`, `[]`, `"x"`,
		`{"subject_issuers":["https://idp.example"],"actors":["a"],"max_chain":2,"impersonation":true,"refresh_tokens":false,"id_jag_audiences":["https://as.example"]}`,
		`{"max_chain":1e9}`, `{"owner":"user:\u0000"}`, `{"a":1,"a":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 4096 {
			return
		}
		c := store.Client{ID: "agent", GrantTypes: []string{GrantClientCredentials}, TokenEndpointAuthMethod: "client_secret_basic", AccessTokenFormat: store.AccessTokenJWT}
		aerr := applyAgent(&c, raw)
		xerr := applyExchange(&c, raw)
		if aerr != nil && xerr != nil {
			return
		}
		if validateClient(&c) != nil {
			return
		}
		resp := toJSON(c, "")
		again := store.Client{ID: c.ID, GrantTypes: c.GrantTypes, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, AccessTokenFormat: c.AccessTokenFormat}
		if resp.Agent != nil {
			b, _ := json.Marshal(resp.Agent)
			if err := applyAgent(&again, b); err != nil {
				t.Fatalf("rendered agent %s does not decode: %v", b, err)
			}
			if *again.Agent != *c.Agent {
				t.Fatalf("agent %+v became %+v", *c.Agent, *again.Agent)
			}
		}
		if resp.TokenExchange != nil {
			b, _ := json.Marshal(resp.TokenExchange)
			if err := applyExchange(&again, b); err != nil {
				t.Fatalf("rendered token_exchange %s does not decode: %v", b, err)
			}
		}
	})
}

// FuzzDelegationQuery: the query strings of /admin/delegations and
// /admin/audit parse into known, single parameters and a bounded limit,
// or a 400; never a panic.
func FuzzDelegationQuery(f *testing.F) {
	for _, s := range []string{"", "subject=a&active=true&limit=5", "limit=0", "limit=99999999999999999999", "a=1&a=2", "%zz", "after=-1&type=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := &http.Request{URL: &url.URL{RawQuery: raw}}
		q, err := parseQuery(r, "subject", "client_id", "actor", "active", "limit")
		if err != nil {
			var e *apiError
			if !errors.As(err, &e) || e.status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		for name, vs := range q {
			if len(vs) != 1 || !slices.Contains([]string{"subject", "client_id", "actor", "active", "limit"}, name) {
				t.Fatalf("accepted %q = %q", name, vs)
			}
		}
		if n, err := parseLimit(q.Get("limit")); err == nil && (n < 1 || n > MaxAuditPage) {
			t.Fatalf("limit %d out of bounds", n)
		}
	})
}
