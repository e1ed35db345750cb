package jose_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
)

// vtFuzzKeys returns fixed (deterministic) private keys, so that seed tokens
// made by the fuzzing coordinator verify in its workers too.
func vtFuzzKeys(tb testing.TB) []*jose.Key {
	tb.Helper()
	seed := func(label string) []byte {
		s := sha256.Sum256([]byte("writ fuzz " + label))
		return s[:]
	}
	es, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed("es256"))
	if err != nil {
		tb.Fatal(err)
	}
	es384, err := ecdsa.ParseRawPrivateKey(elliptic.P384(), append(seed("es384"), seed("es384b")[:16]...))
	if err != nil {
		tb.Fatal(err)
	}
	return []*jose.Key{
		vtNewKey(tb, jose.HS256, seed("hs256")),
		vtNewKey(tb, jose.ES256, es),
		vtNewKey(tb, jose.ES384, es384),
		vtNewKey(tb, jose.EdDSA, ed25519.NewKeyFromSeed(seed("ed25519"))),
	}
}

// vtFuzzSet is the trusted set for the fuzz targets: the public halves and
// the HMAC secret.
func vtFuzzSet(keys []*jose.Key) *jose.KeySet {
	var pub []*jose.Key
	for _, k := range keys {
		if p := k.Public(); p != nil {
			pub = append(pub, p)
		} else {
			pub = append(pub, k)
		}
	}
	return jose.NewKeySet(pub...)
}

func vtFuzzPayloads() []string {
	return []string{vtPayload, `{}`, `{"iss":"https://issuer.example","aud":["a","b"],"exp":1700003600,"nested":{"k":[1,2,3]}}`}
}

// vtFuzzTokens signs every fuzz payload with every key, with and without a
// kid and with a typ, and returns the tokens.
func vtFuzzTokens(tb testing.TB, keys []*jose.Key) []string {
	var out []string
	for _, k := range keys {
		for _, p := range vtFuzzPayloads() {
			out = append(out,
				vtSign(tb, k, p, nil),
				vtSign(tb, k, p, &jose.SignOptions{OmitKeyID: true, Type: "at+jwt"}))
		}
	}
	return out
}

func vtSigningInput(tok string) string { return tok[:strings.LastIndexByte(tok, '.')] }

// FuzzParseCompact: ParseCompact never panics, returns only its sentinels,
// and whatever it accepts is a canonical three-segment token with a
// signature algorithm, no crit, and a header and payload that are exactly
// the decoded segments.
func FuzzParseCompact(f *testing.F) {
	keys := vtFuzzKeys(f)
	for _, tok := range vtFuzzTokens(f, keys) {
		f.Add(tok)
	}
	good := vtSign(f, keys[0], vtPayload, nil)
	h, p, s := vtSegments(f, good)
	for _, tok := range []string{
		"", ".", "..", "a.b", good + ".", good + "=", " " + good,
		vtB64(`{"alg":"none"}`) + "." + p + ".",
		vtB64(`{"alg":"HS256","crit":["exp"]}`) + "." + p + "." + s,
		vtB64(`{"alg":"HS256","b64":false}`) + "." + p + "." + s,
		vtB64(`{"alg":"HS256","alg":"HS256"}`) + "." + p + "." + s,
		vtB64(`{"alg":"HS256","\u0061lg":"none"}`) + "." + p + "." + s,
		vtB64(`{"alg":1}`) + "." + p + "." + s,
		vtB64(`["HS256"]`) + "." + p + "." + s,
		vtB64(`{"alg":"HS256","x":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}`) + "." + p + "." + s,
		h + "." + p + "=." + s,
	} {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		j, err := jose.ParseCompact(tok, 0)
		if err != nil {
			if j != nil {
				t.Fatal("JWS returned with an error")
			}
			if !errors.Is(err, jose.ErrMalformed) && !errors.Is(err, jose.ErrTooLarge) &&
				!errors.Is(err, jose.ErrAlgorithm) && !errors.Is(err, jose.ErrCritical) {
				t.Fatalf("ParseCompact(%q): unexpected error %v", tok, err)
			}
			return
		}
		if len(tok) > jose.DefaultMaxSize {
			t.Fatalf("accepted a %d-byte token", len(tok))
		}
		if !j.Header.Algorithm.IsSignature() || strings.EqualFold(string(j.Header.Algorithm), "none") {
			t.Fatalf("accepted alg %q", j.Header.Algorithm)
		}
		segs := strings.Split(tok, ".")
		if len(segs) != 3 || segs[0] == "" || segs[2] == "" {
			t.Fatalf("accepted %d segments: %q", len(segs), tok)
		}
		for i, seg := range segs {
			b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != seg {
				t.Fatalf("segment %d %q is not canonical base64url", i, seg)
			}
			switch i {
			case 0:
				if string(b) != j.Header.Raw {
					t.Fatalf("Header.Raw %q, segment %q", j.Header.Raw, b)
				}
			case 1:
				if string(b) != j.Payload() {
					t.Fatalf("Payload %q, segment %q", j.Payload(), b)
				}
			}
		}
		// The header is one JSON object; re-read it with encoding/json.
		var hdr map[string]json.RawMessage
		if err := json.Unmarshal([]byte(j.Header.Raw), &hdr); err != nil {
			t.Fatalf("accepted header %q that encoding/json rejects: %v", j.Header.Raw, err)
		}
		if _, ok := hdr["crit"]; ok {
			t.Fatalf("accepted crit: %q", j.Header.Raw)
		}
		for _, m := range []string{"enc", "zip"} {
			if _, ok := hdr[m]; ok {
				t.Fatalf("accepted JWE member %q: %q", m, j.Header.Raw)
			}
		}
		if b64, ok := hdr["b64"]; ok && string(b64) != "true" {
			t.Fatalf("accepted b64 %s", b64)
		}
		var alg string
		if err := json.Unmarshal(hdr["alg"], &alg); err != nil || jose.Algorithm(alg) != j.Header.Algorithm {
			t.Fatalf("alg %q, encoding/json reads %q (%v)", j.Header.Algorithm, alg, err)
		}
		if raw, ok := hdr["kid"]; ok != j.Header.HasKeyID {
			t.Fatalf("HasKeyID %v, kid member present %v", j.Header.HasKeyID, ok)
		} else if ok {
			var kid string
			if err := json.Unmarshal(raw, &kid); err != nil || kid != j.Header.KeyID {
				t.Fatalf("kid %q, encoding/json reads %q (%v)", j.Header.KeyID, kid, err)
			}
		}
		// A custom limit at the token's size accepts it; one byte less not.
		if _, err := jose.ParseCompact(tok, len(tok)); err != nil {
			t.Fatalf("limit len(tok): %v", err)
		}
		if _, err := jose.ParseCompact(tok, len(tok)-1); len(tok) > 1 && !errors.Is(err, jose.ErrTooLarge) {
			t.Fatalf("limit len(tok)-1: %v", err)
		}
	})
}

// vtFuzzVerifyOne checks the verification invariant for one token: it
// verifies only if its signed content is that of a known good token, and
// byte for byte the good token unless the algorithm is ECDSA, whose
// signatures are malleable (see TestVerifyECDSASignatureForms).
func vtFuzzVerifyOne(t *testing.T, set *jose.KeySet, good map[string]bool, goodInput map[string]bool, tok string) {
	j, err := jose.ParseCompact(tok, 0)
	if err != nil {
		return
	}
	k, err := j.Verify(set)
	if err != nil {
		if k != nil {
			t.Fatal("key returned with an error")
		}
		if !errors.Is(err, jose.ErrKeyNotFound) && !errors.Is(err, jose.ErrAlgorithm) && !errors.Is(err, jose.ErrSignature) {
			t.Fatalf("Verify(%q): unexpected error %v", tok, err)
		}
		return
	}
	if k.Algorithm() != j.Header.Algorithm {
		t.Fatalf("key bound to %s verified a %s token", k.Algorithm(), j.Header.Algorithm)
	}
	if j.Header.HasKeyID && j.Header.KeyID != k.KeyID() {
		t.Fatalf("kid %q verified by key %q", j.Header.KeyID, k.KeyID())
	}
	if !goodInput[vtSigningInput(tok)] {
		t.Fatalf("forged token verified: %q", tok)
	}
	if !good[tok] {
		switch j.Header.Algorithm {
		case jose.ES256, jose.ES384, jose.ES512:
		default:
			t.Fatalf("a second %s signature verified: %q", j.Header.Algorithm, tok)
		}
	}
}

// FuzzVerify fuzzes whole token strings against a fixed key set: nothing
// verifies unless it is a known good token (or, for ECDSA, a token with
// the same signed content).
func FuzzVerify(f *testing.F) {
	keys := vtFuzzKeys(f)
	set := vtFuzzSet(keys)
	tokens := vtFuzzTokens(f, keys)
	good := map[string]bool{}
	goodInput := map[string]bool{}
	for _, tok := range tokens {
		good[tok] = true
		goodInput[vtSigningInput(tok)] = true
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		vtFuzzVerifyOne(t, set, good, goodInput, tok)
	})
}

// FuzzVerifyParts fuzzes the decoded header, payload and signature of a
// token separately, so that mutations keep the base64url valid and reach
// the JSON and signature checks.
func FuzzVerifyParts(f *testing.F) {
	keys := vtFuzzKeys(f)
	set := vtFuzzSet(keys)
	good := map[string]bool{}
	goodInput := map[string]bool{}
	for _, tok := range vtFuzzTokens(f, keys) {
		good[tok] = true
		goodInput[vtSigningInput(tok)] = true
		h, p, s := vtSegments(f, tok)
		f.Add(vtUnB64(f, h), vtUnB64(f, p), vtUnB64(f, s))
	}
	f.Fuzz(func(t *testing.T, h, p, s []byte) {
		enc := base64.RawURLEncoding
		tok := enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "." + enc.EncodeToString(s)
		vtFuzzVerifyOne(t, set, good, goodInput, tok)
	})
}

// vtUsable reports whether k may verify signatures (a key set indexes only
// such keys).
func vtUsable(k *jose.Key) bool {
	return len(jose.NewKeySet(k).Lookup(k.KeyID(), k.Algorithm(), true)) > 0
}

// vtCheckRoundTrip marshals k and parses it back: the result must be the
// same key with the same binding and permissions.
func vtCheckRoundTrip(t *testing.T, k *jose.Key, doc []byte) {
	again, err := json.Marshal(k)
	if err != nil {
		t.Fatalf("MarshalJSON of a parsed key: %v", err)
	}
	back, err := jose.ParseKey(again)
	if err != nil {
		t.Fatalf("ParseKey(MarshalJSON(ParseKey(%s))) = %v\nmarshaled: %s", doc, err, again)
	}
	if back.ThumbprintSHA256() != k.ThumbprintSHA256() || back.Algorithm() != k.Algorithm() ||
		back.KeyID() != k.KeyID() || back.Use() != k.Use() || back.IsPrivate() != k.IsPrivate() ||
		back.IsSymmetric() != k.IsSymmetric() {
		t.Fatalf("round trip changed the key\n in: %s\nout: %s", doc, again)
	}
	if vtUsable(back) != vtUsable(k) {
		t.Fatalf("round trip changed whether the key verifies (%v -> %v)\n in: %s\nout: %s", vtUsable(k), vtUsable(back), doc, again)
	}
}

func vtFuzzJWKSeeds(tb testing.TB) [][]byte {
	var out [][]byte
	for _, k := range vtFuzzKeys(tb) {
		out = append(out, vtJWK(tb, k, nil))
		if p := k.Public(); p != nil {
			out = append(out, vtJWK(tb, p, nil))
		}
	}
	rs := vtGen(tb, jose.RS256)
	out = append(out,
		vtJWK(tb, rs, nil),
		vtJWK(tb, rs.Public(), nil),
		vtJWK(tb, rs.Public(), func(m map[string]any) { m["e"] = "Aw"; m["key_ops"] = []string{"verify"} }),
		vtJWK(tb, vtGen(tb, jose.ES512), func(m map[string]any) { delete(m, "alg"); delete(m, "kid") }),
		vtJWK(tb, vtGen(tb, jose.ECDHES), nil),
		vtJWK(tb, vtGen(tb, jose.Direct), nil),
		[]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`),
		[]byte(`{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}`),
		[]byte(`{"kty":"oct","alg":"HS256","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`),
		[]byte(`{"kty":"XYZ"}`),
	)
	return out
}

// FuzzParseKey: ParseKey never panics, returns only key errors, and a
// parsed key survives MarshalJSON → ParseKey unchanged (its public half
// too).
func FuzzParseKey(f *testing.F) {
	for _, s := range vtFuzzJWKSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		k, err := jose.ParseKey(doc)
		if err != nil {
			if k != nil {
				t.Fatal("key returned with an error")
			}
			if !errors.Is(err, jose.ErrInvalidKey) && !errors.Is(err, jose.ErrUnsupportedAlg) && !errors.Is(err, jose.ErrKeyAlgMismatch) {
				t.Fatalf("ParseKey(%s): unexpected error %v", doc, err)
			}
			return
		}
		vtCheckRoundTrip(t, k, doc)
		if p := k.Public(); p != nil {
			if p.IsPrivate() {
				t.Fatal("Public() holds private material")
			}
			pdoc, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			vtCheckRoundTrip(t, p, pdoc)
		}
	})
}

// FuzzParseKeySet: ParseKeySet never panics, never yields a private key,
// and a parsed set survives MarshalJSON → ParseKeySet with the same keys.
func FuzzParseKeySet(f *testing.F) {
	var pubs [][]byte
	for _, s := range vtFuzzJWKSeeds(f) {
		if k, err := jose.ParseKey(s); err == nil && k.Public() != nil && !k.IsPrivate() {
			pubs = append(pubs, s)
		}
		f.Add(vtSetJSON(s))
	}
	f.Add(vtSetJSON(pubs...))
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"XYZ"},{"kty":"OKP","crv":"X25519","x":"AAAA"}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		ks, err := jose.ParseKeySet(doc)
		if err != nil {
			if ks != nil {
				t.Fatal("set returned with an error")
			}
			if !errors.Is(err, jose.ErrInvalidKey) && !errors.Is(err, jose.ErrUnsupportedAlg) &&
				!errors.Is(err, jose.ErrKeyAlgMismatch) && !errors.Is(err, jose.ErrPrivateInPublic) {
				t.Fatalf("ParseKeySet(%s): unexpected error %v", doc, err)
			}
			return
		}
		for _, k := range ks.Keys() {
			if k.IsPrivate() {
				t.Fatalf("ParseKeySet(%s) yielded private key %s", doc, k.KeyID())
			}
		}
		again, err := json.Marshal(ks)
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		back, err := jose.ParseKeySet(again)
		if err != nil {
			t.Fatalf("ParseKeySet(MarshalJSON(ParseKeySet(%s))) = %v\nmarshaled: %s", doc, err, again)
		}
		if back.Len() != ks.Len() {
			t.Fatalf("round trip: %d keys, then %d", ks.Len(), back.Len())
		}
		for i, k := range ks.Keys() {
			b := back.Keys()[i]
			if b.ThumbprintSHA256() != k.ThumbprintSHA256() || b.KeyID() != k.KeyID() || b.Algorithm() != k.Algorithm() {
				t.Fatalf("round trip changed key %d\n in: %s\nout: %s", i, doc, again)
			}
			if vtUsable(b) != vtUsable(k) {
				t.Fatalf("round trip changed whether key %d verifies\n in: %s\nout: %s", i, doc, again)
			}
		}
	})
}
