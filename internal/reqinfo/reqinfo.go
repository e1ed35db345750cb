// Package reqinfo carries what the handlers of one HTTP request learn about
// it to the middleware around them that reports it: the route pattern that
// matched (never the raw path), the OAuth error code of a refused request
// and the response status. The metrics and tracing middleware read it
// after the handler returns; the server's routes and its error renderer
// write it, and Middleware records the status, once for every reader.
package reqinfo

import (
	"context"
	"net/http"
	"strings"
)

// Info is the record of one request. The handler goroutine writes it and
// the middleware reads it after the handler returned, so it needs no lock.
type Info struct {
	// Route is the pattern the request matched ("" when none did).
	Route string
	// Error is the OAuth error code the request was refused with, or "".
	Error string
	// Status is the status of the response written through the writer
	// Middleware gave the handlers (0 while none is written).
	Status int
}

type key struct{}

// Middleware gives every request an Info, unless it has one already, and
// records the response status in it.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if From(r.Context()) != nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), key{}, &rec.info)))
	})
}

// recorder records the status of a response into the request's Info; the
// Info lives in it, so that a request costs one allocation for both.
type recorder struct {
	http.ResponseWriter
	info Info
}

func (w *recorder) WriteHeader(code int) {
	if w.info.Status == 0 {
		w.info.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.info.Status == 0 {
		w.info.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush on when the underlying writer supports it.
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// From returns the request's Info, or nil outside Middleware.
func From(ctx context.Context) *Info {
	i, _ := ctx.Value(key{}).(*Info)
	return i
}

// Route wraps h so that a request it serves is recorded as matching
// pattern. The pattern is a constant of the code, so a label made from it
// is bounded.
func Route(pattern string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i := From(r.Context()); i != nil {
			i.Route = pattern
		}
		h.ServeHTTP(w, r)
	})
}

// SetError records the OAuth error code of the request of ctx. Codes are
// the server's constants; anything that is not a short lower-case code
// (letters and underscores) is recorded as "other", so that a label made
// from it stays bounded.
func SetError(ctx context.Context, code string) {
	i := From(ctx)
	if i == nil {
		return
	}
	if !validCode(code) {
		code = "other"
	}
	i.Error = code
}

func validCode(s string) bool {
	if s == "" || len(s) > 48 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// Patterns serves mux and records the pattern of mux that the request
// matched (without its method: "GET /x" is recorded as "/x"), also when
// the handler panics. It reads Request.Pattern, which ServeMux sets on
// the request it was given before calling the handler, so the route costs
// no second lookup (TestPatterns checks that it still does).
func Patterns(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := From(r.Context())
		if i == nil {
			mux.ServeHTTP(w, r)
			return
		}
		defer func() {
			p := r.Pattern
			if _, path, ok := strings.Cut(p, " "); ok {
				p = path
			}
			i.Route = p
		}()
		mux.ServeHTTP(w, r)
	})
}
