package main

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
)

// TestCrashPostgres: two nodes on one PostgreSQL database under sustained
// token, refresh and admin traffic; one is killed with SIGKILL and
// restarted on the same data directory. Nothing acknowledged is lost and no
// refresh family is half-rotated.
func TestCrashPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	pgtest.Require(t)
	dsn := pgtest.NewDatabase(t)
	bin := buildWrit(t)
	adminToken := strings.Repeat("k", 40)
	env := clusterEnv(dsn, adminToken)
	victim := startProc(t, bin, t.TempDir(), env)
	other := startProc(t, bin, t.TempDir(), env)
	crashScenario(t, []*procNode{victim, other}, dsn, adminToken, func(t *testing.T) (int, error) {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			return 0, err
		}
		defer conn.Close(context.Background())
		var n int
		err = conn.QueryRow(context.Background(), halfRotated("NOT f.revoked")).Scan(&n)
		return n, err
	})
}

// TestCrashSQLite: the same with one node on SQLite, killed and restarted
// on the same data directory (the traffic waits while it is down).
func TestCrashSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := buildWrit(t)
	adminToken := strings.Repeat("s", 40)
	dsn := "sqlite:" + filepath.Join(dir, "writ.db")
	env := clusterEnv(dsn, adminToken)
	node := startProc(t, bin, dir, env)
	crashScenario(t, []*procNode{node}, dsn, adminToken, func(t *testing.T) (int, error) {
		db, err := sql.Open("sqlite", filepath.Join(dir, "writ.db"))
		if err != nil {
			return 0, err
		}
		defer db.Close()
		var n int
		err = db.QueryRow(halfRotated("f.revoked = 0")).Scan(&n)
		return n, err
	})
}

// halfRotated counts the live refresh families that do not have exactly
// one unused token: a rotation that marked the old token used without
// storing the new one, or stored the new one without marking the old.
func halfRotated(live string) string {
	return `SELECT count(*) FROM refresh_families f WHERE ` + live + ` AND
		(SELECT count(*) FROM refresh_tokens r WHERE r.family_id = f.id AND r.rotated_at IS NULL) <> 1`
}

// refused reports a request that never reached a server (nothing was
// done): the client may retry it as it is.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// crashScenario drives token, refresh and admin traffic at nodes, kills
// nodes[0] with SIGKILL once some of it was acknowledged, restarts it on the
// same data directory, lets the traffic go on, then checks at the
// restarted node that every acknowledged token, rotation and client is
// there, and with halfRotated that no family is half-rotated.
func crashScenario(t *testing.T, nodes []*procNode, dsn, adminToken string, halfRotatedCount func(*testing.T) (int, error)) {
	victim := nodes[0]
	opq := victim.createClient(t, adminToken, map[string]any{"client_name": "opaque", "grant_types": []string{"client_credentials"}, "scope": "r", "access_token_format": "opaque"})
	// JWT access tokens: nothing stored but their audit event, which a
	// node writes to its audit journal before answering.
	jwtc := victim.createClient(t, adminToken, map[string]any{"client_name": "jwt", "grant_types": []string{"client_credentials"}, "scope": "r"})
	web := victim.createClient(t, adminToken, map[string]any{"client_name": "web", "grant_types": []string{"authorization_code", "refresh_token"},
		"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "scope": "openid offline_access"})
	const chains = 8
	rts := seedRefreshTokens(t, dsn, web.id, chains)

	var urlMu sync.RWMutex
	pub := func(i int) (string, string) {
		urlMu.RLock()
		defer urlMu.RUnlock()
		n := nodes[i%len(nodes)]
		return n.url, n.admin
	}
	var (
		mu       sync.Mutex
		tokens   []string // acknowledged opaque access tokens
		jtis     []string // jti of the acknowledged JWT access tokens
		clients  []string // acknowledged client registrations
		latest   = make([]string, chains)
		inDoubt  = make([]bool, chains)
		problems []string
		acks     atomic.Int64
		closed   atomic.Int64 // requests that met a closed port
	)
	copy(latest, rts)
	problem := func(format string, args ...any) {
		mu.Lock()
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	// pause paces a worker whose request was not acknowledged (the
	// amount of traffic decides nothing), counting those that met a closed
	// port.
	pause := func(err error) {
		if refused(err) {
			closed.Add(1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Opaque tokens (each a database write).
	for w := range 2 {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i++ {
				u, _ := pub(i)
				status, m, err := call(http.MethodPost, u+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, basic(opq.id, opq.secret), nil)
				switch {
				case err == nil && status == http.StatusOK:
					mu.Lock()
					tokens = append(tokens, m["access_token"].(string))
					mu.Unlock()
					acks.Add(1)
				case err != nil || status == http.StatusServiceUnavailable:
					pause(err) // a node down, or its database: not acknowledged
				default:
					problem("token: %d %v", status, m)
				}
			}
		})
	}
	// JWT access tokens (each an audit event, journaled).
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			u, _ := pub(i)
			status, m, err := call(http.MethodPost, u+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, basic(jwtc.id, jwtc.secret), nil)
			switch {
			case err == nil && status == http.StatusOK:
				jti, jerr := jwtID(m["access_token"])
				if jerr != nil {
					problem("jwt: %v", jerr)
					continue
				}
				mu.Lock()
				jtis = append(jtis, jti)
				mu.Unlock()
				acks.Add(1)
			case err != nil || status == http.StatusServiceUnavailable:
				pause(err)
			default:
				problem("jwt token: %d %v", status, m)
			}
		}
	})
	// Refresh chains: each rotates its token at a random node, one request
	// after another, so that a chain running at the kill always has one in
	// flight and ends in doubt. The even chains stop before the kill
	// (quiet closed, quieted done): their last acknowledged rotation must
	// hold after it.
	quiet := make(chan struct{})
	var quieted sync.WaitGroup
	for c := range chains {
		even := c%2 == 0
		if even {
			quieted.Add(1)
		}
		wg.Go(func() {
			if even {
				defer quieted.Done()
			}
			rnd := rand.New(rand.NewPCG(uint64(c), 11))
			for ctx.Err() == nil {
				if even {
					select {
					case <-quiet:
						return
					default:
					}
				}
				u, _ := pub(rnd.IntN(len(nodes)))
				status, m, err := call(http.MethodPost, u+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {latest[c]}}, basic(web.id, web.secret), nil)
				switch {
				case err == nil && status == http.StatusOK:
					mu.Lock()
					latest[c] = m["refresh_token"].(string)
					mu.Unlock()
					acks.Add(1)
				case refused(err) || (err == nil && status == http.StatusServiceUnavailable):
					pause(err) // never reached a server, or nothing acknowledged: retry
				case err != nil:
					// Lost in flight: the rotation may or may not have
					// committed; this chain stops here.
					mu.Lock()
					inDoubt[c] = true
					mu.Unlock()
					return
				default:
					problem("refresh chain %d: %d %v", c, status, m)
					return
				}
			}
		})
	}
	// Admin traffic: client registrations.
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			_, a := pub(i)
			status, m, err := call(http.MethodPost, a+"/admin/clients", nil, bearerAuth(adminToken),
				map[string]any{"client_name": fmt.Sprintf("c%d", i), "grant_types": []string{"client_credentials"}, "scope": "r"})
			switch {
			case err == nil && status == http.StatusCreated:
				mu.Lock()
				clients = append(clients, m["client_id"].(string))
				mu.Unlock()
				acks.Add(1)
			case err != nil || status == http.StatusServiceUnavailable:
				pause(err)
			default:
				problem("create client: %d %v", status, m)
			}
		}
	})
	// wait polls until count grew by n; only the guard's deadline fails.
	wait := func(what string, count *atomic.Int64, n int64) {
		t.Helper()
		target := count.Load() + n
		deadline := time.Now().Add(guardWait)
		for count.Load() < target {
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("traffic stalled at %d %s (want %d); problems %q", count.Load(), what, target, problems)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitAcks := func(n int64) { t.Helper(); wait("acknowledgements", &acks, n) }
	waitAcks(300)
	close(quiet)
	quieted.Wait()
	victim.kill9()
	wait("requests refused by the killed node", &closed, 10) // the traffic meets a closed port
	if len(nodes) > 1 {
		waitAcks(100) // the other nodes carry on
	}
	urlMu.Lock()
	victim.start()
	urlMu.Unlock()
	waitAcks(300)
	cancel()
	wg.Wait()
	if len(problems) > 0 {
		t.Fatalf("unexpected answers: %q", problems)
	}

	// Everything acknowledged is there, seen from the restarted node.
	for _, tok := range tokens {
		status, m, err := call(http.MethodPost, victim.url+"/oauth2/introspect", url.Values{"token": {tok}}, basic(opq.id, opq.secret), nil)
		if err != nil || status != http.StatusOK || m["active"] != true {
			t.Fatalf("an acknowledged opaque token is not active after the crash: %d %v %v", status, m, err)
		}
	}
	for _, id := range clients {
		status, m, err := call(http.MethodGet, victim.admin+"/admin/clients/"+id, nil, bearerAuth(adminToken), nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("an acknowledged client is missing after the crash: %d %v %v", status, m, err)
		}
	}
	// Every acknowledged JWT has its token_issued event, once, even those
	// whose event was only in the killed node's journal.
	issued, _ := auditedJTIs(t, victim, adminToken, jwtc.id)
	for _, jti := range jtis {
		switch issued[jti] {
		case 1:
		case 0:
			t.Fatalf("an acknowledged JWT (jti %s) has no token_issued event after the crash (%d of %d found)", jti, len(issued), len(jtis))
		default:
			t.Fatalf("the token_issued event of jti %s is in the trail %d times", jti, issued[jti])
		}
	}
	// So has every acknowledged opaque token (its event, journaled after
	// its record, carries no jti: the events are counted).
	if _, n := auditedJTIs(t, victim, adminToken, opq.id); n < len(tokens) {
		t.Fatalf("%d token_issued events for %d acknowledged opaque tokens after the crash", n, len(tokens))
	}
	doubtful, committed := 0, 0
	for c := range chains {
		if inDoubt[c] {
			// The request lost in the crash either committed (its token is
			// used: presenting it again is a reuse, refused) or did not
			// (it still rotates): both are whole outcomes.
			doubtful++
			status, m, err := refresh(victim, web, latest[c])
			switch {
			case err == nil && status == http.StatusOK:
			case err == nil && status == http.StatusBadRequest && m["error"] == "invalid_grant":
				committed++
			default:
				t.Fatalf("chain %d: the token of the request lost in the crash: %d %v %v", c, status, m, err)
			}
			continue
		}
		if status, m, err := refresh(victim, web, latest[c]); err != nil || status != http.StatusOK {
			t.Fatalf("chain %d: the last acknowledged refresh token fails after the crash: %d %v %v", c, status, m, err)
		}
	}
	if doubtful > chains/2 {
		t.Fatalf("%d of %d refresh chains in doubt: the chains stopped before the kill cannot be", doubtful, chains)
	}
	n, err := halfRotatedCount(t)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d refresh families half-rotated", n)
	}
	t.Logf("checked %d JWT audit events, %d opaque tokens and their events, %d clients, %d refresh chains, %d stopped in doubt by the crash (%d of them had committed)", len(jtis), len(tokens), len(clients), chains-doubtful, doubtful, committed)
}

// jwtID returns the jti claim of a compact JWT (its signature unchecked:
// only the identifier is wanted).
func jwtID(tok any) (string, error) {
	s, _ := tok.(string)
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("not a compact JWT: %.20q", s)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var c struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" {
		return "", fmt.Errorf("no jti in the payload: %v", err)
	}
	return c.ID, nil
}

// auditedJTIs reads, through n's admin API, the token_issued events of
// clientID and counts them by the jti in their details, and in all.
func auditedJTIs(t *testing.T, n *procNode, adminToken, clientID string) (map[string]int, int) {
	t.Helper()
	out, total := map[string]int{}, 0
	after := int64(0)
	for {
		q := url.Values{"type": {"token_issued"}, "client_id": {clientID}, "after": {strconv.FormatInt(after, 10)}, "limit": {"1000"}}
		status, m, err := call(http.MethodGet, n.admin+"/admin/audit?"+q.Encode(), nil, bearerAuth(adminToken), nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("list the audit trail: %d %v %v", status, m, err)
		}
		events, _ := m["events"].([]any)
		total += len(events)
		for _, e := range events {
			var d struct {
				JTI string `json:"jti"`
			}
			raw, _ := json.Marshal(e.(map[string]any)["details"])
			if err := json.Unmarshal(raw, &d); err == nil && d.JTI != "" {
				out[d.JTI]++
			}
		}
		if len(events) == 0 {
			return out, total
		}
		after = int64(m["next"].(float64))
	}
}
