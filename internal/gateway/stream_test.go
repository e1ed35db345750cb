package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/gateway/config"
)

// TestGatewayStreamsUnbufferedResponses checks that a server-sent events
// response and a chunked response of unknown length reach the client
// event by event: the upstream writes its second event only once the
// client has read the first through the gateway, so a gateway holding the
// first back would hang the test rather than pass it.
func TestGatewayStreamsUnbufferedResponses(t *testing.T) {
	for _, ct := range []string{"text/event-stream", "application/json"} {
		t.Run(ct, func(t *testing.T) {
			next := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ct)
				_, _ = io.WriteString(w, "data: one\n\n")
				_ = http.NewResponseController(w).Flush()
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
				_, _ = io.WriteString(w, "data: two\n\n")
			}))
			defer up.Close()
			f, err := config.Parse([]byte("listen: 127.0.0.1:0\nroutes:\n  - path: /events\n    upstream: "+up.URL+"\n    anonymous: true\n"), "stream.yaml")
			if err != nil {
				t.Fatal(err)
			}
			gw, err := New(context.Background(), f, Deps{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			front := httptest.NewServer(gw)
			defer front.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", front.URL+"/events", nil)
			resp, err := front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.ContentLength != -1 {
				t.Fatalf("status %d, length %d", resp.StatusCode, resp.ContentLength)
			}
			br := bufio.NewReader(resp.Body)
			for _, want := range []string{"data: one\n", "\n"} {
				if line, err := br.ReadString('\n'); err != nil || line != want {
					t.Fatalf("first event: %q, %v", line, err)
				}
			}
			close(next)
			rest, err := io.ReadAll(br)
			if err != nil || !strings.HasPrefix(string(rest), "data: two\n") {
				t.Fatalf("second event: %q, %v", rest, err)
			}
		})
	}
}
