package delegation

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseAct(t *testing.T) {
	deep := func(n int) string {
		s := ""
		for i := n; i > 0; i-- {
			if s == "" {
				s = `{"sub":"a` + string(rune('0'+i%10)) + `"}`
			} else {
				s = `{"sub":"a` + string(rune('0'+i%10)) + `","act":` + s + `}`
			}
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		raw   string
		limit int
		want  []string
		err   error
	}{
		{name: "empty", raw: "", want: nil},
		{name: "one", raw: `{"sub":"svc-a","client_id":"svc-a"}`, want: []string{"svc-a"}},
		{name: "nested", raw: `{"sub":"agent","act":{"sub":"svc-a","iss":"https://idp"}}`, want: []string{"agent", "svc-a"}},
		{name: "other identity claims ignored", raw: `{"sub":"x","email":"x@example.com","act":{"sub":"y","n":{"a":[1]}}}`, want: []string{"x", "y"}},
		{name: "at limit", raw: deep(3), limit: 3, want: []string{"a1", "a2", "a3"}},
		{name: "over limit", raw: deep(4), limit: 3, err: ErrTooDeep},
		{name: "over hard bound", raw: deep(MaxDepth + 1), err: ErrTooDeep},
		{name: "nesting bomb", raw: strings.Repeat(`{"sub":"a","act":`, 100) + `{"sub":"a"}` + strings.Repeat(`}`, 100), err: ErrTooDeep},
		{name: "no sub", raw: `{"client_id":"c"}`, err: ErrMalformed},
		{name: "sub not string", raw: `{"sub":1}`, err: ErrMalformed},
		{name: "act not object", raw: `{"sub":"a","act":"b"}`, err: ErrMalformed},
		{name: "act null", raw: `{"sub":"a","act":null}`, err: ErrMalformed},
		{name: "duplicate sub", raw: `{"sub":"a","sub":"b"}`, err: ErrMalformed},
		{name: "not object", raw: `["a"]`, err: ErrMalformed},
		{name: "trailing", raw: `{"sub":"a"}x`, err: ErrMalformed},
		{name: "too large", raw: `{"sub":"` + strings.Repeat("a", MaxActBytes) + `"}`, err: ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chain, err := ParseAct([]byte(tc.raw), tc.limit)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := chain.Subjects(); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("subjects = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNestAndBuild(t *testing.T) {
	inner, err := Build(Chain{{Subject: "svc-a", ClientID: "svc-a"}})
	if err != nil {
		t.Fatal(err)
	}
	act, err := Nest(Actor{Subject: "agent", ClientID: "agent-c"}, inner)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"sub":"agent","client_id":"agent-c","act":{"sub":"svc-a","client_id":"svc-a"}}`
	if string(act) != want {
		t.Fatalf("act = %s, want %s", act, want)
	}
	chain, err := ParseAct(act, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(chain, Chain{{Subject: "agent", ClientID: "agent-c"}, {Subject: "svc-a", ClientID: "svc-a"}}) {
		t.Fatalf("round trip = %+v", chain)
	}
	if _, err := Nest(Actor{}, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty actor: %v", err)
	}
	if b, err := Build(nil); err != nil || b != nil {
		t.Fatalf("Build(nil) = %s, %v", b, err)
	}
}

func TestMayAct(t *testing.T) {
	a := Actor{Subject: "svc-a", ClientID: "svc-a-client", Issuer: "https://writ"}
	for _, tc := range []struct {
		raw  string
		want bool
		err  bool
	}{
		{raw: ``, want: true},
		{raw: `{"sub":"svc-a"}`, want: true},
		{raw: `{"sub":"svc-a","client_id":"svc-a-client"}`, want: true},
		{raw: `{"sub":"svc-b"}`, want: false},
		{raw: `{"sub":"svc-a","client_id":"other"}`, want: false},
		{raw: `{"email":"svc-a"}`, want: false},
		{raw: `{}`, want: false},
		{raw: `{"sub":1}`, err: true},
		{raw: `"svc-a"`, err: true},
	} {
		got, err := MayAct([]byte(tc.raw), a)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("MayAct(%s) = %v, %v; want %v (err %v)", tc.raw, got, err, tc.want, tc.err)
		}
	}
}

// FuzzParseAct checks that the parser never panics, honours its limit,
// and that what it accepts survives Build → ParseAct.
func FuzzParseAct(f *testing.F) {
	for _, s := range []string{
		`{"sub":"a"}`, `{"sub":"a","act":{"sub":"b","act":{"sub":"c"}}}`,
		`{"sub":"a","client_id":"c","iss":"https://i"}`, `{"sub":"a","act":1}`, `{"act":{"sub":"b"}}`, `[]`, ``,
	} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, raw []byte, limit int) {
		chain, err := ParseAct(raw, limit)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		max := limit
		if max <= 0 || max > MaxDepth {
			max = MaxDepth
		}
		if len(chain) > max {
			t.Fatalf("chain of %d exceeds limit %d", len(chain), max)
		}
		if len(chain) == 0 {
			return
		}
		built, err := Build(chain)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseAct(built, max)
		if err != nil || !slices.Equal(again, chain) {
			t.Fatalf("round trip: %v %+v vs %+v", err, again, chain)
		}
		var v map[string]any
		if err := json.NewDecoder(bytes.NewReader(built)).Decode(&v); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzMayAct checks that the may_act check never panics, and never allows
// an actor when it fails.
func FuzzMayAct(f *testing.F) {
	for _, s := range []string{`{"sub":"a"}`, `{"sub":"a","client_id":"c"}`, `{}`, `{"x":1}`, `[]`, ``} {
		f.Add([]byte(s), "a", "c")
	}
	f.Fuzz(func(t *testing.T, raw []byte, sub, clientID string) {
		ok, err := MayAct(raw, Actor{Subject: sub, ClientID: clientID})
		if err != nil && ok {
			t.Fatal("allowed with an error")
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected error type: %v", err)
		}
	})
}
