package sqlite

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestListCodec(t *testing.T) {
	for _, tc := range []struct {
		name string
		list []string
		want string
	}{
		{"empty", nil, "[]"},
		{"one", []string{"openid"}, `["openid"]`},
		{"several", []string{"openid", "profile", "https://api.example.com/orders"}, `["openid","profile","https://api.example.com/orders"]`},
		{"empty string", []string{""}, `[""]`},
		{"comma inside", []string{"a,b", "c"}, `["a,b","c"]`},
		{"escapes", []string{`a"b`, `c\d`, "<&>", "é", "\n"}, `["a\"b","c\\d","\u003c\u0026\u003e","é","\n"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeList(tc.list)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("encodeList = %s, want %s", got, tc.want)
			}
			if len(tc.list) > 0 {
				// The same bytes as encoding/json.
				std, _ := json.Marshal(tc.list)
				if got != string(std) {
					t.Errorf("encodeList = %s, encoding/json writes %s", got, std)
				}
			}
			back, err := decodeList(got)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back, tc.list) {
				t.Errorf("decodeList(%s) = %q, want %q", got, back, tc.list)
			}
		})
	}
}

func TestDecodeListRefuses(t *testing.T) {
	for _, s := range []string{``, `[`, `]`, `["a",]`, `["a"`, `["a" ,"b"]x`, `{"a":1}`, `[1]`, `["a\u0000`, `"a"`} {
		if _, err := decodeList(s); err == nil {
			t.Errorf("decodeList(%q) succeeded", s)
		}
	}
}

// FuzzDecodeList checks the fast path of decodeList against
// encoding/json: the same list, or an error from both.
func FuzzDecodeList(f *testing.F) {
	for _, s := range []string{`[]`, `["a"]`, `["a","b"]`, `[ "a" ]`, `["a\"b"]`, `["a",]`, `null`, `[""]`, `["x,y"]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decodeList(s)
		var want []string
		stdErr := json.Unmarshal([]byte(s), &want)
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("decodeList(%q): error %v, encoding/json: %v", s, err, stdErr)
		}
		if err == nil && !slices.Equal(got, want) {
			t.Fatalf("decodeList(%q) = %q, encoding/json: %q", s, got, want)
		}
		if err == nil {
			enc, err := encodeList(got)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := decodeList(enc); err != nil || !slices.Equal(again, got) {
				t.Fatalf("round trip of %q: %q, %v", got, again, err)
			}
		}
	})
}
