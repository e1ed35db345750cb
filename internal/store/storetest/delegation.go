package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// delegationTests are the groups of the delegation records: the audit
// trail, delegations and trusted issuers.
func delegationTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Audit/RoundTrip", testAuditRoundTrip},
		{"Audit/Query", testAuditQuery},
		{"Audit/Concurrent", testAuditConcurrent},
		{"Audit/Invalid", testAuditInvalid},
	}
}

// fullAudit sets every field of an audit event but Seq.
func fullAudit(typ, clientID, subject string) store.AuditEvent {
	return store.AuditEvent{
		Time:         baseTime(),
		Type:         typ,
		ClientID:     clientID,
		Subject:      subject,
		Actors:       []string{"agent-1", "svc «β»"},
		DelegationID: "dlg-1",
		By:           "user:" + subject,
		RequestID:    "req-1",
		Details:      []byte(`{"audience": ["https://api.example"], "scope": "orders:read",  "n": 1.50}`),
	}
}

func wantAudit(t *testing.T, want, got store.AuditEvent) {
	t.Helper()
	if d := recordDiff(want, got); len(d) > 0 {
		t.Errorf("audit event %d: fields differ: %s\nwant %+v\ngot  %+v", want.Seq, strings.Join(d, ", "), want, got)
	}
}

func listAudit(t *testing.T, s store.Store, q store.AuditQuery) []store.AuditEvent {
	t.Helper()
	got, err := s.ListAudit(t.Context(), q)
	must(t, fmt.Sprintf("ListAudit(%+v)", q), err)
	return got
}

func testAuditRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	if got := listAudit(t, s, store.AuditQuery{}); len(got) != 0 {
		t.Fatalf("a new store has audit events: %+v", got)
	}
	full := fullAudit(store.AuditTokenExchange, "c", "u")
	// Seq is the store's: a value set by the caller is ignored.
	full.Seq = 99
	seq, err := s.AppendAudit(ctx, full)
	must(t, "AppendAudit", err)
	if seq != 1 {
		t.Errorf("first sequence number = %d, want 1", seq)
	}
	minimal := store.AuditEvent{Time: baseTime().Add(time.Second), Type: store.AuditClientDeleted}
	seq2, err := s.AppendAudit(ctx, minimal)
	must(t, "AppendAudit", err)
	if seq2 != seq+1 {
		t.Errorf("second sequence number = %d, want %d", seq2, seq+1)
	}
	got := listAudit(t, s, store.AuditQuery{})
	if len(got) != 2 {
		t.Fatalf("ListAudit = %d events, want 2", len(got))
	}
	full.Seq, minimal.Seq = seq, seq2
	wantAudit(t, full, got[0])
	wantAudit(t, minimal, got[1])
	if got[1].Details != nil || got[1].Actors != nil {
		t.Errorf("empty details and actors read back as %q, %q", got[1].Details, got[1].Actors)
	}
	// Hostile text is stored verbatim and filters match only itself.
	for _, h := range hostileStrings() {
		e := fullAudit(h, h, h)
		e.Actors, e.By, e.RequestID, e.DelegationID = []string{h}, h, h, h
		e.Seq, err = s.AppendAudit(ctx, e)
		must(t, "AppendAudit", err)
		got := listAudit(t, s, store.AuditQuery{Type: h, ClientID: h, Subject: h})
		if len(got) != 1 {
			t.Fatalf("ListAudit of %q: %d events, want 1", h, len(got))
		}
		wantAudit(t, e, got[0])
	}
}

func testAuditQuery(t *testing.T, s store.Store) {
	ctx := t.Context()
	types := []string{store.AuditTokenExchange, store.AuditJWTBearer, store.AuditAgentRevoked}
	var all []store.AuditEvent
	for i := range 30 {
		e := fullAudit(types[i%3], fmt.Sprintf("c%d", i%2), fmt.Sprintf("u%d", i%5))
		e.Time = baseTime().Add(time.Duration(i) * time.Second)
		seq, err := s.AppendAudit(ctx, e)
		must(t, "AppendAudit", err)
		e.Seq = seq
		if len(all) > 0 && seq != all[len(all)-1].Seq+1 {
			t.Fatalf("sequence numbers %d then %d: not gap-free", all[len(all)-1].Seq, seq)
		}
		all = append(all, e)
	}
	filter := func(keep func(store.AuditEvent) bool) []int64 {
		var out []int64
		for _, e := range all {
			if keep(e) {
				out = append(out, e.Seq)
			}
		}
		return out
	}
	seqs := func(events []store.AuditEvent) []int64 {
		var out []int64
		for _, e := range events {
			out = append(out, e.Seq)
		}
		return out
	}
	tests := []struct {
		q    store.AuditQuery
		want []int64
	}{
		{store.AuditQuery{}, filter(func(store.AuditEvent) bool { return true })},
		{store.AuditQuery{AfterSeq: all[9].Seq}, filter(func(e store.AuditEvent) bool { return e.Seq > all[9].Seq })},
		{store.AuditQuery{Type: store.AuditJWTBearer}, filter(func(e store.AuditEvent) bool { return e.Type == store.AuditJWTBearer })},
		{store.AuditQuery{ClientID: "c1"}, filter(func(e store.AuditEvent) bool { return e.ClientID == "c1" })},
		{store.AuditQuery{Subject: "u3"}, filter(func(e store.AuditEvent) bool { return e.Subject == "u3" })},
		{store.AuditQuery{Type: store.AuditAgentRevoked, ClientID: "c0", Subject: "u2", AfterSeq: 1},
			filter(func(e store.AuditEvent) bool {
				return e.Type == store.AuditAgentRevoked && e.ClientID == "c0" && e.Subject == "u2" && e.Seq > 1
			})},
		{store.AuditQuery{Limit: 4}, filter(func(e store.AuditEvent) bool { return e.Seq <= all[3].Seq })},
		{store.AuditQuery{Limit: 3, AfterSeq: all[27].Seq}, filter(func(e store.AuditEvent) bool { return e.Seq > all[27].Seq })},
		{store.AuditQuery{Type: "unknown"}, nil},
		{store.AuditQuery{AfterSeq: all[29].Seq}, nil},
	}
	for _, tt := range tests {
		got := listAudit(t, s, tt.q)
		if fmt.Sprint(seqs(got)) != fmt.Sprint(tt.want) {
			t.Errorf("ListAudit(%+v) = %v, want %v", tt.q, seqs(got), tt.want)
		}
	}
	for _, e := range listAudit(t, s, store.AuditQuery{ClientID: "c1", Limit: 2}) {
		wantAudit(t, all[e.Seq-all[0].Seq], e)
	}
}

func testAuditConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 24
	seqs := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs[i], errs[i] = s.AppendAudit(ctx, fullAudit(store.AuditTokenExchange, "c", fmt.Sprintf("u%d", i)))
		}()
	}
	wg.Wait()
	seen := make(map[int64]bool)
	for i, err := range errs {
		must(t, "concurrent AppendAudit", err)
		seen[seqs[i]] = true
	}
	// Gap-free: exactly 1 to n, and listed in that order.
	for seq := int64(1); seq <= n; seq++ {
		if !seen[seq] {
			t.Errorf("sequence number %d missing from %v", seq, seqs)
		}
	}
	got := listAudit(t, s, store.AuditQuery{})
	if len(got) != n {
		t.Fatalf("ListAudit = %d events, want %d", len(got), n)
	}
	for i, e := range got {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has sequence number %d", i, e.Seq)
		}
	}
}

func testAuditInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := map[string]func(*store.AuditEvent){
		"no type":              func(e *store.AuditEvent) { e.Type = "" },
		"long type":            func(e *store.AuditEvent) { e.Type = strings.Repeat("t", store.MaxIDLength+1) },
		"no time":              func(e *store.AuditEvent) { e.Time = time.Time{} },
		"time after 9999":      func(e *store.AuditEvent) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"client not UTF-8":     func(e *store.AuditEvent) { e.ClientID = "\xff" },
		"subject with NUL":     func(e *store.AuditEvent) { e.Subject = "u\x00" },
		"long delegation":      func(e *store.AuditEvent) { e.DelegationID = strings.Repeat("d", store.MaxIDLength+1) },
		"by with NUL":          func(e *store.AuditEvent) { e.By = "\x00" },
		"request ID not UTF-8": func(e *store.AuditEvent) { e.RequestID = "\xfe" },
		"actor with NUL":       func(e *store.AuditEvent) { e.Actors = []string{"a\x00"} },
		"too many actors":      func(e *store.AuditEvent) { e.Actors = make([]string, store.MaxDelegationDepth+1) },
		"details not JSON":     func(e *store.AuditEvent) { e.Details = []byte(`{"a":`) },
		"details an array":     func(e *store.AuditEvent) { e.Details = []byte(`[1]`) },
		"details too large": func(e *store.AuditEvent) {
			e.Details = []byte(`{"a":"` + strings.Repeat("x", store.MaxExtraSize) + `"}`)
		},
	}
	for name, mutate := range cases {
		e := fullAudit(store.AuditTokenExchange, "c", "u")
		mutate(&e)
		_, err := s.AppendAudit(ctx, e)
		wantErr(t, "AppendAudit with "+name, err, store.ErrInvalid)
	}
	if got := listAudit(t, s, store.AuditQuery{}); len(got) != 0 {
		t.Errorf("invalid events were stored: %d", len(got))
	}
	for name, q := range map[string]store.AuditQuery{
		"a negative AfterSeq": {AfterSeq: -1},
		"a type with NUL":     {Type: "\x00"},
		"a long client ID":    {ClientID: strings.Repeat("c", store.MaxIDLength+1)},
		"a subject not UTF-8": {Subject: "\xff"},
	} {
		_, err := s.ListAudit(ctx, q)
		wantErr(t, "ListAudit with "+name, err, store.ErrInvalid)
	}
	// A refused append takes no number.
	seq, err := s.AppendAudit(ctx, fullAudit(store.AuditTokenExchange, "c", "u"))
	must(t, "AppendAudit", err)
	if seq != 1 {
		t.Errorf("first sequence number after refused appends = %d, want 1", seq)
	}
}
