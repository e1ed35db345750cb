package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/writ-dev/writ/internal/gateway/route"
	"github.com/writ-dev/writ/rs"
)

// maxTokenLength bounds the token of an Authorization header.
const maxTokenLength = 16 << 10

// decision is what the decision log records of one request.
type decision struct {
	id, route, rule, reason string
	path                    string // normalised
	result                  string // allow, deny, anonymous, error
	status                  int
	sub, clientID, issuer   string
	served                  prometheus.Counter // the route's counter of decision result and 2xx; nil when the request was not proxied
}

// serve is the request flow: strip, normalise, match, authenticate,
// authorise, proxy.
func (st *state) serve(w http.ResponseWriter, r *http.Request) {
	start := st.g.now()
	// Headers the gateway sets are stripped first, whatever the outcome.
	st.stripHeaders(r.Header)
	d := decision{id: newDecisionID(), route: "-"}
	rw := &statusWriter{ResponseWriter: w}
	st.handle(rw, r, &d)
	if d.status == 0 {
		d.status = rw.status()
	}
	st.g.metrics.count(&d)
	st.logDecision(r, &d, start)
}

func (st *state) handle(w http.ResponseWriter, r *http.Request, d *decision) {
	p, err := route.Normalize(rawPath(r))
	if err != nil {
		st.end(w, d, "error", outcome{status: http.StatusBadRequest, err: "invalid_request", description: "invalid request path", reason: err.Error()})
		return
	}
	d.path = p
	if st.serveOwn(w, r, p, d) {
		return
	}
	res := st.router.Match(r.Host, r.Method, p)
	if res.Entry == nil {
		if res.MethodNotAllowed {
			w.Header().Set("Allow", strings.Join(res.Allow, ", "))
			st.end(w, d, "error", outcome{status: http.StatusMethodNotAllowed, err: "method_not_allowed", reason: "no route for the method"})
			return
		}
		st.end(w, d, "error", outcome{status: http.StatusNotFound, err: "not_found", reason: "no route"})
		return
	}
	rt := res.Entry.Value
	d.route = rt.name
	if r.ContentLength > rt.maxBody {
		st.end(w, d, "error", outcome{status: http.StatusRequestEntityTooLarge, err: "request_too_large", reason: "body larger than the route's limit"})
		return
	}
	// timeouts.read bounds reading the request; once it is read, the
	// deadline is lifted so that a long response (server-sent events, an
	// MCP stream) is not cut when it passes.
	rc := http.NewResponseController(w)
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &eofHook{ReadCloser: http.MaxBytesReader(w, r.Body, rt.maxBody), done: func() { _ = rc.SetReadDeadline(time.Time{}) }}
	} else {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if rt.anonymous {
		d.result, d.rule = "anonymous", "anonymous"
		if rt.decider != nil { // a deny expression applies to anonymous routes too
			in := &Input{Request: requestOf(r, p, res.Params)}
			if dec := rt.decider.Decide(r.Context(), in); !dec.Allow {
				d.rule = dec.Rule
				st.end(w, d, "deny", outcome{status: http.StatusForbidden, err: "access_denied", description: "the policy denies this request", reason: dec.Reason})
				return
			}
		}
		if !rt.cfg.ForwardToken {
			delete(r.Header, "Authorization")
			delete(r.Header, "Dpop")
		}
		d.served = rt.m.served
		st.proxy(w, r, rt, p, nil)
		return
	}
	tok, upstreamAuth, o, ok := st.authenticate(r, rt)
	if !ok {
		st.end(w, d, "deny", o)
		return
	}
	d.sub, d.clientID, d.issuer = tok.Subject, tok.ClientID, tok.Issuer
	in := st.input(r, rt, p, res.Params, tok)
	if rt.mcp != nil {
		call, o, ok := readMCP(w, r, rt.mcp.maxBody)
		if !ok {
			st.end(w, d, "deny", o)
			return
		}
		in.Request.MCP = call
	}
	if o, ok := st.authorize(r.Context(), rt, in, d); !ok {
		st.end(w, d, "deny", o)
		return
	}
	d.result, d.served = "allow", rt.m.served
	st.proxy(w, r, rt, p, st.setIdentity(r, rt, tok, p, d.id, upstreamAuth))
}

// end writes o and records it.
func (st *state) end(w http.ResponseWriter, d *decision, result string, o outcome) {
	d.result, d.status = result, o.status
	if o.reason != "" {
		d.reason = o.reason
	} else if d.reason == "" {
		d.reason = o.err
	}
	o.write(w)
}

// stripHeaders removes the headers the gateway sets, and their spellings
// with "_" for "-", which some servers (CGI, WSGI, nginx with
// underscores_in_headers) take for the same header.
func (st *state) stripHeaders(h http.Header) {
	for _, name := range st.strip {
		delete(h, name)
	}
	for k := range h {
		if strings.IndexByte(k, '_') >= 0 && st.stripSet[http.CanonicalHeaderKey(strings.ReplaceAll(k, "_", "-"))] {
			delete(h, k)
		}
	}
}

// rawPath is the path of the request line, still escaped.
func rawPath(r *http.Request) string {
	if u := r.RequestURI; strings.HasPrefix(u, "/") {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			return u[:i]
		}
		return u
	}
	if r.RequestURI == "*" {
		return "*"
	}
	return r.URL.EscapedPath()
}

// realm is the protection space named in the gateway's challenges.
const realm = "writ-gateway"

// challenges builds the route's WWW-Authenticate challenges.
func (rt *compiledRoute) challenges(code, desc string, scopes []string) []rs.Challenge {
	md := ""
	if rt.mcp != nil {
		md = rt.mcp.metadataURL
	}
	var cs []rs.Challenge
	if !rt.dpopRequired {
		cs = append(cs, rs.Challenge{Scheme: rs.SchemeBearer, Realm: realm, Error: code, Description: desc, Scopes: scopes, ResourceMetadata: md})
	}
	cs = append(cs, rs.Challenge{Scheme: rs.SchemeDPoP, Realm: realm, Error: code, Description: desc, Scopes: scopes, ResourceMetadata: md, Algs: rt.dpopAlgs})
	return cs
}

// authenticate finds, verifies and binds the request's token. It returns
// the token and, for phantom routes, the upstream's Authorization value.
func (st *state) authenticate(r *http.Request, rt *compiledRoute) (*rs.Token, string, outcome, bool) {
	ch := func(code, desc string) []rs.Challenge { return rt.challenges(code, desc, nil) }
	scheme, raw, err := rs.ParseAuthorization(r.Header, maxTokenLength)
	switch {
	case errors.Is(err, rs.ErrNoToken):
		return nil, "", outcome{status: http.StatusUnauthorized, err: "unauthorized", description: "an access token is required", challenges: rt.challenges("", "", nil), reason: "no token"}, false
	case errors.Is(err, rs.ErrInvalidRequest):
		desc := "more than one Authorization header"
		return nil, "", outcome{status: http.StatusBadRequest, err: "invalid_request", description: desc, challenges: ch("invalid_request", desc), reason: desc}, false
	case err != nil:
		desc := "the Authorization header does not hold a token"
		return nil, "", outcome{status: http.StatusUnauthorized, err: "invalid_token", description: desc, challenges: ch("invalid_token", desc), reason: desc}, false
	}
	isDPoP := scheme == rs.SchemeDPoP
	if rt.dpopRequired && !isDPoP {
		return nil, "", outcome{status: http.StatusUnauthorized, err: "invalid_token", description: "this resource requires a DPoP-bound token", challenges: ch("invalid_token", "this resource requires a DPoP-bound token"), reason: "bearer token on a DPoP route"}, false
	}
	tok, phantom, err := st.verify(r.Context(), rt, raw)
	if err != nil {
		o := tokenFailure(err, ch)
		return nil, "", o, false
	}
	invalid := func(desc string) (*rs.Token, string, outcome, bool) {
		return nil, "", outcome{status: http.StatusUnauthorized, err: "invalid_token", description: desc, challenges: ch("invalid_token", desc), reason: desc}, false
	}
	if rt.issuers != nil && !rt.issuers[tok.Issuer] {
		return invalid("the token's issuer is not accepted here")
	}
	if len(rt.audiences) > 0 && !slices.ContainsFunc(tok.Audience, func(a string) bool { return slices.Contains(rt.audiences, a) }) {
		return invalid("the token is not meant for this resource")
	}
	switch {
	case tok.JKT != "" && !isDPoP:
		return invalid("a DPoP-bound token must be presented with the DPoP scheme")
	case tok.JKT == "" && isDPoP:
		return invalid("the token is not DPoP-bound")
	case rt.dpopRequired && tok.JKT == "":
		return invalid("this resource requires a DPoP-bound token")
	}
	if isDPoP {
		if st.dpop == nil {
			return nil, "", outcome{status: http.StatusServiceUnavailable, err: "temporarily_unavailable", reason: "no DPoP checker configured"}, false
		}
		if err := st.dpop.CheckDPoP(r.Context(), r, raw, tok.JKT); err != nil {
			var nonce *rs.NonceError
			switch {
			case errors.As(err, &nonce):
				o := outcome{status: http.StatusUnauthorized, err: "use_dpop_nonce", description: "a DPoP nonce is required", nonce: nonce.Nonce, reason: "DPoP nonce required"}
				o.challenges = []rs.Challenge{{Scheme: rs.SchemeDPoP, Realm: realm, Error: rs.CodeUseDPoPNonce, Description: "a DPoP nonce is required", Algs: rt.dpopAlgs}}
				return nil, "", o, false
			case errors.Is(err, rs.ErrInvalidDPoPProof):
				o := outcome{status: http.StatusUnauthorized, err: "invalid_dpop_proof", description: "the DPoP proof is invalid", reason: err.Error()}
				o.challenges = []rs.Challenge{{Scheme: rs.SchemeDPoP, Realm: realm, Error: rs.CodeInvalidDPoPProof, Description: "the DPoP proof is invalid", Algs: rt.dpopAlgs}}
				return nil, "", o, false
			default:
				return nil, "", outcome{status: http.StatusServiceUnavailable, err: "temporarily_unavailable", reason: err.Error()}, false
			}
		}
	}
	auth := ""
	if phantom != "" {
		auth = "Bearer " + phantom
	}
	return tok, auth, outcome{}, true
}

// verify checks raw with the verifier of the route's token kind.
func (st *state) verify(ctx context.Context, rt *compiledRoute, raw string) (*rs.Token, string, error) {
	kind := rt.kind
	if kind == "any" {
		kind = "opaque"
		if strings.Count(raw, ".") == 2 {
			kind = "jwt"
		}
	}
	if kind == "jwt" {
		if st.verifier == nil {
			return nil, "", rs.ErrUnavailable
		}
		tok, err := st.verifier.Verify(ctx, raw)
		return tok, "", err
	}
	if st.intro == nil {
		return nil, "", rs.ErrUnavailable
	}
	if rt.cfg.Phantom {
		return phantomToken(st.intro.Phantom(ctx, raw))
	}
	tok, err := st.intro.Verify(ctx, raw)
	return tok, "", err
}

func phantomToken(jwt string, tok *rs.Token, err error) (*rs.Token, string, error) {
	return tok, jwt, err
}

// input builds what the rule sees.
func (st *state) input(r *http.Request, rt *compiledRoute, p string, params map[string]string, tok *rs.Token) *Input {
	return &Input{Claims: tok.Claims, Act: actChain(tok.Claims), Request: requestOf(r, p, params)}
}

// requestOf describes r to rules. Its headers and query are handed over
// raw, to be converted only if a rule reads them (the policy package never
// shows credential headers to rules).
func requestOf(r *http.Request, p string, params map[string]string) Request {
	return Request{
		Method: r.Method, Path: p, Host: hostOnly(r.Host), Source: hostOnly(r.RemoteAddr),
		Params: params, RawQuery: r.URL.RawQuery, Header: r.Header,
	}
}

// hostOnly drops the port of host:port.
func hostOnly(hp string) string {
	if h, _, err := net.SplitHostPort(hp); err == nil {
		return h
	}
	return hp
}

// authorize asks the route's rule, and for insufficient scopes answers
// 403 insufficient_scope naming every scope the route requires.
func (st *state) authorize(ctx context.Context, rt *compiledRoute, in *Input, d *decision) (outcome, bool) {
	if len(rt.scopes) > 0 {
		have := scopesOf(in.Claims)
		for _, s := range rt.scopes {
			if !slices.Contains(have, s) {
				d.rule = "scopes"
				desc := "the token lacks a scope this resource requires"
				return outcome{status: http.StatusForbidden, err: "insufficient_scope", description: desc,
					challenges: rt.challenges("insufficient_scope", desc, rt.scopes), reason: "missing scope " + s}, false
			}
		}
	}
	dec := rt.decider.Decide(ctx, in)
	d.rule, d.reason = dec.Rule, dec.Reason
	if !dec.Allow {
		return outcome{status: http.StatusForbidden, err: "access_denied", description: "the policy denies this request", reason: dec.Reason}, false
	}
	return outcome{}, true
}

// setIdentity returns the identity headers, the assertion and the
// upstream's Authorization, to be set on the outgoing request after the
// proxy removed the hop-by-hop headers (so that a client cannot have them
// dropped by naming them in Connection), and removes the client's
// credentials unless the route forwards them.
func (st *state) setIdentity(r *http.Request, rt *compiledRoute, tok *rs.Token, p, id, upstreamAuth string) []headerPair {
	set := make([]headerPair, 0, len(rt.headers)+2)
	var values map[string]string
	for _, h := range rt.headers {
		v, ok := claimPath(tok.Claims, h.claim)
		if !ok {
			continue
		}
		s, ok := headerValue(v)
		if !ok {
			st.g.log.Warn("identity header left out: the claim is not a printable scalar or list", "route", rt.name, "header", h.name, "claim", h.claim)
			continue
		}
		set = append(set, headerPair{h.name, s})
		if rt.assertion {
			if values == nil {
				values = map[string]string{}
			}
			values[h.name] = s
		}
	}
	if rt.assertion {
		a, err := st.signer.sign(rt, tok, r.Method, p, id, values)
		if err != nil {
			st.g.log.Error("identity assertion not signed", "route", rt.name, "error", err)
		} else {
			set = append(set, headerPair{st.signer.header, a})
		}
	}
	switch {
	case upstreamAuth != "":
		delete(r.Header, "Authorization")
		delete(r.Header, "Dpop")
		set = append(set, headerPair{"Authorization", upstreamAuth})
	case !rt.cfg.ForwardToken || rt.mcp != nil:
		delete(r.Header, "Authorization")
		delete(r.Header, "Dpop")
	}
	return set
}

// headerPair is a header the gateway sets on the outgoing request.
type headerPair struct{ name, value string }

func (st *state) logDecision(r *http.Request, d *decision, start time.Time) {
	log := st.g.log
	level := slog.LevelInfo
	if !log.Enabled(r.Context(), level) {
		return
	}
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs,
		slog.String("decision_id", d.id),
		slog.String("route", d.route),
		slog.String("decision", d.result),
		slog.Int("status", d.status),
		slog.String("method", r.Method),
		slog.String("path", d.path),
		slog.Duration("duration", st.g.now().Sub(start)),
	)
	if d.rule != "" {
		attrs = append(attrs, slog.String("rule", d.rule))
	}
	if d.reason != "" {
		attrs = append(attrs, slog.String("reason", d.reason))
	}
	if d.sub != "" {
		attrs = append(attrs, slog.String("sub", d.sub))
	}
	if d.clientID != "" {
		attrs = append(attrs, slog.String("client_id", d.clientID))
	}
	if d.issuer != "" {
		attrs = append(attrs, slog.String("iss", d.issuer))
	}
	log.LogAttrs(r.Context(), level, "decision", attrs...)
}

// statusWriter records the status written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

// WriteHeader records the first status.
func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records 200 when no status was written.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush,
// hijack for upgrades).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func statusClass(code int) string {
	switch {
	case code >= 500:
		return "5xx"
	case code >= 400:
		return strconv.Itoa(code)
	case code >= 300:
		return "3xx"
	}
	return "2xx"
}

// eofHook calls done once, when the body has been read to its end.
type eofHook struct {
	io.ReadCloser
	done func()
	once bool
}

// Read reads and calls done at the end of the body.
func (b *eofHook) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.once {
		b.once = true
		b.done()
	}
	return n, err
}
