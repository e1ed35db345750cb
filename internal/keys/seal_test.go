package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// testKeyBytes returns 32 distinct, recognizable key bytes.
func testKeyBytes(seed byte) []byte {
	b := make([]byte, MasterKeySize)
	for i := range b {
		b[i] = seed + byte(i)*7
	}
	b[0], b[1] = 0xfb, 0xff // "+/" in the standard alphabet, "-_" in the URL one
	return b
}

func mustMasterKey(t testing.TB, b []byte) MasterKey {
	t.Helper()
	mk, err := NewMasterKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

// secretForms lists the spellings of secret bytes that must never appear in
// output: base64 in both alphabets, padded or not, hex in both cases, and
// the fmt rendering of the byte slice.
func secretForms(b []byte) []string {
	return []string{
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		hex.EncodeToString(b),
		strings.ToUpper(hex.EncodeToString(b)),
		strings.Trim(fmt.Sprint(b), "[]"),
	}
}

func assertNoSecret(t *testing.T, what, out string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("%s contains secret material %q:\n%s", what, s, out)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // exact mode, whatever the umask
		t.Fatal(err)
	}
	return p
}

func TestLoadMasterKey(t *testing.T) {
	raw := testKeyBytes(1)
	want := mustMasterKey(t, raw)
	std := base64.StdEncoding.EncodeToString(raw)
	stdRaw := base64.RawStdEncoding.EncodeToString(raw)
	url := base64.URLEncoding.EncodeToString(raw)
	urlRaw := base64.RawURLEncoding.EncodeToString(raw)
	if std == url {
		t.Fatal("test key must differ between the standard and URL alphabets")
	}
	short := base64.StdEncoding.EncodeToString(raw[:16])
	long := base64.StdEncoding.EncodeToString(append(slicesClone(raw), 0))
	// Same length as a valid key but with non-zero padding bits: not canonical.
	nonCanonical := urlRaw[:len(urlRaw)-1] + string(flipLastBits(urlRaw[len(urlRaw)-1]))

	type file struct {
		content string
		mode    os.FileMode
		dir     bool
		missing bool
		symlink bool
	}
	tests := []struct {
		name      string
		env       map[string]string
		file      *file
		want      error // nil: success
		wantInMsg string
	}{
		{name: "env standard padded", env: map[string]string{EnvMasterKey: std}},
		{name: "env standard unpadded", env: map[string]string{EnvMasterKey: stdRaw}},
		{name: "env url padded", env: map[string]string{EnvMasterKey: url}},
		{name: "env url unpadded", env: map[string]string{EnvMasterKey: urlRaw}},
		{name: "neither set", env: map[string]string{}, want: ErrNoMasterKey},
		{name: "other variables only", env: map[string]string{"WRIT_MASTER": std}, want: ErrNoMasterKey},
		{name: "both set", env: map[string]string{EnvMasterKey: std}, file: &file{content: std, mode: 0o600}, want: ErrInvalidMasterKey, wantInMsg: "set only one"},
		{name: "env empty", env: map[string]string{EnvMasterKey: ""}, want: ErrInvalidMasterKey, wantInMsg: "empty"},
		{name: "file variable empty", env: map[string]string{EnvMasterKeyFile: ""}, want: ErrInvalidMasterKey, wantInMsg: "empty"},
		{name: "env 16 bytes", env: map[string]string{EnvMasterKey: short}, want: ErrInvalidMasterKey, wantInMsg: "got 16"},
		{name: "env 33 bytes", env: map[string]string{EnvMasterKey: long}, want: ErrInvalidMasterKey, wantInMsg: "got 33"},
		{name: "env far too long", env: map[string]string{EnvMasterKey: strings.Repeat("A", 200)}, want: ErrInvalidMasterKey},
		{name: "env not base64", env: map[string]string{EnvMasterKey: "not a key!"}, want: ErrInvalidMasterKey},
		{name: "env mixed alphabets", env: map[string]string{EnvMasterKey: "-+" + urlRaw[2:]}, want: ErrInvalidMasterKey},
		{name: "env trailing newline", env: map[string]string{EnvMasterKey: std + "\n"}, want: ErrInvalidMasterKey},
		{name: "env embedded newline", env: map[string]string{EnvMasterKey: std[:20] + "\n" + std[20:]}, want: ErrInvalidMasterKey},
		{name: "env surrounding space", env: map[string]string{EnvMasterKey: " " + std}, want: ErrInvalidMasterKey},
		{name: "env non-canonical padding bits", env: map[string]string{EnvMasterKey: nonCanonical}, want: ErrInvalidMasterKey},
		{name: "env bad padding", env: map[string]string{EnvMasterKey: urlRaw + "=="}, want: ErrInvalidMasterKey},
		{name: "file 0600 with newline", file: &file{content: urlRaw + "\n", mode: 0o600}},
		{name: "file 0400 without newline", file: &file{content: std, mode: 0o400}},
		{name: "file with CRLF", file: &file{content: std + "\r\n", mode: 0o600}},
		{name: "file through symlink", file: &file{content: std + "\n", mode: 0o600, symlink: true}},
		{name: "file two newlines", file: &file{content: std + "\n\n", mode: 0o600}, want: ErrInvalidMasterKey},
		{name: "file leading space", file: &file{content: " " + std + "\n", mode: 0o600}, want: ErrInvalidMasterKey},
		{name: "file empty", file: &file{content: "", mode: 0o600}, want: ErrInvalidMasterKey},
		{name: "file bad length", file: &file{content: short + "\n", mode: 0o600}, want: ErrInvalidMasterKey, wantInMsg: "got 16"},
		{name: "file too large", file: &file{content: strings.Repeat("A", 5000), mode: 0o600}, want: ErrInvalidMasterKey},
		{name: "file world readable", file: &file{content: std, mode: 0o644}, want: ErrInsecureMasterKeyFile, wantInMsg: "chmod 600"},
		{name: "file group readable", file: &file{content: std, mode: 0o640}, want: ErrInsecureMasterKeyFile, wantInMsg: "chmod 600"},
		{name: "file group writable", file: &file{content: std, mode: 0o620}, want: ErrInsecureMasterKeyFile, wantInMsg: "chmod 600"},
		{name: "file world writable", file: &file{content: std, mode: 0o602}, want: ErrInsecureMasterKeyFile, wantInMsg: "chmod 600"},
		{name: "file is a directory", file: &file{dir: true}, want: ErrInsecureMasterKeyFile},
		{name: "file missing", file: &file{missing: true}, want: fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			if f := tt.file; f != nil {
				if runtime.GOOS == "windows" && f.mode&0o077 != 0 {
					t.Skip("file modes are not checked on Windows")
				}
				dir := t.TempDir()
				p := filepath.Join(dir, "master.key")
				switch {
				case f.dir:
					if err := os.Mkdir(p, 0o700); err != nil {
						t.Fatal(err)
					}
				case f.missing:
				default:
					p = writeFile(t, dir, "master.key", f.content, f.mode)
				}
				if f.symlink {
					link := filepath.Join(dir, "link.key")
					if err := os.Symlink(p, link); err != nil {
						t.Skip("symlinks unavailable:", err)
					}
					p = link
				}
				env[EnvMasterKeyFile] = p
			}
			lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			got, err := LoadMasterKey(lookup)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("LoadMasterKey: %v", err)
				}
				if !got.Equal(want) {
					t.Fatalf("loaded key %v, want %v", got, want)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if got.valid() {
				t.Fatal("a failed load returned a usable key")
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantInMsg)
			}
			assertNoSecret(t, "error", err.Error(), secretForms(raw))
			for _, v := range env {
				if len(v) > 8 && !strings.Contains(v, string(filepath.Separator)) {
					if strings.Contains(err.Error(), strings.TrimSpace(v)) {
						t.Errorf("error %q echoes the configured value", err)
					}
				}
			}
		})
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// flipLastBits returns another base64url character with the same top bits,
// so that only the (unused) low bits of the last character change.
func flipLastBits(c byte) byte {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alpha, c)
	return alpha[i^1]
}

func TestLoadMasterKeyDefaultsToProcessEnvironment(t *testing.T) {
	raw := testKeyBytes(9)
	t.Setenv(EnvMasterKey, base64.StdEncoding.EncodeToString(raw))
	mk, err := LoadMasterKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !mk.Equal(mustMasterKey(t, raw)) {
		t.Fatal("LoadMasterKey(nil) did not read the process environment")
	}
}

func TestNewMasterKeyLength(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31, 33, 64} {
		if _, err := NewMasterKey(make([]byte, n)); !errors.Is(err, ErrInvalidMasterKey) {
			t.Errorf("NewMasterKey(%d bytes): %v, want ErrInvalidMasterKey", n, err)
		}
	}
	b := testKeyBytes(3)
	mk := mustMasterKey(t, b)
	b[0] ^= 0xff // the MasterKey holds a copy
	if !mk.Equal(mustMasterKey(t, testKeyBytes(3))) {
		t.Fatal("NewMasterKey kept a reference to the caller's slice")
	}
}

func TestGenerateMasterKey(t *testing.T) {
	raw := testKeyBytes(5)
	tests := []struct {
		name    string
		rand    io.Reader
		wantErr error
		wantKey []byte
	}{
		{name: "deterministic reader", rand: bytes.NewReader(raw), wantKey: raw},
		{name: "short reader", rand: bytes.NewReader(raw[:10]), wantErr: io.ErrUnexpectedEOF},
		{name: "empty reader", rand: bytes.NewReader(nil), wantErr: io.EOF},
		{name: "crypto/rand", rand: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mk, err := GenerateMasterKey(tt.rand)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantKey != nil {
				if !mk.Equal(mustMasterKey(t, tt.wantKey)) {
					t.Fatal("key does not hold the reader's bytes")
				}
				sum := sha256.Sum256(tt.wantKey)
				if mk.ID() != hex.EncodeToString(sum[:8]) {
					t.Fatalf("ID %s, want first 8 bytes of SHA-256", mk.ID())
				}
			}
		})
	}
	a, _ := GenerateMasterKey(nil)
	b, _ := GenerateMasterKey(nil)
	if a.Equal(b) {
		t.Fatal("two generated master keys are equal")
	}
}

func TestMasterKeyEqual(t *testing.T) {
	a, b := mustMasterKey(t, testKeyBytes(1)), mustMasterKey(t, testKeyBytes(2))
	tests := []struct {
		x, y MasterKey
		want bool
	}{
		{a, a, true},
		{a, mustMasterKey(t, testKeyBytes(1)), true},
		{a, b, false},
		{a, MasterKey{}, false},
		{MasterKey{}, MasterKey{}, true},
		{mustMasterKey(t, make([]byte, 32)), MasterKey{}, false}, // all-zero key is still a key
	}
	for i, tt := range tests {
		if got := tt.x.Equal(tt.y); got != tt.want {
			t.Errorf("%d: Equal = %v, want %v", i, got, tt.want)
		}
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	mk := mustMasterKey(t, testKeyBytes(1))
	tests := []struct {
		name   string
		pt, ad []byte
	}{
		{"empty", nil, nil},
		{"short with ad", []byte("secret"), []byte("kid-1")},
		{"no ad", []byte(`{"kty":"EC","d":"..."}`), nil},
		{"large", bytes.Repeat([]byte{0xA5}, 1<<16), []byte("x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := mk.Seal(tt.pt, tt.ad)
			if err != nil {
				t.Fatal(err)
			}
			if len(sealed) != envelopeFixed+len(tt.pt) {
				t.Fatalf("sealed length %d, want %d", len(sealed), envelopeFixed+len(tt.pt))
			}
			if sealed[0] != sealVersion1 || hex.EncodeToString(sealed[1:9]) != mk.ID() {
				t.Fatalf("envelope header % x does not carry version and master key id", sealed[:9])
			}
			if len(tt.pt) > 4 && bytes.Contains(sealed, tt.pt) {
				t.Fatal("plaintext visible in the envelope")
			}
			got, err := mk.Open(sealed, tt.ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.pt) {
				t.Fatal("round trip changed the plaintext")
			}
		})
	}
	s1, _ := mk.Seal([]byte("same"), nil)
	s2, _ := mk.Seal([]byte("same"), nil)
	if bytes.Equal(s1[headerSize:headerSize+nonceSize], s2[headerSize:headerSize+nonceSize]) {
		t.Fatal("two seals used the same nonce")
	}
}

// TestOpenKnownEnvelope pins the envelope format: an envelope built here by
// hand with crypto/aes must open, so stored data stays readable.
func TestOpenKnownEnvelope(t *testing.T) {
	raw := testKeyBytes(7)
	mk := mustMasterKey(t, raw)
	block, _ := aes.NewCipher(raw)
	gcm, _ := cipher.NewGCM(block)
	sum := sha256.Sum256(raw)
	header := append([]byte{1}, sum[:8]...)
	nonce := bytes.Repeat([]byte{0x42}, 12)
	ad := []byte("kid-7")
	ct := gcm.Seal(nil, nonce, []byte("hello"), append(slicesClone(header), ad...))
	env := append(append(slicesClone(header), nonce...), ct...)
	got, err := mk.Open(env, ad)
	if err != nil || string(got) != "hello" {
		t.Fatalf("Open(known envelope) = %q, %v", got, err)
	}
	// The header is authenticated: the same ciphertext without it in the
	// additional data must not open.
	ct2 := gcm.Seal(nil, nonce, []byte("hello"), ad)
	env2 := append(append(slicesClone(header), nonce...), ct2...)
	if _, err := mk.Open(env2, ad); !errors.Is(err, ErrSealedCorrupt) {
		t.Fatalf("envelope without authenticated header: %v, want ErrSealedCorrupt", err)
	}
}

func TestOpenRejects(t *testing.T) {
	mk := mustMasterKey(t, testKeyBytes(1))
	other := mustMasterKey(t, testKeyBytes(2))
	pt, ad := []byte("private jwk"), []byte("kid-A")
	sealed, err := mk.Seal(pt, ad)
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func([]byte) []byte) []byte { return f(slicesClone(sealed)) }
	tests := []struct {
		name   string
		key    MasterKey
		sealed []byte
		ad     []byte
		want   error
	}{
		{"wrong master key", other, sealed, ad, ErrWrongMasterKey},
		{"other associated data", mk, sealed, []byte("kid-B"), ErrSealedCorrupt},
		{"missing associated data", mk, sealed, nil, ErrSealedCorrupt},
		{"extended associated data", mk, sealed, []byte("kid-AA"), ErrSealedCorrupt},
		{"empty", mk, nil, ad, ErrSealedCorrupt},
		{"header only", mk, sealed[:headerSize], ad, ErrSealedCorrupt},
		{"no tag", mk, sealed[:envelopeFixed-1], ad, ErrSealedCorrupt},
		{"truncated by one", mk, sealed[:len(sealed)-1], ad, ErrSealedCorrupt},
		{"appended byte", mk, append(slicesClone(sealed), 0), ad, ErrSealedCorrupt},
		{"version 0", mk, mod(func(b []byte) []byte { b[0] = 0; return b }), ad, ErrSealedCorrupt},
		{"version 2", mk, mod(func(b []byte) []byte { b[0] = 2; return b }), ad, ErrSealedCorrupt},
		{"zero master key", MasterKey{}, sealed, ad, ErrInvalidMasterKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.key.Open(tt.sealed, tt.ad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatal("Open returned plaintext with an error")
			}
			if strings.Contains(err.Error(), string(pt)) {
				t.Fatalf("error %q contains the plaintext", err)
			}
		})
	}
	// Every single-bit change anywhere in the envelope is detected: in the
	// master key id it reads as another master key, elsewhere as corruption.
	for i := range sealed {
		for bit := range 8 {
			b := slicesClone(sealed)
			b[i] ^= 1 << bit
			_, err := mk.Open(b, ad)
			want := ErrSealedCorrupt
			if i >= 1 && i < headerSize {
				want = ErrWrongMasterKey
			}
			if !errors.Is(err, want) {
				t.Fatalf("byte %d bit %d flipped: %v, want %v", i, bit, err, want)
			}
		}
	}
	if _, err := (MasterKey{}).Seal(pt, ad); !errors.Is(err, ErrInvalidMasterKey) {
		t.Fatalf("Seal with zero MasterKey: %v", err)
	}
}

func TestMasterKeyNeverPrinted(t *testing.T) {
	raw := testKeyBytes(11)
	mk := mustMasterKey(t, raw)
	secrets := secretForms(raw)
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%b", "%T", "%p"} {
		outs = append(outs, fmt.Sprintf(verb, mk), fmt.Sprintf(verb, &mk))
	}
	outs = append(outs, fmt.Sprint(mk), fmt.Sprintln(mk, []MasterKey{mk}), fmt.Sprintf("%v", struct{ K MasterKey }{mk}), mk.String(), mk.GoString())
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("loaded", "mk", mk, "ptr", &mk)
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("loaded", "mk", mk)
	outs = append(outs, logBuf.String())
	j, err := json.Marshal(mk)
	if err == nil {
		outs = append(outs, string(j))
	}
	for _, out := range outs {
		assertNoSecret(t, "formatted MasterKey", out, secrets)
	}
	if !strings.Contains(fmt.Sprint(mk), mk.ID()) {
		t.Errorf("String %q does not name the key id", mk)
	}
	if got := fmt.Sprint(MasterKey{}); got != "keys.MasterKey(none)" {
		t.Errorf("zero MasterKey prints %q", got)
	}
}

func TestWriteMasterKeyFile(t *testing.T) {
	dir := t.TempDir()
	mk := mustMasterKey(t, testKeyBytes(4))
	p := filepath.Join(dir, "master.key")
	if err := WriteMasterKeyFile(p, mk); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := LoadMasterKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(mk) {
		t.Fatal("written key does not load back")
	}
	// Never overwrite: a second key would orphan everything sealed so far.
	if err := WriteMasterKeyFile(p, mustMasterKey(t, testKeyBytes(5))); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: %v, want fs.ErrExist", err)
	}
	if again, _ := LoadMasterKeyFile(p); !again.Equal(mk) {
		t.Fatal("the existing key file was changed")
	}
	if err := WriteMasterKeyFile(filepath.Join(dir, "zero.key"), MasterKey{}); !errors.Is(err, ErrInvalidMasterKey) {
		t.Fatalf("zero key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "zero.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a file was created for the zero key")
	}
}
