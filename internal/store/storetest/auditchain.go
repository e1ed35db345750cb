package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/audit/chain"
	"github.com/writ-dev/writ/internal/store"
)

// WantChain fails t unless the whole audit trail of s is one valid hash
// chain (from the genesis hash, gap-free, each event's hash over its
// content and its predecessor's hash) ending at the store's AuditHead,
// and returns the number of events.
func WantChain(t *testing.T, s store.Store) int {
	t.Helper()
	prev, n := chain.Genesis(), 0
	var after int64
	for {
		page := listAudit(t, s, store.AuditQuery{AfterSeq: after, Limit: store.MaxListLimit})
		for _, e := range page {
			n++
			if e.Seq != int64(n) {
				t.Fatalf("event %d has sequence number %d", n, e.Seq)
			}
			if !bytes.Equal(e.PrevHash, prev) {
				t.Fatalf("event %d: PrevHash is not the hash of event %d", e.Seq, e.Seq-1)
			}
			if !chain.Valid(e) {
				t.Fatalf("event %d: Hash does not match its content", e.Seq)
			}
			prev, after = e.Hash, e.Seq
		}
		if len(page) < store.MaxListLimit {
			break
		}
	}
	seq, head, err := s.AuditHead(t.Context())
	must(t, "AuditHead", err)
	if seq != int64(n) || (n > 0 && !bytes.Equal(head, prev)) || (n == 0 && head != nil) {
		t.Fatalf("AuditHead = %d, %x; the trail ends at %d, %x", seq, head, n, prev)
	}
	return n
}

func testAuditChain(t *testing.T, s store.Store) {
	ctx := t.Context()
	if seq, head, err := s.AuditHead(ctx); err != nil || seq != 0 || head != nil {
		t.Fatalf("AuditHead of an empty trail = %d, %x, %v", seq, head, err)
	}
	// Caller-set chain fields are ignored.
	e := fullAudit(store.AuditTokenIssued, "c", "u")
	e.PrevHash, e.Hash = []byte("forged"), []byte("forged")
	_, err := s.AppendAudit(ctx, e)
	must(t, "AppendAudit", err)
	first, err := s.AppendAudits(ctx, []store.AuditEvent{
		fullAudit(store.AuditTokenRefreshed, "c", "u"),
		{Time: baseTime(), Type: store.AuditSignInFailed},
		fullAudit(store.AuditTokenRevoked, "c2", "u2"),
	})
	must(t, "AppendAudits", err)
	if first != 2 {
		t.Errorf("AppendAudits first sequence number = %d, want 2", first)
	}
	// A batch with one bad event stores nothing.
	_, err = s.AppendAudits(ctx, []store.AuditEvent{fullAudit(store.AuditTokenIssued, "c", "u"), {Type: "no time"}})
	wantErr(t, "AppendAudits with an invalid event", err, store.ErrInvalid)
	_, err = s.AppendAudits(ctx, nil)
	wantErr(t, "AppendAudits of nothing", err, store.ErrInvalid)
	if n := WantChain(t, s); n != 4 {
		t.Errorf("trail has %d events, want 4", n)
	}
	got := listAudit(t, s, store.AuditQuery{})
	if !bytes.Equal(got[0].PrevHash, chain.Genesis()) {
		t.Errorf("first event's PrevHash = %x, want the genesis hash", got[0].PrevHash)
	}
	// Since and Until select by time.
	_, err = s.AppendAudit(ctx, store.AuditEvent{Time: baseTime().Add(time.Hour), Type: store.AuditSignIn})
	must(t, "AppendAudit", err)
	if got := listAudit(t, s, store.AuditQuery{Since: baseTime().Add(time.Minute)}); len(got) != 1 || got[0].Seq != 5 {
		t.Errorf("ListAudit since = %+v, want event 5", got)
	}
	if got := listAudit(t, s, store.AuditQuery{Until: baseTime().Add(time.Minute)}); len(got) != 4 {
		t.Errorf("ListAudit until = %d events, want 4", len(got))
	}
}

// testAuditChainConcurrent appends singles and batches from many
// goroutines: the chain stays one valid chain.
func testAuditChainConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, each = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var err error
				if i%2 == 0 {
					_, err = s.AppendAudit(ctx, fullAudit(store.AuditTokenIssued, "c", fmt.Sprintf("u%d-%d", w, i)))
				} else {
					_, err = s.AppendAudits(ctx, []store.AuditEvent{
						fullAudit(store.AuditTokenIssued, "c", fmt.Sprintf("u%d-%da", w, i)),
						fullAudit(store.AuditTokenIssued, "c", fmt.Sprintf("u%d-%db", w, i)),
					})
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, "concurrent append", err)
	}
	if n, want := WantChain(t, s), workers*(each/2)*3; n != want {
		t.Errorf("trail has %d events, want %d", n, want)
	}
}

// testAuditChainIssue: a redemption's and a rotation's audit events are
// committed with them, and a refused one (reuse, expiry) appends none.
func testAuditChainIssue(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := baseTime()
	signInFixture(t, s)
	code := fullAuthCode("c", "u", "code")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code))
	issue := jwtIssue("c", "u", "jti-1", "fam-1", "rt-1")
	issue.Audit = []store.AuditEvent{fullAudit(store.AuditTokenIssued, "c", "u")}
	_, err := s.RedeemAuthCode(ctx, code.Hash, base.Add(time.Second), issue)
	must(t, "RedeemAuthCode", err)
	again := jwtIssue("c", "u", "jti-2", "fam-2", "rt-2")
	again.Audit = []store.AuditEvent{fullAudit(store.AuditTokenIssued, "c", "again")}
	_, err = s.RedeemAuthCode(ctx, code.Hash, base.Add(2*time.Second), again)
	wantErr(t, "RedeemAuthCode again", err, store.ErrReused)

	next := fullRefresh("c", "u", "fam-1", "rt-next")
	rot := rotation(next)
	rot.Audit = []store.AuditEvent{fullAudit(store.AuditTokenRefreshed, "c", "u")}
	_, err = s.RotateRefreshToken(ctx, issue.Refresh.Hash, base.Add(3*time.Second), rot)
	must(t, "RotateRefreshToken", err)
	reuse := rotation(fullRefresh("c", "u", "fam-1", "rt-reuse"))
	reuse.Audit = []store.AuditEvent{fullAudit(store.AuditTokenRefreshed, "c", "reuse")}
	_, err = s.RotateRefreshToken(ctx, issue.Refresh.Hash, base.Add(4*time.Second), reuse)
	wantErr(t, "RotateRefreshToken of a rotated token", err, store.ErrReused)

	// An invalid audit event refuses the whole issue.
	code2 := fullAuthCode("c", "u", "code-2")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code2))
	bad := jwtIssue("c", "u", "jti-3", "fam-3", "rt-3")
	bad.Audit = []store.AuditEvent{{Type: store.AuditTokenIssued}}
	_, err = s.RedeemAuthCode(ctx, code2.Hash, base.Add(time.Second), bad)
	wantErr(t, "RedeemAuthCode with an invalid audit event", err, store.ErrInvalid)

	// An issue may carry several events; all are committed with it.
	code3 := fullAuthCode("c", "u", "code-3")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx, code3))
	two := jwtIssue("c", "u", "jti-4", "fam-4", "rt-4")
	two.Audit = []store.AuditEvent{fullAudit(store.AuditTokenIssued, "c", "first"), fullAudit(store.AuditTokenIssued, "c", "second")}
	_, err = s.RedeemAuthCode(ctx, code3.Hash, base.Add(5*time.Second), two)
	must(t, "RedeemAuthCode with two events", err)

	got := listAudit(t, s, store.AuditQuery{})
	var subjects []string
	for _, e := range got {
		subjects = append(subjects, e.Type+"/"+e.Subject)
	}
	want := []string{store.AuditTokenIssued + "/u", store.AuditTokenRefreshed + "/u",
		store.AuditTokenIssued + "/first", store.AuditTokenIssued + "/second"}
	if !slices.Equal(subjects, want) {
		t.Fatalf("trail after three grants and three refusals = %q, want %q", subjects, want)
	}
	WantChain(t, s)
}

func testAuditAnchors(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := store.AuditAnchor{Seq: 3, Hash: bytes.Repeat([]byte{7}, 32), Time: baseTime(), JWS: "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}
	must(t, "PutAuditAnchor", s.PutAuditAnchor(ctx, a))
	wantErr(t, "PutAuditAnchor duplicate", s.PutAuditAnchor(ctx, a), store.ErrAlreadyExists)
	b := a
	b.Seq = 9
	must(t, "PutAuditAnchor", s.PutAuditAnchor(ctx, b))
	got, err := s.ListAuditAnchors(ctx, 0, 0)
	must(t, "ListAuditAnchors", err)
	if len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 9 {
		t.Fatalf("ListAuditAnchors = %+v", got)
	}
	if d := recordDiff(store.AuditAnchor{Seq: 3, Hash: a.Hash, Time: a.Time.Truncate(store.TimePrecision), JWS: a.JWS}, got[0]); len(d) > 0 {
		t.Errorf("anchor fields differ: %v", d)
	}
	if got, _ := s.ListAuditAnchors(ctx, 3, 10); len(got) != 1 || got[0].Seq != 9 {
		t.Errorf("ListAuditAnchors after 3 = %+v", got)
	}
	for name, bad := range map[string]store.AuditAnchor{
		"zero seq":   {Hash: a.Hash, Time: a.Time, JWS: a.JWS},
		"short hash": {Seq: 4, Hash: []byte{1}, Time: a.Time, JWS: a.JWS},
		"no time":    {Seq: 4, Hash: a.Hash, JWS: a.JWS},
		"bad jws":    {Seq: 4, Hash: a.Hash, Time: a.Time, JWS: "a b"},
	} {
		wantErr(t, "PutAuditAnchor with "+name, s.PutAuditAnchor(ctx, bad), store.ErrInvalid)
	}
}

func testAuditJournals(t *testing.T, s store.Store) {
	ctx := t.Context()
	if pos, err := s.AuditJournalPosition(ctx, "j-1"); err != nil || pos != 0 {
		t.Fatalf("AuditJournalPosition of an unknown journal = %d, %v", pos, err)
	}
	first, err := s.AppendJournaled(ctx, "j-1", 300, []store.AuditEvent{
		fullAudit(store.AuditTokenIssued, "c", "u1"), fullAudit(store.AuditSignInFailed, "c", "u2"),
	})
	must(t, "AppendJournaled", err)
	if first != 1 && first != 0 { // 0: queued for SealAudit
		t.Errorf("AppendJournaled first = %d, want 1 (or 0)", first)
	}
	// The position never goes back (a late batch cannot undo a later one).
	_, err = s.AppendJournaled(ctx, "j-1", 200, []store.AuditEvent{fullAudit(store.AuditTokenIssued, "c", "u3")})
	must(t, "AppendJournaled", err)
	if pos, err := s.AuditJournalPosition(ctx, "j-1"); err != nil || pos != 300 {
		t.Errorf("AuditJournalPosition = %d, %v; want 300", pos, err)
	}
	if pos, _ := s.AuditJournalPosition(ctx, "j-2"); pos != 0 {
		t.Errorf("another journal's position = %d, want 0", pos)
	}
	// An invalid event stores nothing, not even the position.
	bad := fullAudit(store.AuditTokenIssued, "c", "u4")
	bad.Type = ""
	_, err = s.AppendJournaled(ctx, "j-1", 900, []store.AuditEvent{fullAudit(store.AuditTokenIssued, "c", "u5"), bad})
	wantErr(t, "AppendJournaled with an invalid event", err, store.ErrInvalid)
	if pos, _ := s.AuditJournalPosition(ctx, "j-1"); pos != 300 {
		t.Errorf("AuditJournalPosition after a refused batch = %d, want 300", pos)
	}
	_, err = s.AppendJournaled(ctx, "J 1", 1, []store.AuditEvent{fullAudit(store.AuditTokenIssued, "c", "u6")})
	wantErr(t, "AppendJournaled with a bad journal name", err, store.ErrInvalid)
	if n := WantChain(t, s); n != 3 {
		t.Errorf("the trail holds %d events, want 3", n)
	}
	must(t, "ForgetAuditJournal", s.ForgetAuditJournal(ctx, "j-1"))
	must(t, "ForgetAuditJournal unknown", s.ForgetAuditJournal(ctx, "j-1"))
	if pos, _ := s.AuditJournalPosition(ctx, "j-1"); pos != 0 {
		t.Errorf("position after ForgetAuditJournal = %d, want 0", pos)
	}
}

// testAuditSeal: SealAudit of an empty queue chains nothing, and events
// appended inside redemptions and rotations, with many appenders and two
// sealers racing, are chained once each (SealRace).
func testAuditSeal(t *testing.T, s store.Store) {
	if n, err := s.SealAudit(t.Context()); err != nil || n != 0 {
		t.Fatalf("SealAudit of an empty trail = %d, %v", n, err)
	}
	SealRace(t, s, s)
}

// SealRace runs concurrent redemptions and rotations carrying audit
// events (which a backend may queue), and standalone appends, spread over
// stores (stores on one database, or one store given twice), while one
// sealer per store calls SealAudit in a loop. When the appenders are done
// it checks that SealAudit chained no more events than were appended in
// redemptions and rotations, that every event is in the trail exactly
// once, that the trail is one valid chain (WantChain), and that nothing
// is left to seal.
func SealRace(t *testing.T, stores ...store.Store) {
	ctx := t.Context()
	signInFixture(t, stores[0])
	const workers, each = 6, 8
	var (
		appenders, sealers sync.WaitGroup
		sealed             sync.Map // store index → events it sealed
		stop               = make(chan struct{})
	)
	errs := make(chan error, 2*workers*each+len(stores))
	for i, s := range stores {
		sealers.Add(1)
		go func() {
			defer sealers.Done()
			total := 0
			defer func() { sealed.Store(i, total) }()
			for {
				n, err := s.SealAudit(ctx)
				total += n
				if err != nil {
					errs <- fmt.Errorf("SealAudit: %w", err)
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
	}
	base := baseTime()
	for w := range workers {
		appenders.Add(1)
		go func() {
			defer appenders.Done()
			for i := range each {
				s := stores[(w+i)%len(stores)]
				name := fmt.Sprintf("%d-%d", w, i)
				if err := s.CreateAuthCode(ctx, fullAuthCode("c", "u", "code-"+name)); err != nil {
					errs <- fmt.Errorf("CreateAuthCode: %w", err)
					return
				}
				issue := jwtIssue("c", "u", "jti-"+name, "fam-"+name, "rt-"+name)
				issue.Audit = []store.AuditEvent{fullAudit(store.AuditTokenIssued, "c", "redeem-"+name)}
				if _, err := s.RedeemAuthCode(ctx, hashOf("code-"+name), base.Add(time.Second), issue); err != nil {
					errs <- fmt.Errorf("RedeemAuthCode: %w", err)
					return
				}
				rot := rotation(fullRefresh("c", "u", "fam-"+name, "rt-next-"+name))
				rot.Audit = []store.AuditEvent{
					fullAudit(store.AuditTokenRefreshed, "c", "rotate-"+name),
					fullAudit(store.AuditTokenIssued, "c", "rotate2-"+name),
				}
				if _, err := stores[(w+i+1)%len(stores)].RotateRefreshToken(ctx, hashOf("rt-"+name), base.Add(2*time.Second), rot); err != nil {
					errs <- fmt.Errorf("RotateRefreshToken: %w", err)
					return
				}
				if i%2 == 0 {
					if _, err := s.AppendAudit(ctx, fullAudit(store.AuditSignIn, "c", "direct-"+name)); err != nil {
						errs <- fmt.Errorf("AppendAudit: %w", err)
						return
					}
				}
			}
		}()
	}
	appenders.Wait()
	close(stop)
	sealers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	last, err := stores[0].SealAudit(ctx)
	must(t, "SealAudit", err)
	total := last
	sealed.Range(func(_, n any) bool { total += n.(int); return true })
	queued, direct := workers*each*3, workers*each/2
	t.Logf("SealAudit chained %d of the %d queued events (the standalone appends and ListAudit chained the others)", total, queued)
	// The standalone appends chain queued events too: SealAudit chains at
	// most the queued ones, never one twice.
	if total > queued {
		t.Errorf("SealAudit chained %d events in all; only %d were appended in redemptions and rotations", total, queued)
	}
	for _, s := range stores {
		if n := WantChain(t, s); n != queued+direct {
			t.Errorf("trail has %d events, want %d", n, queued+direct)
		}
	}
	seen := map[string]int{}
	var after int64
	for {
		page := listAudit(t, stores[len(stores)-1], store.AuditQuery{AfterSeq: after, Limit: store.MaxListLimit})
		for _, e := range page {
			seen[e.Subject]++
			after = e.Seq
		}
		if len(page) < store.MaxListLimit {
			break
		}
	}
	for w := range workers {
		for i := range each {
			name := fmt.Sprintf("%d-%d", w, i)
			subjects := []string{"redeem-" + name, "rotate-" + name, "rotate2-" + name}
			if i%2 == 0 {
				subjects = append(subjects, "direct-"+name)
			}
			for _, sub := range subjects {
				if seen[sub] != 1 {
					t.Errorf("event %q is in the trail %d times, want once", sub, seen[sub])
				}
			}
		}
	}
	for _, s := range stores {
		if n, err := s.SealAudit(ctx); err != nil || n != 0 {
			t.Errorf("SealAudit after everything was sealed = %d, %v", n, err)
		}
	}
}
