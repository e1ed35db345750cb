package recjson

import (
	"reflect"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

func TestRoundTrip(t *testing.T) {
	a := &store.AgentPolicy{Owner: "user:u", MaxTokenTTL: 5*time.Minute + 1, AllowRefresh: true, RequireDPoP: true}
	b, err := EncodeAgent(a)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeAgent(b); err != nil || !reflect.DeepEqual(got, a) {
		t.Errorf("agent: %+v, %v", got, err)
	}
	e := &store.ExchangePolicy{SubjectIssuers: []string{"https://i"}, Actors: []string{"a", "b"}, MaxChain: 2,
		Impersonation: true, RefreshTokens: true, IDJAGAudiences: []string{"https://as"}, SubjectAudiences: []string{"x"}}
	b, err = EncodeExchange(e)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeExchange(b); err != nil || !reflect.DeepEqual(got, e) {
		t.Errorf("exchange: %+v, %v", got, err)
	}
	// The zero policy is not nil: it is stored and read back as set.
	b, err = EncodeExchange(&store.ExchangePolicy{})
	if err != nil || string(b) != "{}" {
		t.Fatalf("zero exchange policy = %s, %v", b, err)
	}
	if got, err := DecodeExchange(b); err != nil || got == nil || !reflect.DeepEqual(*got, store.ExchangePolicy{}) {
		t.Errorf("zero exchange policy read back as %+v, %v", got, err)
	}
	rules := []store.TrustRule{{ClientID: "*", Audiences: []string{"https://api"}, Scopes: []string{"read"}}, {ClientID: "c"}}
	b, err = EncodeRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeRules(b); err != nil || !reflect.DeepEqual(got, rules) {
		t.Errorf("rules: %+v, %v", got, err)
	}
	if b, err := EncodeRules(nil); err != nil || string(b) != "[]" {
		t.Errorf("no rules = %s, %v", b, err)
	}
	for _, in := range [][]byte{nil, {}} {
		if a, err := DecodeAgent(in); a != nil || err != nil {
			t.Errorf("DecodeAgent(%q) = %v, %v", in, a, err)
		}
		if e, err := DecodeExchange(in); e != nil || err != nil {
			t.Errorf("DecodeExchange(%q) = %v, %v", in, e, err)
		}
	}
}

func TestStrict(t *testing.T) {
	for name, in := range map[string]string{
		"unknown member": `{"owner":"user:u","max_token_ttl":1,"extra":1}`,
		"trailing data":  `{"owner":"user:u","max_token_ttl":1} {}`,
		"wrong type":     `{"owner":1}`,
		"not an object":  `[]`,
		"truncated":      `{"owner":`,
	} {
		if _, err := DecodeAgent([]byte(in)); err == nil {
			t.Errorf("DecodeAgent with %s: no error", name)
		}
	}
	if _, err := DecodeExchange([]byte(`{"max_chain":"2"}`)); err == nil {
		t.Error("DecodeExchange with a string max_chain: no error")
	}
	if _, err := DecodeRules([]byte(`[{"client_id":"c","uses":[]}]`)); err == nil {
		t.Error("DecodeRules with an unknown member: no error")
	}
}

// FuzzDecode checks that the decoders never panic, and that what they
// accept encodes to a form they read back the same.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"owner":"user:u","max_token_ttl":1,"allow_refresh":true}`))
	f.Add([]byte(`{"subject_issuers":["a"],"max_chain":3}`))
	f.Add([]byte(`[{"client_id":"*","audiences":["x"]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := DecodeAgent(b); err == nil && a != nil {
			enc, err := EncodeAgent(a)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := DecodeAgent(enc); err != nil || !reflect.DeepEqual(again, a) {
				t.Fatalf("agent %+v read back as %+v, %v", a, again, err)
			}
		}
		if e, err := DecodeExchange(b); err == nil && e != nil {
			enc, err := EncodeExchange(e)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := DecodeExchange(enc); err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("exchange %+v read back as %+v, %v", e, again, err)
			}
		}
		if r, err := DecodeRules(b); err == nil {
			enc, err := EncodeRules(r)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := DecodeRules(enc); err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("rules %+v read back as %+v, %v", r, again, err)
			}
		}
	})
}
