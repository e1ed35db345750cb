package oauth

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// descriptionOK reports whether s holds only the characters RFC 6749 §5.2
// allows in error_description: %x20-21 / %x23-5B / %x5D-7E.
func descriptionOK(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == 0x22 || c == 0x5c {
			return false
		}
	}
	return true
}

func TestSafeDescription(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, with: punctuation!", "plain text, with: punctuation!"},
		{"", ""},
		{`a "quoted" value`, "a 'quoted' value"},
		{`back\slash`, "back/slash"},
		{"line\nbreak\ttab\x00nul\x7fdel", "line?break?tab?nul?del"},
		{"RFC 6749 §5.2 …", "RFC 6749 ?5.2 ?"},
		{"invalid \xff utf-8", "invalid ? utf-8"},
		{strings.Repeat("a", 400), strings.Repeat("a", maxDescription)},
		{strings.Repeat("é", 400), strings.Repeat("?", maxDescription)},
	}
	for _, tc := range tests {
		got := SafeDescription(tc.in)
		if got != tc.want {
			t.Errorf("SafeDescription(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !descriptionOK(got) {
			t.Errorf("SafeDescription(%q) = %q has a character RFC 6749 §5.2 forbids", tc.in, got)
		}
	}
}

// TestWriteErrorDescriptionCharset: whatever an *Error carries, the rendered
// error_description keeps to RFC 6749 §5.2.
func TestWriteErrorDescriptionCharset(t *testing.T) {
	for _, desc := range []string{`"quoted"`, "a\\b", "new\nline", "§ ü 😀", "\x00\x01", "<script>"} {
		w := httptest.NewRecorder()
		WriteError(w, InvalidRequest("%s", desc))
		var body struct {
			Description string `json:"error_description"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if !descriptionOK(body.Description) {
			t.Errorf("error_description %q for %q breaks RFC 6749 §5.2", body.Description, desc)
		}
	}
}

// FuzzSafeDescription: any input comes out within the allowed characters
// and the bound, and allowed input comes out unchanged.
func FuzzSafeDescription(f *testing.F) {
	for _, s := range []string{"", "ok", `"\`, "§", "\xff\xfe", strings.Repeat("x", 301)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SafeDescription(s)
		if !descriptionOK(got) || len(got) > maxDescription {
			t.Fatalf("SafeDescription(%q) = %q", s, got)
		}
		if descriptionOK(s) && len(s) <= maxDescription && got != s {
			t.Fatalf("SafeDescription changed allowed text %q to %q", s, got)
		}
	})
}
