package strictjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// nested returns depth nested arrays around inner: nested(2, "1") is [[1]].
func nested(depth int, inner string) string {
	return strings.Repeat("[", depth) + inner + strings.Repeat("]", depth)
}

// nestedObjects returns depth nested objects: nestedObjects(2) is {"a":{}}.
func nestedObjects(depth int) string {
	return strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
}

// members returns an object with n distinct members m0..m(n-1), followed by
// extra (already formatted, with a leading comma) before the closing brace.
func members(n int, extra string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"m%d":%d`, i, i)
	}
	b.WriteString(extra)
	b.WriteByte('}')
	return b.String()
}

func TestValidateGrammar(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		depth int
		want  error // nil: accepted
	}{
		// Positive controls: one of each kind of value.
		{"object", `{"a":1}`, 0, nil},
		{"empty object", `{}`, 0, nil},
		{"array", `[1,"a",true,false,null,{},[]]`, 0, nil},
		{"string", `"abc"`, 0, nil},
		{"true", `true`, 0, nil},
		{"false", `false`, 0, nil},
		{"null", `null`, 0, nil},
		{"zero", `0`, 0, nil},
		{"negative zero", `-0`, 0, nil},
		{"integer", `123`, 0, nil},
		{"negative", `-123`, 0, nil},
		{"fraction", `1.5`, 0, nil},
		{"zero fraction", `0.25`, 0, nil},
		{"exponent", `1e10`, 0, nil},
		{"exponent upper", `1E10`, 0, nil},
		{"exponent plus", `1e+10`, 0, nil},
		{"exponent minus", `1.5e-10`, 0, nil},
		{"huge exponent", `1e999`, 0, nil},
		{"whitespace everywhere", " \t\r\n{ \"a\" \t:\n[ 1 ,\r2 ] , \"b\" : { } }\n\t ", 0, nil},
		{"escapes", `"\" \\ \/ \b \f \n \r \t"`, 0, nil},
		{"unicode escape", `"\u00e9\u0000\uFFFF"`, 0, nil},
		{"surrogate pair", `"\ud83d\ude00"`, 0, nil},
		{"surrogate pair upper hex", `"\uD83D\uDE00"`, 0, nil},
		{"raw UTF-8", `"é😀"`, 0, nil},
		{"raw U+FFFD", "\"\uFFFD\"", 0, nil},
		{"DEL is not a control char", "\"\x7f\"", 0, nil},

		// Numbers.
		{"leading zero", `01`, 0, ErrSyntax},
		{"negative leading zero", `-01`, 0, ErrSyntax},
		{"leading zero in array", `[01]`, 0, ErrSyntax},
		{"trailing dot", `1.`, 0, ErrSyntax},
		{"leading dot", `.5`, 0, ErrSyntax},
		{"minus alone", `-`, 0, ErrSyntax},
		{"minus dot", `-.5`, 0, ErrSyntax},
		{"exponent without digits", `1e`, 0, ErrSyntax},
		{"exponent sign without digits", `1e+`, 0, ErrSyntax},
		{"dot exponent", `1.e5`, 0, ErrSyntax},
		{"plus sign", `+1`, 0, ErrSyntax},
		{"hex", `0x10`, 0, ErrSyntax},
		{"infinity", `Infinity`, 0, ErrSyntax},
		{"minus infinity", `-Infinity`, 0, ErrSyntax},
		{"NaN", `NaN`, 0, ErrSyntax},
		{"underscore", `1_000`, 0, ErrSyntax},
		{"double minus", `--1`, 0, ErrSyntax},

		// Strings.
		{"raw newline", "\"a\nb\"", 0, ErrSyntax},
		{"raw tab", "\"a\tb\"", 0, ErrSyntax},
		{"raw NUL", "\"a\x00b\"", 0, ErrSyntax},
		{"raw 0x1f", "\"\x1f\"", 0, ErrSyntax},
		{"unknown escape", `"\a"`, 0, ErrSyntax},
		{"escaped single quote", `"\'"`, 0, ErrSyntax},
		{"escape x", `"\x41"`, 0, ErrSyntax},
		{"short unicode escape", `"\u12"`, 0, ErrSyntax},
		{"bad hex", `"\u12G4"`, 0, ErrSyntax},
		{"upper U", `"\U0041"`, 0, ErrSyntax},
		{"lone high surrogate", `"\ud800"`, 0, ErrSyntax},
		{"lone low surrogate", `"\udc00"`, 0, ErrSyntax},
		{"high then char", `"\ud800x"`, 0, ErrSyntax},
		{"high then high", `"\ud800\ud800"`, 0, ErrSyntax},
		{"high then non-surrogate", `"\ud800\u0041"`, 0, ErrSyntax},
		{"low then high", `"\udc00\ud800"`, 0, ErrSyntax},
		{"high then truncated", `"\ud800\u12"`, 0, ErrSyntax},
		{"invalid UTF-8", "\"\xff\"", 0, ErrSyntax},
		{"truncated UTF-8", "\"\xc3\"", 0, ErrSyntax},
		{"overlong UTF-8", "\"\xc0\xaf\"", 0, ErrSyntax},
		{"UTF-8 encoded surrogate", "\"\xed\xa0\x80\"", 0, ErrSyntax},
		{"unterminated", `"abc`, 0, ErrSyntax},
		{"unterminated escape", `"abc\`, 0, ErrSyntax},
		{"single quotes", `'a'`, 0, ErrSyntax},

		// Literals.
		{"True", `True`, 0, ErrSyntax},
		{"nul", `nul`, 0, ErrSyntax},
		{"truex", `truex`, 0, ErrSyntax},
		{"nullnull", `nullnull`, 0, ErrSyntax},
		{"undefined", `undefined`, 0, ErrSyntax},

		// Structure and whitespace.
		{"empty", ``, 0, ErrSyntax},
		{"only space", `   `, 0, ErrSyntax},
		{"trailing comma object", `{"a":1,}`, 0, ErrSyntax},
		{"trailing comma array", `[1,]`, 0, ErrSyntax},
		{"leading comma array", `[,1]`, 0, ErrSyntax},
		{"double comma", `[1,,2]`, 0, ErrSyntax},
		{"missing colon", `{"a" 1}`, 0, ErrSyntax},
		{"missing value", `{"a":}`, 0, ErrSyntax},
		{"unquoted name", `{a:1}`, 0, ErrSyntax},
		{"number name", `{1:1}`, 0, ErrSyntax},
		{"unclosed object", `{"a":1`, 0, ErrSyntax},
		{"unclosed array", `[1`, 0, ErrSyntax},
		{"mismatched close", `[1}`, 0, ErrSyntax},
		{"two values", `1 2`, 0, ErrSyntax},
		{"two objects", `{}{}`, 0, ErrSyntax},
		{"trailing garbage", `{"a":1}x`, 0, ErrSyntax},
		{"vertical tab", "\v1", 0, ErrSyntax},
		{"form feed", "\f1", 0, ErrSyntax},
		{"no-break space", "\u00a01", 0, ErrSyntax},
		{"BOM", "\ufeff{}", 0, ErrSyntax},
		{"comment", `{} // x`, 0, ErrSyntax},

		// Depth: the bound counts nested arrays and objects.
		{"default depth at limit", nested(DefaultMaxDepth, "1"), 0, nil},
		{"default depth past limit", nested(DefaultMaxDepth+1, "1"), 0, ErrDepth},
		{"depth 3 at limit", nested(3, "1"), 3, nil},
		{"depth 3 past limit", nested(4, "1"), 3, ErrDepth},
		{"objects at limit", nestedObjects(5), 5, nil},
		{"objects past limit", nestedObjects(6), 5, ErrDepth},
		{"scalar does not count", `[[{"a":"deep"}]]`, 3, nil},
		{"empty containers count", nested(4, ""), 3, ErrDepth},
		{"depth 1000", nested(1000, ""), 0, ErrDepth},
		{"unclosed depth 100000", strings.Repeat("[", 100000), 0, ErrDepth},

		// Duplicates at every depth, with escapes.
		{"duplicate", `{"a":1,"a":2}`, 0, ErrDuplicate},
		{"duplicate not adjacent", `{"a":1,"b":2,"a":3}`, 0, ErrDuplicate},
		{"escaped duplicate", `{"iss":1,"\u0069ss":2}`, 0, ErrDuplicate},
		{"escaped duplicate both", `{"\u0069ss":1,"i\u0073s":2}`, 0, ErrDuplicate},
		{"escaped slash duplicate", `{"a/b":1,"a\/b":2}`, 0, ErrDuplicate},
		{"nested duplicate", `{"a":{"b":1,"b":2}}`, 0, ErrDuplicate},
		{"duplicate in array element", `[1,{"x":1,"x":1}]`, 0, ErrDuplicate},
		{"deeply nested duplicate", `{"a":[{"b":[{"c":1,"c":1}]}]}`, 0, ErrDuplicate},
		{"same name different objects", `{"a":{"x":1},"b":{"x":1},"x":{"x":1}}`, 0, nil},
		{"case differs is not a duplicate", `{"iss":1,"ISS":2}`, 0, nil},
		{"empty name", `{"":1}`, 0, nil},
		{"empty name duplicate", `{"":1,"":2}`, 0, ErrDuplicate},

		// More than 16 members switches duplicate detection to a map.
		{"16 members", members(16, ""), 0, nil},
		{"17 members", members(17, ""), 0, nil},
		{"100 members", members(100, ""), 0, nil},
		{"duplicate as 17th member", members(16, `,"m0":0`), 0, ErrDuplicate},
		{"duplicate as 17th of 16th", members(16, `,"m15":0`), 0, ErrDuplicate},
		{"duplicate after map switch", members(20, `,"m3":0`), 0, ErrDuplicate},
		{"duplicate of 18th", members(18, `,"m17":0`), 0, ErrDuplicate},
		{"escaped duplicate in map path", members(30, `,"m\u0032\u0039":0`), 0, ErrDuplicate},
		{"new name in map path", members(30, `,"x":0`), 0, nil},
		{"nested map path duplicate", `{"o":` + members(20, `,"m19":0`) + `}`, 0, ErrDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.in, tt.depth)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate(%.60q) = %v, want %v", tt.in, err, tt.want)
			}
			// Whatever strictjson accepts, encoding/json accepts too.
			if err == nil && !json.Valid([]byte(tt.in)) {
				t.Fatalf("strictjson accepted %.60q, encoding/json rejects it", tt.in)
			}
		})
	}
}

func TestValidateFold(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"distinct", `{"iss":1,"sub":2}`, nil},
		{"same name other objects", `{"a":{"iss":1},"b":{"ISS":1}}`, nil},
		{"exact duplicate", `{"iss":1,"iss":2}`, ErrDuplicate},
		{"upper case", `{"iss":1,"ISS":2}`, ErrDuplicate},
		{"mixed case", `{"iss":1,"iSs":2}`, ErrDuplicate},
		{"long s", `{"iss":1,"iſs":2}`, ErrDuplicate},
		{"escaped long s", `{"iss":1,"i\u017fs":2}`, ErrDuplicate},
		{"kelvin sign", `{"kid":1,"\u212aid":2}`, ErrDuplicate},
		{"nested", `{"cnf":{"jkt":1,"JKT":2}}`, ErrDuplicate},
		{"in array", `[{"a":1,"A":2}]`, ErrDuplicate},
		{"map path", members(20, `,"M7":0`), ErrDuplicate},
		{"map path distinct", members(20, `,"M70":0`), nil},
		{"syntax still checked", `{"a":1,}`, ErrSyntax},
		{"depth still checked", nested(40, ""), ErrDepth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateFold(tt.in, 0)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("ValidateFold(%.60q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestFoldKeyMatchesEqualFold(t *testing.T) {
	names := []string{"iss", "ISS", "iſs", "Iss", "kid", "KID", "\u212aid", "k", "K", "\u212a", "ß", "ẞ", "σ", "Σ", "ς", "ǅ", "ǆ", "Ǆ", "é", "É", "a", "b", "", "ǈ"}
	for _, a := range names {
		for _, b := range names {
			if got, want := foldKey(a) == foldKey(b), strings.EqualFold(a, b); got != want {
				t.Errorf("foldKey(%q)==foldKey(%q) is %v, strings.EqualFold is %v", a, b, got, want)
			}
		}
	}
}

func TestParseObject(t *testing.T) {
	t.Run("members raw and in order", func(t *testing.T) {
		in := ` { "b" : [1, {"x":"y"}] , "\u0061" : "s\n" ,"n":-1.5e3,"t":true,"z":null,"o":{ } } `
		got, err := ParseObject(in, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []Member{
			{"b", `[1, {"x":"y"}]`},
			{"a", `"s\n"`},
			{"n", `-1.5e3`},
			{"t", `true`},
			{"z", `null`},
			{"o", `{ }`},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %q\nwant %q", got, want)
		}
	})
	t.Run("appends to dst", func(t *testing.T) {
		dst := []Member{{"pre", "1"}}
		got, err := ParseObject(`{"a":2}`, 0, dst)
		if err != nil || len(got) != 2 || got[0].Name != "pre" || got[1].Name != "a" {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	tests := []struct {
		name  string
		in    string
		depth int
		want  error
	}{
		{"object", `{"a":1}`, 0, nil},
		{"empty object", `{}`, 0, nil},
		{"leading space", ` {}`, 0, nil},
		{"array", `[]`, 0, ErrNotObject},
		{"string", `"a"`, 0, ErrNotObject},
		{"number", `1`, 0, ErrNotObject},
		{"null", `null`, 0, ErrNotObject},
		{"empty", ``, 0, ErrNotObject},
		{"space", ` `, 0, ErrNotObject},
		{"trailing", `{}x`, 0, ErrSyntax},
		{"trailing object", `{}{}`, 0, ErrSyntax},
		{"trailing space ok", "{}\n", 0, nil},
		{"duplicate", `{"a":1,"a":1}`, 0, ErrDuplicate},
		{"nested duplicate", `{"a":[{"b":1,"b":1}]}`, 0, ErrDuplicate},
		{"duplicate map path", members(17, `,"m16":1`), 0, ErrDuplicate},
		{"depth at limit", `{"a":` + nested(3, "") + `}`, 4, nil},
		{"depth past limit", `{"a":` + nested(4, "") + `}`, 4, ErrDepth},
		{"depth 1 empty", `{}`, 1, nil},
		{"depth 1 nested", `{"a":{}}`, 1, ErrDepth},
		{"bad value", `{"a":tru}`, 0, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseObject(tt.in, tt.depth, nil)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("ParseObject(%.60q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
	t.Run("many members collected", func(t *testing.T) {
		got, err := ParseObject(members(40, ""), 0, nil)
		if err != nil || len(got) != 40 || got[39].Name != "m39" || got[39].Value != "39" {
			t.Fatalf("got %d members, %v", len(got), err)
		}
	})
}

func TestString(t *testing.T) {
	tests := []struct {
		raw     string
		want    string
		wantErr error
	}{
		{`""`, "", nil},
		{`"abc"`, "abc", nil},
		{`"é"`, "é", nil},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t", nil},
		{`"\u0041\u00e9\u20ac"`, "Aé€", nil},
		{`"\u0000"`, "\x00", nil},
		{`"\ud83d\ude00"`, "😀", nil},
		{`"a\ud83d\ude00b"`, "a😀b", nil},
		{`"\uDBFF\uDFFF"`, "\U0010FFFF", nil},
		{`1`, "", ErrType},
		{`true`, "", ErrType},
		{`null`, "", ErrType},
		{`["a"]`, "", ErrType},
		{``, "", ErrType},
		{`"`, "", ErrType},
		{`"abc`, "", ErrType},
		// Not validated input: String reports an error instead of panicking.
		{`"\"`, "", ErrSyntax},
		{`"a\"`, "", ErrSyntax},
		{`"\u12"`, "", ErrSyntax},
		{`"\uZZZZ"`, "", ErrSyntax},
		{`"\ud800"`, "", ErrSyntax},
		{`"\udc00"`, "", ErrSyntax},
		{`"\ud800\u0041"`, "", ErrSyntax},
		{`"\ud800\`, "", ErrType},
		{`"\ud800\"`, "", ErrSyntax},
		{`"\q"`, "", ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := String(tt.raw)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("String(%q) error %v, want %v", tt.raw, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got != tt.want {
				t.Fatalf("String(%q) = %q, want %q", tt.raw, got, tt.want)
			}
			var ref string
			if err := json.Unmarshal([]byte(tt.raw), &ref); err != nil || ref != got {
				t.Fatalf("encoding/json decodes %q to %q (%v), String to %q", tt.raw, ref, err, got)
			}
		})
	}
}

func TestStringDoesNotAllocateWithoutEscapes(t *testing.T) {
	raw := `"https://issuer.example"`
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := String(raw); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("String allocated %v times", allocs)
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		raw     string
		want    float64
		wantErr bool
	}{
		{`0`, 0, false},
		{`-0`, 0, false},
		{`1700000000`, 1700000000, false},
		{`999999999999999`, 999999999999999, false},
		{`9999999999999999`, 9999999999999999, false},
		{`-1700000000`, -1700000000, false},
		{`1.5`, 1.5, false},
		{`1e3`, 1000, false},
		{`1.7e9`, 1.7e9, false},
		{`-2.5E-1`, -0.25, false},
		{`1e308`, 1e308, false},
		{`1e400`, 0, true}, // overflows float64
		{`-1e400`, 0, true},
		{`"1"`, 0, true},
		{`true`, 0, true},
		{`null`, 0, true},
		{`[1]`, 0, true},
		{`{}`, 0, true},
		{``, 0, true},
		{`-`, 0, true},
		// Not the JSON grammar, although strconv.ParseFloat would take some.
		{`01`, 0, true},
		{`007`, 0, true},
		{`-Inf`, 0, true},
		{`0x1p4`, 0, true},
		{`1_0`, 0, true},
		{`1.`, 0, true},
		{`+1`, 0, true},
		{` 1`, 0, true},
		{`1 `, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := Number(tt.raw)
			if tt.wantErr {
				if !errors.Is(err, ErrType) {
					t.Fatalf("Number(%q) = %v, %v; want ErrType", tt.raw, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Number(%q) = %v, %v; want %v", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestBool(t *testing.T) {
	tests := []struct {
		raw     string
		want    bool
		wantErr bool
	}{
		{"true", true, false},
		{"false", false, false},
		{`"true"`, false, true},
		{"True", false, true},
		{"1", false, true},
		{"0", false, true},
		{"null", false, true},
		{"", false, true},
		{" true", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := Bool(tt.raw)
			if tt.wantErr {
				if !errors.Is(err, ErrType) {
					t.Fatalf("Bool(%q) = %v, %v; want ErrType", tt.raw, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Bool(%q) = %v, %v; want %v", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestAppendStrings(t *testing.T) {
	tests := []struct {
		raw     string
		want    []string
		wantErr error
	}{
		{`[]`, nil, nil},
		{`[ ]`, nil, nil},
		{`["a"]`, []string{"a"}, nil},
		{`[ "a" , "b" ]`, []string{"a", "b"}, nil},
		{`["\u0061","\ud83d\ude00","x\ny"]`, []string{"a", "😀", "x\ny"}, nil},
		{`["a",1]`, []string{"a"}, ErrType},
		{`[1]`, nil, ErrType},
		{`[null]`, nil, ErrType},
		{`[["a"]]`, nil, ErrType},
		{`[{"a":"b"}]`, nil, ErrType},
		{`"a"`, nil, ErrType},
		{`{}`, nil, ErrType},
		{`1`, nil, ErrType},
		{``, nil, ErrType},
		{`[`, nil, ErrType},
		{`["a"`, []string{"a"}, ErrSyntax},
		{`["a" "b"]`, []string{"a"}, ErrSyntax},
		{`["\ud800"]`, nil, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := AppendStrings(nil, tt.raw)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("AppendStrings(%q) error %v, want %v", tt.raw, err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("AppendStrings(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
	t.Run("appends to dst", func(t *testing.T) {
		got, err := AppendStrings([]string{"x"}, `["y","z"]`)
		if err != nil || !reflect.DeepEqual(got, []string{"x", "y", "z"}) {
			t.Fatalf("got %q, %v", got, err)
		}
	})
}

func TestErrorsCarryNoInput(t *testing.T) {
	secret := "s3cr3t-value"
	for _, in := range []string{
		`{"k":"` + secret + `","k":1}`,
		`{"k":"` + secret + "\x01" + `"}`,
		`[` + secret + `]`,
	} {
		err := Validate(in, 0)
		if err == nil {
			t.Fatalf("Validate(%q) accepted", in)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q leaks input", err)
		}
	}
}

// TestAppendStringArray: the array encoder's output is what encoding/json
// makes of the same strings (compared decoded, since encoding/json also
// escapes <, > and &), and AppendStrings reads it back.
func TestAppendStringArray(t *testing.T) {
	for _, ss := range [][]string{nil, {}, {"a"}, {"a", "b"}, {`q"uote`, `back\slash`, "ctl\x01\n", "😀", "<&>"}} {
		got := AppendStringArray([]byte("x"), ss)
		if got[0] != 'x' {
			t.Fatalf("AppendStringArray(%q) overwrote dst: %s", ss, got)
		}
		var back []string
		if err := json.Unmarshal(got[1:], &back); err != nil {
			t.Fatalf("AppendStringArray(%q) = %s: not JSON: %v", ss, got[1:], err)
		}
		if len(ss) == 0 {
			if string(got[1:]) != "[]" {
				t.Fatalf("AppendStringArray(%q) = %s, want []", ss, got[1:])
			}
			continue
		}
		if !reflect.DeepEqual(back, ss) {
			t.Fatalf("AppendStringArray(%q) decodes to %q", ss, back)
		}
		if again, err := AppendStrings(nil, string(got[1:])); err != nil || !reflect.DeepEqual(again, ss) {
			t.Fatalf("AppendStrings(AppendStringArray(%q)) = %q, %v", ss, again, err)
		}
	}
}
