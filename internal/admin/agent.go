package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
)

// This file holds the agent and token exchange members of client metadata:
// "agent" (store.AgentPolicy) and "token_exchange" (store.ExchangePolicy).

// Bounds of the agent policy.
const (
	// MinAgentTokenTTL and MaxAgentTokenTTL bound agent.max_token_ttl.
	MinAgentTokenTTL = time.Minute
	MaxAgentTokenTTL = 24 * time.Hour
	// DefaultAgentTokenTTL is agent.max_token_ttl when left out.
	DefaultAgentTokenTTL = 15 * time.Minute
	// MaxExchangeChain bounds token_exchange.max_chain.
	MaxExchangeChain = 16
	// MaxExchangeEntries bounds each list of token_exchange.
	MaxExchangeEntries = 32
)

// AgentJSON is the "agent" member of client metadata: the client acts for
// Owner ("user:<id>" or "client:<id>"). MaxTokenTTL is in seconds, like
// the other TTLs of the API.
type AgentJSON struct {
	// Owner is "user:<user id>" or "client:<client_id>".
	Owner string `json:"owner"`
	// MaxTokenTTL bounds the lifetime of the agent's tokens, in seconds.
	MaxTokenTTL int64 `json:"max_token_ttl"`
	// AllowRefresh lets the agent get refresh tokens.
	AllowRefresh bool `json:"allow_refresh"`
	// RequireDPoP makes every token of the agent DPoP-bound.
	RequireDPoP bool `json:"require_dpop"`
}

// ExchangeJSON is the "token_exchange" member of client metadata: the
// client's RFC 8693 policy (absent: the default policy).
type ExchangeJSON struct {
	// SubjectIssuers are further trusted issuers of subject tokens.
	SubjectIssuers []string `json:"subject_issuers,omitempty"`
	// SubjectAudiences are further audiences a subject token may carry.
	SubjectAudiences []string `json:"subject_audiences,omitempty"`
	// Actors, when set, are the only actor subjects allowed.
	Actors []string `json:"actors,omitempty"`
	// MaxChain bounds the act chain (0: store.DefaultMaxChain).
	MaxChain int `json:"max_chain,omitempty"`
	// Impersonation allows results without act.
	Impersonation bool `json:"impersonation"`
	// RefreshTokens lets exchanges return refresh tokens.
	RefreshTokens bool `json:"refresh_tokens"`
	// IDJAGAudiences are the resource authorization servers the client
	// may ask ID-JAGs for.
	IDJAGAudiences []string `json:"id_jag_audiences,omitempty"`
}

func agentJSON(a *store.AgentPolicy) *AgentJSON {
	if a == nil {
		return nil
	}
	return &AgentJSON{Owner: a.Owner, MaxTokenTTL: int64(a.MaxTokenTTL / time.Second), AllowRefresh: a.AllowRefresh, RequireDPoP: a.RequireDPoP}
}

func exchangeJSON(x *store.ExchangePolicy) *ExchangeJSON {
	if x == nil {
		return nil
	}
	return &ExchangeJSON{
		SubjectIssuers: x.SubjectIssuers, SubjectAudiences: x.SubjectAudiences, Actors: x.Actors,
		MaxChain: x.MaxChain, Impersonation: x.Impersonation, RefreshTokens: x.RefreshTokens,
		IDJAGAudiences: x.IDJAGAudiences,
	}
}

// objectMembers decodes a nested JSON object of client metadata, refusing
// members not in known.
func objectMembers(name string, raw json.RawMessage, known []string) (map[string]json.RawMessage, error) {
	members, err := decodeObject(raw, func(format string, args ...any) *apiError {
		return badMetadata("%s: %s", name, fmt.Sprintf(format, args...))
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(members))
	for _, m := range members {
		if !slices.Contains(known, m.Name) {
			return nil, badMetadata("unknown member %q of %s; known members: %s", clip(m.Name, 64), name, strings.Join(known, ", "))
		}
		out[m.Name] = json.RawMessage(m.Value)
	}
	return out, nil
}

var agentMembers = []string{"owner", "max_token_ttl", "allow_refresh", "require_dpop"}

// applyAgent merges the "agent" member into c.Agent (RFC 7396: members
// present replace, null resets one; null for the whole member removes the
// agent policy).
func applyAgent(c *store.Client, raw json.RawMessage) error {
	if isNull(raw) {
		c.Agent = nil
		return nil
	}
	fields, err := objectMembers("agent", raw, agentMembers)
	if err != nil {
		return err
	}
	a := store.AgentPolicy{}
	if c.Agent != nil {
		a = *c.Agent
	}
	for _, name := range agentMembers {
		v, ok := fields[name]
		if !ok {
			continue
		}
		null := isNull(v)
		switch name {
		case "owner":
			a.Owner = ""
			if !null {
				a.Owner, err = decodeString("agent.owner", v, len(store.OwnerClient)+MaxClientIDLength+store.MaxIDLength)
			}
		case "max_token_ttl":
			a.MaxTokenTTL = 0
			if !null {
				a.MaxTokenTTL, err = decodeTTL("agent.max_token_ttl", v, MaxAgentTokenTTL)
			}
		case "allow_refresh":
			a.AllowRefresh, err = decodeBool(badMetadata, "agent.allow_refresh", v)
		case "require_dpop":
			a.RequireDPoP, err = decodeBool(badMetadata, "agent.require_dpop", v)
		}
		if err != nil {
			return err
		}
	}
	c.Agent = &a
	return nil
}

var exchangeMembers = []string{"subject_issuers", "subject_audiences", "actors", "max_chain", "impersonation", "refresh_tokens", "id_jag_audiences"}

// applyExchange merges the "token_exchange" member into c.Exchange, like
// applyAgent; null restores the default policy.
func applyExchange(c *store.Client, raw json.RawMessage) error {
	if isNull(raw) {
		c.Exchange = nil
		return nil
	}
	fields, err := objectMembers("token_exchange", raw, exchangeMembers)
	if err != nil {
		return err
	}
	x := store.ExchangePolicy{}
	if c.Exchange != nil {
		x = *c.Exchange
	}
	list := func(name string, v json.RawMessage) ([]string, error) {
		if isNull(v) {
			return nil, nil
		}
		return decodeList("token_exchange."+name, v, MaxExchangeEntries, MaxURILength)
	}
	for _, name := range exchangeMembers {
		v, ok := fields[name]
		if !ok {
			continue
		}
		switch name {
		case "subject_issuers":
			x.SubjectIssuers, err = list(name, v)
		case "subject_audiences":
			x.SubjectAudiences, err = list(name, v)
		case "actors":
			x.Actors, err = list(name, v)
		case "id_jag_audiences":
			x.IDJAGAudiences, err = list(name, v)
		case "max_chain":
			x.MaxChain = 0
			if !isNull(v) {
				var n int
				if json.Unmarshal(v, &n) != nil || n < 0 || n > MaxExchangeChain {
					return badMetadata("token_exchange.max_chain must be a whole number from 1 to %d, or 0 for the default (%d)", MaxExchangeChain, store.DefaultMaxChain)
				}
				x.MaxChain = n
			}
		case "impersonation":
			x.Impersonation, err = decodeBool(badMetadata, "token_exchange.impersonation", v)
		case "refresh_tokens":
			x.RefreshTokens, err = decodeBool(badMetadata, "token_exchange.refresh_tokens", v)
		}
		if err != nil {
			return err
		}
	}
	c.Exchange = &x
	return nil
}

// validateDelegation judges the agent and exchange policies of c as part
// of validateClient, and fills their defaults: an agent's max_token_ttl
// (DefaultAgentTokenTTL) and its access_token_ttl (the server default
// could outlive max_token_ttl, so an agent's tokens live max_token_ttl
// unless it asks for less).
func validateDelegation(c *store.Client) error {
	if c.TokenEndpointAuthMethod == oauth.AuthNone && slices.Contains(c.GrantTypes, GrantTokenExchange) {
		return badMetadata("public clients (token_endpoint_auth_method none) cannot use token exchange: the exchanging client must authenticate")
	}
	if a := c.Agent; a != nil {
		if err := checkOwner(c.ID, a.Owner); err != nil {
			return err
		}
		if a.MaxTokenTTL == 0 {
			a.MaxTokenTTL = DefaultAgentTokenTTL
		}
		if a.MaxTokenTTL < MinAgentTokenTTL {
			return badMetadata("agent.max_token_ttl must be from %d to %d seconds (%s to %s)", int64(MinAgentTokenTTL/time.Second), int64(MaxAgentTokenTTL/time.Second), MinAgentTokenTTL, MaxAgentTokenTTL)
		}
		switch {
		case c.AccessTokenTTL > a.MaxTokenTTL:
			return badMetadata("access_token_ttl (%d s) is longer than agent.max_token_ttl (%d s)", int64(c.AccessTokenTTL/time.Second), int64(a.MaxTokenTTL/time.Second))
		case c.AccessTokenTTL == 0:
			c.AccessTokenTTL = a.MaxTokenTTL
		}
		if c.IDTokenTTL > a.MaxTokenTTL {
			return badMetadata("id_token_ttl (%d s) is longer than agent.max_token_ttl (%d s)", int64(c.IDTokenTTL/time.Second), int64(a.MaxTokenTTL/time.Second))
		}
		if !a.AllowRefresh {
			if slices.Contains(c.GrantTypes, GrantRefreshToken) {
				return badMetadata("agent.allow_refresh is false, so the agent cannot have the refresh_token grant: set allow_refresh or remove refresh_token from grant_types")
			}
			if c.Exchange != nil && c.Exchange.RefreshTokens {
				return badMetadata("agent.allow_refresh is false, so token_exchange.refresh_tokens cannot be true")
			}
		}
	}
	if x := c.Exchange; x != nil {
		for i, iss := range x.SubjectIssuers {
			if err := checkAbsURI(fmt.Sprintf("token_exchange.subject_issuers[%d]", i), iss); err != nil {
				return err
			}
		}
		for i, aud := range x.IDJAGAudiences {
			if err := checkAbsURI(fmt.Sprintf("token_exchange.id_jag_audiences[%d]", i), aud); err != nil {
				return err
			}
		}
		for i, s := range slices.Concat(x.SubjectAudiences, x.Actors) {
			if s == "" {
				return badMetadata("token_exchange lists an empty audience or actor (entry %d)", i)
			}
		}
	}
	return nil
}

// exchangeRefresh reports whether c may get refresh tokens by token
// exchange.
func exchangeRefresh(c *store.Client) bool {
	return slices.Contains(c.GrantTypes, GrantTokenExchange) && c.Exchange != nil && c.Exchange.RefreshTokens
}

// checkAbsURI accepts an absolute URI without a fragment or spaces.
func checkAbsURI(name, s string) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || strings.Contains(s, "#") || strings.ContainsAny(s, " \t") {
		return badMetadata("%s must be an absolute URI without a fragment, e.g. https://idp.example.com", name)
	}
	return nil
}

// checkOwner checks the form of an agent's owner: "user:<id>" or
// "client:<client_id>", never the agent itself.
func checkOwner(self, owner string) error {
	kind, id, ok := splitOwner(owner)
	switch {
	case owner == "":
		return badMetadata("agent.owner is required: \"user:<user id>\" or \"client:<client_id>\"")
	case !ok:
		return badMetadata("agent.owner must be \"user:<user id>\" or \"client:<client_id>\"")
	case kind == store.OwnerClient && checkClientID(id) != nil:
		return badMetadata("agent.owner names a client_id that no client can have")
	case kind == store.OwnerUser && store.CheckID("owner", id) != nil:
		return badMetadata("agent.owner names a user id that no user can have")
	case kind == store.OwnerClient && id == self:
		return badMetadata("an agent cannot own itself: agent.owner must be another client or a user")
	}
	return nil
}

// splitOwner splits an owner into its kind (store.OwnerUser or
// store.OwnerClient) and id.
func splitOwner(owner string) (kind, id string, ok bool) {
	for _, k := range []string{store.OwnerUser, store.OwnerClient} {
		if rest, found := strings.CutPrefix(owner, k); found && rest != "" {
			return k, rest, true
		}
	}
	return "", "", false
}

// checkOwnerExists refuses an agent whose owner is not a registered user
// or client. Nothing to check when a is nil.
func (h *handler) checkOwnerExists(ctx context.Context, a *store.AgentPolicy) error {
	if a == nil || a.Owner == "" {
		return nil
	}
	kind, id, ok := splitOwner(a.Owner)
	if !ok {
		return nil // validateDelegation says why
	}
	var err error
	switch kind {
	case store.OwnerUser:
		if h.users == nil {
			return apiErrorf(http.StatusServiceUnavailable, CodeServerError, "agents owned by users cannot be registered: the server has no user store")
		}
		_, err = h.users.GetUser(ctx, id)
	default:
		_, err = h.store.GetClient(ctx, id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return badMetadata("agent.owner %q is not a registered %s", clip(a.Owner, 160), strings.TrimSuffix(kind, ":"))
	case err != nil:
		return h.storeFailure(ctx, "check agent owner", "owner", a.Owner, err)
	}
	return nil
}
