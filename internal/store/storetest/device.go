package storetest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

func deviceTests() []struct {
	name string
	fn   func(t *testing.T, s store.Store)
} {
	return []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"DeviceCode/RoundTrip", testDeviceRoundTrip},
		{"DeviceCode/Duplicate", testDeviceDuplicate},
		{"DeviceCode/NotFound", testDeviceNotFound},
		{"DeviceCode/Invalid", testDeviceInvalid},
		{"DeviceCode/Decide", testDeviceDecide},
		{"DeviceCode/Poll", testDevicePoll},
		{"DeviceCode/Redeem", testDeviceRedeem},
		{"DeviceCode/RedeemConcurrent", testDeviceRedeemConcurrent},
		{"DeviceCode/DecideConcurrent", testDeviceDecideConcurrent},
		{"DeviceCode/DeleteExpired", testDeviceDeleteExpired},
		{"DeviceCode/Cascade", testDeviceCascade},
	}
}

// newDeviceCode is a pending device code of client c, every field a new
// code may have set.
func newDeviceCode(clientID, code, userCode string) store.DeviceCode {
	base := baseTime()
	return store.DeviceCode{
		Hash: hashOf(code), UserCode: userCode, ClientID: clientID,
		Scopes: []string{"openid", "offline_access"}, Audience: []string{"https://api.example"},
		CreatedAt: base, ExpiresAt: base.Add(10 * time.Minute), Interval: 5 * time.Second,
		Status: store.DevicePending,
	}
}

// approval is a decision with every field set.
func approval(userID string) store.DeviceDecision {
	return store.DeviceDecision{Approve: true, UserID: userID, SessionID: "sid-1",
		AuthTime: baseTime().Add(-time.Minute), AMR: []string{"pwd", "otp"}, ACR: "urn:acr:2"}
}

// fullDeviceCode is a redeemed device code: every field set.
func fullDeviceCode(clientID, userID, code, userCode string) store.DeviceCode {
	d := newDeviceCode(clientID, code, userCode)
	dec := approval(userID)
	d.LastPolledAt = baseTime().Add(time.Minute)
	d.Status, d.UserID, d.SessionID, d.AuthTime, d.AMR, d.ACR = store.DeviceRedeemed, dec.UserID, dec.SessionID, dec.AuthTime, dec.AMR, dec.ACR
	d.DecidedAt, d.RedeemedAt = baseTime().Add(30*time.Second), baseTime().Add(2*time.Minute)
	return d
}

func wantDevice(t *testing.T, want, got store.DeviceCode) {
	t.Helper()
	if d := recordDiff(want, got); len(d) > 0 {
		t.Errorf("device code differs in %v:\n got %+v\nwant %+v", d, got, want)
	}
}

func testDeviceRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	d := newDeviceCode("c", "dc", "BCDFGHJK")
	must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, d))
	got, err := s.GetDeviceCode(ctx, d.Hash)
	must(t, "GetDeviceCode", err)
	wantDevice(t, d, got)
	got, err = s.GetDeviceCodeByUserCode(ctx, d.UserCode)
	must(t, "GetDeviceCodeByUserCode", err)
	wantDevice(t, d, got)

	// Through its whole life, every field is stored.
	full := fullDeviceCode("c", "u", "dc", "BCDFGHJK")
	_, _, err = s.PollDeviceCode(ctx, d.Hash, full.LastPolledAt)
	must(t, "PollDeviceCode", err)
	_, err = s.DecideDeviceCode(ctx, d.UserCode, full.DecidedAt, approval("u"))
	must(t, "DecideDeviceCode", err)
	red, err := s.RedeemDeviceCode(ctx, d.Hash, full.RedeemedAt, opaqueIssue("c", "u", "at", "fam", "rt"))
	must(t, "RedeemDeviceCode", err)
	wantDevice(t, full, red)
	got, err = s.GetDeviceCode(ctx, d.Hash)
	must(t, "GetDeviceCode", err)
	wantDevice(t, full, got)
	if _, err := s.GetRefreshToken(ctx, hashOf("rt")); err != nil {
		t.Errorf("the redemption's refresh token was not stored: %v", err)
	}
	if _, err := s.GetToken(ctx, hashOf("at")); err != nil {
		t.Errorf("the redemption's access token was not stored: %v", err)
	}
}

func testDeviceDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, newDeviceCode("c", "dc", "BCDFGHJK")))
	for _, d := range []store.DeviceCode{newDeviceCode("c", "dc", "ZZZZZZZZ"), newDeviceCode("c", "other", "BCDFGHJK")} {
		if err := s.CreateDeviceCode(ctx, d); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("CreateDeviceCode with a taken hash or user code = %v, want ErrAlreadyExists", err)
		}
	}
	if err := s.CreateDeviceCode(ctx, newDeviceCode("nobody", "x", "XXXXXXXX")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateDeviceCode for an unknown client = %v, want ErrNotFound", err)
	}
}

func testDeviceNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := baseTime()
	if _, err := s.GetDeviceCode(ctx, hashOf("none")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDeviceCode = %v", err)
	}
	if _, err := s.GetDeviceCode(ctx, []byte("short")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDeviceCode(short hash) = %v", err)
	}
	if _, err := s.GetDeviceCodeByUserCode(ctx, "NONE"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDeviceCodeByUserCode = %v", err)
	}
	if _, err := s.DecideDeviceCode(ctx, "NONE", now, approval("u")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DecideDeviceCode = %v", err)
	}
	if _, _, err := s.PollDeviceCode(ctx, hashOf("none"), now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PollDeviceCode = %v", err)
	}
	if _, err := s.RedeemDeviceCode(ctx, hashOf("none"), now, jwtIssue("c", "u", "j", "f", "")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RedeemDeviceCode = %v", err)
	}
}

func testDeviceInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	for name, mutate := range map[string]func(*store.DeviceCode){
		"short hash":     func(d *store.DeviceCode) { d.Hash = []byte("x") },
		"no user code":   func(d *store.DeviceCode) { d.UserCode = "" },
		"no expiry":      func(d *store.DeviceCode) { d.ExpiresAt = time.Time{} },
		"no interval":    func(d *store.DeviceCode) { d.Interval = 0 },
		"approved":       func(d *store.DeviceCode) { d.Status = store.DeviceApproved },
		"decided":        func(d *store.DeviceCode) { d.UserID = "u" },
		"polled":         func(d *store.DeviceCode) { d.LastPolledAt = baseTime() },
		"unknown status": func(d *store.DeviceCode) { d.Status = "maybe" },
	} {
		d := newDeviceCode("c", "dc-"+name, "U"+strconv.Itoa(len(name)))
		mutate(&d)
		if err := s.CreateDeviceCode(ctx, d); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: CreateDeviceCode = %v, want ErrInvalid", name, err)
		}
	}
	d := newDeviceCode("c", "dc", "BCDFGHJK")
	must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, d))
	if _, err := s.DecideDeviceCode(ctx, d.UserCode, baseTime(), store.DeviceDecision{Approve: true}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("DecideDeviceCode without a user = %v, want ErrInvalid", err)
	}
	// Redeeming a pending code writes nothing.
	if _, err := s.RedeemDeviceCode(ctx, d.Hash, baseTime(), jwtIssue("c", "u", "j", "f", "rt")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RedeemDeviceCode of a pending code = %v, want ErrInvalid", err)
	}
	if _, err := s.GetRefreshToken(ctx, hashOf("rt")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused redemption stored its refresh token: %v", err)
	}
}

func testDeviceDecide(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	base := baseTime()
	for _, approve := range []bool{true, false} {
		uc := "APPROVE" + strconv.FormatBool(approve)
		d := newDeviceCode("c", uc, uc)
		must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, d))
		dec := approval("u")
		dec.Approve = approve
		got, err := s.DecideDeviceCode(ctx, uc, base.Add(time.Second), dec)
		must(t, "DecideDeviceCode", err)
		want := store.DevicePending
		if approve {
			want = store.DeviceApproved
		} else {
			want = store.DeviceDenied
		}
		if got.Status != want || got.UserID != "u" || !sameTime(base.Add(time.Second), got.DecidedAt) {
			t.Errorf("decided (approve %v): %+v", approve, got)
		}
		again, err := s.DecideDeviceCode(ctx, uc, base.Add(2*time.Second), approval("u"))
		if !errors.Is(err, store.ErrReused) || again.Status != want {
			t.Errorf("second DecideDeviceCode = %v (%s), want ErrReused and the first decision", err, again.Status)
		}
		if !approve {
			if _, err := s.RedeemDeviceCode(ctx, d.Hash, base.Add(3*time.Second), jwtIssue("c", "u", "j", "f", "")); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("RedeemDeviceCode of a denied code = %v, want ErrInvalid", err)
			}
		}
	}
	late := newDeviceCode("c", "late", "LATE")
	must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, late))
	if _, err := s.DecideDeviceCode(ctx, "LATE", late.ExpiresAt, approval("u")); !errors.Is(err, store.ErrExpired) {
		t.Errorf("DecideDeviceCode at expiry = %v, want ErrExpired", err)
	}
}

func testDevicePoll(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	base := baseTime()
	d := newDeviceCode("c", "dc", "BCDFGHJK")
	must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, d))
	steps := []struct {
		at       time.Duration
		slow     bool
		interval time.Duration
	}{
		{0, false, 5 * time.Second},                 // first poll
		{5 * time.Second, false, 5 * time.Second},   // on time
		{7 * time.Second, true, 10 * time.Second},   // 2 s after: too early, +5 s
		{16 * time.Second, true, 15 * time.Second},  // 9 s after, interval 10 s
		{31 * time.Second, false, 15 * time.Second}, // 15 s after
	}
	for i, st := range steps {
		got, slow, err := s.PollDeviceCode(ctx, d.Hash, base.Add(st.at))
		must(t, "PollDeviceCode", err)
		if slow != st.slow || got.Interval != st.interval || !sameTime(base.Add(st.at), got.LastPolledAt) {
			t.Errorf("poll %d: slow %v interval %v last %v, want %v %v %v", i, slow, got.Interval, got.LastPolledAt, st.slow, st.interval, base.Add(st.at))
		}
	}
	stored, err := s.GetDeviceCode(ctx, d.Hash)
	must(t, "GetDeviceCode", err)
	if stored.Interval != 15*time.Second {
		t.Errorf("stored interval %v, want 15s", stored.Interval)
	}
}

func testDeviceRedeem(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	base := baseTime()
	d := newDeviceCode("c", "dc", "BCDFGHJK")
	must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, d))
	_, err := s.DecideDeviceCode(ctx, d.UserCode, base, approval("u"))
	must(t, "DecideDeviceCode", err)
	if _, err := s.RedeemDeviceCode(ctx, d.Hash, base, jwtIssue("other", "u", "j", "f", "rt")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RedeemDeviceCode with another client's refresh token = %v, want ErrInvalid", err)
	}
	if _, err := s.RedeemDeviceCode(ctx, d.Hash, d.ExpiresAt, jwtIssue("c", "u", "j", "f", "rt")); !errors.Is(err, store.ErrExpired) {
		t.Errorf("RedeemDeviceCode at expiry = %v, want ErrExpired", err)
	}
	got, err := s.RedeemDeviceCode(ctx, d.Hash, base.Add(time.Second), jwtIssue("c", "u", "j", "f", "rt"))
	must(t, "RedeemDeviceCode", err)
	if got.Status != store.DeviceRedeemed {
		t.Errorf("status %s after redemption", got.Status)
	}
	again, err := s.RedeemDeviceCode(ctx, d.Hash, base.Add(2*time.Second), jwtIssue("c", "u", "j2", "f2", "rt2"))
	if !errors.Is(err, store.ErrReused) || again.Status != store.DeviceRedeemed {
		t.Errorf("second RedeemDeviceCode = %v, want ErrReused", err)
	}
	if _, err := s.GetRefreshToken(ctx, hashOf("rt2")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused redemption stored its refresh token: %v", err)
	}
}

func testDeviceRedeemConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	base := baseTime()
	d := newDeviceCode("c", "dc", "BCDFGHJK")
	must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, d))
	_, err := s.DecideDeviceCode(ctx, d.UserCode, base, approval("u"))
	must(t, "DecideDeviceCode", err)
	exactlyOneWins(t, "RedeemDeviceCode", func(w int) error {
		name := strconv.Itoa(w)
		_, err := s.RedeemDeviceCode(ctx, d.Hash, base.Add(time.Second), jwtIssue("c", "u", "jti-"+name, "fam-"+name, "rt-"+name))
		return err
	})
}

func testDeviceDecideConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	base := baseTime()
	must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, newDeviceCode("c", "dc", "BCDFGHJK")))
	exactlyOneWins(t, "DecideDeviceCode", func(w int) error {
		dec := approval("u")
		dec.Approve = w%2 == 0
		_, err := s.DecideDeviceCode(ctx, "BCDFGHJK", base, dec)
		return err
	})
}

// exactlyOneWins runs op in 16 goroutines released at once and fails
// unless exactly one succeeds and every other one gets store.ErrReused.
func exactlyOneWins(t *testing.T, name string, op func(worker int) error) {
	t.Helper()
	const workers = 16
	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		wins, reused int
	)
	start := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := op(w)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrReused):
				reused++
			default:
				t.Errorf("concurrent %s: %v", name, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins != 1 || reused != workers-1 {
		t.Errorf("concurrent %s: %d succeeded and %d got ErrReused, want 1 and %d", name, wins, reused, workers-1)
	}
}

func testDeviceDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	for i := range 3 {
		d := newDeviceCode("c", fmt.Sprint("dc", i), fmt.Sprint("UC", i))
		d.ExpiresAt = baseTime().Add(time.Duration(i+1) * time.Minute)
		must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, d))
	}
	n, err := s.DeleteExpiredDeviceCodes(ctx, baseTime().Add(2*time.Minute))
	must(t, "DeleteExpiredDeviceCodes", err)
	if n != 2 {
		t.Errorf("DeleteExpiredDeviceCodes removed %d, want 2", n)
	}
	if _, err := s.GetDeviceCode(ctx, hashOf("dc2")); err != nil {
		t.Errorf("the unexpired device code is gone: %v", err)
	}
	if _, err := s.GetDeviceCode(ctx, hashOf("dc1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired device code is left: %v", err)
	}
}

func testDeviceCascade(t *testing.T, s store.Store) {
	ctx := t.Context()
	signInFixture(t, s)
	d := newDeviceCode("c", "dc", "BCDFGHJK")
	must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, d))
	_, err := s.DecideDeviceCode(ctx, d.UserCode, baseTime(), approval("u"))
	must(t, "DecideDeviceCode", err)
	must(t, "DeleteUser", s.DeleteUser(ctx, "u"))
	if _, err := s.GetDeviceCode(ctx, d.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting the user left their device code: %v", err)
	}
	d2 := newDeviceCode("c", "dc2", "OTHER")
	must(t, "CreateDeviceCode", s.CreateDeviceCode(ctx, d2))
	must(t, "DeleteClient", s.DeleteClient(ctx, "c"))
	if _, err := s.GetDeviceCode(ctx, d2.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting the client left its device code: %v", err)
	}
}
