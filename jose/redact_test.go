package jose_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/writ-dev/writ/jose"
)

// TestKeyFormattingRedacts checks that no formatting path prints key
// material: the private members of the JWK must not appear in any output.
func TestKeyFormattingRedacts(t *testing.T) {
	for _, alg := range []jose.Algorithm{jose.HS256, jose.EdDSA, jose.ES256, jose.RS256} {
		k, err := jose.GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := k.MarshalJSON()
		var members map[string]string
		if err := json.Unmarshal(raw, &members); err != nil {
			t.Fatal(err)
		}
		var secrets []string
		for _, name := range []string{"d", "k", "p", "q"} {
			if v := members[name]; v != "" {
				b, _ := base64.RawURLEncoding.DecodeString(v)
				secrets = append(secrets, v, fmt.Sprintf("%x", b[:8]), fmt.Sprint(b[:8])[1:20])
			}
		}
		var logBuf bytes.Buffer
		slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("key", "key", k)
		outputs := []string{
			fmt.Sprint(k), fmt.Sprintf("%v", k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k),
			fmt.Sprintf("%s", k), fmt.Sprintf("%x", k), fmt.Sprintf("%v", []*jose.Key{k}), logBuf.String(),
		}
		for _, out := range outputs {
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Fatalf("%s: output %q contains key material", alg, out)
				}
			}
			if !strings.Contains(out, k.KeyID()) {
				t.Fatalf("%s: output %q does not name the kid", alg, out)
			}
		}
	}
}

func TestPublicKeepsVerifyForSignOnlyKey(t *testing.T) {
	k, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := k.MarshalJSON()
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m["key_ops"] = []string{"sign"}
	raw, _ = json.Marshal(m)
	signOnly, err := jose.ParseKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jose.Sign(signOnly, []byte(`{"a":1}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseCompact(tok, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify(jose.NewKeySet(signOnly.Public())); err != nil {
		t.Fatalf("public half of a sign-only key cannot verify: %v", err)
	}
	pub, _ := signOnly.Public().MarshalJSON()
	if !strings.Contains(string(pub), `"key_ops":["verify"]`) {
		t.Fatalf("public key_ops: %s", pub)
	}
}
