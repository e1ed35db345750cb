package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/writ-dev/writ/internal/store"
)

// TestServerErrorUnavailable: a store failure because the database is
// unreachable is a 503 temporarily_unavailable (nothing was acknowledged,
// retry), any other internal failure a 500 server_error.
func TestServerErrorUnavailable(t *testing.T) {
	for _, tc := range []struct {
		cause  error
		code   string
		status int
	}{
		{fmt.Errorf("redeem code: %w", store.ErrUnavailable), CodeTemporarilyUnavailable, http.StatusServiceUnavailable},
		{errors.New("bug"), CodeServerError, http.StatusInternalServerError},
		{fmt.Errorf("x: %w", store.ErrConflict), CodeServerError, http.StatusInternalServerError},
	} {
		e := ServerError(tc.cause)
		if e.Code != tc.code || e.Status != tc.status || !errors.Is(e.Cause, tc.cause) {
			t.Errorf("ServerError(%v) = %s %d, want %s %d", tc.cause, e.Code, e.Status, tc.code, tc.status)
		}
	}
}
