package postgres

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/writ-dev/writ/internal/store"
)

// TestClassifyUnavailable: a database that cannot be reached, or a
// connection lost under a query, is store.ErrUnavailable (the callers
// answer 503 and acknowledge nothing); server errors keep their meaning.
func TestClassifyUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"connection lost", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), store.ErrUnavailable},
		{"eof", io.EOF, store.ErrUnavailable},
		{"connection failure", &pgconn.PgError{Code: "08006"}, store.ErrUnavailable},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, store.ErrUnavailable},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, store.ErrUnavailable},
		{"too many connections", &pgconn.PgError{Code: "53300"}, store.ErrUnavailable},
		{"unique violation", &pgconn.PgError{Code: "23505"}, store.ErrAlreadyExists},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, store.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err); !errors.Is(got, tc.want) {
				t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	if err := classify(&pgconn.PgError{Code: "22001"}); errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a data error is %v", err)
	}
	if err := classify(errors.New("some bug")); errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a plain error is %v", err)
	}
}
