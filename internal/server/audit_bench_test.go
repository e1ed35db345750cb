package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/cputime"
)

// BenchmarkClientCredentialsAudit measures the client credentials grant
// over loopback HTTP (8 callers per GOMAXPROCS) with the audit off, on
// through the node's journal (audit-journal: the event written to the
// journal before the response and drained into the store in batches, as
// writ serve records it) and on through the group-commit appender alone
// (audit-commit: every token's event committed before the response, as
// an appender without a journal does), for JWT and opaque access tokens,
// on SQLite:
//
//	go test ./internal/server/ -run '^$' -bench ClientCredentialsAudit -benchtime 5s -count 3
func BenchmarkClientCredentialsAudit(b *testing.B) {
	for _, format := range []string{"jwt", "opaque"} {
		for _, mode := range []string{"off", "journal", "commit"} {
			b.Run(format+"/audit-"+mode, func(b *testing.B) {
				var o envOptions
				ref := &appenderRef{}
				on := mode != "off"
				if on {
					o.AuditRecorder = ref
				}
				e := newEnv(b, o)
				switch mode {
				case "journal":
					ref.startJournaled(b, e.Store)
				case "commit":
					ref.start(b, e.Store)
				}
				benchTokens(b, e, format)
				if on {
					batches, events := ref.app.Stats()
					b.ReportMetric(float64(events)/float64(max(batches, 1)), "events/batch")
				}
			})
		}
	}
}

func benchTokens(b *testing.B, e *testEnv, format string) {
	opts := []clientOption{withGrants("client_credentials")}
	if format == "opaque" {
		opts = append(opts, opaqueFormat())
	}
	secret := e.addConfidential(b, "svc", opts...)
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	b.SetParallelism(8)
	b.ResetTimer()
	// CPU time of the whole process (server and client) per request.
	cpu := cputime.Start()
	defer func() { cpu.Report(b, b.N) }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/oauth2/token", strings.NewReader(body))
			req.Header.Set("Content-Type", formType)
			req.SetBasicAuth("svc", url.QueryEscape(secret))
			resp, err := e.Client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("token: %d", resp.StatusCode)
				return
			}
		}
	})
}
