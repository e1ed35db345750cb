package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/writ-dev/writ/internal/gateway/config"
)

// mcpRoute is the MCP part of a route.
type mcpRoute struct {
	resource    string
	metadataURL string
	maxBody     int64
}

// resourceMetadata is RFC 9728 §2 protected-resource metadata.
type resourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	DPoPSigningAlgs        []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundRequired      bool     `json:"dpop_bound_access_tokens_required,omitempty"`
}

// compileMCP builds the metadata of an MCP route and where it is served:
// /.well-known/oauth-protected-resource followed by the resource's path
// (RFC 9728 §3.1).
func (st *state) compileMCP(cr *compiledRoute, r *config.Route) (*mcpRoute, error) {
	u, err := url.Parse(r.MCP.Resource)
	if err != nil {
		return nil, err
	}
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	mdPath := config.MetadataPrefix + p
	md := resourceMetadata{
		Resource:               r.MCP.Resource,
		AuthorizationServers:   r.MCP.AuthorizationServers,
		ScopesSupported:        r.MCP.Scopes,
		BearerMethodsSupported: []string{"header"},
		DPoPSigningAlgs:        []string{"ES256", "EdDSA", "PS256", "RS256"},
		DPoPBoundRequired:      cr.dpopRequired,
	}
	if len(md.AuthorizationServers) == 0 {
		for _, iss := range st.file.Issuers {
			if cr.issuers == nil || cr.issuers[iss.Issuer] {
				md.AuthorizationServers = append(md.AuthorizationServers, iss.Issuer)
			}
		}
	}
	body, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	if _, dup := st.metadata[mdPath]; dup {
		return nil, errors.New("another MCP route has the same resource path")
	}
	st.metadata[mdPath] = body
	return &mcpRoute{resource: r.MCP.Resource, metadataURL: u.Scheme + "://" + u.Host + mdPath, maxBody: r.MCP.MaxBodyBytes}, nil
}

// readMCP reads the JSON-RPC request of an MCP POST (at most max bytes),
// puts it back for the upstream, and returns its method and tool name. A
// request without a body (GET for the event stream, DELETE for the
// session) carries no call; a body is read whatever the method, since an
// upstream may not look at the method.
func readMCP(w http.ResponseWriter, r *http.Request, max int64) (*MCP, outcome, bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return &MCP{}, outcome{}, true
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	_ = r.Body.Close()
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, outcome{status: http.StatusRequestEntityTooLarge, err: "request_too_large", reason: "MCP body too large"}, false
		}
		return nil, outcome{status: http.StatusBadRequest, err: "invalid_request", description: "the request body could not be read", reason: err.Error()}, false
	}
	if int64(len(body)) > max {
		return nil, outcome{status: http.StatusRequestEntityTooLarge, err: "request_too_large", description: "the JSON-RPC message is too large", reason: "MCP body too large"}, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return nil, outcome{status: http.StatusBadRequest, err: "invalid_request", description: "JSON-RPC batches are not accepted", reason: "JSON-RPC batch"}, false
	}
	notRPC := outcome{status: http.StatusBadRequest, err: "invalid_request", description: "the body is not a JSON-RPC 2.0 message", reason: "not JSON-RPC"}
	msg, err := jsonFields(body, "jsonrpc", "id", "method", "params", "result", "error")
	if err != nil {
		return nil, notRPC, false
	}
	var version, method string
	if json.Unmarshal(msg["jsonrpc"], &version) != nil || version != "2.0" {
		return nil, notRPC, false
	}
	if m, ok := msg["method"]; ok && json.Unmarshal(m, &method) != nil { // a response has none
		return nil, notRPC, false
	}
	call := &MCP{Method: method}
	if method == "tools/call" {
		noName := outcome{status: http.StatusBadRequest, err: "invalid_request", description: "tools/call needs params.name", reason: "tools/call without a name"}
		params, err := jsonFields(msg["params"], "name", "arguments")
		if err != nil {
			return nil, noName, false
		}
		var name string
		if json.Unmarshal(params["name"], &name) != nil || name == "" {
			return nil, noName, false
		}
		call.Tool = name
	}
	return call, outcome{}, true
}

// jsonFields decodes a JSON object into its members, refusing a member
// name that appears twice, even in another case: parsers disagree on which
// duplicate wins and encoding/json matches names case-insensitively, so
// the rule could otherwise judge another method or tool than the upstream
// runs. A member spelled like one of known in another case is refused for
// the same reason.
func jsonFields(data []byte, known ...string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	fields := map[string]json.RawMessage{}
	folded := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string)
		if folded[strings.ToLower(name)] {
			return nil, fmt.Errorf("member %q appears twice", name)
		}
		folded[strings.ToLower(name)] = true
		for _, k := range known {
			if name != k && strings.EqualFold(name, k) {
				return nil, fmt.Errorf("member %q is not spelled %q", name, k)
			}
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		fields[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return fields, nil
}
