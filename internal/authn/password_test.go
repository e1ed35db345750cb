package authn

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=([0-9]+),t=([0-9]+),p=([0-9]+)\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)

func TestHashVerifyRoundTrip(t *testing.T) {
	h := Hasher{Params: testParams}
	for _, pw := range []string{
		"correct horse battery staple",
		"x",
		"pässwörd ✓ 密码",
		"with\x00nul and \xff invalid UTF-8",
		strings.Repeat("a", MaxPasswordLength),
	} {
		enc, err := h.Hash(pw)
		if err != nil {
			t.Fatalf("Hash: %v", err)
		}
		m := phcRE.FindStringSubmatch(enc)
		if m == nil {
			t.Fatalf("not a PHC string: %q", enc)
		}
		if m[1] != "64" || m[2] != "1" || m[3] != "1" {
			t.Errorf("params m=%s t=%s p=%s, want 64/1/1", m[1], m[2], m[3])
		}
		// The hash is argon2id of the password with the encoded salt.
		salt, _ := base64.RawStdEncoding.DecodeString(m[4])
		key, _ := base64.RawStdEncoding.DecodeString(m[5])
		if want := argon2.IDKey([]byte(pw), salt, 1, 64, 1, KeySize); !bytes.Equal(key, want) {
			t.Error("encoded hash is not argon2id(password, salt)")
		}
		ok, rehash, err := h.Verify(pw, enc)
		if !ok || rehash || err != nil {
			t.Errorf("Verify(right) = %t, %t, %v; want true, false, nil", ok, rehash, err)
		}
		wrong := pw[:len(pw)-1] + string(rune(pw[len(pw)-1]^1))
		ok, rehash, err = h.Verify(wrong, enc)
		if ok || rehash || err != nil {
			t.Errorf("Verify(wrong) = %t, %t, %v; want false, false, nil", ok, rehash, err)
		}
		if len(pw) >= 8 && strings.Contains(enc, pw) {
			t.Error("encoding contains the password")
		}
	}
}

func TestHashSalted(t *testing.T) {
	h := Hasher{Params: testParams}
	a, _ := h.Hash("same password")
	b, _ := h.Hash("same password")
	if a == b {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestHashDefaults(t *testing.T) {
	enc, err := Hasher{}.Hash("password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("default parameters: %q", enc)
	}
	if got := (Hasher{}).String(); got != "authn.Hasher{argon2id m=19456 t=2 p=1}" {
		t.Errorf("String = %q", got)
	}
}

func TestHashErrors(t *testing.T) {
	tests := []struct {
		name string
		h    Hasher
		pw   string
		want error
	}{
		{"empty password", Hasher{Params: testParams}, "", ErrPasswordLength},
		{"long password", Hasher{Params: testParams}, strings.Repeat("a", MaxPasswordLength+1), ErrPasswordLength},
		{"time too high", Hasher{Params: Params{Memory: 64, Time: MaxTime + 1}}, "password", ErrInvalidParams},
		{"threads too high", Hasher{Params: Params{Memory: 1024, Time: 1, Threads: MaxThreads + 1}}, "password", ErrInvalidParams},
		{"memory too high", Hasher{Params: Params{Memory: MaxMemory + 1, Time: 1}}, "password", ErrInvalidParams},
		{"memory below 8 per lane", Hasher{Params: Params{Memory: 15, Time: 1, Threads: 2}}, "password", ErrInvalidParams},
		{"no entropy", Hasher{Params: testParams, Rand: errReader{}}, "password", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := tc.h.Hash(tc.pw)
			if err == nil || enc != "" {
				t.Fatalf("Hash = %q, %v; want an error", enc, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if len(tc.pw) > 0 && strings.Contains(err.Error(), tc.pw) {
				t.Fatal("error contains the password")
			}
		})
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	stored := Params{Memory: 64, Time: 1, Threads: 1}
	enc, err := Hasher{Params: stored}.Hash("password")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		params Params
		pw     string
		ok     bool
		rehash bool
	}{
		{"same params", stored, "password", true, false},
		{"more memory", Params{Memory: 128, Time: 1, Threads: 1}, "password", true, true},
		{"more passes", Params{Memory: 64, Time: 2, Threads: 1}, "password", true, true},
		{"more lanes", Params{Memory: 64, Time: 1, Threads: 2}, "password", true, true},
		{"defaults", Params{}, "password", true, true},
		{"weaker params", Params{Memory: 32, Time: 1, Threads: 1}, "password", true, true},
		{"wrong password never needs rehash", Params{Memory: 128, Time: 1, Threads: 1}, "Password", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := Hasher{Params: tc.params}.Verify(tc.pw, enc)
			if err != nil || ok != tc.ok || rehash != tc.rehash {
				t.Fatalf("Verify = %t, %t, %v; want %t, %t, nil", ok, rehash, err, tc.ok, tc.rehash)
			}
		})
	}
}

// Well-formed salt and hash encodings, for building test encodings.
const (
	validSalt = "c2FsdHNhbHRzYWx0c2FsdA"                      // 16 bytes: "saltsaltsaltsalt"
	validKey  = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // 32 zero bytes
)

func TestVerifyMalformed(t *testing.T) {
	h := Hasher{Params: testParams}
	good, err := h.Hash("password")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$")
	salt, key := f[4], f[5]
	phc := func(alg, v, params, salt, key string) string {
		return "$" + alg + "$" + v + "$" + params + "$" + salt + "$" + key
	}
	tests := []struct{ name, enc string }{
		{"empty", ""},
		{"dollar", "$"},
		{"prefix only", "$argon2id$"},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"},
		{"argon2i", phc("argon2i", "v=19", "m=64,t=1,p=1", salt, key)},
		{"argon2d", phc("argon2d", "v=19", "m=64,t=1,p=1", salt, key)},
		{"upper-case alg", phc("ARGON2ID", "v=19", "m=64,t=1,p=1", salt, key)},
		{"version 16", phc("argon2id", "v=16", "m=64,t=1,p=1", salt, key)},
		{"version missing", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"no leading dollar", strings.TrimPrefix(good, "$")},
		{"trailing dollar", good + "$"},
		{"extra field", good + "$AAAA"},
		{"keyid param", phc("argon2id", "v=19", "m=64,t=1,p=1,keyid=abc", salt, key)},
		{"params reordered", phc("argon2id", "v=19", "t=1,m=64,p=1", salt, key)},
		{"params missing", phc("argon2id", "v=19", "m=64,t=1", salt, key)},
		{"params repeated", phc("argon2id", "v=19", "m=64,m=64,p=1", salt, key)},
		{"params spaced", phc("argon2id", "v=19", "m=64, t=1, p=1", salt, key)},
		{"leading zero", phc("argon2id", "v=19", "m=064,t=1,p=1", salt, key)},
		{"plus sign", phc("argon2id", "v=19", "m=+64,t=1,p=1", salt, key)},
		{"negative", phc("argon2id", "v=19", "m=64,t=-1,p=1", salt, key)},
		{"hex", phc("argon2id", "v=19", "m=0x40,t=1,p=1", salt, key)},
		{"empty number", phc("argon2id", "v=19", "m=,t=1,p=1", salt, key)},
		{"m zero", phc("argon2id", "v=19", "m=0,t=1,p=1", salt, key)},
		{"t zero", phc("argon2id", "v=19", "m=64,t=0,p=1", salt, key)},
		{"p zero", phc("argon2id", "v=19", "m=64,t=1,p=0", salt, key)},
		{"m below 8 per lane", phc("argon2id", "v=19", "m=15,t=1,p=2", salt, key)},
		{"m above 1 GiB", phc("argon2id", "v=19", "m=1048577,t=1,p=1", salt, key)},
		{"t above 10", phc("argon2id", "v=19", "m=64,t=11,p=1", salt, key)},
		{"p above 16", phc("argon2id", "v=19", "m=256,t=1,p=17", salt, key)},
		{"p wraps uint8", phc("argon2id", "v=19", "m=64,t=1,p=257", salt, key)},
		{"m above uint32", phc("argon2id", "v=19", "m=4294967360,t=1,p=1", salt, key)},
		{"huge number", phc("argon2id", "v=19", "m=99999999999999999999,t=1,p=1", salt, key)},
		{"salt 15 bytes", phc("argon2id", "v=19", "m=64,t=1,p=1", "AAAAAAAAAAAAAAAAAAAA", key)},
		{"salt 17 bytes", phc("argon2id", "v=19", "m=64,t=1,p=1", "AAAAAAAAAAAAAAAAAAAAAAA", key)},
		{"salt empty", phc("argon2id", "v=19", "m=64,t=1,p=1", "", key)},
		{"salt padded", phc("argon2id", "v=19", "m=64,t=1,p=1", salt+"==", key)},
		{"salt non-canonical bits", phc("argon2id", "v=19", "m=64,t=1,p=1", "AAAAAAAAAAAAAAAAAAAAAB", key)},
		{"salt url alphabet", phc("argon2id", "v=19", "m=64,t=1,p=1", "-_AAAAAAAAAAAAAAAAAAAA", key)},
		{"hash 31 bytes", phc("argon2id", "v=19", "m=64,t=1,p=1", salt, key[:42])},
		{"hash 33 bytes", phc("argon2id", "v=19", "m=64,t=1,p=1", salt, key+"AA")},
		{"hash with newline", phc("argon2id", "v=19", "m=64,t=1,p=1", salt, key[:42]+"\n")},
		{"hash with NUL", phc("argon2id", "v=19", "m=64,t=1,p=1", salt, key[:42]+"\x00")},
		{"non-ASCII", phc("argon2id", "v=19", "m=６４,t=1,p=1", salt, key)},
		{"oversized", good + strings.Repeat("A", 1<<20)},
		{"oversized params", phc("argon2id", "v=19", "m=64,t=1,p=1"+strings.Repeat(",x=1", 100), salt, key)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify("password", tc.enc)
			if ok || rehash || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify = %t, %t, %v; want false, false, ErrMalformedHash", ok, rehash, err)
			}
			if tc.enc != "" && strings.Contains(err.Error(), tc.enc) {
				t.Fatal("error contains the encoded hash")
			}
			if strings.Contains(err.Error(), "password") && !strings.Contains(ErrMalformedHash.Error(), "password") {
				t.Fatal("error mentions the password")
			}
		})
	}
	// The well-formed variants used above are accepted.
	if _, _, err := h.Verify("password", phc("argon2id", "v=19", "m=64,t=1,p=1", validSalt, validKey)); err != nil {
		t.Fatalf("well-formed encoding refused: %v", err)
	}
	if _, _, err := h.Verify("password", phc("argon2id", "v=19", "m=128,t=1,p=16", validSalt, validKey)); err != nil {
		t.Fatalf("p=16, m=8p refused: %v", err)
	}
}

func TestVerifyPasswordBounds(t *testing.T) {
	h := Hasher{Params: testParams}
	long := strings.Repeat("p", MaxPasswordLength)
	enc, err := h.Hash(long)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(long, enc); !ok || err != nil {
		t.Fatalf("1024-byte password: %t, %v", ok, err)
	}
	for _, pw := range []string{"", long + "p"} {
		ok, rehash, err := h.Verify(pw, enc)
		if ok || rehash || !errors.Is(err, ErrPasswordLength) {
			t.Errorf("Verify(%d bytes) = %t, %t, %v; want ErrPasswordLength", len(pw), ok, rehash, err)
		}
	}
}

func TestDummyVerify(t *testing.T) {
	// It must not panic whatever it is given, including parameters that
	// Hash would refuse.
	for _, h := range []Hasher{
		{Params: testParams},
		{Params: Params{Memory: 4, Time: 1, Threads: 1}},
		{Params: Params{Time: MaxTime + 5, Memory: 64}},
	} {
		if h.Params.Time > MaxTime {
			// Invalid parameters fall back to the defaults: slow, once.
			h.DummyVerify("")
			continue
		}
		h.DummyVerify("")
		h.DummyVerify("password")
		h.DummyVerify(strings.Repeat("x", 10*MaxPasswordLength))
	}
}

func TestCheckPasswordPolicy(t *testing.T) {
	tests := []struct {
		name    string
		pw      string
		wantErr string
	}{
		{"8 ASCII characters", "abcdefgh", ""},
		{"8 non-ASCII characters", "éééééééé", ""},
		{"spaces count", "a b c d ", ""},
		{"max bytes", strings.Repeat("a", MaxPasswordLength), ""},
		{"empty", "", "at least 8 characters"},
		{"7 characters", "abcdefg", "at least 8 characters"},
		{"7 characters in 14 bytes", "ééééééé", "at least 8 characters"},
		{"too long", strings.Repeat("a", MaxPasswordLength+1), "at most 1024 bytes"},
		{"invalid UTF-8", "abcdefgh\xff", "valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPasswordPolicy(tc.pw)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckPasswordPolicy: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrPasswordPolicy) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want ErrPasswordPolicy saying %q", err, tc.wantErr)
			}
			if tc.pw != "" && strings.Contains(err.Error(), tc.pw) {
				t.Fatal("error contains the password")
			}
		})
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"19456", 19456, true}, {"4294967295", 1<<32 - 1, true},
		{"4294967296", 0, false}, {"00", 0, false}, {"01", 0, false}, {"", 0, false},
		{"1a", 0, false}, {"-1", 0, false}, {"12345678901", 0, false}, {" 1", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseDecimal(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseDecimal(%q) = %d, %t; want %d, %t", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzVerify checks that Verify never panics and keeps its invariants on
// arbitrary input. Well-formed encodings with costly parameters are skipped
// so that the fuzzer stays fast; their parsing is still exercised.
func FuzzVerify(f *testing.F) {
	h := Hasher{Params: testParams}
	good, err := h.Hash("password")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("password", good)
	f.Add("wrong", good)
	f.Add("", good)
	f.Add("password", "")
	f.Add("password", "$argon2id$v=19$m=64,t=1,p=1$"+validSalt+"$"+validKey)
	f.Add("password", "$argon2id$v=19$m=1048577,t=1,p=1$"+validSalt+"$"+validKey)
	f.Add("password", "$argon2id$v=19$m=64,t=1,p=0$"+validSalt+"$"+validKey)
	f.Add("password", "$argon2id$v=19$m=0,t=1,p=1$"+validSalt+"$"+validKey)
	f.Add("password", "$argon2id$v=19$m=64,t=1,p=256$"+validSalt+"$"+validKey)
	f.Add("password", "$argon2i$v=19$m=64,t=1,p=1$"+validSalt+"$"+validKey)
	f.Add("password", "$$$$$")
	f.Fuzz(func(t *testing.T, password, encoded string) {
		if p, _, _, err := parsePHC(encoded); err == nil && (p.Memory > 1024 || p.Time > 2 || p.Threads > 4) {
			t.Skip("costly parameters")
		}
		ok, rehash, err := h.Verify(password, encoded)
		if err != nil && (ok || rehash) {
			t.Fatalf("error %v with ok=%t rehash=%t", err, ok, rehash)
		}
		if rehash && !ok {
			t.Fatal("needsRehash without a match")
		}
		if err != nil && !errors.Is(err, ErrMalformedHash) && !errors.Is(err, ErrPasswordLength) {
			t.Fatalf("unexpected error %v", err)
		}
		if err != nil && len(encoded) > 8 && strings.Contains(err.Error(), encoded) {
			t.Fatal("error contains the encoded hash")
		}
	})
}

// BenchmarkHashPassword measures one hash with the default parameters
// (OWASP: m=19456 KiB, t=2, p=1). Run it with
//
//	go test -run '^$' -bench HashPassword ./internal/authn/
func BenchmarkHashPassword(b *testing.B) {
	h := Hasher{}
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPassword measures one verification with the default
// parameters: the cost of a sign-in, and of DummyVerify.
func BenchmarkVerifyPassword(b *testing.B) {
	h := Hasher{}
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, _ := h.Verify("correct horse battery staple", enc); !ok {
			b.Fatal("no match")
		}
	}
}

func ExampleHasher() {
	h := Hasher{Params: Params{Memory: 64, Time: 1, Threads: 1}}
	enc, _ := h.Hash("correct horse battery staple")
	ok, needsRehash, err := h.Verify("correct horse battery staple", enc)
	fmt.Println(strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$"), ok, needsRehash, err)
	// Output: true true false <nil>
}
