// Package logctx adds what a request's context knows (its request ID, its
// trace ID) to every log line written with that context, so that all the
// lines of one request can be found together, whoever logs them.
package logctx

import (
	"context"
	"log/slog"
)

// Field is one attribute taken from the context of each log record.
type Field struct {
	// Key is the attribute's name, e.g. "request_id".
	Key string
	// Value returns the attribute's value for ctx, or "" to leave it out.
	Value func(ctx context.Context) string
}

// Handler is a slog.Handler that adds its Fields to each record logged
// with a context that has them, unless the record sets the key itself.
type Handler struct {
	next   slog.Handler
	fields []Field
}

// NewHandler wraps next so that its records carry fields.
func NewHandler(next slog.Handler, fields ...Field) *Handler {
	return &Handler{next: next, fields: fields}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.next.Handle(ctx, r)
	}
	var add []slog.Attr
	for _, f := range h.fields {
		v := f.Value(ctx)
		if v == "" || hasKey(r, f.Key) {
			continue
		}
		add = append(add, slog.String(f.Key, v))
	}
	if len(add) > 0 {
		r = r.Clone()
		r.AddAttrs(add...)
	}
	return h.next.Handle(ctx, r)
}

// hasKey reports whether the record has a top-level attribute named key.
func hasKey(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			found = true
			return false
		}
		return true
	})
	return found
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), fields: h.fields}
}

// WithGroup implements slog.Handler. Under a group the context's fields,
// like every attribute of the record, are written inside the group.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), fields: h.fields}
}
