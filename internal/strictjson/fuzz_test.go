package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzMaxDepth is the bound the differential fuzzer validates with; it is
// small so that the fuzzer reaches it.
const fuzzMaxDepth = 8

func fuzzSeeds() []string {
	return []string{
		`{"iss":"https://issuer.example","aud":["a","b"],"exp":1700000000,"nbf":1.5e9,"sub":"user"}`,
		`{"a":{"b":[1,2,{"c":null}]},"d":true,"e":false,"f":-0.5e-3}`,
		`[1,"two",{"three":3},[4],null,true,false]`,
		`"esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00"`,
		`{"iss":1,"\u0069ss":2}`,
		`{"iss":1,"ISS":2}`,
		`{"a":1,"a":2}`,
		`"\ud800"`,
		"\"\xff\"",
		`01`, `1.`, `.5`, `-`, `1e`, `+1`, `1e+5`, `-0`,
		`{"a":1,}`, `[1,]`,
		` { } `, ``, `nul`,
		`[[[[[[[[[1]]]]]]]]]`,
		`{"m0":0,"m1":1,"m2":2,"m3":3,"m4":4,"m5":5,"m6":6,"m7":7,"m8":8,"m9":9,"m10":10,"m11":11,"m12":12,"m13":13,"m14":14,"m15":15,"m16":16,"m3":3}`,
	}
}

// refCheck walks data with encoding/json and reports whether it has a
// duplicate member name in some object, and its container nesting depth.
// data must be json.Valid.
func refCheck(tb testing.TB, data []byte) (dup bool, depth int) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object  bool
		names   map[string]bool
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return dup, depth
		}
		if err != nil {
			tb.Fatalf("json.Valid accepted %q, Decoder.Token fails: %v", data, err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.object && top.wantKey
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.wantKey = true // this container was a member value
				}
				stack = append(stack, &frame{object: d == '{', names: map[string]bool{}, wantKey: true})
				depth = max(depth, len(stack))
			case '}', ']':
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].wantKey = true
				}
			}
			continue
		}
		if isKey {
			name := tok.(string)
			if top.names[name] {
				dup = true
			}
			top.names[name] = true
			top.wantKey = false
			continue
		}
		if top != nil && top.object {
			top.wantKey = true
		}
	}
}

// hasBadSurrogate reports whether a JSON text that json.Valid accepted has
// a \u escape of a surrogate that is not part of a high-low pair (which
// encoding/json replaces with U+FFFD and strictjson rejects).
func hasBadSurrogate(s string) bool {
	inStr := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !inStr {
			if c == '"' {
				inStr = true
			}
			continue
		}
		switch c {
		case '"':
			inStr = false
		case '\\':
			if s[i+1] != 'u' {
				i++
				continue
			}
			r, _ := hex4(s, i+2)
			switch {
			case r >= 0xD800 && r < 0xDC00:
				if i+11 >= len(s) || s[i+6] != '\\' || s[i+7] != 'u' {
					return true
				}
				r2, _ := hex4(s, i+8)
				if r2 < 0xDC00 || r2 > 0xDFFF {
					return true
				}
				i += 11
			case r >= 0xDC00 && r <= 0xDFFF:
				return true
			default:
				i += 5
			}
		}
	}
	return false
}

// FuzzValidate is a differential test against encoding/json:
//   - whatever Validate accepts, json.Valid accepts;
//   - whatever json.Valid accepts with valid UTF-8, paired surrogate
//     escapes, no duplicate names and depth within the bound, Validate
//     accepts;
//   - a top-level string decodes with String exactly as encoding/json does;
//   - ParseObject agrees with Validate on objects and returns the members
//     encoding/json sees.
func FuzzValidate(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := Validate(s, fuzzMaxDepth)
		if berr := ValidateBytes([]byte(s), fuzzMaxDepth); berr != err {
			t.Fatalf("ValidateBytes(%q) = %v, Validate %v", s, berr, err)
		}
		valid := json.Valid([]byte(s))
		if err == nil && !valid {
			t.Fatalf("strictjson accepts %q, encoding/json rejects it", s)
		}
		if err != nil && !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrDuplicate) && !errors.Is(err, ErrDepth) {
			t.Fatalf("Validate(%q): unexpected error %v", s, err)
		}
		if valid {
			dup, depth := refCheck(t, []byte(s))
			clean := !dup && depth <= fuzzMaxDepth && utf8.ValidString(s) && !hasBadSurrogate(s)
			if clean && err != nil {
				t.Fatalf("strictjson rejects %q (%v); encoding/json accepts it, no duplicates, depth %d", s, err, depth)
			}
			if dup && err == nil {
				t.Fatalf("strictjson accepts %q with a duplicate member name", s)
			}
			if depth > fuzzMaxDepth && err == nil {
				t.Fatalf("strictjson accepts %q of depth %d > %d", s, depth, fuzzMaxDepth)
			}
		}
		if err != nil {
			return
		}
		// ValidateFold is stricter than Validate and never looser.
		if ferr := ValidateFold(s, fuzzMaxDepth); ferr != nil && !errors.Is(ferr, ErrDuplicate) {
			t.Fatalf("ValidateFold(%q) = %v after Validate accepted", s, ferr)
		}
		trimmed := strings.Trim(s, " \t\r\n")
		switch trimmed[0] {
		case '"':
			got, err := String(trimmed)
			if err != nil {
				t.Fatalf("String(%q): %v", trimmed, err)
			}
			var want string
			if err := json.Unmarshal([]byte(trimmed), &want); err != nil {
				t.Fatalf("json.Unmarshal(%q): %v", trimmed, err)
			}
			if got != want {
				t.Fatalf("String(%q) = %q, encoding/json says %q", trimmed, got, want)
			}
		case '{':
			members, err := ParseObject(s, fuzzMaxDepth, nil)
			if err != nil {
				t.Fatalf("ParseObject(%q) = %v after Validate accepted", s, err)
			}
			var ref map[string]json.RawMessage
			if err := json.Unmarshal([]byte(s), &ref); err != nil {
				t.Fatalf("json.Unmarshal(%q): %v", s, err)
			}
			if len(ref) != len(members) {
				t.Fatalf("ParseObject(%q): %d members, encoding/json %d", s, len(members), len(ref))
			}
			for _, m := range members {
				raw, ok := ref[m.Name]
				if !ok || string(raw) != m.Value {
					t.Fatalf("ParseObject(%q): member %q = %q, encoding/json %q", s, m.Name, m.Value, raw)
				}
				checkScalar(t, m.Value)
			}
		case '[':
			var ref []any
			if json.Unmarshal([]byte(trimmed), &ref) == nil {
				if got, err := AppendStrings(nil, trimmed); err == nil {
					var want []string
					if err := json.Unmarshal([]byte(trimmed), &want); err != nil || len(want) != len(got) {
						t.Fatalf("AppendStrings(%q) = %q, encoding/json %q (%v)", trimmed, got, want, err)
					}
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("AppendStrings(%q) = %q, encoding/json %q", trimmed, got, want)
						}
					}
				}
			}
		default:
			checkScalar(t, trimmed)
		}
	})
}

// checkScalar compares Number, Bool and String on a validated raw value
// with encoding/json.
func checkScalar(t *testing.T, raw string) {
	if f, err := Number(raw); err == nil {
		var want float64
		if err := json.Unmarshal([]byte(raw), &want); err != nil || want != f {
			t.Fatalf("Number(%q) = %v, encoding/json %v (%v)", raw, f, want, err)
		}
	}
	if b, err := Bool(raw); err == nil {
		var want bool
		if err := json.Unmarshal([]byte(raw), &want); err != nil || want != b {
			t.Fatalf("Bool(%q) = %v, encoding/json %v (%v)", raw, b, want, err)
		}
	}
	if s, err := String(raw); err == nil {
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil || want != s {
			t.Fatalf("String(%q) = %q, encoding/json %q (%v)", raw, s, want, err)
		}
	}
}

// FuzzDecoders feeds arbitrary, unvalidated input to String, Number, Bool
// and AppendStrings: they must not panic, and whatever they accept must be
// what encoding/json decodes from the same text.
func FuzzDecoders(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	for _, s := range []string{`"\"`, `"\u12"`, `"\ud800\"`, `-Inf`, `0x1p4`, `["a",`, `["\"]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		valid := json.Valid([]byte(s)) && utf8.ValidString(s) && !hasBadSurrogate(s)
		if v, err := String(s); err == nil && valid {
			var want string
			if json.Unmarshal([]byte(s), &want) != nil || want != v {
				t.Fatalf("String(%q) = %q, encoding/json %q", s, v, want)
			}
		}
		if v, err := Number(s); err == nil {
			var want float64
			if err := json.Unmarshal([]byte(s), &want); err != nil || want != v {
				t.Fatalf("Number(%q) = %v, encoding/json %v (%v)", s, v, want, err)
			}
		}
		if v, err := Bool(s); err == nil {
			var want bool
			if err := json.Unmarshal([]byte(s), &want); err != nil || want != v {
				t.Fatalf("Bool(%q) = %v, encoding/json %v (%v)", s, v, want, err)
			}
		}
		_, _ = AppendStrings(nil, s)
	})
}
