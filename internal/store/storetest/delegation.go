package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/audit/chain"
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
		{"Audit/Chain", testAuditChain},
		{"Audit/ChainConcurrent", testAuditChainConcurrent},
		{"Audit/ChainIssue", testAuditChainIssue},
		{"Audit/Seal", testAuditSeal},
		{"Audit/Anchors", testAuditAnchors},
		{"Audit/Journals", testAuditJournals},
		{"Delegation/RoundTrip", testDelegationRoundTrip},
		{"Delegation/Revoke", testDelegationRevoke},
		{"Delegation/Depth", testDelegationDepth},
		{"Delegation/List", testDelegationList},
		{"Delegation/RevokeClientGrants", testRevokeClientGrants},
		{"Delegation/RevokeClientGrantsDescendants", testRevokeClientGrantsDescendants},
		{"Delegation/RevokeConcurrent", testDelegationRevokeConcurrent},
		{"Delegation/RevokedRefresh", testDelegationRevokedRefresh},
		{"Delegation/DeleteClient", testDelegationDeleteClient},
		{"Delegation/DeleteClientConcurrent", testDelegationDeleteClientConcurrent},
		{"Delegation/DeleteExpiredParent", testDelegationDeleteExpiredParent},
		{"Delegation/RevokeRefreshConcurrent", testDelegationRevokeRefreshConcurrent},
		{"Delegation/DeleteExpired", testDelegationDeleteExpired},
		{"Delegation/Invalid", testDelegationInvalid},
		{"Trust/RoundTrip", testTrustRoundTrip},
		{"Trust/List", testTrustList},
		{"Trust/Invalid", testTrustInvalid},
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
	// The chain fields are the store's: checked by the chain tests.
	want.PrevHash, want.Hash = got.PrevHash, got.Hash
	if !chain.Valid(got) {
		t.Errorf("audit event %d: its hash does not match its content", got.Seq)
	}
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

// fullDelegation sets every field of a delegation but RevokedAt; parent
// empty makes it a root.
func fullDelegation(id, parent, root, clientID string) store.Delegation {
	base := baseTime()
	if parent == "" {
		root = id
	}
	return store.Delegation{
		ID:            id,
		RootID:        root,
		ParentID:      parent,
		ClientID:      clientID,
		Subject:       "user-42",
		SubjectIssuer: "https://writ.example",
		Actors:        []string{"agent-1", "svc «β»"},
		Audience:      []string{"https://api.example", "https://other.example"},
		Scopes:        []string{"orders:read", "openid"},
		CreatedAt:     base,
		ExpiresAt:     base.Add(time.Hour),
	}
}

func wantDelegation(t *testing.T, want, got store.Delegation) {
	t.Helper()
	if d := recordDiff(want, got); len(d) > 0 {
		t.Errorf("delegation %q: fields differ: %s\nwant %+v\ngot  %+v", want.ID, strings.Join(d, ", "), want, got)
	}
}

func mustCreateDelegation(t *testing.T, s store.Store, d store.Delegation) {
	t.Helper()
	must(t, "CreateDelegation "+d.ID, s.CreateDelegation(t.Context(), d))
}

func wantDelegationRevoked(t *testing.T, s store.Store, id string, want bool) {
	t.Helper()
	got, err := s.DelegationRevoked(t.Context(), id)
	must(t, "DelegationRevoked "+id, err)
	if got != want {
		t.Errorf("DelegationRevoked(%q) = %v, want %v", id, got, want)
	}
}

func testDelegationRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("c"))
	want := fullDelegation("d1", "", "", "c")
	mustCreateDelegation(t, s, want)
	got, err := s.GetDelegation(ctx, "d1")
	must(t, "GetDelegation", err)
	wantDelegation(t, want, got)
	if !got.RevokedAt.IsZero() {
		t.Errorf("a new delegation is revoked at %v", got.RevokedAt)
	}
	// A child, minimal.
	minimal := store.Delegation{ID: "d2", RootID: "d1", ParentID: "d1", ClientID: "c", Subject: "s", ExpiresAt: baseTime()}
	mustCreateDelegation(t, s, minimal)
	got, err = s.GetDelegation(ctx, "d2")
	must(t, "GetDelegation", err)
	wantDelegation(t, minimal, got)

	wantErr(t, "CreateDelegation duplicate", s.CreateDelegation(ctx, fullDelegation("d1", "", "", "c")), store.ErrAlreadyExists)
	wantErr(t, "CreateDelegation of an unknown client", s.CreateDelegation(ctx, fullDelegation("d3", "", "", "nobody")), store.ErrNotFound)
	_, err = s.GetDelegation(ctx, "d3")
	wantErr(t, "GetDelegation of the refused one", err, store.ErrNotFound)
	_, err = s.GetDelegation(ctx, "bad\xff")
	wantErr(t, "GetDelegation of an invalid ID", err, store.ErrNotFound)

	// Hostile text is stored verbatim.
	for i, h := range hostileStrings() {
		d := fullDelegation(h, "", "", "c")
		d.Subject, d.SubjectIssuer, d.Actors, d.Audience, d.Scopes = h, h, []string{h}, []string{h}, []string{h}
		d.CreatedAt = d.CreatedAt.Add(time.Duration(i) * time.Second)
		mustCreateDelegation(t, s, d)
		got, err := s.GetDelegation(ctx, h)
		must(t, "GetDelegation", err)
		wantDelegation(t, d, got)
		list, err := s.ListDelegations(ctx, store.DelegationQuery{Actor: h})
		must(t, "ListDelegations by actor", err)
		if len(list) != 1 || list[0].ID != h {
			t.Errorf("ListDelegations(actor %q) = %d delegations", h, len(list))
		}
	}

	// Deleting the client deletes its delegations.
	must(t, "DeleteClient", s.DeleteClient(ctx, "c"))
	_, err = s.GetDelegation(ctx, "d1")
	wantErr(t, "GetDelegation after DeleteClient", err, store.ErrNotFound)
}

func testDelegationRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := baseTime()
	signInFixture(t, s)
	// root → a → b, root → c; other is another chain.
	mustCreateDelegation(t, s, fullDelegation("root", "", "", "c"))
	mustCreateDelegation(t, s, fullDelegation("a", "root", "root", "c"))
	mustCreateDelegation(t, s, fullDelegation("b", "a", "root", "c"))
	mustCreateDelegation(t, s, fullDelegation("c", "root", "root", "c"))
	mustCreateDelegation(t, s, fullDelegation("other", "", "", "c"))
	// A child whose parent is gone (purged) counts as revoked.
	mustCreateDelegation(t, s, fullDelegation("orphan", "gone", "gone", "c"))
	for _, id := range []string{"root", "a", "b", "c", "other"} {
		wantDelegationRevoked(t, s, id, false)
	}
	wantDelegationRevoked(t, s, "orphan", true)
	wantDelegationRevoked(t, s, "unknown", true)
	wantDelegationRevoked(t, s, "bad\xff", true)

	// Refresh families issued by b and by other, each rotated once so
	// that an access token is recorded on them.
	family := func(name, delegation string) store.RefreshToken {
		r := fullRefresh("c", "u", "fam-"+name, "rt-"+name)
		r.DelegationID = delegation
		r.Extra = nil
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
		next := r
		next.Hash = hashOf("rt2-" + name)
		_, err := s.RotateRefreshToken(ctx, r.Hash, base.Add(time.Minute), rotation(next))
		must(t, "RotateRefreshToken", err)
		return next
	}
	fb, fo := family("b", "b"), family("other", "other")

	at := base.Add(10 * time.Minute)
	n, err := s.RevokeDelegation(ctx, "a", at)
	must(t, "RevokeDelegation", err)
	if n != 2 {
		t.Errorf("RevokeDelegation(a) = %d, want 2 (a and b)", n)
	}
	for id, want := range map[string]bool{"root": false, "a": true, "b": true, "c": false, "other": false} {
		wantDelegationRevoked(t, s, id, want)
		d, err := s.GetDelegation(ctx, id)
		must(t, "GetDelegation", err)
		if want && !sameTime(at, d.RevokedAt) || !want && !d.RevokedAt.IsZero() {
			t.Errorf("delegation %q RevokedAt = %v, want revoked %v at %v", id, d.RevokedAt, want, at)
		}
	}
	for tok, want := range map[*store.RefreshToken]bool{&fb: true, &fo: false} {
		got, err := s.GetRefreshToken(ctx, tok.Hash)
		must(t, "GetRefreshToken", err)
		if got.Revoked != want {
			t.Errorf("family %q revoked = %v, want %v", tok.FamilyID, got.Revoked, want)
		}
		jtiRevoked, err := s.IsJTIRevoked(ctx, rotation(*tok).Access.JTI)
		must(t, "IsJTIRevoked", err)
		if jtiRevoked != want {
			t.Errorf("access token of family %q revoked = %v, want %v", tok.FamilyID, jtiRevoked, want)
		}
	}

	// Again: nothing more is revoked, and the first time is kept.
	n, err = s.RevokeDelegation(ctx, "a", at.Add(time.Hour))
	must(t, "RevokeDelegation again", err)
	if n != 0 {
		t.Errorf("RevokeDelegation again = %d, want 0", n)
	}
	d, err := s.GetDelegation(ctx, "b")
	must(t, "GetDelegation", err)
	if !sameTime(at, d.RevokedAt) {
		t.Errorf("RevokedAt moved to %v", d.RevokedAt)
	}
	// The root takes the rest of its chain.
	n, err = s.RevokeDelegation(ctx, "root", at)
	must(t, "RevokeDelegation(root)", err)
	if n != 2 {
		t.Errorf("RevokeDelegation(root) = %d, want 2 (root and c)", n)
	}
	wantDelegationRevoked(t, s, "c", true)
	wantDelegationRevoked(t, s, "other", false)

	_, err = s.RevokeDelegation(ctx, "unknown", at)
	wantErr(t, "RevokeDelegation of an unknown ID", err, store.ErrNotFound)
	_, err = s.RevokeDelegation(ctx, "other", time.Time{})
	wantErr(t, "RevokeDelegation at the zero time", err, store.ErrInvalid)
	wantDelegationRevoked(t, s, "other", false)
}

func testDelegationDepth(t *testing.T, s store.Store) {
	mustCreateClient(t, s, fullClient("c"))
	// A chain of MaxDelegationDepth delegations is walked to its root; one
	// more is too deep and counts as revoked.
	id := func(i int) string { return fmt.Sprintf("d%02d", i) }
	mustCreateDelegation(t, s, fullDelegation(id(1), "", "", "c"))
	for i := 2; i <= store.MaxDelegationDepth+1; i++ {
		mustCreateDelegation(t, s, fullDelegation(id(i), id(i-1), id(1), "c"))
	}
	wantDelegationRevoked(t, s, id(store.MaxDelegationDepth), false)
	wantDelegationRevoked(t, s, id(store.MaxDelegationDepth+1), true)
	// A cycle (not made by a well-behaved caller) ends too.
	mustCreateDelegation(t, s, fullDelegation("x", "y", "x", "c"))
	mustCreateDelegation(t, s, fullDelegation("y", "x", "x", "c"))
	wantDelegationRevoked(t, s, "x", true)
	n, err := s.RevokeDelegation(t.Context(), "x", baseTime())
	must(t, "RevokeDelegation in a cycle", err)
	if n != 2 {
		t.Errorf("RevokeDelegation in a cycle = %d, want 2", n)
	}
}

func testDelegationList(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := baseTime()
	mustCreateClient(t, s, fullClient("c1"))
	mustCreateClient(t, s, fullClient("c2"))
	var all []store.Delegation // oldest first
	for i := range 12 {
		d := fullDelegation(fmt.Sprintf("d%02d", i), "", "", fmt.Sprintf("c%d", 1+i%2))
		d.Subject = fmt.Sprintf("u%d", i%3)
		d.Actors = []string{fmt.Sprintf("agent-%d", i%4), "svc"}
		d.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		d.ExpiresAt = base.Add(time.Duration(i) * time.Hour)
		mustCreateDelegation(t, s, d)
		all = append(all, d)
	}
	_, err := s.RevokeDelegation(ctx, "d10", base)
	must(t, "RevokeDelegation", err)
	newest := func(keep func(store.Delegation) bool) []string {
		var out []string
		for i := len(all) - 1; i >= 0; i-- {
			if keep(all[i]) {
				out = append(out, all[i].ID)
			}
		}
		return out
	}
	activeAt := base.Add(5*time.Hour + time.Minute)
	tests := []struct {
		q    store.DelegationQuery
		want []string
	}{
		{store.DelegationQuery{}, newest(func(store.Delegation) bool { return true })},
		{store.DelegationQuery{Subject: "u1"}, newest(func(d store.Delegation) bool { return d.Subject == "u1" })},
		{store.DelegationQuery{ClientID: "c2"}, newest(func(d store.Delegation) bool { return d.ClientID == "c2" })},
		{store.DelegationQuery{Actor: "agent-3"}, newest(func(d store.Delegation) bool { return d.Actors[0] == "agent-3" })},
		{store.DelegationQuery{Actor: "svc", Limit: 3}, []string{"d11", "d10", "d09"}},
		{store.DelegationQuery{Actor: "agent"}, nil},
		{store.DelegationQuery{ActiveAt: activeAt},
			newest(func(d store.Delegation) bool { return d.ExpiresAt.After(activeAt) && d.ID != "d10" })},
		{store.DelegationQuery{Subject: "u2", ClientID: "c1", Actor: "agent-0", ActiveAt: base},
			newest(func(d store.Delegation) bool {
				return d.Subject == "u2" && d.ClientID == "c1" && d.Actors[0] == "agent-0" && d.ExpiresAt.After(base) && d.ID != "d10"
			})},
	}
	for _, tt := range tests {
		got, err := s.ListDelegations(ctx, tt.q)
		must(t, "ListDelegations", err)
		var ids []string
		for _, d := range got {
			ids = append(ids, d.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
			t.Errorf("ListDelegations(%+v) = %v, want %v", tt.q, ids, tt.want)
		}
	}
	got, err := s.ListDelegations(ctx, store.DelegationQuery{Subject: "u0", Limit: 1})
	must(t, "ListDelegations", err)
	if len(got) != 1 {
		t.Fatalf("ListDelegations with limit 1 = %d", len(got))
	}
	wantDelegation(t, all[9], got[0])
	for name, q := range map[string]store.DelegationQuery{
		"a subject with NUL":    {Subject: "\x00"},
		"a client not UTF-8":    {ClientID: "\xff"},
		"a long actor":          {Actor: strings.Repeat("a", store.MaxIDLength+1)},
		"an instant after 9999": {ActiveAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		_, err := s.ListDelegations(ctx, q)
		wantErr(t, "ListDelegations with "+name, err, store.ErrInvalid)
	}
}

func testRevokeClientGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := baseTime()
	signInFixture(t, s) // client c, user u
	mustCreateClient(t, s, fullClient("c2"))
	own := fullDelegation("own", "", "", "c")
	acted := fullDelegation("acted", "", "", "c2")
	acted.Actors = []string{"c", "svc"}
	apart := fullDelegation("apart", "", "", "c2")
	apart.Actors = []string{"cc", "c "}
	for _, d := range []store.Delegation{own, acted, apart} {
		mustCreateDelegation(t, s, d)
	}
	family := func(clientID, name, delegation string) store.RefreshToken {
		r := fullRefresh(clientID, "u", "fam-"+name, "rt-"+name)
		r.DelegationID = delegation
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
		return r
	}
	tokens := map[string]struct {
		r    store.RefreshToken
		want bool
	}{
		"the client's":                 {family("c", "c", ""), true},
		"of an acting delegation":      {family("c2", "acted", "acted"), true},
		"of another client":            {family("c2", "c2", ""), false},
		"of another client's delegate": {family("c2", "apart", "apart"), false},
	}
	at := base.Add(time.Hour)
	// Opaque access tokens: the client's issued up to at are revoked.
	opaque := map[string]struct {
		r    store.TokenRecord
		want bool
	}{}
	for name, tc := range map[string]struct {
		clientID string
		issued   time.Time
		want     bool
	}{
		"issued before":      {"c", at.Add(-time.Minute), true},
		"issued at the time": {"c", at, true},
		"issued after":       {"c", at.Add(time.Microsecond), false},
		"of another client":  {"c2", at.Add(-time.Minute), false},
	} {
		r := fullToken(tc.clientID, "opaque "+name)
		r.IssuedAt, r.ExpiresAt = tc.issued, at.Add(time.Hour)
		must(t, "CreateToken", s.CreateToken(ctx, r))
		opaque[name] = struct {
			r    store.TokenRecord
			want bool
		}{r, tc.want}
	}
	must(t, "RevokeClientGrants", s.RevokeClientGrants(ctx, "c", at))
	for name, o := range opaque {
		got, err := s.GetToken(ctx, o.r.Hash)
		must(t, "GetToken", err)
		if got.Revoked != o.want {
			t.Errorf("opaque token %s: revoked = %v, want %v", name, got.Revoked, o.want)
		}
	}
	for name, tok := range tokens {
		got, err := s.GetRefreshToken(ctx, tok.r.Hash)
		must(t, "GetRefreshToken", err)
		if got.Revoked != tok.want {
			t.Errorf("refresh family %s: revoked = %v, want %v", name, got.Revoked, tok.want)
		}
	}
	for id, want := range map[string]bool{"own": true, "acted": true, "apart": false} {
		wantDelegationRevoked(t, s, id, want)
	}
	c, err := s.GetClient(ctx, "c")
	must(t, "GetClient", err)
	if !sameTime(at, c.TokensRevokedBefore) {
		t.Errorf("TokensRevokedBefore = %v, want %v", c.TokensRevokedBefore, at)
	}
	// An earlier instant never moves it back; a later one moves it on.
	must(t, "RevokeClientGrants earlier", s.RevokeClientGrants(ctx, "c", at.Add(-time.Minute)))
	c, err = s.GetClient(ctx, "c")
	must(t, "GetClient", err)
	if !sameTime(at, c.TokensRevokedBefore) {
		t.Errorf("after an earlier revocation TokensRevokedBefore = %v, want %v", c.TokensRevokedBefore, at)
	}
	must(t, "RevokeClientGrants later", s.RevokeClientGrants(ctx, "c", at.Add(time.Minute)))
	c, err = s.GetClient(ctx, "c")
	must(t, "GetClient", err)
	if !sameTime(at.Add(time.Minute), c.TokensRevokedBefore) {
		t.Errorf("after a later revocation TokensRevokedBefore = %v, want %v", c.TokensRevokedBefore, at.Add(time.Minute))
	}
	// An update never moves it back either (an admin replacing the
	// registration from a request that does not carry it).
	updated, err := s.UpdateClient(ctx, "c", func(c store.Client) (store.Client, error) {
		c.Name = "renamed"
		c.TokensRevokedBefore = time.Time{}
		return c, nil
	})
	must(t, "UpdateClient", err)
	if !sameTime(at.Add(time.Minute), updated.TokensRevokedBefore) || updated.Name != "renamed" {
		t.Errorf("after an update clearing it TokensRevokedBefore = %v (name %q), want %v", updated.TokensRevokedBefore, updated.Name, at.Add(time.Minute))
	}
	later := at.Add(2 * time.Minute)
	updated, err = s.UpdateClient(ctx, "c", func(c store.Client) (store.Client, error) {
		c.TokensRevokedBefore = later
		return c, nil
	})
	must(t, "UpdateClient", err)
	if !sameTime(later, updated.TokensRevokedBefore) {
		t.Errorf("after an update moving it on TokensRevokedBefore = %v, want %v", updated.TokensRevokedBefore, later)
	}
	c2, err := s.GetClient(ctx, "c2")
	must(t, "GetClient", err)
	if !c2.TokensRevokedBefore.Equal(fullClient("c2").TokensRevokedBefore.Truncate(store.TimePrecision)) {
		t.Errorf("another client's TokensRevokedBefore changed to %v", c2.TokensRevokedBefore)
	}
	// The revoked family takes no new token.
	next := tokens["the client's"].r
	next.Hash = hashOf("after")
	wantErr(t, "CreateRefreshToken in a revoked family", s.CreateRefreshToken(ctx, next), store.ErrNotFound)

	wantErr(t, "RevokeClientGrants of an unknown client", s.RevokeClientGrants(ctx, "nobody", at), store.ErrNotFound)
	wantErr(t, "RevokeClientGrants at the zero time", s.RevokeClientGrants(ctx, "c2", time.Time{}), store.ErrInvalid)
}

// testRevokeClientGrantsDescendants: revoking a client's grants revokes
// its delegations as RevokeDelegation does, with every delegation below
// them (other clients' exchanges of its tokens, even when the client is
// not in their act chain, as after an impersonation) and the refresh
// families that carry them.
func testRevokeClientGrantsDescendants(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s) // client c, user u
	mustCreateClient(t, s, fullClient("c2"))
	mustCreateClient(t, s, fullClient("c3"))
	// own (c) → below (c2, impersonating: no actors) → further (c3);
	// acted (c2, c acting) → after (c3, c no longer in the chain).
	own := fullDelegation("own", "", "", "c")
	below := fullDelegation("below", "own", "own", "c2")
	below.Actors = nil
	further := fullDelegation("further", "below", "own", "c3")
	further.Actors = []string{"c3"}
	acted := fullDelegation("acted", "", "", "c2")
	acted.Actors = []string{"c"}
	after := fullDelegation("after", "acted", "acted", "c3")
	after.Actors = []string{"c3"}
	apart := fullDelegation("apart", "", "", "c2")
	apart.Actors = []string{"c2"}
	for _, d := range []store.Delegation{own, below, further, acted, after, apart} {
		mustCreateDelegation(t, s, d)
	}
	family := func(clientID, delegation string) store.RefreshToken {
		r := fullRefresh(clientID, "u", "fam-"+delegation, "rt-"+delegation)
		r.DelegationID = delegation
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
		return r
	}
	families := map[string]store.RefreshToken{
		"below": family("c2", "below"), "further": family("c3", "further"),
		"after": family("c3", "after"), "apart": family("c2", "apart"),
	}
	at := baseTime().Add(time.Hour)
	must(t, "RevokeClientGrants", s.RevokeClientGrants(ctx, "c", at))
	for id, want := range map[string]bool{"own": true, "below": true, "further": true, "acted": true, "after": true, "apart": false} {
		wantDelegationRevoked(t, s, id, want)
		d, err := s.GetDelegation(ctx, id)
		must(t, "GetDelegation", err)
		if want && !sameTime(at, d.RevokedAt) || !want && !d.RevokedAt.IsZero() {
			t.Errorf("delegation %q RevokedAt = %v, want revoked %v at %v", id, d.RevokedAt, want, at)
		}
	}
	for id, r := range families {
		got, err := s.GetRefreshToken(ctx, r.Hash)
		must(t, "GetRefreshToken", err)
		if want := id != "apart"; got.Revoked != want {
			t.Errorf("refresh family of delegation %q: revoked = %v, want %v", id, got.Revoked, want)
		}
	}
	// None of them is listed as active any more.
	list, err := s.ListDelegations(ctx, store.DelegationQuery{ActiveAt: baseTime()})
	must(t, "ListDelegations", err)
	if len(list) != 1 || list[0].ID != "apart" {
		ids := []string{}
		for _, d := range list {
			ids = append(ids, d.ID)
		}
		t.Errorf("active delegations after RevokeClientGrants = %v, want [apart]", ids)
	}
}

func testDelegationDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := baseTime()
	mustCreateClient(t, s, fullClient("c"))
	for i := range 5 {
		d := fullDelegation(fmt.Sprintf("d%d", i), "", "", "c")
		d.ExpiresAt = base.Add(time.Duration(i) * time.Hour)
		mustCreateDelegation(t, s, d)
	}
	// At the instant of d2's expiry: d0, d1 and d2 go.
	n, err := s.DeleteExpiredDelegations(ctx, base.Add(2*time.Hour))
	must(t, "DeleteExpiredDelegations", err)
	if n != 3 {
		t.Errorf("DeleteExpiredDelegations = %d, want 3", n)
	}
	for i, want := range []error{store.ErrNotFound, store.ErrNotFound, store.ErrNotFound, nil, nil} {
		_, err := s.GetDelegation(ctx, fmt.Sprintf("d%d", i))
		if !errors.Is(err, want) {
			t.Errorf("GetDelegation(d%d) after the purge: %v, want %v", i, err, want)
		}
	}
	n, err = s.DeleteExpiredDelegations(ctx, base.Add(2*time.Hour))
	must(t, "DeleteExpiredDelegations again", err)
	if n != 0 {
		t.Errorf("DeleteExpiredDelegations again = %d, want 0", n)
	}
}

func testDelegationInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateClient(t, s, fullClient("c"))
	cases := map[string]func(*store.Delegation){
		"no ID":               func(d *store.Delegation) { d.ID, d.RootID = "", "" },
		"long ID":             func(d *store.Delegation) { d.ID = strings.Repeat("d", store.MaxIDLength+1); d.RootID = d.ID },
		"no root":             func(d *store.Delegation) { d.RootID = "" },
		"another root":        func(d *store.Delegation) { d.RootID = "other" },
		"its own parent":      func(d *store.Delegation) { d.ParentID = d.ID },
		"parent not UTF-8":    func(d *store.Delegation) { d.ParentID = "\xff" },
		"no client":           func(d *store.Delegation) { d.ClientID = "" },
		"no subject":          func(d *store.Delegation) { d.Subject = "" },
		"subject with NUL":    func(d *store.Delegation) { d.Subject = "s\x00" },
		"long subject issuer": func(d *store.Delegation) { d.SubjectIssuer = strings.Repeat("i", store.MaxURILength+1) },
		"actor not UTF-8":     func(d *store.Delegation) { d.Actors = []string{"\xfe"} },
		"too many actors":     func(d *store.Delegation) { d.Actors = make([]string, store.MaxDelegationDepth+1) },
		"too many audiences":  func(d *store.Delegation) { d.Audience = make([]string, store.MaxPolicyEntries+1) },
		"scope with NUL":      func(d *store.Delegation) { d.Scopes = []string{"\x00"} },
		"no expiry":           func(d *store.Delegation) { d.ExpiresAt = time.Time{} },
		"created after 9999":  func(d *store.Delegation) { d.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"revoked already":     func(d *store.Delegation) { d.RevokedAt = baseTime() },
	}
	for name, mutate := range cases {
		d := fullDelegation("d", "", "", "c")
		mutate(&d)
		wantErr(t, "CreateDelegation with "+name, s.CreateDelegation(ctx, d), store.ErrInvalid)
	}
	list, err := s.ListDelegations(ctx, store.DelegationQuery{})
	must(t, "ListDelegations", err)
	if len(list) != 0 {
		t.Errorf("invalid delegations were stored: %d", len(list))
	}
}

// fullTrustedIssuer sets every field of a trusted issuer.
func fullTrustedIssuer(issuer string) store.TrustedIssuer {
	base := baseTime()
	return store.TrustedIssuer{
		Issuer:  issuer,
		JWKS:    []byte(`{"keys": [ {"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"} ]}`),
		JWKSURI: issuer + "/jwks.json",
		Uses:    []string{store.TrustSubjectToken, store.TrustJWTBearer, store.TrustIDJAG},
		Rules: []store.TrustRule{
			{ClientID: "c", Audiences: []string{"https://api.example"}, Scopes: []string{"orders:read", "openid"}},
			{ClientID: "*", Audiences: []string{"https://other.example"}, Scopes: []string{"profile"}},
		},
		CreatedAt: base,
		UpdatedAt: base.Add(time.Second),
	}
}

func wantTrustedIssuer(t *testing.T, want, got store.TrustedIssuer) {
	t.Helper()
	if d := recordDiff(want, got); len(d) > 0 {
		t.Errorf("trusted issuer %q: fields differ: %s\nwant %+v\ngot  %+v", want.Issuer, strings.Join(d, ", "), want, got)
	}
}

func testTrustRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := fullTrustedIssuer("https://idp.example")
	must(t, "PutTrustedIssuer", s.PutTrustedIssuer(ctx, want))
	got, err := s.GetTrustedIssuer(ctx, want.Issuer)
	must(t, "GetTrustedIssuer", err)
	wantTrustedIssuer(t, want, got)

	// A replacement changes everything but CreatedAt.
	next := store.TrustedIssuer{Issuer: want.Issuer, JWKSURI: "https://idp.example/keys",
		Uses: []string{store.TrustJWTBearer}, CreatedAt: want.CreatedAt.Add(time.Hour), UpdatedAt: want.UpdatedAt.Add(time.Hour)}
	must(t, "PutTrustedIssuer replacing", s.PutTrustedIssuer(ctx, next))
	got, err = s.GetTrustedIssuer(ctx, want.Issuer)
	must(t, "GetTrustedIssuer", err)
	next.CreatedAt = want.CreatedAt
	wantTrustedIssuer(t, next, got)
	if got.JWKS != nil || got.Rules != nil {
		t.Errorf("a replacement kept the old JWKS or rules: %+v", got)
	}

	_, err = s.GetTrustedIssuer(ctx, "https://unknown.example")
	wantErr(t, "GetTrustedIssuer of an unknown issuer", err, store.ErrNotFound)
	_, err = s.GetTrustedIssuer(ctx, "")
	wantErr(t, "GetTrustedIssuer of the empty issuer", err, store.ErrNotFound)
	must(t, "DeleteTrustedIssuer", s.DeleteTrustedIssuer(ctx, want.Issuer))
	_, err = s.GetTrustedIssuer(ctx, want.Issuer)
	wantErr(t, "GetTrustedIssuer after DeleteTrustedIssuer", err, store.ErrNotFound)
	wantErr(t, "DeleteTrustedIssuer again", s.DeleteTrustedIssuer(ctx, want.Issuer), store.ErrNotFound)
	wantErr(t, "DeleteTrustedIssuer of an invalid issuer", s.DeleteTrustedIssuer(ctx, "\xff"), store.ErrNotFound)

	// Hostile text is stored verbatim; wildcards match only themselves.
	for _, h := range hostileStrings() {
		ti := fullTrustedIssuer(h)
		ti.Rules = []store.TrustRule{{ClientID: h, Audiences: []string{h}, Scopes: []string{h}}}
		must(t, "PutTrustedIssuer", s.PutTrustedIssuer(ctx, ti))
		got, err := s.GetTrustedIssuer(ctx, h)
		must(t, "GetTrustedIssuer", err)
		wantTrustedIssuer(t, ti, got)
	}
	must(t, "DeleteTrustedIssuer(%)", s.DeleteTrustedIssuer(ctx, "%"))
	list, err := s.ListTrustedIssuers(ctx)
	must(t, "ListTrustedIssuers", err)
	if len(list) != len(hostileStrings())-1 {
		t.Errorf("deleting %q left %d of %d issuers", "%", len(list), len(hostileStrings()))
	}
}

func testTrustList(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListTrustedIssuers(ctx)
	must(t, "ListTrustedIssuers", err)
	if len(list) != 0 {
		t.Fatalf("a new store trusts %d issuers", len(list))
	}
	// Byte order: upper case before lower case, ASCII before the rest.
	issuers := []string{"https://é.example", "https://b.example", "https://B.example", "https://a.example/tenant"}
	for _, iss := range issuers {
		must(t, "PutTrustedIssuer", s.PutTrustedIssuer(ctx, fullTrustedIssuer(iss)))
	}
	minimal := store.TrustedIssuer{Issuer: "https://A.example"}
	must(t, "PutTrustedIssuer", s.PutTrustedIssuer(ctx, minimal))
	list, err = s.ListTrustedIssuers(ctx)
	must(t, "ListTrustedIssuers", err)
	var got []string
	for _, ti := range list {
		got = append(got, ti.Issuer)
	}
	want := []string{"https://A.example", "https://B.example", "https://a.example/tenant", "https://b.example", "https://é.example"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListTrustedIssuers = %q, want %q", got, want)
	}
	wantTrustedIssuer(t, minimal, list[0])
	wantTrustedIssuer(t, fullTrustedIssuer("https://b.example"), list[3])
}

func testTrustInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := map[string]func(*store.TrustedIssuer){
		"no issuer":          func(ti *store.TrustedIssuer) { ti.Issuer = "" },
		"long issuer":        func(ti *store.TrustedIssuer) { ti.Issuer = strings.Repeat("i", store.MaxURILength+1) },
		"issuer not UTF-8":   func(ti *store.TrustedIssuer) { ti.Issuer = "https://\xff" },
		"issuer with NUL":    func(ti *store.TrustedIssuer) { ti.Issuer = "https://a\x00" },
		"JWKS not JSON":      func(ti *store.TrustedIssuer) { ti.JWKS = []byte(`{"keys":[`) },
		"JWKS not an object": func(ti *store.TrustedIssuer) { ti.JWKS = []byte(`[]`) },
		"JWKS too large": func(ti *store.TrustedIssuer) {
			ti.JWKS = []byte(`{"k":"` + strings.Repeat("x", store.MaxJWKSSize) + `"}`)
		},
		"long JWKS URI":       func(ti *store.TrustedIssuer) { ti.JWKSURI = strings.Repeat("u", store.MaxURILength+1) },
		"unknown use":         func(ti *store.TrustedIssuer) { ti.Uses = []string{"everything"} },
		"too many rules":      func(ti *store.TrustedIssuer) { ti.Rules = make([]store.TrustRule, store.MaxPolicyEntries+1) },
		"rule without client": func(ti *store.TrustedIssuer) { ti.Rules = []store.TrustRule{{}} },
		"rule scope with NUL": func(ti *store.TrustedIssuer) { ti.Rules[0].Scopes = []string{"\x00"} },
		"rule long audience": func(ti *store.TrustedIssuer) {
			ti.Rules[1].Audiences = []string{strings.Repeat("a", store.MaxURILength+1)}
		},
		"update after 9999": func(ti *store.TrustedIssuer) { ti.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
	}
	for name, mutate := range cases {
		ti := fullTrustedIssuer("https://idp.example")
		mutate(&ti)
		err := s.PutTrustedIssuer(ctx, ti)
		wantErr(t, "PutTrustedIssuer with "+name, err, store.ErrInvalid)
		if strings.Contains(err.Error(), "\xff") || strings.Contains(err.Error(), "\x00") {
			t.Errorf("%s: error quotes the invalid value: %q", name, err)
		}
	}
	list, err := s.ListTrustedIssuers(ctx)
	must(t, "ListTrustedIssuers", err)
	if len(list) != 0 {
		t.Errorf("invalid issuers were stored: %d", len(list))
	}
}

// testDelegationRevokeConcurrent revokes overlapping trees, and the
// client's grants, at once: each call succeeds (no deadlock between their
// locks) and together they revoke everything.
func testDelegationRevokeConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := baseTime()
	signInFixture(t, s)
	const depth = 6
	for round := range 3 {
		id := func(i int) string { return fmt.Sprintf("r%d-d%d", round, i) }
		mustCreateDelegation(t, s, fullDelegation(id(0), "", "", "c"))
		for i := 1; i < depth; i++ {
			mustCreateDelegation(t, s, fullDelegation(id(i), id(i-1), id(0), "c"))
		}
		for i := range depth {
			r := fullRefresh("c", "u", "fam-"+id(i), "rt-"+id(i))
			r.DelegationID = id(i)
			must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
		}
		var wg sync.WaitGroup
		errs := make([]error, depth+1)
		for i := range depth {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.RevokeDelegation(ctx, id(depth-1-i), base)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[depth] = s.RevokeClientGrants(ctx, "c", base)
		}()
		wg.Wait()
		for _, err := range errs {
			must(t, "concurrent revocation", err)
		}
		for i := range depth {
			wantDelegationRevoked(t, s, id(i), true)
			got, err := s.GetRefreshToken(ctx, hashOf("rt-"+id(i)))
			must(t, "GetRefreshToken", err)
			if !got.Revoked {
				t.Errorf("family of %s not revoked", id(i))
			}
		}
	}
}

// testDelegationRevokedRefresh: a refresh token family cannot start on a
// stored delegation that is revoked, or below one that is (the refresh
// grant relies on revoking a delegation revoking its families, so a
// family started afterwards would live on).
func testDelegationRevokedRefresh(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	mustCreateDelegation(t, s, fullDelegation("root", "", "", "c"))
	mustCreateDelegation(t, s, fullDelegation("mid", "root", "root", "c"))
	mustCreateDelegation(t, s, fullDelegation("leaf", "mid", "root", "c"))
	mustCreateDelegation(t, s, fullDelegation("live", "", "", "c"))
	mustCreateDelegation(t, s, fullDelegation("orphan", "gone", "gone", "c"))
	_, err := s.RevokeDelegation(ctx, "mid", baseTime())
	must(t, "RevokeDelegation", err)
	// "late" is created below "mid" after its revocation, as a concurrent
	// exchange that checked its subject token just before could.
	mustCreateDelegation(t, s, fullDelegation("late", "mid", "root", "c"))
	for i, tc := range []struct {
		delegation string
		want       error
	}{
		{"mid", store.ErrNotFound},
		{"leaf", store.ErrNotFound},
		{"late", store.ErrNotFound},
		{"orphan", store.ErrNotFound},
		{"live", nil},
		{"root", nil},
		// Not stored (a caller that keeps no delegation records): the
		// family starts as before.
		{"unknown", nil},
	} {
		r := fullRefresh("c", "u", fmt.Sprintf("fam-%d", i), fmt.Sprintf("rt-%d", i))
		r.DelegationID = tc.delegation
		err := s.CreateRefreshToken(ctx, r)
		if tc.want == nil {
			must(t, "CreateRefreshToken of delegation "+tc.delegation, err)
			continue
		}
		wantErr(t, "CreateRefreshToken of delegation "+tc.delegation, err, tc.want)
		_, err = s.GetRefreshToken(ctx, r.Hash)
		wantErr(t, "GetRefreshToken of the refused token", err, store.ErrNotFound)
	}
}

// testDelegationRevokeRefreshConcurrent races the revocation of a
// delegation with an exchange below it (a child delegation, then its
// refresh family): whichever wins, a family that was stored is revoked.
func testDelegationRevokeRefreshConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	for round := range 20 {
		parent, child := fmt.Sprintf("p%d", round), fmt.Sprintf("c%d", round)
		mustCreateDelegation(t, s, fullDelegation(parent, "", "", "c"))
		r := fullRefresh("c", "u", "fam-"+child, "rt-"+child)
		r.DelegationID = child
		var (
			wg               sync.WaitGroup
			revErr, createEr error
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, revErr = s.RevokeDelegation(ctx, parent, baseTime())
		}()
		go func() {
			defer wg.Done()
			if createEr = s.CreateDelegation(ctx, fullDelegation(child, parent, parent, "c")); createEr == nil {
				createEr = s.CreateRefreshToken(ctx, r)
			}
		}()
		wg.Wait()
		must(t, "RevokeDelegation", revErr)
		if createEr != nil && !errors.Is(createEr, store.ErrNotFound) {
			t.Fatalf("round %d: exchange: %v", round, createEr)
		}
		wantDelegationRevoked(t, s, child, true)
		got, err := s.GetRefreshToken(ctx, r.Hash)
		switch {
		case createEr != nil:
			wantErr(t, "GetRefreshToken of a refused family", err, store.ErrNotFound)
		case err != nil:
			t.Fatalf("round %d: GetRefreshToken: %v", round, err)
		case !got.Revoked:
			t.Errorf("round %d: the family of %s, below revoked %s, is live", round, child, parent)
		}
	}
}

// testDelegationDeleteClient: deleting a client deletes its delegations;
// those below them, other clients' exchanges of its tokens, then count as
// revoked (their chain is broken), and so the refresh families that carry
// them are revoked with the deletion, or the refresh grant (which does not
// walk delegations) would keep rotating them.
func testDelegationDeleteClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s) // client c, user u
	mustCreateClient(t, s, fullClient("c2"))
	own := fullDelegation("own", "", "", "c")
	below := fullDelegation("below", "own", "own", "c2")
	below.Actors = nil // an impersonation: c is not in its act chain
	further := fullDelegation("further", "below", "own", "c2")
	further.Actors = []string{"c2"}
	apart := fullDelegation("apart", "", "", "c2")
	apart.Actors = []string{"c2"}
	for _, d := range []store.Delegation{own, below, further, apart} {
		mustCreateDelegation(t, s, d)
	}
	families := map[string]store.RefreshToken{}
	for _, id := range []string{"below", "further", "apart"} {
		r := fullRefresh("c2", "u", "fam-"+id, "rt-"+id)
		r.DelegationID = id
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
		next := r
		next.Hash = hashOf("rt2-" + id)
		_, err := s.RotateRefreshToken(ctx, r.Hash, baseTime().Add(time.Minute), rotation(next))
		must(t, "RotateRefreshToken", err)
		families[id] = next
	}
	must(t, "DeleteClient", s.DeleteClient(ctx, "c"))
	_, err := s.GetDelegation(ctx, "own")
	wantErr(t, "GetDelegation of the deleted client's", err, store.ErrNotFound)
	for id, want := range map[string]bool{"below": true, "further": true, "apart": false} {
		wantDelegationRevoked(t, s, id, want)
		got, err := s.GetRefreshToken(ctx, families[id].Hash)
		must(t, "GetRefreshToken", err)
		if got.Revoked != want {
			t.Errorf("refresh family of delegation %q: revoked = %v, want %v", id, got.Revoked, want)
		}
		jtiRevoked, err := s.IsJTIRevoked(ctx, rotation(families[id]).Access.JTI)
		must(t, "IsJTIRevoked", err)
		if jtiRevoked != want {
			t.Errorf("access token of the family of %q revoked = %v, want %v", id, jtiRevoked, want)
		}
	}
	wantErr(t, "DeleteClient again", s.DeleteClient(ctx, "c"), store.ErrNotFound)
}

// testDelegationDeleteExpiredParent: purging an expired delegation breaks
// the chain of a delegation below it that lives on (it then counts as
// revoked), so the purge revokes the live refresh families that carry
// those below, or the refresh grant would keep rotating them.
func testDelegationDeleteExpiredParent(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := baseTime()
	signInFixture(t, s) // client c, user u
	mustCreateClient(t, s, fullClient("c2"))
	parent := fullDelegation("parent", "", "", "c")
	parent.ExpiresAt = base.Add(time.Hour)
	child := fullDelegation("child", "parent", "parent", "c2")
	child.ExpiresAt = base.Add(30 * 24 * time.Hour)
	grandchild := fullDelegation("grandchild", "child", "parent", "c2")
	grandchild.ExpiresAt = base.Add(30 * 24 * time.Hour)
	apart := fullDelegation("apart", "", "", "c2")
	apart.ExpiresAt = base.Add(30 * 24 * time.Hour)
	for _, d := range []store.Delegation{parent, child, grandchild, apart} {
		mustCreateDelegation(t, s, d)
	}
	families := map[string]store.RefreshToken{}
	for _, id := range []string{"child", "grandchild", "apart"} {
		r := fullRefresh("c2", "u", "fam-"+id, "rt-"+id)
		r.DelegationID = id
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, r))
		families[id] = r
	}
	n, err := s.DeleteExpiredDelegations(ctx, base.Add(2*time.Hour))
	must(t, "DeleteExpiredDelegations", err)
	if n != 1 {
		t.Errorf("DeleteExpiredDelegations = %d, want 1", n)
	}
	purged := base.Add(2 * time.Hour)
	for id, want := range map[string]bool{"child": true, "grandchild": true, "apart": false} {
		wantDelegationRevoked(t, s, id, want)
		// Listed as revoked from the purge on, not as active.
		d, err := s.GetDelegation(ctx, id)
		must(t, "GetDelegation", err)
		if want && !sameTime(purged, d.RevokedAt) || !want && !d.RevokedAt.IsZero() {
			t.Errorf("delegation %q RevokedAt = %v, want revoked %v at %v", id, d.RevokedAt, want, purged)
		}
		got, err := s.GetRefreshToken(ctx, families[id].Hash)
		must(t, "GetRefreshToken", err)
		if got.Revoked != want {
			t.Errorf("refresh family of delegation %q: revoked = %v, want %v", id, got.Revoked, want)
		}
	}
}

// testDelegationDeleteClientConcurrent races the deletion of a client with
// another client's exchange below the client's delegation (a child
// delegation, then its refresh family) and with the purge: each call
// succeeds or is refused as not found, never deadlocks, and a family that
// was stored below the deleted client's delegation is revoked.
func testDelegationDeleteClientConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := baseTime()
	mustCreateUser(t, s, fullUser("u", "User"))
	mustCreateClient(t, s, fullClient("c2"))
	for round := range 10 {
		owner, parent, child := fmt.Sprintf("owner%d", round), fmt.Sprintf("p%d", round), fmt.Sprintf("c%d", round)
		mustCreateClient(t, s, fullClient(owner))
		mustCreateDelegation(t, s, fullDelegation(parent, "", "", owner))
		r := fullRefresh("c2", "u", "fam-"+child, "rt-"+child)
		r.DelegationID = child
		var (
			wg                        sync.WaitGroup
			delErr, createErr, purgeE error
		)
		wg.Add(3)
		go func() {
			defer wg.Done()
			delErr = s.DeleteClient(ctx, owner)
		}()
		go func() {
			defer wg.Done()
			d := fullDelegation(child, parent, parent, "c2")
			d.ExpiresAt = base.Add(30 * 24 * time.Hour)
			if createErr = s.CreateDelegation(ctx, d); createErr == nil {
				createErr = s.CreateRefreshToken(ctx, r)
			}
		}()
		go func() {
			defer wg.Done()
			_, purgeE = s.DeleteExpiredDelegations(ctx, base)
		}()
		wg.Wait()
		must(t, "DeleteClient", delErr)
		must(t, "DeleteExpiredDelegations", purgeE)
		if createErr != nil && !errors.Is(createErr, store.ErrNotFound) {
			t.Fatalf("round %d: exchange: %v", round, createErr)
		}
		wantDelegationRevoked(t, s, child, true)
		got, err := s.GetRefreshToken(ctx, r.Hash)
		switch {
		case createErr != nil:
			wantErr(t, "GetRefreshToken of a refused family", err, store.ErrNotFound)
		case err != nil:
			t.Fatalf("round %d: GetRefreshToken: %v", round, err)
		case !got.Revoked:
			t.Errorf("round %d: the family of %s, below the deleted client's %s, is live", round, child, parent)
		}
	}
}
