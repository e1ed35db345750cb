package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/postgres/pgtest"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// clusterIssuer is the issuer every node of a test cluster shares: the
// load balancer's URL in a deployment. Nothing is served there; the tests
// talk to each node's own address.
const clusterIssuer = "http://writ.cluster.test"

// guardWait bounds every wait of these tests: a guard against a hang, not
// a timing check.
const guardWait = 90 * time.Second

// procNode is one "writ serve" process.
type procNode struct {
	t       *testing.T
	bin     string
	dataDir string
	env     []string
	cmd     *exec.Cmd
	url     string // public listener
	admin   string // admin listener
	exited  chan struct{}
	mu      sync.Mutex
	tail    []string // the last lines of its standard error
}

// startProc starts "writ serve" on kernel-chosen loopback ports with the
// data directory dir and env, and waits until it is ready.
func startProc(t *testing.T, bin, dir string, env []string) *procNode {
	t.Helper()
	n := &procNode{t: t, bin: bin, dataDir: dir, env: env}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *procNode) start() {
	t := n.t
	t.Helper()
	n.cmd = exec.Command(n.bin, "serve", "--data-dir", n.dataDir, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--log-format", "json", "--log-level", "info")
	n.cmd.Env = append(cleanEnv(), n.env...)
	out, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan struct{})
	serving := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			n.mu.Lock()
			n.tail = append(n.tail, sc.Text())
			if len(n.tail) > 50 {
				n.tail = n.tail[1:]
			}
			n.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "writ serving" {
				select {
				case serving <- m:
				default:
				}
			}
		}
		n.cmd.Wait()
		close(n.exited)
	}()
	select {
	case m := <-serving:
		n.url, n.admin = "http://"+fmt.Sprint(m["addr"]), "http://"+fmt.Sprint(m["admin_addr"])
	case <-n.exited:
		t.Fatalf("writ serve exited:\n%s", n.logTail())
	case <-time.After(guardWait):
		t.Fatalf("writ serve did not start:\n%s", n.logTail())
	}
	deadline := time.Now().Add(guardWait)
	for {
		resp, err := http.Get(n.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never ready:\n%s", n.url, n.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *procNode) logTail() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.tail, "\n")
}

// kill9 ends the process with SIGKILL: no shutdown, no flush.
func (n *procNode) kill9() {
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

func (n *procNode) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
}

// httpc is the tests' client: bounded, no shared state with the nodes.
var httpc = &http.Client{Timeout: 30 * time.Second}

// call sends a request; a transport error is returned, not fatal (a node
// may be down on purpose).
func call(method, u string, form url.Values, auth func(*http.Request), jsonBody any) (int, map[string]any, error) {
	var body io.Reader
	ct := ""
	switch {
	case form != nil:
		body, ct = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	case jsonBody != nil:
		b, _ := json.Marshal(jsonBody)
		body, ct = strings.NewReader(string(b)), "application/json"
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return 0, nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if auth != nil {
		auth(req)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, nil
}

func basic(id, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

func bearerAuth(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// testClient is a registered client with its secret.
type testClient struct{ id, secret string }

func (n *procNode) createClient(t *testing.T, adminToken string, meta map[string]any) testClient {
	t.Helper()
	status, m, err := call(http.MethodPost, n.admin+"/admin/clients", nil, bearerAuth(adminToken), meta)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create client at %s: %d %v %v", n.admin, status, m, err)
	}
	return testClient{id: m["client_id"].(string), secret: m["client_secret"].(string)}
}

// clusterEnv is the environment every node of a test cluster shares.
func clusterEnv(dsn, adminToken string, extra ...string) []string {
	master := base64.StdEncoding.EncodeToString([]byte("writ cluster test master key 32b"))
	return append([]string{
		"WRIT_DATABASE=" + dsn,
		"WRIT_ISSUER=" + clusterIssuer,
		"WRIT_MASTER_KEY=" + master,
		"WRIT_ADMIN_TOKEN=" + adminToken,
		"WRIT_KEY_ROTATION=0",
	}, extra...)
}

// seed prepares n credentials of grantType for the client clientID
// directly in the cluster's store, with "writ bench"'s seeding (a user with
// consent), prepare making each.
func seed(t *testing.T, dsn, clientID, grantType string, n int, prepare func(st store.Store, c store.Client, u store.User, now time.Time) (string, error)) []string {
	t.Helper()
	f := &seedFlags{benchFlags: benchFlags{clientID: clientID}, count: n, database: dsn}
	out, err := f.seed(context.Background(), &streams{err: io.Discard}, grantType, func(st store.Store, c store.Client, u store.User, _ int, now time.Time) (string, error) {
		return prepare(st, c, u, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// seedRefreshTokens creates n refresh token families for the client.
func seedRefreshTokens(t *testing.T, dsn, clientID string, n int) []string {
	t.Helper()
	return seed(t, dsn, clientID, "refresh_token", n, func(st store.Store, c store.Client, u store.User, now time.Time) (string, error) {
		v, hash := opaque.New(opaque.RefreshTokenPrefix)
		return v, st.CreateRefreshToken(context.Background(), store.RefreshToken{
			Hash: hash, FamilyID: opaque.Random(16), ClientID: c.ID, UserID: u.ID, Scopes: []string{"openid", "offline_access"},
			AuthTime: now, AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour),
		})
	})
}

// seedCodes creates n authorization codes for the client.
func seedCodes(t *testing.T, dsn, clientID, redirect string, n int) []string {
	t.Helper()
	return seed(t, dsn, clientID, "authorization_code", n, func(st store.Store, c store.Client, u store.User, now time.Time) (string, error) {
		code, hash := opaque.New(opaque.CodePrefix)
		return code, st.CreateAuthCode(context.Background(), store.AuthCode{
			Hash: hash, ClientID: c.ID, UserID: u.ID, RedirectURI: redirect, Scopes: []string{"openid", "offline_access"},
			Nonce: "n", AuthTime: now, AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
		})
	})
}

func refresh(n *procNode, c testClient, rt string) (int, map[string]any, error) {
	return call(http.MethodPost, n.url+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, basic(c.id, c.secret), nil)
}

// TestClusterProcesses runs three "writ serve" processes on one fresh
// PostgreSQL database and spreads the traffic over them: a token issued by
// one node is introspected at another and revoked at a third; refresh
// tokens rotate across nodes and reuse revokes the family everywhere; nodes
// racing on one refresh token or one code give exactly one success; a
// client changed at one node is refused at another within the stated bound;
// the signing keys rotate under load with no failed verification of any
// token against the JWKS of any node.
func TestClusterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	pgtest.Require(t)
	dsn := pgtest.NewDatabase(t)
	bin := buildWrit(t)
	adminToken := strings.Repeat("c", 40)
	env := clusterEnv(dsn, adminToken, "WRIT_CLUSTER_POLL_INTERVAL=500ms", "WRIT_KEY_MIN_PUBLISH=2s")
	var nodes []*procNode
	for range 3 {
		nodes = append(nodes, startProc(t, bin, t.TempDir(), env))
	}
	svc := nodes[0].createClient(t, adminToken, map[string]any{"client_name": "svc", "grant_types": []string{"client_credentials"}, "scope": "orders:read orders:write"})
	opq := nodes[1].createClient(t, adminToken, map[string]any{"client_name": "opaque", "grant_types": []string{"client_credentials"}, "scope": "orders:read", "access_token_format": "opaque"})
	web := nodes[2].createClient(t, adminToken, map[string]any{"client_name": "web", "grant_types": []string{"authorization_code", "refresh_token"},
		"redirect_uris": []string{"http://127.0.0.1:9/cb"}, "scope": "openid offline_access"})

	t.Run("issue introspect revoke across nodes", func(t *testing.T) {
		for i, c := range []testClient{svc, opq, svc} {
			issuer, inspector, revoker := nodes[i%3], nodes[(i+1)%3], nodes[(i+2)%3]
			status, m, err := call(http.MethodPost, issuer.url+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, basic(c.id, c.secret), nil)
			if err != nil || status != http.StatusOK {
				t.Fatalf("token at node %d: %d %v %v", i%3, status, m, err)
			}
			tok := m["access_token"].(string)
			status, m, err = call(http.MethodPost, inspector.url+"/oauth2/introspect", url.Values{"token": {tok}}, basic(c.id, c.secret), nil)
			if err != nil || status != http.StatusOK || m["active"] != true {
				t.Fatalf("introspection at node %d: %d %v %v", (i+1)%3, status, m, err)
			}
			status, _, err = call(http.MethodPost, revoker.url+"/oauth2/revoke", url.Values{"token": {tok}}, basic(c.id, c.secret), nil)
			if err != nil || status != http.StatusOK {
				t.Fatalf("revocation at node %d: %d %v", (i+2)%3, status, err)
			}
			for j, n := range nodes {
				status, m, err = call(http.MethodPost, n.url+"/oauth2/introspect", url.Values{"token": {tok}}, basic(c.id, c.secret), nil)
				if err != nil || status != http.StatusOK || m["active"] != false {
					t.Fatalf("introspection of a revoked token at node %d: %d %v %v", j, status, m, err)
				}
			}
		}
	})

	t.Run("refresh across nodes", func(t *testing.T) {
		rt := seedRefreshTokens(t, dsn, web.id, 1)[0]
		var chain []string
		for i := range 6 {
			status, m, err := refresh(nodes[i%3], web, rt)
			if err != nil || status != http.StatusOK {
				t.Fatalf("refresh %d at node %d: %d %v %v", i, i%3, status, m, err)
			}
			chain = append(chain, rt)
			rt = m["refresh_token"].(string)
		}
		// A used token presented again at another node: refused, and the
		// whole family is revoked at every node.
		if status, m, _ := refresh(nodes[1], web, chain[2]); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("reuse: %d %v", status, m)
		}
		for j, n := range nodes {
			if status, m, _ := refresh(n, web, rt); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
				t.Fatalf("the family's newest token at node %d after reuse: %d %v", j, status, m)
			}
		}
	})

	t.Run("races give exactly one success", func(t *testing.T) {
		const rounds, perNode = 10, 3
		rts := seedRefreshTokens(t, dsn, web.id, rounds)
		codes := seedCodes(t, dsn, web.id, "http://127.0.0.1:9/cb", rounds)
		for r := range rounds {
			for _, attempt := range []url.Values{
				{"grant_type": {"refresh_token"}, "refresh_token": {rts[r]}},
				{"grant_type": {"authorization_code"}, "code": {codes[r]}, "redirect_uri": {"http://127.0.0.1:9/cb"}},
			} {
				var ok, refused atomic.Int32
				var wg sync.WaitGroup
				start := make(chan struct{})
				for _, n := range nodes {
					for range perNode {
						wg.Go(func() {
							<-start
							status, m, err := call(http.MethodPost, n.url+"/oauth2/token", attempt, basic(web.id, web.secret), nil)
							switch {
							case err == nil && status == http.StatusOK:
								ok.Add(1)
							case err == nil && status == http.StatusBadRequest && m["error"] == "invalid_grant":
								refused.Add(1)
							default:
								t.Errorf("%s: %d %v %v", attempt.Get("grant_type"), status, m, err)
							}
						})
					}
				}
				close(start)
				wg.Wait()
				if ok.Load() != 1 || refused.Load() != 3*perNode-1 {
					t.Fatalf("%s race %d: %d successes and %d refusals, want exactly 1 success", attempt.Get("grant_type"), r, ok.Load(), refused.Load())
				}
			}
		}
	})

	t.Run("client change at one node reaches the others", func(t *testing.T) {
		c := nodes[0].createClient(t, adminToken, map[string]any{"client_name": "narrowed", "grant_types": []string{"client_credentials"}, "scope": "a b"})
		for j, n := range nodes { // every node caches it
			if status, m, err := call(http.MethodPost, n.url+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"b"}}, basic(c.id, c.secret), nil); err != nil || status != http.StatusOK {
				t.Fatalf("token at node %d: %d %v %v", j, status, m, err)
			}
		}
		status, m, err := call(http.MethodPatch, nodes[0].admin+"/admin/clients/"+c.id, nil, bearerAuth(adminToken), map[string]any{"scope": "a"})
		if err != nil || status != http.StatusOK {
			t.Fatalf("PATCH: %d %v %v", status, m, err)
		}
		changed := time.Now()
		// The stated bound: 5s (the client cache's lifetime) even without
		// notifications; with them, milliseconds. A node cached the client
		// before the change committed, so its entry has expired by
		// changed+bound: a request sent after that must be refused, however
		// long it takes to be answered. The sleep only paces the polling.
		const bound = 5 * time.Second
		for j, n := range nodes[1:] {
			for {
				sent := time.Now()
				status, m, err := call(http.MethodPost, n.url+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"b"}}, basic(c.id, c.secret), nil)
				if err == nil && status == http.StatusBadRequest {
					break
				}
				if sent.Sub(changed) > bound {
					t.Fatalf("node %d still grants the removed scope to a request sent %v after the change: %d %v %v", j+1, sent.Sub(changed), status, m, err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	})

	t.Run("key rotation under load", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var issued, verified atomic.Int64
		var failMu sync.Mutex
		var failures []string
		var kidMu sync.Mutex
		byKid := map[string]*[3]int{} // verified tokens per signing key and issuing node
		fail := func(s string) {
			failMu.Lock()
			if len(failures) < 10 {
				failures = append(failures, s)
			}
			failMu.Unlock()
		}
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(w), 7))
				for ctx.Err() == nil {
					from, keysFrom := rnd.IntN(3), rnd.IntN(3)
					status, m, err := call(http.MethodPost, nodes[from].url+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, basic(svc.id, svc.secret), nil)
					if err != nil || status != http.StatusOK {
						fail(fmt.Sprintf("token at node %d: %d %v %v", from, status, m, err))
						continue
					}
					issued.Add(1)
					tok := m["access_token"].(string)
					// The verifier fetches the JWKS from a random node, as a
					// relying party behind the load balancer would.
					resp, err := httpc.Get(nodes[keysFrom].url + "/.well-known/jwks.json")
					if err != nil {
						fail(fmt.Sprintf("JWKS of node %d: %v", keysFrom, err))
						continue
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					set, err := jose.ParseKeySet(raw)
					if err != nil {
						fail(fmt.Sprintf("JWKS of node %d: %v", keysFrom, err))
						continue
					}
					v, err := jwt.NewVerifier(jwt.StaticKeys(set), jwt.Config{Issuer: clusterIssuer, Audience: clusterIssuer, Type: "at+jwt"})
					if err != nil {
						t.Error(err)
						return
					}
					vt, err := v.Verify(ctx, tok)
					if err != nil {
						if ctx.Err() == nil {
							fail(fmt.Sprintf("token of node %d against the JWKS of node %d: %v", from, keysFrom, err))
						}
						continue
					}
					kidMu.Lock()
					if byKid[vt.Header().KeyID] == nil {
						byKid[vt.Header().KeyID] = new([3]int)
					}
					byKid[vt.Header().KeyID][from]++
					kidMu.Unlock()
					verified.Add(1)
				}
			})
		}
		// Rotate (never forced) at a random node until three rotations
		// went through: each waits for its next key to be published for
		// key_min_publish (409 before). The sleep paces the attempts; only
		// the guard's deadline ends them short.
		rotations := 0
		var lastActive []string // the active keys after the last rotation
		deadline := time.Now().Add(guardWait)
		for rotations < 3 && time.Now().Before(deadline) {
			n := nodes[rand.IntN(3)]
			status, m, err := call(http.MethodPost, n.admin+"/admin/keys/rotate", nil, bearerAuth(adminToken), map[string]any{})
			switch {
			case err == nil && status == http.StatusOK:
				rotations++
				lastActive = activeKids(m)
			case err == nil && status == http.StatusConflict:
			default:
				t.Errorf("rotate: %d %v %v", status, m, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// Load on the last key as well: wait until every node issued
		// tokens signed with it that verified against the JWKS.
		const onLastKey = 5
		lastKeyServed := func() bool {
			kidMu.Lock()
			defer kidMu.Unlock()
			var perNode [3]int
			for _, kid := range lastActive {
				if c := byKid[kid]; c != nil {
					for i := range perNode {
						perNode[i] += c[i]
					}
				}
			}
			return perNode[0] >= onLastKey && perNode[1] >= onLastKey && perNode[2] >= onLastKey
		}
		failed := func() bool {
			failMu.Lock()
			defer failMu.Unlock()
			return len(failures) > 0
		}
		// Polled, not fatal here: the workers stop first. Only the guard's
		// deadline ends the wait without the condition.
		deadline = time.Now().Add(guardWait)
		for rotations == 3 && !failed() && !lastKeyServed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		nk := len(byKid)
		t.Logf("%d rotations, %d tokens issued, %d verified, %d signing keys seen", rotations, issued.Load(), verified.Load(), nk)
		if len(failures) > 0 {
			t.Fatalf("%d+ failures, first: %q", len(failures), failures)
		}
		if rotations < 3 || nk < 3 || verified.Load() != issued.Load() {
			t.Fatalf("rotations %d, keys seen %d, verified %d of %d", rotations, nk, verified.Load(), issued.Load())
		}
		if !lastKeyServed() {
			t.Fatalf("the last active keys %v did not sign %d verified tokens at every node within %v", lastActive, onLastKey, guardWait)
		}
	})
}

// activeKids lists the active key ids of a KeysResponse body.
func activeKids(m map[string]any) []string {
	var out []string
	ks, _ := m["keys"].([]any)
	for _, k := range ks {
		if k, _ := k.(map[string]any); k["state"] == "active" {
			out = append(out, fmt.Sprint(k["kid"]))
		}
	}
	return out
}
