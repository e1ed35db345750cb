package server_test

// Key rotation under traffic: tokens are issued from several goroutines
// while the ring rotates; what relying parties see through the JWKS
// endpoint must always cover every token issued.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
)

// issuedToken is a token with the kid of its signature and its exp.
type issuedToken struct {
	value string
	kid   string
	exp   time.Time
}

// parseIssued reads the kid and exp of a token without verifying it (the
// test verifies it separately, through the JWKS endpoint).
func parseIssued(t testing.TB, tok string) issuedToken {
	t.Helper()
	jws, err := jose.ParseCompact(tok, 0)
	if err != nil {
		t.Errorf("issued token does not parse: %v", err)
		return issuedToken{value: tok}
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal([]byte(jws.Payload()), &c); err != nil {
		t.Errorf("issued token payload: %v", err)
	}
	return issuedToken{value: tok, kid: jws.Header.KeyID, exp: time.Unix(c.Exp, 0)}
}

// jwksView is one fetch of the JWKS endpoint: a fresh go-oidc remote key
// set and the set parsed by writ.
type jwksView struct {
	remote *oidc.RemoteKeySet
	keys   *jose.KeySet
	kids   []string
}

func (e *testEnv) fetchJWKS(t testing.TB) jwksView {
	t.Helper()
	r := e.get(t, server.PathJWKS)
	if r.Status != http.StatusOK {
		t.Fatalf("GET jwks: %s", r)
	}
	ks, err := jose.ParseKeySet(r.Body)
	if err != nil {
		t.Fatalf("parse JWKS: %v", err)
	}
	return jwksView{
		remote: oidc.NewRemoteKeySet(context.Background(), e.url(server.PathJWKS)),
		keys:   ks,
		kids:   jwksKids(t, r.Body),
	}
}

// verifies reports whether tok verifies through both views of the JWKS.
// It fails the test when they disagree.
func (v jwksView) verifies(t testing.TB, tok string) bool {
	t.Helper()
	_, errOIDC := v.remote.VerifySignature(context.Background(), tok)
	jws, err := jose.ParseCompact(tok, 0)
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	_, errWrit := jws.Verify(v.keys)
	if (errOIDC == nil) != (errWrit == nil) {
		t.Errorf("go-oidc (%v) and jose (%v) disagree on a token", errOIDC, errWrit)
	}
	return errOIDC == nil && errWrit == nil
}

func TestRotationUnderTraffic(t *testing.T) {
	const (
		minPublish = time.Hour
		maxLife    = 2*time.Hour + jwt.DefaultLeeway
		tokenTTL   = 10 * time.Minute
		rounds     = 6
		workers    = 4
		perRound   = 12 // tokens the workers issue between two rotations, at least
		maxRound   = 48 // and at most, to bound the test's work
	)
	clock := fixedClock()
	e := newEnv(t, envOptions{Clock: clock, MinPublish: minPublish, MaxTokenLifetime: maxLife, AccessTokenTTL: tokenTTL, AccessOnly: true})
	secret := e.addConfidential(t, "billing")
	tokenURL := e.url(server.PathToken)
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()

	var (
		mu       sync.Mutex
		cond     = sync.NewCond(&mu)
		seen     = map[string]bool{} // kids the rotator saw in a JWKS response
		tokens   []issuedToken
		started  int // token requests started in this round
		finished int // and finished
	)
	publish := func(v jwksView) {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range v.kids {
			seen[k] = true
		}
	}
	view := e.fetchJWKS(t)
	publish(view)
	nextKid := ringKids(e.Ring, keys.Next)
	if len(nextKid) != 1 || !slices.Contains(view.kids, nextKid[0]) {
		t.Fatalf("the next key %v is not published: %v", nextKid, view.kids)
	}

	ctx, cancel := context.WithCancel(context.Background())
	stop := func() {
		cancel()
		mu.Lock()
		cond.Broadcast()
		mu.Unlock()
	}
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
	}()
	// issue gets one token; it runs on worker goroutines, so it reports
	// with Errorf only.
	issue := func() (issuedToken, bool) {
		req, err := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return issuedToken{}, false
		}
		req.Header.Set("Content-Type", formType)
		basic("billing", secret)(req)
		resp, err := e.Client.Do(req)
		if err != nil {
			t.Errorf("token request: %v", err)
			return issuedToken{}, false
		}
		defer resp.Body.Close()
		var tr tokenResponse
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("token during rotation: status %d, %v", resp.StatusCode, err)
			return issuedToken{}, false
		}
		return parseIssued(t, tr.AccessToken), true
	}
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				for started >= maxRound && ctx.Err() == nil {
					cond.Wait()
				}
				if ctx.Err() != nil {
					mu.Unlock()
					return
				}
				started++
				mu.Unlock()

				it, ok := issue()

				mu.Lock()
				if ok {
					// A key published as next appears in the JWKS before
					// any token carries its kid: the rotator fetched the
					// JWKS after the rotation that published the key and
					// before the rotation that activated it.
					if !seen[it.kid] {
						t.Errorf("a token carries kid %q before any JWKS response published it", it.kid)
					}
					tokens = append(tokens, it)
				}
				finished++
				cond.Broadcast()
				mu.Unlock()
			}
		})
	}
	// A concurrent JWKS reader: an entity tag must always stand for the
	// same body, or a revalidating cache could keep a stale set.
	type fetched struct{ etag, body string }
	var polls []fetched
	wg.Go(func() {
		for ctx.Err() == nil {
			resp, err := e.Client.Get(e.url(server.PathJWKS))
			if err != nil {
				t.Errorf("GET jwks: %v", err)
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("GET jwks: %d %v", resp.StatusCode, err)
				return
			}
			polls = append(polls, fetched{resp.Header.Get("ETag"), string(b)})
		}
	})

	verified := 0
	for round := 1; round <= rounds; round++ {
		mu.Lock()
		for finished < perRound {
			cond.Wait()
		}
		mu.Unlock()
		// A token issued just before the rotation, by the key that is about
		// to retire.
		before := parseIssued(t, e.token(t, "billing", secret, nil).AccessToken)
		wasActive := ringKids(e.Ring, keys.Active)
		wasNext := ringKids(e.Ring, keys.Next)

		// Too early: the next key has not been published for MinPublish.
		clock.Advance(minPublish - time.Second)
		if err := e.Ring.Rotate(); !errors.Is(err, keys.ErrTooEarly) {
			t.Fatalf("round %d: Rotate before MinPublish: %v, want ErrTooEarly", round, err)
		}
		clock.Advance(time.Second)
		if err := e.Ring.Rotate(); err != nil {
			t.Fatalf("round %d: rotate: %v", round, err)
		}
		view := e.fetchJWKS(t)
		publish(view)
		mu.Lock()
		tokens = append(tokens, before)
		batch := slices.Clone(tokens[verified:])
		verified = len(tokens)
		started, finished = 0, 0
		cond.Broadcast()
		mu.Unlock()

		// The key that signs now is the one published as next before.
		if got := ringKids(e.Ring, keys.Active); !slices.Equal(got, wasNext) {
			t.Errorf("round %d: active %v, want the former next key %v", round, got, wasNext)
		}
		if !slices.Contains(ringKids(e.Ring, keys.Retired), wasActive[0]) {
			t.Errorf("round %d: the former active key %v is not retired", round, wasActive)
		}
		// Everything in the ring is published: next, active and retired.
		var inRing []string
		for _, en := range e.Ring.Entries() {
			inRing = append(inRing, en.KeyID())
		}
		slices.Sort(inRing)
		if !slices.Equal(view.kids, inRing) {
			t.Errorf("round %d: JWKS has %v, ring has %v", round, view.kids, inRing)
		}
		if before.kid != wasActive[0] {
			t.Errorf("round %d: the token before the rotation has kid %q, want %q", round, before.kid, wasActive[0])
		}
		if !view.verifies(t, before.value) {
			t.Errorf("round %d: the token issued just before the rotation does not verify afterwards", round)
		}
		// Every token issued since the last rotation (with the old key, or
		// already with the new one) verifies through the fresh JWKS.
		for _, tok := range batch {
			if !view.verifies(t, tok.value) {
				t.Errorf("round %d: a token of kid %s does not verify after the rotation", round, tok.kid)
			}
		}
	}
	stop()
	wg.Wait()

	all := slices.Clone(tokens)
	t.Logf("%d tokens, %d JWKS reads during %d rotations", len(all), len(polls), rounds)
	kidsUsed := map[string]int{}
	for _, tok := range all {
		kidsUsed[tok.kid]++
	}
	if len(kidsUsed) < rounds {
		t.Errorf("tokens were signed by %d keys over %d rotations: %v", len(kidsUsed), rounds, kidsUsed)
	}

	byTag := map[string]string{}
	for _, p := range polls {
		if b, ok := byTag[p.etag]; ok && b != p.body {
			t.Errorf("ETag %s was served with two different key sets", p.etag)
		}
		byTag[p.etag] = p.body
	}

	// After the last rotation every token ever issued still verifies.
	view = e.fetchJWKS(t)
	for _, tok := range all {
		if !view.verifies(t, tok.value) {
			t.Errorf("token of kid %s does not verify after all rotations", tok.kid)
		}
	}

	// Retired keys leave after NotAfter, when every token they signed has
	// expired, and only then.
	notAfter := map[string]time.Time{}
	for _, en := range e.Ring.Entries() {
		if en.State == keys.Retired {
			notAfter[en.KeyID()] = en.NotAfter
		}
	}
	for _, tok := range all {
		if na, ok := notAfter[tok.kid]; ok && tok.exp.After(na) {
			t.Errorf("a token of kid %s expires at %v, after the key's NotAfter %v", tok.kid, tok.exp, na)
		}
	}
	now := clock.Now()
	removed := e.Ring.Prune()
	var removedKids []string
	for _, en := range removed {
		removedKids = append(removedKids, en.KeyID())
		if !now.After(en.NotAfter) {
			t.Errorf("Prune removed %s before its NotAfter %v", en.KeyID(), en.NotAfter)
		}
	}
	if len(removed) == 0 || len(removed) == len(notAfter) {
		t.Fatalf("Prune removed %d of %d retired keys; the test wants some of each", len(removed), len(notAfter))
	}
	view = e.fetchJWKS(t)
	for _, tok := range all {
		gone := slices.Contains(removedKids, tok.kid)
		if slices.Contains(view.kids, tok.kid) == gone {
			t.Errorf("kid %s: in JWKS %v, removed %v", tok.kid, view.kids, gone)
		}
		if ok := view.verifies(t, tok.value); ok == gone {
			t.Errorf("token of kid %s: verifies %v after Prune, want %v", tok.kid, ok, !gone)
		}
	}
}

// TestJWKSBeforeSigning follows one key through its life with a fixed
// clock, checking the JWKS endpoint at each step.
func TestJWKSBeforeSigning(t *testing.T) {
	clock := fixedClock()
	e := newEnv(t, envOptions{Clock: clock, MinPublish: time.Hour, MaxTokenLifetime: 2 * time.Hour, AccessTokenTTL: time.Hour, Rotations: 1, AccessOnly: true})
	secret := e.addConfidential(t, "billing")

	// One Rotate: a next key, published, and nothing signs.
	first := e.fetchJWKS(t)
	if len(first.kids) != 1 {
		t.Fatalf("JWKS %v, want the one next key", first.kids)
	}
	k1 := first.kids[0]
	r := e.post(t, server.PathToken, url.Values{"grant_type": {"client_credentials"}}, basic("billing", secret))
	wantOAuthError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
	if got := r.Header.Get("Retry-After"); got == "" {
		t.Error("503 without Retry-After")
	}

	steps := []struct {
		name    string
		advance time.Duration
		do      func() error
		want    []string // kids published afterwards, besides the new next key
		signer  string   // "" when no key signs
		gone    bool     // the token of the step before no longer verifies
	}{
		{name: "activate k1", do: e.Ring.Rotate, want: []string{k1}, signer: k1},
		{name: "rotate to k2", advance: time.Hour, do: e.Ring.Rotate, want: []string{k1}},
		{name: "k1 kept until NotAfter", advance: 2 * time.Hour, do: func() error { e.Ring.Prune(); return nil }, want: []string{k1}},
		{name: "k1 pruned", advance: time.Second, do: func() error { e.Ring.Prune(); return nil }, gone: true},
	}
	var prev string
	for _, st := range steps {
		clock.Advance(st.advance)
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		v := e.fetchJWKS(t)
		for _, k := range st.want {
			if !slices.Contains(v.kids, k) {
				t.Errorf("%s: JWKS %v lacks %s", st.name, v.kids, k)
			}
		}
		if st.gone && slices.Contains(v.kids, k1) {
			t.Errorf("%s: JWKS %v still has %s", st.name, v.kids, k1)
		}
		next := ringKids(e.Ring, keys.Next)
		if len(next) != 1 || !slices.Contains(v.kids, next[0]) {
			t.Errorf("%s: next key %v not published in %v", st.name, next, v.kids)
		}
		if prev != "" {
			if ok := v.verifies(t, prev); ok == st.gone {
				t.Errorf("%s: earlier token verifies = %v, want %v", st.name, ok, !st.gone)
			}
		}
		if st.signer != "" {
			tok := parseIssued(t, e.token(t, "billing", secret, nil).AccessToken)
			if tok.kid != st.signer {
				t.Errorf("%s: token kid %s, want %s", st.name, tok.kid, st.signer)
			}
			if !v.verifies(t, tok.value) {
				t.Errorf("%s: fresh token does not verify", st.name)
			}
			prev = tok.value
		}
	}
}
