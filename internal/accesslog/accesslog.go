// Package accesslog writes one structured log line per HTTP request:
// method, path, source address (clientip: the peer, or the client behind
// trusted proxies), status, response size, duration, the request ID, and
// the client_id of a request that succeeded.
//
// It never logs a query string, a header value or a body: those carry
// authorization codes, tokens, secrets and assertions. The client_id comes
// from the request itself (the user name of HTTP Basic credentials, the
// client_id parameter of a form body or of the query, or the iss of a
// client assertion) and is logged only
// when the response status is below 400, that is when the server accepted
// the request and so the client it names.
package accesslog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/clientip"
)

// maxClientIDLen bounds a logged client_id.
const maxClientIDLen = 128

// captureLimit is how much of a form body is kept to find its client_id.
const captureLimit = 4 << 10

// Options configure Handler.
type Options struct {
	// Logger receives the lines, at info.
	Logger *slog.Logger
	// Listener names the listener in each line ("public", "admin").
	Listener string
	// RequestID returns the ID of a request from its context ("" when
	// there is none). Wrap the access log with the middleware that sets
	// it, so that the line and the server's own logs share the ID.
	RequestID func(context.Context) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler wraps next so that every request it serves is logged.
func Handler(next http.Handler, o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RequestID == nil {
		o.RequestID = func(context.Context) string { return "" }
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := o.Now()
		rec := &recorder{ResponseWriter: w}
		var body *capture
		if isForm(r) && r.Body != nil && r.Body != http.NoBody {
			body = &capture{ReadCloser: r.Body}
			r.Body = body
		}
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		attrs := []slog.Attr{
			slog.String("listener", o.Listener),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("source", clientip.Of(r)),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", o.Now().Sub(start)),
		}
		if status < 400 {
			if id := clientID(r, body); id != "" {
				attrs = append(attrs, slog.String("client_id", id))
			}
		}
		if id := o.RequestID(r.Context()); id != "" {
			attrs = append(attrs, slog.String("request_id", id))
		}
		o.Logger.LogAttrs(r.Context(), slog.LevelInfo, "http request", attrs...)
	})
}

// clientID is the client a request names, or "".
func clientID(r *http.Request, body *capture) string {
	id := ""
	if user, _, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: the client_id is form-urlencoded in Basic.
		if u, err := url.QueryUnescape(user); err == nil {
			id = u
		}
	}
	if id == "" && body != nil {
		if v, err := url.ParseQuery(body.complete()); err == nil {
			id = v.Get("client_id")
			if id == "" {
				id = assertionIssuer(v.Get("client_assertion"))
			}
		}
	}
	if id == "" {
		// Only the one parameter is read from the query; the query is
		// never logged.
		id = r.URL.Query().Get("client_id")
	}
	if len(id) > maxClientIDLen {
		return ""
	}
	return id
}

// assertionIssuer is the iss of a client assertion (RFC 7523), the client
// it authenticates. It is read without verifying: the caller logs it only
// for a request the server accepted, which verified the assertion.
func assertionIssuer(jws string) string {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 || len(parts[1]) > captureLimit {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Iss
}

func isForm(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// capture keeps the first captureLimit bytes the handler reads from a body.
type capture struct {
	io.ReadCloser
	buf       bytes.Buffer
	truncated bool
}

func (c *capture) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if room := captureLimit - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(n, room)])
		if n > room {
			c.truncated = true
		}
	} else if n > 0 {
		c.truncated = true
	}
	return n, err
}

// complete returns the captured form without a pair cut off by the limit.
func (c *capture) complete() string {
	s := c.buf.String()
	if c.truncated {
		if i := strings.LastIndexByte(s, '&'); i >= 0 {
			return s[:i]
		}
		return ""
	}
	return s
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush on when the underlying writer supports it.
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
