package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/strictjson"
)

// This file holds the request plumbing the client and user routes share:
// decoding bodies, PATCH merges, list pages and store failures. Each takes
// what differs between the two (the error code of a 400, the names of the
// fields, the wording of a message) as arguments.

// badFunc makes the 400 errors of a family of routes: badMetadata for the
// client registration routes (RFC 7591 §3.2.2), badRequest for the others.
type badFunc func(format string, args ...any) *apiError

// decodeObject validates body as one strict JSON object (no duplicate
// members, valid UTF-8, bounded depth) and returns its members in order.
// Errors are made by bad, so that each route answers with its own code.
func decodeObject(body []byte, bad badFunc) ([]strictjson.Member, error) {
	const what = "the request body must be a JSON object"
	if len(body) == 0 {
		return nil, bad(what)
	}
	members, err := strictjson.ParseObject(string(body), 8, nil)
	if err != nil {
		switch {
		case errors.Is(err, strictjson.ErrNotObject):
			return nil, bad(what)
		case errors.Is(err, strictjson.ErrDuplicate):
			return nil, bad("the request body repeats a member name")
		case errors.Is(err, strictjson.ErrDepth):
			return nil, bad("the request body is nested too deeply")
		}
		return nil, bad("the request body is not valid JSON")
	}
	return members, nil
}

// decodeMembers decodes body as one strict JSON object (see decodeObject)
// and returns its members by name. check is called on each member name in
// order and refuses the ones the route does not take.
func decodeMembers(body []byte, bad badFunc, check func(name string) error) (map[string]json.RawMessage, error) {
	members, err := decodeObject(body, bad)
	if err != nil {
		return nil, err
	}
	fields := make(map[string]json.RawMessage, len(members))
	for _, m := range members {
		if err := check(m.Name); err != nil {
			return nil, err
		}
		fields[m.Name] = json.RawMessage(m.Value)
	}
	return fields, nil
}

// settable accepts the name of a field a caller may set: one of known
// (listed in documentation order in the error for an unknown name). A
// member of the responses that cannot be set is refused with the reason
// readOnly gives for it ("" for other names).
func settable(bad badFunc, name string, known []string, readOnly func(name string) string) error {
	if why := readOnly(name); why != "" {
		return bad("%s cannot be set: %s", name, why)
	}
	if !slices.Contains(known, name) {
		return bad("unknown field %q; known fields: %s", clip(name, 64), strings.Join(known, ", "))
	}
	return nil
}

// decodeOnly decodes a body that may hold a single member, name (a strict
// JSON object, see decodeObject), and passes its value to decode. Another
// member is refused; an empty object decodes nothing.
func decodeOnly(body []byte, name string, decode func(raw json.RawMessage) error) error {
	members, err := decodeObject(body, badRequest)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.Name != name {
			return badRequest("unknown field %q; the only field is %s", clip(m.Name, 64), name)
		}
		if err := decode(json.RawMessage(m.Value)); err != nil {
			return err
		}
	}
	return nil
}

// isNull reports whether a raw member value is JSON null.
func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// decodeText decodes a text member: a string of at most max bytes without
// control characters (line breaks allowed when multiline).
func decodeText(bad badFunc, name string, raw json.RawMessage, max int, multiline bool) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", bad("%s must be a string", name)
	}
	if len(s) > max {
		return "", bad("%s is longer than %d bytes", name, max)
	}
	if err := checkText(bad, name, s, multiline); err != nil {
		return "", err
	}
	return s, nil
}

// checkText rejects invalid UTF-8 and control characters in a text field;
// line breaks are allowed when multiline.
func checkText(bad badFunc, name, s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return bad("%s is not valid UTF-8", name)
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			return bad("%s contains a control character", name)
		}
	}
	return nil
}

// decodeBool decodes a true or false member; null means false.
func decodeBool(bad badFunc, name string, raw json.RawMessage) (bool, error) {
	if isNull(raw) {
		return false, nil
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		return false, bad("%s must be true or false", name)
	}
	return b, nil
}

// applyEach sets the members of fields on v in the order of names, with
// apply; names absent from fields are left alone.
func applyEach[T any](v *T, names []string, fields map[string]json.RawMessage, apply func(v *T, name string, raw json.RawMessage) error) error {
	for _, name := range names {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		if err := apply(v, name, raw); err != nil {
			return err
		}
	}
	return nil
}

// mergePatch is what the PATCH route of one kind of resource, T, says about
// its request: see readPatch.
type mergePatch[T any] struct {
	// bad makes the route's 400 errors.
	bad badFunc
	// decode decodes the body into fields, refusing unknown and read-only
	// members.
	decode func(body []byte) (map[string]json.RawMessage, error)
	// idField is the member that names the resource: a caller may send it
	// back, but not change it; idFixed is the error message when it
	// differs from the identifier in the path.
	idField, idFixed string
	// refuse, when not nil, refuses members PATCH cannot change although
	// decode accepts them.
	refuse func(fields map[string]json.RawMessage) error
	// apply sets fields on a T (null resets a field).
	apply func(v *T, fields map[string]json.RawMessage) error
}

// readPatch reads the body of a PATCH of the resource id: a JSON merge
// patch (RFC 7396) of the resource's top-level fields. The identifier
// member, if sent, must be id and is dropped; a patch that changes nothing
// is refused. The shapes of the fields are checked on a zero T, returned,
// before the caller takes the store's write lock for the change, so that a
// malformed request does not take it.
func readPatch[T any](h *handler, w http.ResponseWriter, r *http.Request, id string, p mergePatch[T]) (map[string]json.RawMessage, T, error) {
	var scratch T
	body, err := h.readBody(w, r)
	if err != nil {
		return nil, scratch, err
	}
	fields, err := p.decode(body)
	if err != nil {
		return nil, scratch, err
	}
	if raw, ok := fields[p.idField]; ok {
		var got string
		if json.Unmarshal(raw, &got) != nil || got != id {
			return nil, scratch, p.bad("%s", p.idFixed)
		}
		delete(fields, p.idField)
	}
	if p.refuse != nil {
		if err := p.refuse(fields); err != nil {
			return nil, scratch, err
		}
	}
	if len(fields) == 0 {
		return nil, scratch, p.bad("the request changes nothing: give at least one field to change")
	}
	if err := p.apply(&scratch, fields); err != nil {
		return nil, scratch, err
	}
	return fields, scratch, nil
}

// page is the page of a list route a caller asks for.
type page struct {
	// limit is the page size, DefaultPageSize when not given.
	limit int
	// after is the identifier the page starts after ("" from the start).
	after string
}

// parseListQuery parses the query of a list route: limit and after, whose
// value must be an identifier, which cursor describes in the error ("a
// client_id"). The parameters in extra are accepted too, and left to the
// caller; any other is refused.
func parseListQuery(r *http.Request, cursor string, extra ...string) (url.Values, page, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, page{}, badRequest("the query string is malformed")
	}
	p := page{limit: DefaultPageSize}
	for name, vs := range q {
		if len(vs) != 1 {
			return nil, page{}, badRequest("query parameter %q is repeated", clip(name, 32))
		}
		switch v := vs[0]; {
		case name == "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxPageSize {
				return nil, page{}, badRequest("limit must be a whole number from 1 to %d", MaxPageSize)
			}
			p.limit = n
		case name == "after":
			if v != "" && store.CheckID("after", v) != nil {
				return nil, page{}, badRequest("after must be %s (the next value of the previous page) of at most %d bytes", cursor, store.MaxIDLength)
			}
			p.after = v
		case slices.Contains(extra, name):
		default:
			use := "use limit and after"
			for _, e := range extra {
				use += ", or " + e
			}
			return nil, page{}, badRequest("unknown query parameter %q; %s", clip(name, 32), use)
		}
	}
	return q, p, nil
}

// fetchPage gets page p with list, asking for one item more than the page
// holds to tell whether another page follows. It returns the items of the
// page and the after value of the next page, which id tells, or "" on the
// last page. A store failure is returned as it is.
func fetchPage[T any](ctx context.Context, p page, list func(context.Context, store.ListOptions) ([]T, error), id func(T) string) ([]T, string, error) {
	items, err := list(ctx, store.ListOptions{Limit: p.limit + 1, After: p.after})
	if err != nil || len(items) <= p.limit {
		return items, "", err
	}
	items = items[:p.limit]
	return items, id(items[p.limit-1]), nil
}

// invalidReason is the reason of a store.ErrInvalid failure, without the
// error's prefix. The store names the field, never its value.
func invalidReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, store.ErrInvalid.Error()); i >= 0 {
		msg = strings.TrimPrefix(msg[i+len(store.ErrInvalid.Error()):], ": ")
	}
	return msg
}

// storeFailure maps the store failures that mean the same for every kind
// of resource (a concurrent change, a cancelled request) and logs and
// wraps any other, naming the resource by idKey and id in the log record.
// The callers map the failures that name their resource first.
func (h *handler) storeFailure(ctx context.Context, op, idKey, id string, err error) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return apiErrorf(http.StatusServiceUnavailable, CodeTemporarilyUnavailable, "the change collided with a concurrent one and was not made; retry it")
	case errors.Is(err, store.ErrUnavailable):
		h.log.WarnContext(ctx, "admin: database unavailable", "op", op, "error", err)
		return apiErrorf(http.StatusServiceUnavailable, CodeTemporarilyUnavailable, "the database is unavailable; nothing was changed; retry in a moment")
	case ctx.Err() != nil:
		return apiErrorf(http.StatusServiceUnavailable, CodeTemporarilyUnavailable, "the request was cancelled")
	}
	h.log.ErrorContext(ctx, "admin: store failure", "op", op, idKey, clip(id, 128), "error", err)
	return fmt.Errorf("admin: %s: %w", op, err)
}

// randomID returns a random identifier: generatedIDBytes bytes (128
// bits), 22 base64url characters, never starting with '-', which a command
// line would take for a flag ("writ user disable -x..."). what names it in
// the error.
func randomID(what string) (string, error) {
	b := make([]byte, generatedIDBytes)
	for {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("admin: generate %s: %w", what, err)
		}
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id, nil
		}
	}
}

// writeNoContent answers 204 No Content, uncacheable.
func writeNoContent(w http.ResponseWriter) {
	oauth.NoStore(w.Header())
	w.WriteHeader(http.StatusNoContent)
}
