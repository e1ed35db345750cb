package oauth

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Bounds on form requests.
const (
	// DefaultMaxBody is the body limit when the caller passes none.
	DefaultMaxBody = 64 << 10
	// MaxParams is the most parameters one request may carry.
	MaxParams = 64
	// MaxValuesPerParam bounds repeatable parameters such as resource.
	MaxValuesPerParam = 16
)

// Form is the decoded body of an application/x-www-form-urlencoded request.
// Parameters appear at most once, except those named repeatable.
type Form struct {
	values url.Values
}

// ParseForm reads the body of a POST form request strictly: the method must
// be POST, the content type application/x-www-form-urlencoded, the body at
// most maxBody bytes and not a JSON document, and no parameter may repeat
// unless it is listed in repeatable. The URL query is ignored: credentials
// never travel there. A wrong content type or a JSON body is invalid_request
// with status 400 (RFC 6749 §5.2), like every other malformed request.
func ParseForm(w http.ResponseWriter, r *http.Request, maxBody int64, repeatable ...string) (Form, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return Form{}, &Error{Code: CodeInvalidRequest, Status: http.StatusMethodNotAllowed, Description: "use POST"}
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return Form{}, InvalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return Form{}, &Error{Code: CodeInvalidRequest, Status: http.StatusRequestEntityTooLarge, Description: "request body too large"}
		}
		return Form{}, InvalidRequest("could not read the request body")
	}
	if looksLikeJSON(body) {
		return Form{}, InvalidRequest("the body must be form-encoded (application/x-www-form-urlencoded), not JSON")
	}
	if n := strings.Count(string(body), "&") + 1; n > MaxParams {
		return Form{}, InvalidRequest("too many parameters")
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return Form{}, InvalidRequest("the body is not valid form encoding")
	}
	for name, vs := range values {
		if len(vs) == 1 {
			continue
		}
		allowed := false
		for _, rp := range repeatable {
			if rp == name {
				allowed = true
				break
			}
		}
		if !allowed {
			return Form{}, InvalidRequest("%s appears more than once", paramName(name))
		}
		if len(vs) > MaxValuesPerParam {
			return Form{}, InvalidRequest("%s appears too often", paramName(name))
		}
	}
	return Form{values: values}, nil
}

// paramName names a parameter in an error description: by its name when
// it is a known OAuth parameter, else as "a parameter", so that no name
// the request made up is echoed.
func paramName(name string) string {
	switch name {
	case "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "resource",
		"audience", "client_id", "client_secret", "client_assertion", "client_assertion_type", "token",
		"token_type_hint", "access_token", "subject_token", "subject_token_type", "actor_token",
		"actor_token_type", "requested_token_type", "device_code":
		return "parameter " + name
	}
	return "a parameter"
}

// looksLikeJSON reports whether body is a JSON object or array sent under
// the form content type: its first non-blank byte opens one. Form encoders
// percent-encode "{" and "[", and no parameter name starts with them.
func looksLikeJSON(body []byte) bool {
	for _, b := range body {
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}

// NewForm wraps already decoded values, for tests and internal callers.
func NewForm(v url.Values) Form { return Form{values: v} }

// Get returns the value of name, or "" when absent.
func (f Form) Get(name string) string {
	if vs := f.values[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Values returns a copy of the form's parameters.
func (f Form) Values() url.Values {
	v := make(url.Values, len(f.values))
	for name, vs := range f.values {
		v[name] = append([]string(nil), vs...)
	}
	return v
}

// Has reports whether name is present (even with an empty value).
func (f Form) Has(name string) bool { _, ok := f.values[name]; return ok }

// All returns every value of a repeatable parameter.
func (f Form) All(name string) []string { return f.values[name] }

func jsonUnmarshalString(s string, v any) error { return json.Unmarshal([]byte(s), v) }
