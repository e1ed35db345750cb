package server

import (
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/oauth"
)

// TestFAPI2Lifetimes: the lifetimes writ gives every client are within
// the FAPI 2.0 profile's bounds, so that its clients need no others:
// authorization codes at most 60 seconds (§5.3.2.1), request_uri values
// less than 600 seconds (§5.3.2.2).
func TestFAPI2Lifetimes(t *testing.T) {
	if codeTTL > oauth.FAPI2MaxCodeLifetime*time.Second {
		t.Errorf("codeTTL %s exceeds FAPI 2.0's %ds", codeTTL, oauth.FAPI2MaxCodeLifetime)
	}
	if RequestURITTL >= oauth.FAPI2MaxRequestURILifetime*time.Second {
		t.Errorf("RequestURITTL %s is not under FAPI 2.0's %ds", RequestURITTL, oauth.FAPI2MaxRequestURILifetime)
	}
}
