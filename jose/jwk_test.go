package jose_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
)

// vtJWK returns k's JWK (private members included when k has them) after
// edit has changed its members.
func vtJWK(tb testing.TB, k *jose.Key, edit func(map[string]any)) []byte {
	tb.Helper()
	b, err := json.Marshal(k)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	b, err = json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func vtEnc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func vtBig(v *big.Int) string { return vtEnc(v.Bytes()) }

// vtECWithLeadingZeroX generates P-256 keys until one has an x coordinate
// whose first byte is zero.
func vtECWithLeadingZeroX(t *testing.T) *jose.Key {
	for range 1 << 16 {
		pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := pk.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if pub[1] == 0 {
			return vtNewKey(t, jose.ES256, pk)
		}
	}
	t.Fatal("no P-256 key with a leading zero x found")
	return nil
}

func TestParseKeyTable(t *testing.T) {
	es := vtGen(t, jose.ES256)
	es384 := vtGen(t, jose.ES384)
	es512 := vtGen(t, jose.ES512)
	esOther := vtGen(t, jose.ES256)
	rs := vtGen(t, jose.RS256)
	rsOther := vtGen(t, jose.RS256)
	ed := vtGen(t, jose.EdDSA)
	edOther := vtGen(t, jose.EdDSA)
	hs := vtGen(t, jose.HS256)
	zx := vtECWithLeadingZeroX(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	esJ := func(edit func(map[string]any)) []byte { return vtJWK(t, es.Public(), edit) }
	esPrivJ := func(edit func(map[string]any)) []byte { return vtJWK(t, es, edit) }
	rsJ := func(edit func(map[string]any)) []byte { return vtJWK(t, rs.Public(), edit) }
	rsPrivJ := func(edit func(map[string]any)) []byte { return vtJWK(t, rs, edit) }
	edJ := func(edit func(map[string]any)) []byte { return vtJWK(t, ed.Public(), edit) }
	hsJ := func(edit func(map[string]any)) []byte { return vtJWK(t, hs, edit) }
	member := func(b []byte, name string) string {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m[name].(string)
	}
	otherRSPriv := vtJWK(t, rsOther, nil)
	otherESPriv := vtJWK(t, esOther, nil)
	otherEdPriv := vtJWK(t, edOther, nil)
	n := rs.PublicKey().(*rsa.PublicKey).N
	x := vtUnB64(t, member(esJ(nil), "x"))
	y := vtUnB64(t, member(esJ(nil), "y"))
	badY := append([]byte{}, y...)
	badY[len(badY)-1] ^= 1
	curveN := elliptic.P256().Params().N

	tests := []struct {
		name    string
		jwk     []byte
		want    error
		wantAlg jose.Algorithm // for accepted keys
		private bool
	}{
		// EC.
		{"EC P-256 public", esJ(nil), nil, jose.ES256, false},
		{"EC P-384 public", vtJWK(t, es384.Public(), nil), nil, jose.ES384, false},
		{"EC P-521 public", vtJWK(t, es512.Public(), nil), nil, jose.ES512, false},
		{"EC P-521 private", vtJWK(t, es512, nil), nil, jose.ES512, true},
		{"EC private", esPrivJ(nil), nil, jose.ES256, true},
		{"EC without alg bound by curve", esJ(func(m map[string]any) { delete(m, "alg") }), nil, jose.ES256, false},
		{"EC P-384 without alg", vtJWK(t, es384.Public(), func(m map[string]any) { delete(m, "alg") }), nil, jose.ES384, false},
		{"EC x with leading zero", vtJWK(t, zx.Public(), nil), nil, jose.ES256, false},
		{"EC x leading zero stripped", vtJWK(t, zx.Public(), func(m map[string]any) {
			m["x"] = vtEnc(vtUnB64(t, m["x"].(string))[1:])
		}), jose.ErrInvalidKey, "", false},
		{"EC point not on curve", esJ(func(m map[string]any) { m["y"] = vtEnc(badY) }), jose.ErrInvalidKey, "", false},
		{"EC point at infinity", esJ(func(m map[string]any) { m["x"] = vtEnc(make([]byte, 32)); m["y"] = vtEnc(make([]byte, 32)) }), jose.ErrInvalidKey, "", false},
		{"EC x too short", esJ(func(m map[string]any) { m["x"] = vtEnc(x[1:]) }), jose.ErrInvalidKey, "", false},
		{"EC x too long", esJ(func(m map[string]any) { m["x"] = vtEnc(append([]byte{0}, x...)) }), jose.ErrInvalidKey, "", false},
		{"EC y too long", esJ(func(m map[string]any) { m["y"] = vtEnc(append([]byte{0}, y...)) }), jose.ErrInvalidKey, "", false},
		{"EC P-384 coordinates on P-256", vtJWK(t, es384.Public(), func(m map[string]any) { m["crv"] = "P-256"; delete(m, "alg") }), jose.ErrInvalidKey, "", false},
		{"EC missing y", esJ(func(m map[string]any) { delete(m, "y") }), jose.ErrInvalidKey, "", false},
		{"EC x padded", esJ(func(m map[string]any) { m["x"] = base64.URLEncoding.EncodeToString(x) }), jose.ErrInvalidKey, "", false},
		{"EC x standard base64", esJ(func(m map[string]any) { m["x"] = base64.RawStdEncoding.EncodeToString(x) + "+/" }), jose.ErrInvalidKey, "", false},
		{"EC x number", esJ(func(m map[string]any) { m["x"] = 1 }), jose.ErrInvalidKey, "", false},
		{"EC unknown curve", esJ(func(m map[string]any) { m["crv"] = "P-192" }), jose.ErrUnsupportedAlg, "", false},
		{"EC secp256k1", esJ(func(m map[string]any) { m["crv"] = "secp256k1"; delete(m, "alg") }), jose.ErrUnsupportedAlg, "", false},
		{"EC curve with wrong alg", esJ(func(m map[string]any) { m["alg"] = "ES384" }), jose.ErrKeyAlgMismatch, "", false},
		{"EC key with HMAC alg", esJ(func(m map[string]any) { m["alg"] = "HS256" }), jose.ErrKeyAlgMismatch, "", false},
		{"EC key with RSA alg", esJ(func(m map[string]any) { m["alg"] = "RS256" }), jose.ErrKeyAlgMismatch, "", false},
		{"EC private d of other key", esPrivJ(func(m map[string]any) { m["d"] = member(otherESPriv, "d") }), jose.ErrInvalidKey, "", false},
		{"EC private d short", esPrivJ(func(m map[string]any) { m["d"] = vtEnc(vtUnB64(t, m["d"].(string))[1:]) }), jose.ErrInvalidKey, "", false},
		{"EC private d zero", esPrivJ(func(m map[string]any) { m["d"] = vtEnc(make([]byte, 32)) }), jose.ErrInvalidKey, "", false},
		{"EC private d = n", esPrivJ(func(m map[string]any) { m["d"] = vtEnc(curveN.FillBytes(make([]byte, 32))) }), jose.ErrInvalidKey, "", false},

		// RSA.
		{"RSA public", rsJ(nil), nil, jose.RS256, false},
		{"RSA private", rsPrivJ(nil), nil, jose.RS256, true},
		{"RSA bound to PS384", rsJ(func(m map[string]any) { m["alg"] = "PS384" }), nil, jose.PS384, false},
		{"RSA without alg", rsJ(func(m map[string]any) { delete(m, "alg") }), jose.ErrInvalidKey, "", false},
		{"RSA 1024 bits", rsJ(func(m map[string]any) { m["n"] = vtBig(small.N) }), jose.ErrInvalidKey, "", false},
		{"RSA 2047 bits", rsJ(func(m map[string]any) { m["n"] = vtBig(new(big.Int).Rsh(n, 1)) }), jose.ErrInvalidKey, "", false},
		{"RSA e=1", rsJ(func(m map[string]any) { m["e"] = "AQ" }), jose.ErrInvalidKey, "", false},
		{"RSA e=2", rsJ(func(m map[string]any) { m["e"] = "Ag" }), jose.ErrInvalidKey, "", false},
		{"RSA e=65536", rsJ(func(m map[string]any) { m["e"] = vtBig(big.NewInt(65536)) }), jose.ErrInvalidKey, "", false},
		{"RSA e=3", rsJ(func(m map[string]any) { m["e"] = "Aw" }), nil, jose.RS256, false},
		{"RSA e=0", rsJ(func(m map[string]any) { m["e"] = "AA" }), jose.ErrInvalidKey, "", false},
		{"RSA e empty", rsJ(func(m map[string]any) { m["e"] = "" }), jose.ErrInvalidKey, "", false},
		{"RSA e leading zero", rsJ(func(m map[string]any) { m["e"] = "AAEAAQ" }), jose.ErrInvalidKey, "", false},
		{"RSA e 2^40+1", rsJ(func(m map[string]any) { m["e"] = vtBig(big.NewInt(1<<40 + 1)) }), jose.ErrInvalidKey, "", false},
		{"RSA n leading zero", rsJ(func(m map[string]any) { m["n"] = vtEnc(append([]byte{0}, n.Bytes()...)) }), jose.ErrInvalidKey, "", false},
		{"RSA 8193 bits", rsJ(func(m map[string]any) { m["n"] = vtBig(new(big.Int).Lsh(big.NewInt(1), 8192)) }), jose.ErrInvalidKey, "", false},
		{"RSA n padded", rsJ(func(m map[string]any) { m["n"] = base64.URLEncoding.EncodeToString(n.Bytes()) + "=" }), jose.ErrInvalidKey, "", false},
		{"RSA private d of other key", rsPrivJ(func(m map[string]any) { m["d"] = member(otherRSPriv, "d") }), jose.ErrInvalidKey, "", false},
		{"RSA private primes of other key", rsPrivJ(func(m map[string]any) {
			for _, k := range []string{"p", "q", "dp", "dq", "qi"} {
				m[k] = member(otherRSPriv, k)
			}
		}), jose.ErrInvalidKey, "", false},
		{"RSA private other key whole", rsJ(func(m map[string]any) {
			for _, k := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				m[k] = member(otherRSPriv, k)
			}
		}), jose.ErrInvalidKey, "", false},
		{"RSA private dp wrong", rsPrivJ(func(m map[string]any) { m["dp"] = m["dq"] }), jose.ErrInvalidKey, "", false},
		{"RSA private qi wrong", rsPrivJ(func(m map[string]any) { m["qi"] = "AQ" }), jose.ErrInvalidKey, "", false},
		{"RSA private without CRT", rsPrivJ(func(m map[string]any) { delete(m, "dp"); delete(m, "dq"); delete(m, "qi") }), jose.ErrInvalidKey, "", false},
		{"RSA private d only", rsJ(func(m map[string]any) { m["d"] = member(rsPrivJ(nil), "d") }), jose.ErrInvalidKey, "", false},
		{"RSA oth", rsPrivJ(func(m map[string]any) { m["oth"] = []any{map[string]any{"r": "AQ", "d": "AQ", "t": "AQ"}} }), jose.ErrInvalidKey, "", false},
		{"RSA with ES256", rsJ(func(m map[string]any) { m["alg"] = "ES256" }), jose.ErrKeyAlgMismatch, "", false},
		{"RSA with HS256", rsJ(func(m map[string]any) { m["alg"] = "HS256" }), jose.ErrKeyAlgMismatch, "", false},
		{"RSA with unknown alg", rsJ(func(m map[string]any) { m["alg"] = "RS1" }), jose.ErrUnsupportedAlg, "", false},
		{"RSA with alg none", rsJ(func(m map[string]any) { m["alg"] = "none" }), jose.ErrUnsupportedAlg, "", false},
		{"RSA encryption alg", rsJ(func(m map[string]any) { m["alg"] = "RSA-OAEP-256"; m["use"] = "enc" }), nil, jose.RSAOAEP256, false},

		// OKP.
		{"Ed25519 public", edJ(nil), nil, jose.EdDSA, false},
		{"Ed25519 private", vtJWK(t, ed, nil), nil, jose.EdDSA, true},
		{"Ed25519 without alg", edJ(func(m map[string]any) { delete(m, "alg") }), nil, jose.EdDSA, false},
		{"Ed25519 x short", edJ(func(m map[string]any) { m["x"] = vtEnc(make([]byte, 31)) }), jose.ErrInvalidKey, "", false},
		{"Ed25519 x long", edJ(func(m map[string]any) { m["x"] = vtEnc(make([]byte, 33)) }), jose.ErrInvalidKey, "", false},
		{"Ed25519 d of other key", vtJWK(t, ed, func(m map[string]any) { m["d"] = member(otherEdPriv, "d") }), jose.ErrInvalidKey, "", false},
		{"Ed25519 d as 64-byte key", vtJWK(t, ed, func(m map[string]any) {
			m["d"] = vtEnc(ed.CryptoKey().(ed25519.PrivateKey))
		}), jose.ErrInvalidKey, "", false},
		{"X25519", edJ(func(m map[string]any) { m["crv"] = "X25519"; delete(m, "alg") }), jose.ErrUnsupportedAlg, "", false},
		{"Ed448", edJ(func(m map[string]any) { m["crv"] = "Ed448" }), jose.ErrUnsupportedAlg, "", false},
		{"OKP with ES256", edJ(func(m map[string]any) { m["alg"] = "ES256" }), jose.ErrKeyAlgMismatch, "", false},

		// oct.
		{"oct HS256", hsJ(nil), nil, jose.HS256, true},
		{"oct without alg", hsJ(func(m map[string]any) { delete(m, "alg") }), jose.ErrInvalidKey, "", false},
		{"oct HS256 short", hsJ(func(m map[string]any) { m["k"] = vtEnc(make([]byte, 31)) }), jose.ErrInvalidKey, "", false},
		{"oct HS512 with 32 bytes", hsJ(func(m map[string]any) { m["alg"] = "HS512" }), jose.ErrInvalidKey, "", false},
		{"oct empty k", hsJ(func(m map[string]any) { m["k"] = "" }), jose.ErrInvalidKey, "", false},
		{"oct missing k", hsJ(func(m map[string]any) { delete(m, "k") }), jose.ErrInvalidKey, "", false},
		{"oct k padded", hsJ(func(m map[string]any) { m["k"] = m["k"].(string) + "=" }), jose.ErrInvalidKey, "", false},
		{"oct with RS256", hsJ(func(m map[string]any) { m["alg"] = "RS256" }), jose.ErrKeyAlgMismatch, "", false},
		{"oct with ES256", hsJ(func(m map[string]any) { m["alg"] = "ES256" }), jose.ErrKeyAlgMismatch, "", false},
		{"oct dir", hsJ(func(m map[string]any) { m["alg"] = "dir"; delete(m, "use") }), nil, jose.Direct, true},

		// use and key_ops.
		{"use sig", esJ(func(m map[string]any) { m["use"] = "sig" }), nil, jose.ES256, false},
		{"use enc", esJ(func(m map[string]any) { m["use"] = "enc" }), nil, jose.ES256, false},
		{"use unknown", esJ(func(m map[string]any) { m["use"] = "signature" }), jose.ErrInvalidKey, "", false},
		{"use number", esJ(func(m map[string]any) { m["use"] = 1 }), jose.ErrInvalidKey, "", false},
		{"key_ops verify", esJ(func(m map[string]any) { m["key_ops"] = []string{"verify"} }), nil, jose.ES256, false},
		{"key_ops sign verify", esPrivJ(func(m map[string]any) { m["key_ops"] = []string{"sign", "verify"} }), nil, jose.ES256, true},
		{"key_ops duplicate", esJ(func(m map[string]any) { m["key_ops"] = []string{"verify", "verify"} }), jose.ErrInvalidKey, "", false},
		{"key_ops unknown", esJ(func(m map[string]any) { m["key_ops"] = []string{"verify", "fly"} }), jose.ErrInvalidKey, "", false},
		{"key_ops case", esJ(func(m map[string]any) { m["key_ops"] = []string{"Verify"} }), jose.ErrInvalidKey, "", false},
		{"key_ops not array", esJ(func(m map[string]any) { m["key_ops"] = "verify" }), jose.ErrInvalidKey, "", false},
		{"use enc with verify", esJ(func(m map[string]any) { m["use"] = "enc"; m["key_ops"] = []string{"verify"} }), jose.ErrInvalidKey, "", false},
		{"use enc with sign", esPrivJ(func(m map[string]any) { m["use"] = "enc"; m["key_ops"] = []string{"sign"} }), jose.ErrInvalidKey, "", false},
		{"use sig with encrypt", esJ(func(m map[string]any) { m["use"] = "sig"; m["key_ops"] = []string{"encrypt"} }), jose.ErrInvalidKey, "", false},
		{"use sig with unwrapKey", esJ(func(m map[string]any) { m["use"] = "sig"; m["key_ops"] = []string{"unwrapKey"} }), jose.ErrInvalidKey, "", false},
		{"use enc with wrapKey", esJ(func(m map[string]any) { m["use"] = "enc"; m["key_ops"] = []string{"wrapKey"} }), nil, jose.ES256, false},

		// Document level.
		{"kty missing", esJ(func(m map[string]any) { delete(m, "kty") }), jose.ErrInvalidKey, "", false},
		{"kty empty", esJ(func(m map[string]any) { m["kty"] = "" }), jose.ErrInvalidKey, "", false},
		{"kty unknown", esJ(func(m map[string]any) { m["kty"] = "XYZ" }), jose.ErrUnsupportedAlg, "", false},
		{"kty lower case", esJ(func(m map[string]any) { m["kty"] = "ec" }), jose.ErrUnsupportedAlg, "", false},
		{"kty number", esJ(func(m map[string]any) { m["kty"] = 2 }), jose.ErrInvalidKey, "", false},
		{"kid number", esJ(func(m map[string]any) { m["kid"] = 2 }), jose.ErrInvalidKey, "", false},
		{"unknown members ignored", esJ(func(m map[string]any) { m["x5t"] = "abc"; m["ext"] = true; m["nested"] = map[string]any{"a": []int{1}} }), nil, jose.ES256, false},
		{"duplicate member", []byte(strings.Replace(string(esJ(nil)), `"kty":"EC"`, `"kty":"EC","kty":"EC"`, 1)), jose.ErrInvalidKey, "", false},
		{"duplicate x escaped", []byte(strings.Replace(string(esJ(nil)), `"kty":"EC"`, `"kty":"EC","\u0078":"AAAA"`, 1)), jose.ErrInvalidKey, "", false},
		{"not JSON", []byte(`kty=EC`), jose.ErrInvalidKey, "", false},
		{"array", []byte(`[` + string(esJ(nil)) + `]`), jose.ErrInvalidKey, "", false},
		{"trailing bytes", append(esJ(nil), 'x'), jose.ErrInvalidKey, "", false},
		{"two objects", append(esJ(nil), esJ(nil)...), jose.ErrInvalidKey, "", false},
		{"empty", nil, jose.ErrInvalidKey, "", false},
		{"null", []byte(`null`), jose.ErrInvalidKey, "", false},
		{"empty object", []byte(`{}`), jose.ErrInvalidKey, "", false},
		{"invalid UTF-8", []byte("{\"kty\":\"EC\xff\"}"), jose.ErrInvalidKey, "", false},
		{"too deep", []byte(`{"kty":"EC","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`), jose.ErrInvalidKey, "", false},
		{"too large", esJ(func(m map[string]any) { m["pad"] = strings.Repeat("a", jose.MaxJWKSize) }), jose.ErrInvalidKey, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := jose.ParseKey(tt.jwk)
			if !vtIs(err, tt.want) {
				t.Fatalf("ParseKey(%.200s) = %v, want %v", tt.jwk, err, tt.want)
			}
			if err != nil {
				if k != nil {
					t.Fatal("ParseKey returned a key with an error")
				}
				return
			}
			if k.Algorithm() != tt.wantAlg || k.IsPrivate() != tt.private {
				t.Fatalf("alg %s private %v, want %s %v", k.Algorithm(), k.IsPrivate(), tt.wantAlg, tt.private)
			}
		})
	}
}

// TestParseKeyMemberNamesAreCaseSensitive documents a parser differential:
// encoding/json matches "X" (or "KTY", or "ｘ" folded forms such as the
// Kelvin sign) to the "x" field and the last match wins, so a JWK with
// both "x" and "X" is read with the value of whichever comes last, while a
// case-sensitive reader takes "x".
func TestParseKeyMemberNamesAreCaseSensitive(t *testing.T) {
	es := vtGen(t, jose.ES256)
	other := vtGen(t, jose.ES256)
	good := string(vtJWK(t, es.Public(), nil))
	var om map[string]any
	if err := json.Unmarshal(vtJWK(t, other.Public(), nil), &om); err != nil {
		t.Fatal(err)
	}
	ox, oy := om["x"].(string), om["y"].(string)
	for _, in := range []string{
		good[:len(good)-1] + `,"X":"` + ox + `","Y":"` + oy + `"}`,
		good[:len(good)-1] + `,"\u212a":"x","KTY":"RSA"}`,
		good[:len(good)-1] + `,"ALG":"ES384"}`,
	} {
		// Either the upper-case members are ignored (unknown members) or
		// the document is refused; it must never be read as another key.
		k, err := jose.ParseKey([]byte(in))
		if err == nil {
			if k.ThumbprintSHA256() != es.ThumbprintSHA256() || k.Algorithm() != jose.ES256 {
				t.Errorf("ParseKey(%s) took the upper-case members", in)
			}
		} else if !errors.Is(err, jose.ErrInvalidKey) {
			t.Errorf("ParseKey(%s) = %v, want ErrInvalidKey or the lower-case key", in, err)
		}
	}
}

// TestEvenRSAModulusNeverVerifies: an even modulus is not an RSA modulus.
// ParseKey may refuse it (better) or accept it, but a token must never
// verify with it.
func TestEvenRSAModulusNeverVerifies(t *testing.T) {
	rs := vtGen(t, jose.RS256)
	n := rs.PublicKey().(*rsa.PublicKey).N
	k, err := jose.ParseKey(vtJWK(t, rs.Public(), func(m map[string]any) { m["n"] = vtBig(new(big.Int).Add(n, big.NewInt(1))) }))
	if err != nil {
		if !errors.Is(err, jose.ErrInvalidKey) {
			t.Fatalf("ParseKey = %v, want ErrInvalidKey", err)
		}
		return
	}
	j, err := jose.ParseCompact(vtSign(t, rs, vtPayload, &jose.SignOptions{OmitKeyID: true}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Verify(jose.NewKeySet(k)); !errors.Is(err, jose.ErrSignature) {
		t.Fatalf("Verify = %v, want ErrSignature", err)
	}
	if _, err := j.Verify(jose.NewKeySet(rs.Public())); err != nil {
		t.Fatalf("positive control: %v", err)
	}
}

func TestParseKeyKeepsMembers(t *testing.T) {
	es := vtGen(t, jose.ES256)
	tests := []struct {
		name string
		edit func(map[string]any)
		kid  string
		use  string
	}{
		{"kid kept", func(m map[string]any) { m["kid"] = "my key" }, "my key", "sig"},
		{"no kid: thumbprint", func(m map[string]any) { delete(m, "kid") }, es.ThumbprintSHA256(), "sig"},
		{"no use stays empty", func(m map[string]any) { delete(m, "use") }, es.KeyID(), ""},
		{"use enc kept", func(m map[string]any) { m["use"] = "enc" }, es.KeyID(), "enc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := jose.ParseKey(vtJWK(t, es.Public(), tt.edit))
			if err != nil {
				t.Fatal(err)
			}
			if k.KeyID() != tt.kid || k.Use() != tt.use {
				t.Fatalf("kid %q use %q, want %q %q", k.KeyID(), k.Use(), tt.kid, tt.use)
			}
		})
	}
}

// vtSetJSON builds a JWK Set document from raw key documents.
func vtSetJSON(keys ...[]byte) []byte {
	return []byte(`{"keys":[` + string(bytes.Join(keys, []byte(","))) + `]}`)
}

func TestParseKeySetTable(t *testing.T) {
	es := vtGen(t, jose.ES256)
	rs := vtGen(t, jose.RS256)
	ed := vtGen(t, jose.EdDSA)
	hs := vtGen(t, jose.HS256)
	esJ := vtJWK(t, es.Public(), nil)
	rsJ := vtJWK(t, rs.Public(), nil)
	edJ := vtJWK(t, ed.Public(), nil)
	unknownKty := []byte(`{"kty":"XYZ","kid":"future","foo":"bar"}`)
	unknownCrv := vtJWK(t, es.Public(), func(m map[string]any) { m["crv"] = "P-192"; delete(m, "alg") })
	x25519 := []byte(`{"kty":"OKP","crv":"X25519","x":"` + vtEnc(make([]byte, 32)) + `"}`)
	notOnCurve := vtJWK(t, es.Public(), func(m map[string]any) { m["y"] = m["x"] })
	many := make([][]byte, 257)
	for i := range many {
		many[i] = vtJWK(t, es.Public(), func(m map[string]any) { m["kid"] = fmt.Sprint("k", i) })
	}

	tests := []struct {
		name    string
		doc     []byte
		want    error
		n       int // keys in the set
		skipped int
	}{
		{"three keys", vtSetJSON(esJ, rsJ, edJ), nil, 3, 0},
		{"empty set", []byte(`{"keys":[]}`), nil, 0, 0},
		{"extra members", []byte(`{"keys":[` + string(esJ) + `],"cache":"no"}`), nil, 1, 0},
		{"unknown kty skipped", vtSetJSON(esJ, unknownKty, rsJ), nil, 2, 1},
		{"unknown curve skipped", vtSetJSON(unknownCrv, edJ), nil, 1, 1},
		{"X25519 skipped", vtSetJSON(x25519, edJ), nil, 1, 1},
		{"unknown alg skipped", vtSetJSON(vtJWK(t, rs.Public(), func(m map[string]any) { m["alg"] = "RS1" }), esJ), nil, 1, 1},
		{"256 keys", vtSetJSON(many[:256]...), nil, 256, 0},

		{"malformed key fails the set", vtSetJSON(esJ, notOnCurve), jose.ErrInvalidKey, 0, 0},
		{"RSA without alg fails the set", vtSetJSON(vtJWK(t, rs.Public(), func(m map[string]any) { delete(m, "alg") })), jose.ErrInvalidKey, 0, 0},
		{"key_ops conflict fails the set", vtSetJSON(vtJWK(t, es.Public(), func(m map[string]any) { m["key_ops"] = []string{"verify", "verify"} })), jose.ErrInvalidKey, 0, 0},
		{"EC key with wrong alg fails", vtSetJSON(vtJWK(t, es.Public(), func(m map[string]any) { m["alg"] = "ES512" })), jose.ErrKeyAlgMismatch, 0, 0},
		{"key not an object", vtSetJSON(esJ, []byte(`1`)), jose.ErrInvalidKey, 0, 0},
		{"key null", vtSetJSON(esJ, []byte(`null`)), jose.ErrInvalidKey, 0, 0},
		{"key string", vtSetJSON([]byte(`"key"`)), jose.ErrInvalidKey, 0, 0},

		{"private EC", vtSetJSON(esJ, vtJWK(t, es, nil)), jose.ErrPrivateInPublic, 0, 0},
		{"private RSA", vtSetJSON(vtJWK(t, rs, nil)), jose.ErrPrivateInPublic, 0, 0},
		{"private Ed25519", vtSetJSON(vtJWK(t, ed, nil)), jose.ErrPrivateInPublic, 0, 0},
		{"oct key", vtSetJSON(vtJWK(t, hs, nil)), jose.ErrPrivateInPublic, 0, 0},
		{"oct without k", vtSetJSON([]byte(`{"kty":"oct","alg":"HS256"}`)), jose.ErrPrivateInPublic, 0, 0},
		{"RSA with p only", vtSetJSON(vtJWK(t, rs.Public(), func(m map[string]any) { m["p"] = "AQ" })), jose.ErrPrivateInPublic, 0, 0},
		{"k on an EC key", vtSetJSON(vtJWK(t, es.Public(), func(m map[string]any) { m["k"] = "AAAA" })), jose.ErrPrivateInPublic, 0, 0},
		{"private member on unknown kty", vtSetJSON([]byte(`{"kty":"XYZ","d":"AAAA"}`)), jose.ErrPrivateInPublic, 0, 0},
		{"empty d", vtSetJSON(vtJWK(t, es.Public(), func(m map[string]any) { m["d"] = "" })), jose.ErrPrivateInPublic, 0, 0},

		{"no keys member", []byte(`{}`), jose.ErrInvalidKey, 0, 0},
		{"keys null", []byte(`{"keys":null}`), jose.ErrInvalidKey, 0, 0},
		{"keys object", []byte(`{"keys":{}}`), jose.ErrInvalidKey, 0, 0},
		{"keys string", []byte(`{"keys":"x"}`), jose.ErrInvalidKey, 0, 0},
		{"top-level array", []byte(`[` + string(esJ) + `]`), jose.ErrInvalidKey, 0, 0},
		{"a single JWK", esJ, jose.ErrInvalidKey, 0, 0},
		{"duplicate keys member", []byte(`{"keys":[],"keys":[` + string(esJ) + `]}`), jose.ErrInvalidKey, 0, 0},
		{"duplicate inside a key", vtSetJSON([]byte(strings.Replace(string(esJ), `"kty":"EC"`, `"kty":"EC","kty":"EC"`, 1))), jose.ErrInvalidKey, 0, 0},
		{"trailing bytes", append(vtSetJSON(esJ), ','), jose.ErrInvalidKey, 0, 0},
		{"257 keys", vtSetJSON(many...), jose.ErrInvalidKey, 0, 0},
		{"too large", []byte(`{"keys":[],"pad":"` + strings.Repeat("a", jose.MaxJWKSize) + `"}`), jose.ErrInvalidKey, 0, 0},
		{"empty", nil, jose.ErrInvalidKey, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := jose.ParseKeySet(tt.doc)
			if !vtIs(err, tt.want) {
				t.Fatalf("ParseKeySet = %v, want %v", err, tt.want)
			}
			if err != nil {
				if ks != nil {
					t.Fatal("ParseKeySet returned a set with an error")
				}
				return
			}
			if ks.Len() != tt.n || len(ks.Skipped) != tt.skipped {
				t.Fatalf("Len %d Skipped %q, want %d and %d", ks.Len(), ks.Skipped, tt.n, tt.skipped)
			}
			for _, k := range ks.Keys() {
				if k.IsPrivate() {
					t.Fatalf("parsed set holds private key %s", k.KeyID())
				}
			}
		})
	}
}

func TestParseKeySetVerifies(t *testing.T) {
	es := vtGen(t, jose.ES256)
	ed := vtGen(t, jose.EdDSA)
	ks, err := jose.ParseKeySet(vtSetJSON(vtJWK(t, es.Public(), nil), vtJWK(t, ed.Public(), func(m map[string]any) { delete(m, "kid") })))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"by kid", vtSign(t, es, vtPayload, nil)},
		{"key without kid matched by alg", vtSign(t, ed, vtPayload, &jose.SignOptions{OmitKeyID: true})},
		{"key without kid matched by thumbprint", vtSign(t, ed, vtPayload, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := jose.ParseCompact(tc.tok, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := j.Verify(ks); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestKeySetMarshalJSONIsPublic(t *testing.T) {
	keys := []*jose.Key{
		vtGen(t, jose.ES256), vtGen(t, jose.ES384), vtGen(t, jose.ES512),
		vtGen(t, jose.RS256), vtGen(t, jose.PS256), vtGen(t, jose.EdDSA),
		vtGen(t, jose.HS256), vtGen(t, jose.HS512), vtGen(t, jose.Direct),
		vtGen(t, jose.RSAOAEP256), vtGen(t, jose.ECDHES),
	}
	set := jose.NewKeySet(keys...)
	doc, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	if len(parsed.Keys) != 8 {
		t.Fatalf("%d keys published, want 8 (symmetric keys left out)", len(parsed.Keys))
	}
	for _, m := range parsed.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := m[private]; ok {
				t.Fatalf("published key has %q: %s", private, doc)
			}
		}
	}
	for _, k := range keys {
		if k.IsSymmetric() {
			if bytes.Contains(doc, []byte(vtEnc(k.CryptoKey().([]byte)))) {
				t.Fatal("published set contains a secret")
			}
		}
	}
	again, err := jose.ParseKeySet(doc)
	if err != nil {
		t.Fatalf("ParseKeySet(MarshalJSON): %v", err)
	}
	var want, got []string
	for _, k := range keys {
		if !k.IsSymmetric() {
			want = append(want, string(k.Algorithm())+" "+k.ThumbprintSHA256())
		}
	}
	for _, k := range again.Keys() {
		got = append(got, string(k.Algorithm())+" "+k.ThumbprintSHA256())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("round trip\n got %v\nwant %v", got, want)
	}
	// The key set of public halves gives the same document.
	var pubs []*jose.Key
	for _, k := range keys {
		if p := k.Public(); p != nil {
			pubs = append(pubs, p)
		}
	}
	doc2, err := json.Marshal(jose.NewKeySet(pubs...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, doc2) {
		t.Fatalf("set of private keys and set of public keys publish differently")
	}
}

func TestThumbprint(t *testing.T) {
	t.Run("RFC 7638 example", func(t *testing.T) {
		const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
		k, err := jose.ParseKey([]byte(`{"kty":"RSA","n":"` + n + `","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := k.ThumbprintSHA256(); got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
			t.Fatalf("thumbprint %s", got)
		}
		if k.KeyID() != "2011-04-29" {
			t.Fatalf("kid %q", k.KeyID())
		}
	})
	t.Run("RFC 8037 example", func(t *testing.T) {
		k, err := jose.ParseKey([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := k.ThumbprintSHA256(); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
			t.Fatalf("thumbprint %s", got)
		}
		if k.KeyID() != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
			t.Fatalf("kid %q is not the thumbprint", k.KeyID())
		}
	})
	t.Run("stable", func(t *testing.T) {
		for _, alg := range []jose.Algorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.EdDSA, jose.HS256} {
			k := vtGen(t, alg)
			tp := k.ThumbprintSHA256()
			if k.KeyID() != tp {
				t.Fatalf("%s: generated kid %q is not the thumbprint %q", alg, k.KeyID(), tp)
			}
			variants := []*jose.Key{k}
			if p := k.Public(); p != nil {
				variants = append(variants, p)
			}
			for _, edit := range []func(map[string]any){
				nil,
				func(m map[string]any) { m["kid"] = "other"; delete(m, "use") },
				func(m map[string]any) { m["key_ops"] = []string{"verify"}; m["x5t"] = "x" },
			} {
				pk, err := jose.ParseKey(vtJWK(t, k, edit))
				if err != nil {
					t.Fatal(err)
				}
				variants = append(variants, pk)
			}
			for _, v := range variants {
				if got := v.ThumbprintSHA256(); got != tp {
					t.Fatalf("%s: thumbprint %s, want %s", alg, got, tp)
				}
			}
			t384, err := k.Thumbprint(crypto.SHA384)
			if err != nil || len(vtUnB64(t, t384)) != 48 {
				t.Fatalf("SHA-384 thumbprint %q, %v", t384, err)
			}
		}
	})
	t.Run("independent of the algorithm binding", func(t *testing.T) {
		rs := vtGen(t, jose.RS256)
		ps := vtNewKey(t, jose.PS512, rs.CryptoKey())
		if ps.ThumbprintSHA256() != rs.ThumbprintSHA256() {
			t.Fatal("RS256 and PS512 bindings of one RSA key differ")
		}
	})
	t.Run("different keys differ", func(t *testing.T) {
		if vtGen(t, jose.ES256).ThumbprintSHA256() == vtGen(t, jose.ES256).ThumbprintSHA256() {
			t.Fatal("two keys share a thumbprint")
		}
	})
	t.Run("unavailable hash", func(t *testing.T) {
		if _, err := vtGen(t, jose.ES256).Thumbprint(crypto.MD4); err == nil {
			t.Fatal("Thumbprint with an unavailable hash succeeded")
		}
	})
}

func TestGenerateKeyRoundTrip(t *testing.T) {
	algs := append(jose.SignatureAlgorithms(), jose.RSAOAEP256, jose.ECDHES, jose.ECDHESA256KW, jose.Direct)
	for _, alg := range algs {
		t.Run(string(alg), func(t *testing.T) {
			k := vtGen(t, alg)
			if k.Algorithm() != alg || !k.IsPrivate() {
				t.Fatalf("alg %s private %v", k.Algorithm(), k.IsPrivate())
			}
			wantUse := jose.UseSignature
			if alg.IsEncryption() {
				wantUse = jose.UseEncryption
			}
			if k.Use() != wantUse {
				t.Fatalf("use %q, want %q", k.Use(), wantUse)
			}
			doc, err := json.Marshal(k)
			if err != nil {
				t.Fatal(err)
			}
			back, err := jose.ParseKey(doc)
			if err != nil {
				t.Fatalf("ParseKey(MarshalJSON): %v\n%s", err, doc)
			}
			if back.Algorithm() != alg || back.KeyID() != k.KeyID() || back.Use() != k.Use() || !back.IsPrivate() ||
				back.ThumbprintSHA256() != k.ThumbprintSHA256() || back.IsSymmetric() != k.IsSymmetric() {
				t.Fatalf("round trip changed the key: %s", doc)
			}
			doc2, err := json.Marshal(back)
			if err != nil || !bytes.Equal(doc, doc2) {
				t.Fatalf("second MarshalJSON differs:\n%s\n%s", doc, doc2)
			}
			if pub := k.Public(); pub != nil {
				if pub.IsPrivate() {
					t.Fatal("Public() is private")
				}
				pdoc, err := json.Marshal(pub)
				if err != nil {
					t.Fatal(err)
				}
				for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`, `"k"`} {
					if bytes.Contains(pdoc, []byte(private+":")) {
						t.Fatalf("public JWK holds %s: %s", private, pdoc)
					}
				}
				pback, err := jose.ParseKey(pdoc)
				if err != nil || pback.IsPrivate() || pback.ThumbprintSHA256() != k.ThumbprintSHA256() {
					t.Fatalf("public round trip: %v", err)
				}
			} else if !k.IsSymmetric() {
				t.Fatal("Public() is nil for an asymmetric key")
			}
			if !alg.IsSignature() {
				return
			}
			// Sign with either copy, verify with the other.
			for _, pair := range [][2]*jose.Key{{k, back}, {back, k}} {
				tok := vtSign(t, pair[0], vtPayload, nil)
				j, err := jose.ParseCompact(tok, 0)
				if err != nil {
					t.Fatal(err)
				}
				verifier := pair[1]
				if p := verifier.Public(); p != nil {
					verifier = p
				}
				if err := j.VerifyKey(verifier); err != nil {
					t.Fatalf("VerifyKey: %v", err)
				}
			}
		})
	}
	t.Run("unsupported", func(t *testing.T) {
		for _, alg := range []jose.Algorithm{"none", "", "HS1", "ES256K", "A256GCM"} {
			if _, err := jose.GenerateKey(alg); !errors.Is(err, jose.ErrUnsupportedAlg) {
				t.Fatalf("GenerateKey(%q) = %v, want ErrUnsupportedAlg", alg, err)
			}
		}
	})
	t.Run("RSA size", func(t *testing.T) {
		if _, err := jose.GenerateRSAKey(jose.RS256, 1024); !errors.Is(err, jose.ErrInvalidKey) {
			t.Fatalf("GenerateRSAKey(1024) = %v, want ErrInvalidKey", err)
		}
		if _, err := jose.GenerateRSAKey(jose.RS256, 16384); !errors.Is(err, jose.ErrInvalidKey) {
			t.Fatalf("GenerateRSAKey(16384) = %v, want ErrInvalidKey", err)
		}
	})
}

func TestNewKeyChecks(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		alg  jose.Algorithm
		key  any
		want error
	}{
		{"ES256 P-256", jose.ES256, p256, nil},
		{"ES256 public", jose.ES256, &p256.PublicKey, nil},
		{"ES384 P-384", jose.ES384, p384, nil},
		{"EdDSA", jose.EdDSA, edPriv, nil},
		{"HS256 32 bytes", jose.HS256, make([]byte, 32), nil},
		{"HS256 31 bytes", jose.HS256, make([]byte, 31), jose.ErrInvalidKey},
		{"HS384 32 bytes", jose.HS384, make([]byte, 32), jose.ErrInvalidKey},
		{"HS512 63 bytes", jose.HS512, make([]byte, 63), jose.ErrInvalidKey},
		{"HS256 string", jose.HS256, strings.Repeat("k", 32), jose.ErrKeyAlgMismatch},
		{"HS256 EC key", jose.HS256, p256, jose.ErrKeyAlgMismatch},
		{"ES256 P-384 key", jose.ES256, p384, jose.ErrKeyAlgMismatch},
		{"ES384 P-256 key", jose.ES384, &p256.PublicKey, jose.ErrKeyAlgMismatch},
		{"RS256 EC key", jose.RS256, p256, jose.ErrKeyAlgMismatch},
		{"RS256 1024 bits", jose.RS256, small, jose.ErrInvalidKey},
		{"RS256 1024 bits public", jose.RS256, &small.PublicKey, jose.ErrInvalidKey},
		{"EdDSA EC key", jose.EdDSA, p256, jose.ErrKeyAlgMismatch},
		{"EdDSA short key", jose.EdDSA, ed25519.PublicKey(make([]byte, 31)), jose.ErrInvalidKey},
		{"none", "none", make([]byte, 32), jose.ErrUnsupportedAlg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := jose.NewKey(tt.alg, tt.key)
			if !vtIs(err, tt.want) {
				t.Fatalf("NewKey = %v, want %v", err, tt.want)
			}
			if err == nil && k.Algorithm() != tt.alg {
				t.Fatalf("alg %s", k.Algorithm())
			}
		})
	}
	t.Run("secret is copied", func(t *testing.T) {
		secret := bytes.Repeat([]byte{7}, 32)
		k := vtNewKey(t, jose.HS256, secret)
		tok := vtSign(t, k, vtPayload, nil)
		secret[0] = 8
		j, err := jose.ParseCompact(tok, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.VerifyKey(k); err != nil {
			t.Fatalf("changing the caller's slice changed the key: %v", err)
		}
	})
}

// TestEmptyKeyOps: a JWK with "key_ops": [] permits no operation. Such a
// key is refused when parsed, and a key whose public half would permit
// nothing cannot be marshalled (omitempty would drop the list and the key
// would be read back unrestricted).
func TestEmptyKeyOps(t *testing.T) {
	es := vtGen(t, jose.ES256)
	if k, err := jose.ParseKey(vtJWK(t, es.Public(), func(m map[string]any) { m["key_ops"] = []string{} })); err == nil {
		t.Fatalf("ParseKey accepted empty key_ops: %v", k)
	} else if !errors.Is(err, jose.ErrInvalidKey) {
		t.Fatalf("ParseKey error %v, want ErrInvalidKey", err)
	}
	priv, err := jose.ParseKey(vtJWK(t, es, func(m map[string]any) { m["key_ops"] = []string{"deriveKey"} }))
	if err != nil {
		t.Fatal(err)
	}
	if doc, err := json.Marshal(priv.Public()); err == nil {
		t.Fatalf("public half of a deriveKey-only key marshalled to %s", doc)
	}
	if set, err := json.Marshal(jose.NewKeySet(priv)); err == nil {
		if ks, err := jose.ParseKeySet(set); err == nil {
			for _, b := range ks.Keys() {
				if vtUsable(b) {
					t.Fatalf("after KeySet.MarshalJSON the key verifies: %s", set)
				}
			}
		}
	}
}

// TestParsePublicKey: the key embedded in a message is public, bound to
// the message's algorithm, and usable for signatures.
func TestParsePublicKey(t *testing.T) {
	es := vtGen(t, jose.ES256)
	ps := vtGen(t, jose.PS256)
	ed := vtGen(t, jose.EdDSA)
	hs := vtGen(t, jose.HS256)
	drop := func(names ...string) func(map[string]any) {
		return func(m map[string]any) {
			for _, n := range names {
				delete(m, n)
			}
		}
	}
	set := func(name string, v any) func(map[string]any) {
		return func(m map[string]any) { m[name] = v }
	}
	for _, tc := range []struct {
		name string
		jwk  []byte
		alg  jose.Algorithm
		want error // nil: accepted, bound to alg, with k's thumbprint
		k    *jose.Key
	}{
		{"EC without alg", vtJWK(t, es.Public(), drop("alg", "kid", "use", "key_ops")), jose.ES256, nil, es},
		{"EC with its alg", vtJWK(t, es.Public(), nil), jose.ES256, nil, es},
		{"RSA without alg takes the message's", vtJWK(t, ps.Public(), drop("alg")), jose.RS256, nil, ps},
		{"Ed25519", vtJWK(t, ed.Public(), drop("alg")), jose.EdDSA, nil, ed},
		{"EC private", vtJWK(t, es, nil), jose.ES256, jose.ErrPrivateInPublic, nil},
		{"EC empty d", vtJWK(t, es.Public(), set("d", "")), jose.ES256, jose.ErrPrivateInPublic, nil},
		{"RSA private", vtJWK(t, ps, nil), jose.PS256, jose.ErrPrivateInPublic, nil},
		{"RSA oth", vtJWK(t, ps.Public(), set("oth", []any{})), jose.PS256, jose.ErrPrivateInPublic, nil},
		{"Ed25519 private", vtJWK(t, ed, nil), jose.EdDSA, jose.ErrPrivateInPublic, nil},
		{"oct under an asymmetric alg", vtJWK(t, hs, drop("alg")), jose.ES256, jose.ErrPrivateInPublic, nil},
		{"oct under HS256", vtJWK(t, hs, nil), jose.HS256, jose.ErrUnsupportedAlg, nil},
		{"JWK alg differs", vtJWK(t, es.Public(), nil), jose.ES384, jose.ErrKeyAlgMismatch, nil},
		{"P-256 key under ES384", vtJWK(t, es.Public(), drop("alg")), jose.ES384, jose.ErrKeyAlgMismatch, nil},
		{"Ed25519 key under ES256", vtJWK(t, ed.Public(), drop("alg")), jose.ES256, jose.ErrKeyAlgMismatch, nil},
		{"RSA key under EdDSA", vtJWK(t, ps.Public(), drop("alg")), jose.EdDSA, jose.ErrKeyAlgMismatch, nil},
		{"encryption key", vtJWK(t, es.Public(), set("use", "enc")), jose.ES256, jose.ErrKeyNotForSigning, nil},
		{"no verify in key_ops", vtJWK(t, es.Public(), set("key_ops", []string{"deriveBits"})), jose.ES256, jose.ErrKeyNotForSigning, nil},
		{"alg none", vtJWK(t, es.Public(), drop("alg")), "none", jose.ErrUnsupportedAlg, nil},
		{"not JSON", []byte(`{"kty":"EC"`), jose.ES256, jose.ErrInvalidKey, nil},
		{"duplicate member", []byte(`{"kty":"EC","kty":"EC"}`), jose.ES256, jose.ErrInvalidKey, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := jose.ParsePublicKey(tc.jwk, tc.alg)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("ParsePublicKey = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			if k.IsPrivate() || k.Algorithm() != tc.alg || k.ThumbprintSHA256() != tc.k.ThumbprintSHA256() {
				t.Errorf("got %v (private %v), want the public half of %v bound to %s", k, k.IsPrivate(), tc.k, tc.alg)
			}
		})
	}
}
