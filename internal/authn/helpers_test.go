package authn

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/writ-dev/writ/internal/clocktest"
	"github.com/writ-dev/writ/internal/store"
)

// testParams keep argon2id fast in tests.
var testParams = Params{Memory: 64, Time: 1, Threads: 1}

// clock is the shared fake clock.
type clock = clocktest.Clock

func newClock() *clock {
	return clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// fakeUsers is an in-memory Users with an UpdateUser, counting lookups.
type fakeUsers struct {
	mu      sync.Mutex
	users   map[string]store.User // by store.UsernameKey
	err     error                 // returned by every lookup when set
	lookups int
	updates int
}

func newFakeUsers(users ...store.User) *fakeUsers {
	f := &fakeUsers{users: map[string]store.User{}}
	for _, u := range users {
		f.users[store.UsernameKey(u.Username)] = u
	}
	return f
}

func (f *fakeUsers) GetUserByUsername(_ context.Context, username string) (store.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return store.User{}, f.err
	}
	u, ok := f.users[store.UsernameKey(username)]
	if !ok {
		return store.User{}, fmt.Errorf("fake: %w", store.ErrNotFound)
	}
	return u, nil
}

func (f *fakeUsers) UpdateUser(_ context.Context, id string, fn func(old store.User) (store.User, error)) (store.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, u := range f.users {
		if u.ID != id {
			continue
		}
		nu, err := fn(u)
		if err != nil {
			return store.User{}, fmt.Errorf("fake: update user: %w", err)
		}
		f.updates++
		f.users[k] = nu
		return nu, nil
	}
	return store.User{}, fmt.Errorf("fake: %w", store.ErrNotFound)
}

func (f *fakeUsers) get(username string) store.User {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.users[store.UsernameKey(username)]
}

// fakeSessions is an in-memory store.SessionStore that counts calls.
type fakeSessions struct {
	mu       sync.Mutex
	byHash   map[string]store.Session
	err      error // returned by GetSession when set
	gets     int
	touches  int
	creates  int
	failNext error // returned once by CreateSession when set
}

var _ store.SessionStore = (*fakeSessions)(nil)

func newFakeSessions() *fakeSessions { return &fakeSessions{byHash: map[string]store.Session{}} }

func clone(s store.Session) store.Session {
	s.Hash = slices.Clone(s.Hash)
	s.AMR = slices.Clone(s.AMR)
	return s
}

func (f *fakeSessions) CreateSession(_ context.Context, s store.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	if err := f.failNext; err != nil {
		f.failNext = nil
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	k := hex.EncodeToString(s.Hash)
	if _, ok := f.byHash[k]; ok {
		return store.ErrAlreadyExists
	}
	for _, o := range f.byHash {
		if o.ID == s.ID {
			return store.ErrAlreadyExists
		}
	}
	f.byHash[k] = clone(s)
	return nil
}

func (f *fakeSessions) GetSession(_ context.Context, hash []byte) (store.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if f.err != nil {
		return store.Session{}, f.err
	}
	s, ok := f.byHash[hex.EncodeToString(hash)]
	if !ok {
		return store.Session{}, fmt.Errorf("fake: %w", store.ErrNotFound)
	}
	return clone(s), nil
}

func (f *fakeSessions) GetSessionByID(_ context.Context, id string) (store.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.byHash {
		if s.ID == id {
			return clone(s), nil
		}
	}
	return store.Session{}, fmt.Errorf("fake: %w", store.ErrNotFound)
}

func (f *fakeSessions) TouchSession(_ context.Context, hash []byte, lastSeen time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.touches++
	k := hex.EncodeToString(hash)
	s, ok := f.byHash[k]
	if !ok {
		return fmt.Errorf("fake: %w", store.ErrNotFound)
	}
	if lastSeen.After(s.LastSeenAt) {
		s.LastSeenAt = lastSeen
		f.byHash[k] = s
	}
	return nil
}

func (f *fakeSessions) DeleteSession(_ context.Context, hash []byte) (store.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := hex.EncodeToString(hash)
	s, ok := f.byHash[k]
	if !ok {
		return store.Session{}, fmt.Errorf("fake: %w", store.ErrNotFound)
	}
	delete(f.byHash, k)
	return s, nil
}

func (f *fakeSessions) DeleteUserSessions(_ context.Context, userID string) ([]store.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Session
	for k, s := range f.byHash {
		if s.UserID == userID {
			out = append(out, s)
			delete(f.byHash, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeSessions) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.byHash)
}

// errReader fails every read.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }
