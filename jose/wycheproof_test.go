package jose

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/c2sp/wycheproof"
)

// This file runs Project Wycheproof's vectors (github.com/c2sp/wycheproof,
// read from its embedded fs.FS) against the jose package:
//
//   - json_web_signature_test.json through ParseCompact and Verify,
//   - json_web_key_test.json through ParseKeySet / ParseKey + NewKeySet,
//   - the raw ECDSA P1363, Ed25519, RSASSA-PKCS1-v1_5 and RSASSA-PSS files
//     whose parameters match a writ algorithm, through verify().
//
// writ is deliberately stricter than some vectors expect. Such vectors are
// skipped with a reason naming the stricter rule, and wherever it makes sense
// the test first checks that writ does reject them, so a skip never hides an
// acceptance. Every file logs how many vectors passed and were skipped.

// wpSkip explains why one vector is skipped. When rejected is true, the test
// asserts that writ rejects the vector before skipping it: the vector's
// expectation is "valid" but writ's stricter rule refuses it.
type wpSkip struct {
	reason   string
	rejected bool
}

// wpTally counts the outcome of the vectors of one file.
type wpTally struct {
	passed, skipped, notApplicable int
}

func (c *wpTally) log(t *testing.T, file string, total int) {
	t.Helper()
	t.Logf("%s: %d vectors: %d passed, %d skipped, %d not applicable", file, total, c.passed, c.skipped, c.notApplicable)
	if got := c.passed + c.skipped + c.notApplicable; got != total && !t.Failed() {
		t.Errorf("%s: accounted for %d vectors, file declares %d", file, got, total)
	}
}

// run runs one vector as a subtest named by its tcId and counts the result.
// A skipped vector's function calls t.Skip after its own checks.
func (c *wpTally) run(t *testing.T, tcID int, skip *wpSkip, f func(t *testing.T)) {
	t.Helper()
	ok := t.Run(fmt.Sprintf("tcId=%d", tcID), func(t *testing.T) {
		f(t)
		if skip != nil {
			t.Skip(skip.reason)
		}
	})
	switch {
	case !ok:
	case skip != nil:
		c.skipped++
	default:
		c.passed++
	}
}

func readWycheproof(t *testing.T, name string, v any) {
	t.Helper()
	data, err := fs.ReadFile(wycheproof.TestVectors, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

// wpJOSETest is one vector of json_web_signature_test.json or
// json_web_key_test.json.
type wpJOSETest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	JWS     string   `json:"jws"`
	Result  string   `json:"result"`
	Flags   []string `json:"flags"`
}

// wpJOSEFile is the shape shared by the JWS and JWK files: each group holds
// a key (or key set) as "public" and/or "private" and tokens to check.
type wpJOSEFile struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		Comment string          `json:"comment"`
		Public  json.RawMessage `json:"public"`
		Private json.RawMessage `json:"private"`
		Tests   []wpJOSETest    `json:"tests"`
	} `json:"testGroups"`
}

// wpHeaderAlg returns the "alg" of a compact token's header, or "" when the
// token or its header cannot be read.
func wpHeaderAlg(token string) Algorithm {
	seg, _, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil {
		return ""
	}
	return Algorithm(h.Alg)
}

// wpGroupAlg is the one signature algorithm named by the headers of a
// group's tokens, or "" when they disagree or name none. It is used only
// for JWKs that lack "alg" where writ requires it (RSA and oct).
func wpGroupAlg(tests []wpJOSETest) Algorithm {
	var alg Algorithm
	for _, tc := range tests {
		a := wpHeaderAlg(tc.JWS)
		switch {
		case a == "":
		case !a.IsSignature():
		case alg == "":
			alg = a
		case alg != a:
			return ""
		}
	}
	return alg
}

// wpParseKey parses a Wycheproof JWK with ParseKey. Wycheproof's JWKs may
// lack "alg". EC and OKP keys get it from their curve inside ParseKey. RSA and
// oct keys must name it in writ (a key is bound to exactly one algorithm);
// for those, and only when every token of the group names the same signature
// algorithm, the test adds that "alg" to the JWK before parsing, so that the
// vector still exercises what it was written for (for example "use": "enc").
// It reports whether the algorithm was derived.
func wpParseKey(raw json.RawMessage, tests []wpJOSETest) (*Key, bool, error) {
	k, err := ParseKey(raw)
	if err == nil {
		return k, false, nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil, false, err
	}
	kty, _ := m["kty"].(string)
	if _, has := m["alg"]; has || (kty != "RSA" && kty != "oct") {
		return nil, false, err
	}
	alg := wpGroupAlg(tests)
	if alg == "" {
		return nil, false, err
	}
	m["alg"] = string(alg)
	withAlg, merr := json.Marshal(m)
	if merr != nil {
		return nil, false, err
	}
	k, err = ParseKey(withAlg)
	return k, true, err
}

// wpSecrets lists the private members of a JWK or JWK Set, which must never
// appear in an error message.
func wpSecrets(raw json.RawMessage) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for name, val := range v {
				switch name {
				case "d", "p", "q", "dp", "dq", "qi", "k":
					if s, ok := val.(string); ok && len(s) >= 8 {
						out = append(out, s)
					}
				default:
					walk(val)
				}
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		walk(v)
	}
	return out
}

func wpCheckNoSecrets(t *testing.T, err error, secrets []string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) || strings.Contains(err.Error(), s[:8]) {
			t.Errorf("error %q contains private key material", err)
		}
	}
}

// wpCheckToken checks one token against a trusted key set: a valid token
// must parse, verify with the key whose kid its header names, and yield
// exactly its encoded payload; anything else must fail somewhere. It returns
// the first error (nil when the token was accepted).
func wpCheckToken(t *testing.T, ks *KeySet, tc wpJOSETest) error {
	t.Helper()
	j, err := ParseCompact(tc.JWS, 0)
	if err != nil {
		return err
	}
	k, err := j.Verify(ks)
	if err != nil {
		return err
	}
	if j.Header.HasKeyID && k.KeyID() != j.Header.KeyID {
		t.Errorf("verified with kid %q, header names %q", k.KeyID(), j.Header.KeyID)
	}
	if k.Algorithm() != j.Header.Algorithm {
		t.Errorf("verified with a %s key, header names %s", k.Algorithm(), j.Header.Algorithm)
	}
	parts := strings.Split(tc.JWS, ".")
	want, derr := base64.RawURLEncoding.DecodeString(parts[1])
	if derr != nil {
		t.Fatalf("accepted token whose payload does not decode: %v", derr)
	}
	if j.Payload() != string(want) {
		t.Errorf("payload = %q, want %q", j.Payload(), want)
	}
	return nil
}

// wpCheckFlags checks the error class that some flags call for.
func wpCheckFlags(t *testing.T, tc wpJOSETest, err error) {
	t.Helper()
	if slices.Contains(tc.Flags, "JsonSerialization") {
		if _, perr := ParseCompact(tc.JWS, 0); !errors.Is(perr, ErrMalformed) {
			t.Errorf("JSON serialization: ParseCompact error = %v, want ErrMalformed", perr)
		}
	}
	if slices.Contains(tc.Flags, "AlgIsNone") && !errors.Is(err, ErrAlgorithm) && !errors.Is(err, ErrMalformed) {
		t.Errorf("alg none: error = %v, want ErrAlgorithm or ErrMalformed", err)
	}
}

func TestWycheproofJWS(t *testing.T) {
	const file = "json_web_signature_test.json"
	// Vectors writ does not take at face value, with the reason.
	skips := map[int]wpSkip{
		346: {"RFC 7520 Figure 20 is a PS384 token, the group's JWK says \"alg\": \"PS256\": writ binds a key to exactly its JWK alg (RFC 8725 §3.1); rfc_test.go verifies the RFC's own example", true},
		350: {"RFC 7520 Figure 20 is a PS384 token, the group's JWK says \"alg\": \"PS256\": writ binds a key to exactly its JWK alg (RFC 8725 §3.1); rfc_test.go verifies the RFC's own example", true},
		347: {"the group's JWK says \"alg\": \"ES521\", which is not a JWA algorithm: writ rejects a JWK with an unknown alg rather than guess; rfc_test.go verifies RFC 7520 §4.3 with the RFC's key", true},
		351: {"the group's JWK says \"alg\": \"ES521\", which is not a JWA algorithm: writ rejects a JWK with an unknown alg rather than guess; rfc_test.go verifies RFC 7520 §4.3 with the RFC's key", true},
		367: {"upstream data error: the token is byte-identical to tcId 357 (valid), so it cannot also be invalid; the padding the comment names is not in the token", false},
		370: {"upstream data error: the token is byte-identical to tcId 357 (valid), so it cannot also be invalid; the padding the comment names is not in the token", false},
		372: {"\"valid\" token with '?' inside the header segment: writ accepts only canonical unpadded base64url (issue 2, strict parsing)", true},
		373: {"\"valid\" token with '?' inside the payload segment: writ accepts only canonical unpadded base64url (issue 2, strict parsing)", true},
	}

	t.Run(file, func(t *testing.T) {
		var f wpJOSEFile
		readWycheproof(t, file, &f)
		var tally wpTally
		for _, g := range f.TestGroups {
			raw := g.Public
			if len(raw) == 0 {
				raw = g.Private // HMAC groups have only the secret
			}
			secrets := wpSecrets(g.Private)
			key, derived, keyErr := wpParseKey(raw, g.Tests)
			wpCheckNoSecrets(t, keyErr, secrets)
			var ks *KeySet
			if keyErr == nil {
				ks = NewKeySet(key)
				if derived {
					t.Logf("group %q: JWK without alg, bound to %s from its tokens' headers", g.Comment, key.Algorithm())
				}
			}
			for _, tc := range g.Tests {
				var skip *wpSkip
				if s, ok := skips[tc.TcID]; ok {
					skip = &s
				}
				tally.run(t, tc.TcID, skip, func(t *testing.T) {
					t.Logf("%s / %s: %s %v", g.Comment, tc.Comment, tc.Result, tc.Flags)
					err := keyErr
					if err == nil {
						err = wpCheckToken(t, ks, tc)
					}
					wpCheckNoSecrets(t, err, secrets)
					switch {
					case skip != nil && !skip.rejected:
						return
					case skip != nil || tc.Result == "invalid":
						if err == nil {
							t.Fatalf("accepted, want rejected")
						}
						t.Logf("rejected: %v", err)
						wpCheckFlags(t, tc, err)
					case tc.Result == "valid":
						if err != nil {
							t.Fatalf("rejected, want accepted: %v", err)
						}
					default:
						t.Fatalf("unexpected result %q", tc.Result)
					}
				})
			}
		}
		tally.log(t, file, f.NumberOfTests)
	})
}

// wpKeySet builds the trusted set of a json_web_key_test.json group.
// A "public" set is a published JWK Set and goes through ParseKeySet. A group
// with only a "private" set that holds nothing but symmetric keys is what a
// caller holding its own HMAC secrets has: each key goes through ParseKey and
// the set is built with NewKeySet. Any other private set is a JWK Set
// document carrying private material, which writ only reads with
// ParseKeySet, and which ParseKeySet refuses.
func wpKeySet(public, private json.RawMessage) (*KeySet, error) {
	if len(public) > 0 {
		return ParseKeySet(public)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(private, &doc); err != nil {
		return nil, err
	}
	for _, raw := range doc.Keys {
		var probe struct {
			Kty string `json:"kty"`
		}
		if json.Unmarshal(raw, &probe) != nil || probe.Kty != "oct" {
			return ParseKeySet(private)
		}
	}
	keys := make([]*Key, 0, len(doc.Keys))
	for _, raw := range doc.Keys {
		k, err := ParseKey(raw)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return NewKeySet(keys...), nil
}

func TestWycheproofJWK(t *testing.T) {
	const file = "json_web_key_test.json"
	// Why writ rejects each invalid vector, so that a vector cannot pass
	// for an unrelated reason unnoticed: the sentinel, and text the error
	// must contain where the sentinel alone is not specific.
	type reason struct {
		err      error
		mentions string
	}
	wantErr := map[int]reason{
		1:  {ErrPrivateInPublic, ""}, // MixedKeySet: a JWK Set document never carries secrets
		3:  {ErrSignature, ""},
		4:  {ErrInvalidKey, "oct k"},                      // DuplicateKid: the second key's "k" is not canonical base64url (see the report)
		6:  {ErrKeyNotFound, ""},                          // RSA1_5 / use enc: not a signature key, skipped from the set
		7:  {ErrInvalidKey, "ROCA"},                       // Infineon RSALib key (CVE-2017-15361)
		8:  {ErrInvalidKey, "at least 2048 bits"},         // 1024-bit RSA
		9:  {ErrInvalidKey, "exponent"},                   // e = 1
		10: {ErrInvalidKey, "secret must be at least 32"}, // HMAC secrets shorter than the hash
		11: {ErrInvalidKey, "secret must be at least 48"},
		12: {ErrInvalidKey, "secret must be at least 64"},
		16: {ErrInvalidKey, "oct k"}, // empty HMAC secrets
		17: {ErrInvalidKey, "oct k"},
		18: {ErrInvalidKey, "oct k"},
		19: {ErrKeyNotFound, ""}, // "ES521" and "ES224" are not JWA algorithms: key skipped (RFC 7517 §5)
		20: {ErrKeyNotFound, ""},
		21: {ErrKeyNotFound, ""},                // use enc: never a verification key
		22: {ErrInvalidKey, "not on curve"},     // point not on the curve
		23: {ErrInvalidKey, "must be 48 bytes"}, // P-256 coordinates for a P-384 key
		24: {ErrInvalidKey, "RSA n"},            // kty RSA without n
		25: {ErrUnsupportedAlg, "A256GCM"},      // AES keys are not signature keys
		26: {ErrUnsupportedAlg, "A256KW"},
	}
	t.Run(file, func(t *testing.T) {
		var f wpJOSEFile
		readWycheproof(t, file, &f)
		var tally wpTally
		for _, g := range f.TestGroups {
			secrets := wpSecrets(g.Private)
			ks, setErr := wpKeySet(g.Public, g.Private)
			wpCheckNoSecrets(t, setErr, secrets)
			for _, tc := range g.Tests {
				tally.run(t, tc.TcID, nil, func(t *testing.T) {
					t.Logf("%s / %s: %s %v", g.Comment, tc.Comment, tc.Result, tc.Flags)
					// A set holding private members is never a published set.
					if len(g.Public) > 0 && len(secrets) > 0 {
						if _, err := ParseKeySet(g.Private); !errors.Is(err, ErrPrivateInPublic) {
							t.Errorf("ParseKeySet(private set) error = %v, want ErrPrivateInPublic", err)
						}
					}
					err := setErr
					if err == nil {
						err = wpCheckToken(t, ks, tc)
					}
					wpCheckNoSecrets(t, err, secrets)
					switch tc.Result {
					case "valid":
						if err != nil {
							t.Fatalf("rejected, want accepted: %v", err)
						}
					case "invalid":
						if err == nil {
							t.Fatalf("accepted, want rejected")
						}
						t.Logf("rejected: %v", err)
						want, ok := wantErr[tc.TcID]
						switch {
						case !ok:
							t.Errorf("no expected reason recorded for this invalid vector (error %v)", err)
						case !errors.Is(err, want.err) || !strings.Contains(err.Error(), want.mentions):
							t.Errorf("error = %v, want %v mentioning %q", err, want.err, want.mentions)
						}
					default:
						t.Fatalf("unexpected result %q", tc.Result)
					}
				})
			}
		}
		tally.log(t, file, f.NumberOfTests)
	})
}

// wpSigFile is the shape of Wycheproof's raw signature verification files
// (ECDSA P1363, EdDSA, RSASSA-PKCS1-v1_5, RSASSA-PSS).
type wpSigFile struct {
	NumberOfTests int          `json:"numberOfTests"`
	TestGroups    []wpSigGroup `json:"testGroups"`
}

type wpSigGroup struct {
	SHA       string `json:"sha"`
	MGF       string `json:"mgf"`
	MGFSHA    string `json:"mgfSha"`
	SLen      *int   `json:"sLen"`
	PublicKey struct {
		Curve          string `json:"curve"`
		Uncompressed   string `json:"uncompressed"`
		PK             string `json:"pk"`
		Modulus        string `json:"modulus"`
		PublicExponent string `json:"publicExponent"`
	} `json:"publicKey"`
	Tests []struct {
		TcID    int      `json:"tcId"`
		Comment string   `json:"comment"`
		Flags   []string `json:"flags"`
		Msg     string   `json:"msg"`
		Sig     string   `json:"sig"`
		Result  string   `json:"result"`
	} `json:"tests"`
}

// wpHashName is the Wycheproof name of an algorithm's hash.
func wpHashName(alg Algorithm) string {
	info, _ := lookupAlg(alg)
	return fmt.Sprintf("SHA-%d", info.hash.Size()*8)
}

// wpSigAlg picks the writ algorithm a group is checked with and whether the
// group's parameters are exactly that algorithm's. fixed is the algorithm
// of a file whose every group must match; it is "" for rsa_pss_misc, whose
// groups are mapped by their hash.
func wpSigAlg(fixed Algorithm, g *wpSigGroup) (alg Algorithm, exact bool) {
	alg = fixed
	if alg == "" {
		switch g.SHA {
		case "SHA-256":
			alg = PS256
		case "SHA-384":
			alg = PS384
		case "SHA-512":
			alg = PS512
		default:
			return "", false
		}
	}
	info, _ := lookupAlg(alg)
	switch info.fam {
	case famEdDSA:
		return alg, true
	case famPSS:
		// RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
		exact = g.SHA == wpHashName(alg) && g.MGF == "MGF1" && g.MGFSHA == g.SHA && g.SLen != nil && *g.SLen == info.hash.Size()
		return alg, exact
	default:
		return alg, g.SHA == wpHashName(alg)
	}
}

// wpSigKey builds the writ verification key of a group. It returns a nil key
// and a reason for keys writ refuses by policy (RSA below 2048 bits).
func wpSigKey(alg Algorithm, g *wpSigGroup) (*Key, string, error) {
	info, _ := lookupAlg(alg)
	pk := &g.PublicKey
	switch info.fam {
	case famECDSA:
		point, err := hex.DecodeString(pk.Uncompressed)
		if err != nil {
			return nil, "", err
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(info.curve, point)
		if err != nil {
			return nil, "", err
		}
		k, err := NewKey(alg, pub)
		return k, "", err
	case famEdDSA:
		pub, err := hex.DecodeString(pk.PK)
		if err != nil {
			return nil, "", err
		}
		k, err := NewKey(alg, ed25519.PublicKey(pub))
		return k, "", err
	case famRSA, famPSS:
		n, ok := new(big.Int).SetString(pk.Modulus, 16)
		if !ok {
			return nil, "", fmt.Errorf("bad modulus")
		}
		e, ok := new(big.Int).SetString(pk.PublicExponent, 16)
		if !ok || !e.IsInt64() {
			return nil, "", fmt.Errorf("bad exponent")
		}
		if n.BitLen() < MinRSABits {
			return nil, fmt.Sprintf("%d-bit RSA key: writ refuses RSA keys under %d bits", n.BitLen(), MinRSABits), nil
		}
		k, err := NewKey(alg, &rsa.PublicKey{N: n, E: int(e.Int64())})
		return k, "", err
	}
	return nil, "", fmt.Errorf("no key builder for %s", alg)
}

func TestWycheproofSignatures(t *testing.T) {
	files := []struct {
		name string
		alg  Algorithm // "" maps each group by its hash (rsa_pss_misc)
	}{
		{"ecdsa_secp256r1_sha256_p1363_test.json", ES256},
		{"ecdsa_secp384r1_sha384_p1363_test.json", ES384},
		{"ecdsa_secp521r1_sha512_p1363_test.json", ES512},
		{"ed25519_test.json", EdDSA},
		{"rsa_signature_2048_sha256_test.json", RS256},
		{"rsa_signature_2048_sha384_test.json", RS384},
		{"rsa_signature_2048_sha512_test.json", RS512},
		{"rsa_signature_3072_sha256_test.json", RS256},
		{"rsa_signature_3072_sha384_test.json", RS384},
		{"rsa_signature_3072_sha512_test.json", RS512},
		{"rsa_signature_4096_sha256_test.json", RS256},
		{"rsa_signature_4096_sha384_test.json", RS384},
		{"rsa_signature_4096_sha512_test.json", RS512},
		{"rsa_pss_2048_sha256_mgf1_32_test.json", PS256},
		{"rsa_pss_3072_sha256_mgf1_32_test.json", PS256},
		{"rsa_pss_4096_sha256_mgf1_32_test.json", PS256},
		{"rsa_pss_2048_sha384_mgf1_48_test.json", PS384},
		{"rsa_pss_4096_sha384_mgf1_48_test.json", PS384},
		{"rsa_pss_4096_sha512_mgf1_64_test.json", PS512},
		{"rsa_pss_misc_test.json", ""},
	}
	for _, file := range files {
		t.Run(file.name, func(t *testing.T) {
			var f wpSigFile
			readWycheproof(t, file.name, &f)
			var tally wpTally
			for gi := range f.TestGroups {
				g := &f.TestGroups[gi]
				alg, exact := wpSigAlg(file.alg, g)
				if alg == "" {
					// A hash writ has no PS* algorithm for (SHA-1, SHA-224, ...).
					tally.notApplicable += len(g.Tests)
					continue
				}
				if !exact && file.alg != "" {
					t.Fatalf("group %d parameters (%s, %s %s, sLen %v) are not %s's", gi, g.SHA, g.MGF, g.MGFSHA, g.SLen, alg)
				}
				key, policySkip, keyErr := wpSigKey(alg, g)
				for _, tc := range g.Tests {
					var skip *wpSkip
					if policySkip != "" {
						skip = &wpSkip{reason: policySkip}
					}
					tally.run(t, tc.TcID, skip, func(t *testing.T) {
						t.Logf("%s: %s %v (%s)", tc.Comment, tc.Result, tc.Flags, alg)
						if skip != nil {
							return
						}
						// What writ must answer:
						//   - "valid" with exactly the algorithm's parameters: accept;
						//   - "invalid": reject;
						//   - "acceptable" (only PKCS#1 v1.5 DigestInfo without the
						//     NULL parameter, flag MissingNull): reject, writ is strict
						//     and crypto/rsa only accepts the DER encoding RFC 8017
						//     §9.2 produces;
						//   - a PSS signature that is valid under other parameters
						//     (rsa_pss_misc: another salt length or MGF1 hash): reject,
						//     RFC 7518 §3.5 fixes MGF1 with the same hash and a salt
						//     as long as the hash.
						want := tc.Result == "valid" && exact
						switch tc.Result {
						case "valid", "invalid":
						case "acceptable":
							if !slices.Contains(tc.Flags, "MissingNull") {
								t.Fatalf("acceptable vector with flags %v: decide and document", tc.Flags)
							}
						default:
							t.Fatalf("unexpected result %q", tc.Result)
						}
						if keyErr != nil {
							if want {
								t.Fatalf("key rejected, want signature accepted: %v", keyErr)
							}
							return
						}
						msg, err := hex.DecodeString(tc.Msg)
						if err != nil {
							t.Fatal(err)
						}
						sig, err := hex.DecodeString(tc.Sig)
						if err != nil {
							t.Fatal(err)
						}
						if got := verify(key, msg, sig); got != want {
							t.Fatalf("verify = %v, want %v", got, want)
						}
					})
				}
			}
			tally.log(t, file.name, f.NumberOfTests)
		})
	}
}
