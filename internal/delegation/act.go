// Package delegation holds the act chains of RFC 8693 token exchange: the
// nested "act" claim that names, outermost first, every party acting for a
// token's subject, built from an actor and the chain it extends; the
// bounded parser of a token's act claim; and the "may_act" check.
//
// An act claim (RFC 8693 §4.1) is a JSON object naming the current actor
// with identity claims (here sub, and client_id and iss when known) and,
// in a nested "act", the actor before it:
//
//	{"sub":"agent-7","client_id":"agent-7","act":{"sub":"service-a"}}
//
// Only the outermost actor is the current one; the nested ones are prior
// actors, for the record (§4.1: not considered in access control decisions
// unless a policy asks for them).
package delegation

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/writ-dev/writ/internal/strictjson"
)

// Bounds of the parser.
const (
	// MaxActBytes bounds the raw act (or may_act) claim.
	MaxActBytes = 8 << 10
	// MaxDepth bounds the chain length the parser walks, whatever a
	// caller's limit; deeper claims are ErrTooDeep.
	MaxDepth = 32
	// maxNesting bounds JSON nesting anywhere in the claim.
	maxNesting = MaxDepth + 8
)

// Errors of ParseAct and MayAct; every error they return wraps one of them.
var (
	// ErrMalformed: not a JSON object of identity claims (an actor without
	// a string sub, a member of the wrong type, invalid JSON).
	ErrMalformed = errors.New("delegation: malformed act claim")
	// ErrTooDeep: the chain has more actors than the limit.
	ErrTooDeep = errors.New("delegation: act chain too long")
)

// Actor identifies one party of an act chain.
type Actor struct {
	// Subject is the actor's sub; never empty.
	Subject string `json:"sub"`
	// ClientID is the OAuth client the actor used, or empty.
	ClientID string `json:"client_id,omitempty"`
	// Issuer is the iss of the actor's sub when it is not the issuer of
	// the token that carries the chain, or empty.
	Issuer string `json:"iss,omitempty"`
}

// Chain is an act chain, outermost (the current actor) first.
type Chain []Actor

// Subjects returns the actors' subs, outermost first.
func (c Chain) Subjects() []string {
	out := make([]string, len(c))
	for i, a := range c {
		out[i] = a.Subject
	}
	return out
}

// ParseAct parses the raw JSON value of an act claim into its chain,
// outermost first. Empty raw is no chain. A chain with more than limit
// actors (limit ≤ 0 or above MaxDepth means MaxDepth) is ErrTooDeep; it is
// detected without reading past limit+1 levels. Members other than sub,
// client_id, iss and act are allowed (other identity claims) and ignored.
func ParseAct(raw []byte, limit int) (Chain, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if limit <= 0 || limit > MaxDepth {
		limit = MaxDepth
	}
	if len(raw) > MaxActBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxActBytes)
	}
	s := string(raw)
	if err := strictjson.Validate(s, maxNesting); err != nil {
		if errors.Is(err, strictjson.ErrDepth) {
			return nil, fmt.Errorf("%w: nested deeper than %d", ErrTooDeep, maxNesting)
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var chain Chain
	var buf [8]strictjson.Member
	for s != "" {
		if len(chain) == limit {
			return nil, fmt.Errorf("%w: more than %d actors", ErrTooDeep, limit)
		}
		members, err := strictjson.ParseObject(s, maxNesting, buf[:0])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		a, next, err := actor(members)
		if err != nil {
			return nil, err
		}
		chain = append(chain, a)
		s = next
	}
	return chain, nil
}

// actor reads one level of an act claim: its identity and the raw nested
// act, or "".
func actor(members []strictjson.Member) (Actor, string, error) {
	var (
		a    Actor
		next string
		err  error
	)
	for _, m := range members {
		switch m.Name {
		case "sub":
			a.Subject, err = strictjson.String(m.Value)
		case "client_id":
			a.ClientID, err = strictjson.String(m.Value)
		case "iss":
			a.Issuer, err = strictjson.String(m.Value)
		case "act":
			next = m.Value
		}
		if err != nil {
			return Actor{}, "", fmt.Errorf("%w: %s is not a string", ErrMalformed, m.Name)
		}
	}
	if a.Subject == "" {
		return Actor{}, "", fmt.Errorf("%w: an actor without sub", ErrMalformed)
	}
	return a, next, nil
}

// Nest returns the act claim of a token acted on by a, whose subject token
// carried the act claim inner (empty when it had none): a's identity with
// inner (compacted) as its nested act. inner must have been checked by
// ParseAct.
func Nest(a Actor, inner json.RawMessage) (json.RawMessage, error) {
	if a.Subject == "" {
		return nil, fmt.Errorf("%w: an actor without sub", ErrMalformed)
	}
	v := struct {
		Actor
		Act json.RawMessage `json:"act,omitempty"`
	}{a, inner}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("delegation: encode act: %w", err)
	}
	return b, nil
}

// Build returns the act claim of chain (outermost first), or nil for an
// empty chain.
func Build(chain Chain) (json.RawMessage, error) {
	var inner json.RawMessage
	for i := len(chain) - 1; i >= 0; i-- {
		var err error
		if inner, err = Nest(chain[i], inner); err != nil {
			return nil, err
		}
	}
	return inner, nil
}

// MayAct reports whether a may act for the subject of a token whose
// may_act claim (RFC 8693 §4.4) is raw: every identity claim may_act names
// (sub, client_id, iss) must equal a's; a member it names that writ does
// not know as an identity claim matches nothing. Empty raw allows any
// actor.
func MayAct(raw []byte, a Actor) (bool, error) {
	if len(raw) == 0 {
		return true, nil
	}
	if len(raw) > MaxActBytes {
		return false, fmt.Errorf("%w: may_act larger than %d bytes", ErrMalformed, MaxActBytes)
	}
	members, err := strictjson.ParseObject(string(raw), maxNesting, nil)
	if err != nil {
		return false, fmt.Errorf("%w: may_act: %v", ErrMalformed, err)
	}
	if len(members) == 0 {
		return false, nil
	}
	for _, m := range members {
		v, err := strictjson.String(m.Value)
		if err != nil {
			return false, fmt.Errorf("%w: may_act.%s is not a string", ErrMalformed, m.Name)
		}
		var have string
		switch m.Name {
		case "sub":
			have = a.Subject
		case "client_id":
			have = a.ClientID
		case "iss":
			have = a.Issuer
		default:
			return false, nil
		}
		if v != have {
			return false, nil
		}
	}
	return true, nil
}
