package jose

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The worked examples of RFC 7515 Appendix A, RFC 8037 Appendix A, RFC 7520
// §4 and RFC 7638 §3.1, with keys and tokens copied from the RFCs. Values
// the RFCs wrap over several lines are pasted as printed and unwrapped by
// rfcText (RFC 7520 §1.1: the whitespace is not part of the values).

// rfcText removes the line breaks and indentation of a value the RFC wraps.
func rfcText(s string) string { return strings.Join(strings.Fields(s), "") }

// The JWS Payload shared by the RFC 7515 examples A.1 to A.3 and A.5
// (the JWT claims set of RFC 7515 §3.3, with its CR LF line breaks).
const rfc7515Payload = "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"

// RFC 7520 Figure 7, the payload of every §4 example.
const rfc7520Payload = "It\u2019s a dangerous business, Frodo, going out your door. You step onto the road, and if you don't keep your feet, there\u2019s no knowing where you might be swept off to."

// RFC 7515 A.1.1: the HMAC key.
const rfc7515A1Key = `{"kty":"oct",
 "k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
}`

// RFC 7515 A.2.1: the RSA key.
var rfc7515A2Key = `{"kty":"RSA",
 "n":"` + rfcText(`ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx
      HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs
      D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH
      SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV
      MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8
      NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ`) + `",
 "e":"AQAB",
 "d":"` + rfcText(`Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97I
      jlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0
      BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn
      439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYT
      CBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLh
      BOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ`) + `",
 "p":"` + rfcText(`4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdi
      YrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPG
      BY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc`) + `",
 "q":"` + rfcText(`uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxa
      ewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA
      -njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc`) + `",
 "dp":"` + rfcText(`BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3Q
      CLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb
      34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0`) + `",
 "dq":"` + rfcText(`h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7
      I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyN
      lxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU`) + `",
 "qi":"` + rfcText(`IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2o
      y26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLU
      W0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U`) + `"
}`

// RFC 7515 A.3.1: the EC P-256 key.
const rfc7515A3Key = `{"kty":"EC",
 "crv":"P-256",
 "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
 "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
 "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
}`

// RFC 7515 A.4.1: the EC P-521 key.
var rfc7515A4Key = `{"kty":"EC",
 "crv":"P-521",
 "x":"` + rfcText(`AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_
      NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk`) + `",
 "y":"` + rfcText(`ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDl
      y79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2`) + `",
 "d":"` + rfcText(`AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPA
      xerEzgdRhajnu0ferB0d53vM9mE15j2C`) + `"
}`

// RFC 8037 A.1: the Ed25519 private key (A.2 is its public half).
const rfc8037Key = `{"kty":"OKP","crv":"Ed25519",
 "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
 "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`

// RFC 7520 Figure 2: the EC P-521 private key.
var rfc7520ECKey = `{
  "kty": "EC",
  "kid": "bilbo.baggins@hobbiton.example",
  "use": "sig",
  "crv": "P-521",
  "x": "` + rfcText(`AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9
      A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt`) + `",
  "y": "` + rfcText(`AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVy
      SsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1`) + `",
  "d": "` + rfcText(`AAhRON2r9cqXX1hg-RoI6R1tX5p2rUAYdmpHZoC1XNM56KtscrX6zb
      KipQrCW9CGZH3T4ubpnoTKLDYJ_fF3_rJt`) + `"
}`

// RFC 7520 Figure 4: the RSA 2048-bit private key.
var rfc7520RSAKey = `{
  "kty": "RSA",
  "kid": "bilbo.baggins@hobbiton.example",
  "use": "sig",
  "n": "` + rfcText(`n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT
      -O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqV
      wGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-
      oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde
      3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuC
      LqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5g
      HdrNP5zw`) + `",
  "e": "AQAB",
  "d": "` + rfcText(`bWUC9B-EFRIo8kpGfh0ZuyGPvMNKvYWNtB_ikiH9k20eT-O1q_I78e
      iZkpXxXQ0UTEs2LsNRS-8uJbvQ-A1irkwMSMkK1J3XTGgdrhCku9gRld
      Y7sNA_AKZGh-Q661_42rINLRCe8W-nZ34ui_qOfkLnK9QWDDqpaIsA-b
      MwWWSDFu2MUBYwkHTMEzLYGqOe04noqeq1hExBTHBOBdkMXiuFhUq1BU
      6l-DqEiWxqg82sXt2h-LMnT3046AOYJoRioz75tSUQfGCshWTBnP5uDj
      d18kKhyv07lhfSJdrPdM5Plyl21hsFf4L_mHCuoFau7gdsPfHPxxjVOc
      OpBrQzwQ`) + `",
  "p": "` + rfcText(`3Slxg_DwTXJcb6095RoXygQCAZ5RnAvZlno1yhHtnUex_fp7AZ_9nR
      aO7HX_-SFfGQeutao2TDjDAWU4Vupk8rw9JR0AzZ0N2fvuIAmr_WCsmG
      peNqQnev1T7IyEsnh8UMt-n5CafhkikzhEsrmndH6LxOrvRJlsPp6Zv8
      bUq0k`) + `",
  "q": "` + rfcText(`uKE2dh-cTf6ERF4k4e_jy78GfPYUIaUyoSSJuBzp3Cubk3OCqs6grT
      8bR_cu0Dm1MZwWmtdqDyI95HrUeq3MP15vMMON8lHTeZu2lmKvwqW7an
      V5UzhM1iZ7z4yMkuUwFWoBvyY898EXvRD-hdqRxHlSqAZ192zB3pVFJ0
      s7pFc`) + `",
  "dp": "` + rfcText(`B8PVvXkvJrj2L-GYQ7v3y9r6Kw5g9SahXBwsWUzp19TVlgI-YV85q
      1NIb1rxQtD-IsXXR3-TanevuRPRt5OBOdiMGQp8pbt26gljYfKU_E9xn
      -RULHz0-ed9E9gXLKD4VGngpz-PfQ_q29pk5xWHoJp009Qf1HvChixRX
      59ehik`) + `",
  "dq": "` + rfcText(`CLDmDGduhylc9o7r84rEUVn7pzQ6PF83Y-iBZx5NT-TpnOZKF1pEr
      AMVeKzFEl41DlHHqqBLSM0W1sOFbwTxYWZDm6sI6og5iTbwQGIC3gnJK
      bi_7k_vJgGHwHxgPaX2PnvP-zyEkDERuf-ry4c_Z11Cq9AqC2yeL6kdK
      T1cYF8`) + `",
  "qi": "` + rfcText(`3PiqvXQN0zwMeE-sBvZgi289XP9XCQF3VWqPzMKnIgQp7_Tugo6-N
      ZBKCQsMf3HaEGBjTVJs_jcK8-TRXvaKe-7ZMaQj8VfBdYkssbu0NKDDh
      jJ-GtiseaDVWt7dcH0cfwxgFUHpQh7FoCrjFJ6h6ZEpMF6xmujs4qMpP
      z8aaI4`) + `"
}`

// RFC 7520 Figure 5: the HMAC SHA-256 key.
const rfc7520HMACKey = `{
  "kty": "oct",
  "kid": "018c0ae5-4d9b-471b-bfd6-eef314bc7037",
  "use": "sig",
  "alg": "HS256",
  "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"
}`

// RFC 7520 Figure 8: the base64url-encoded payload.
const rfc7520PayloadB64 = `
   SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH
   lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk
   b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm
   UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4`

// rfcKey parses an RFC's JWK the way writ reads any JWK. RFC examples often
// omit "alg". ParseKey binds EC and OKP keys to the one algorithm of their
// curve; RSA and oct keys must name their algorithm in writ, so for those the
// test first checks that the bare RFC key is refused, then adds the "alg" of
// the example's JWS header.
func rfcKey(t *testing.T, jwk string, alg Algorithm) *Key {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(jwk), &m); err != nil {
		t.Fatalf("RFC JWK: %v", err)
	}
	if _, has := m["alg"]; !has && (m["kty"] == "RSA" || m["kty"] == "oct") {
		if _, err := ParseKey([]byte(jwk)); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("ParseKey(%s JWK without alg) error = %v, want ErrInvalidKey", m["kty"], err)
		}
		m["alg"] = string(alg)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		jwk = string(b)
	}
	k, err := ParseKey([]byte(jwk))
	if err != nil {
		t.Fatalf("ParseKey: %v", err)
	}
	if k.Algorithm() != alg {
		t.Fatalf("key bound to %s, want %s", k.Algorithm(), alg)
	}
	return k
}

// rfcExample is one compact JWS worked example.
type rfcExample struct {
	name    string
	jwk     string    // the RFC's key, with its private part
	alg     Algorithm // the alg of the example's header
	token   string    // the RFC's JWS Compact Serialization
	header  string    // the decoded JWS Protected Header
	payload string    // the decoded JWS Payload
	// deterministic: the algorithm always gives the same signature, so
	// sign over the RFC's signing input must reproduce it byte for byte.
	deterministic bool
	// sameHeader: writ's Sign writes exactly the RFC's header bytes (alg,
	// then kid when the key has one in the RFC), so Sign must reproduce
	// the whole token.
	sameHeader bool
}

func runRFCExamples(t *testing.T, examples []rfcExample) {
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			k := rfcKey(t, ex.jwk, ex.alg)
			verifier := k.Public()
			if verifier == nil {
				verifier = k // HMAC: the secret verifies
			}
			ks := NewKeySet(verifier)

			j, err := ParseCompact(ex.token, 0)
			if err != nil {
				t.Fatalf("ParseCompact: %v", err)
			}
			if j.Header.Raw != ex.header {
				t.Errorf("header = %q, want %q", j.Header.Raw, ex.header)
			}
			if j.Header.Algorithm != ex.alg {
				t.Errorf("header alg = %s, want %s", j.Header.Algorithm, ex.alg)
			}
			got, err := j.Verify(ks)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != verifier {
				t.Errorf("Verify returned another key")
			}
			if j.Payload() != ex.payload {
				t.Errorf("payload = %q, want %q", j.Payload(), ex.payload)
			}

			// The same token with one signature bit flipped must fail.
			sigAt := strings.LastIndexByte(ex.token, '.') + 1
			sig, err := base64.RawURLEncoding.DecodeString(ex.token[sigAt:])
			if err != nil {
				t.Fatal(err)
			}
			bad := bytes.Clone(sig)
			bad[len(bad)/2] ^= 0x01
			tampered := ex.token[:sigAt] + base64.RawURLEncoding.EncodeToString(bad)
			if tj, err := ParseCompact(tampered, 0); err != nil {
				t.Errorf("ParseCompact(tampered): %v", err)
			} else if _, err := tj.Verify(ks); !errors.Is(err, ErrSignature) {
				t.Errorf("Verify(tampered) error = %v, want ErrSignature", err)
			}

			if ex.deterministic {
				mine, err := sign(k, []byte(ex.token[:sigAt-1]), nil)
				if err != nil {
					t.Fatalf("sign: %v", err)
				}
				if !bytes.Equal(mine, sig) {
					t.Errorf("sign over the RFC's signing input = %s, want %s",
						base64.RawURLEncoding.EncodeToString(mine), ex.token[sigAt:])
				}
			}

			// writ's own token over the same payload verifies with the key,
			// and is the RFC's token where the header bytes are the same.
			opts := &SignOptions{OmitKeyID: !strings.Contains(ex.header, `"kid"`)}
			tok, err := Sign(k, []byte(ex.payload), opts)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if ex.sameHeader && ex.deterministic && tok != ex.token {
				t.Errorf("Sign = %s\nwant the RFC's token %s", tok, ex.token)
			}
			if !ex.sameHeader && tok[:strings.IndexByte(tok, '.')] == ex.token[:strings.IndexByte(ex.token, '.')] {
				t.Errorf("writ writes the RFC's header bytes: set sameHeader")
			}
			mj, err := ParseCompact(tok, 0)
			if err != nil {
				t.Fatalf("ParseCompact(own token): %v", err)
			}
			if _, err := mj.Verify(ks); err != nil {
				t.Fatalf("Verify(own token): %v", err)
			}
			if mj.Payload() != ex.payload {
				t.Errorf("own token payload = %q", mj.Payload())
			}
		})
	}
}

func TestRFC7515Examples(t *testing.T) {
	runRFCExamples(t, []rfcExample{
		{
			name: "A.1/HS256",
			jwk:  rfc7515A1Key,
			alg:  HS256,
			token: rfcText(`
				eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9
				.
				eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt
				cGxlLmNvbS9pc19yb290Ijp0cnVlfQ
				.
				dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk`),
			header:        "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}",
			payload:       rfc7515Payload,
			deterministic: true,
		},
		{
			name: "A.2/RS256",
			jwk:  rfc7515A2Key,
			alg:  RS256,
			token: rfcText(`
				eyJhbGciOiJSUzI1NiJ9
				.
				eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt
				cGxlLmNvbS9pc19yb290Ijp0cnVlfQ
				.
				cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7
				AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4
				BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K
				0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv
				hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB
				p0igcN_IoypGlUPQGe77Rw`),
			header:        `{"alg":"RS256"}`,
			payload:       rfc7515Payload,
			deterministic: true,
			sameHeader:    true,
		},
		{
			name: "A.3/ES256",
			jwk:  rfc7515A3Key,
			alg:  ES256,
			token: rfcText(`
				eyJhbGciOiJFUzI1NiJ9
				.
				eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt
				cGxlLmNvbS9pc19yb290Ijp0cnVlfQ
				.
				DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA
				pmWQxfKTUJqPP3-Kg6NU1Q`),
			header:     `{"alg":"ES256"}`,
			payload:    rfc7515Payload,
			sameHeader: true,
		},
		{
			name: "A.4/ES512",
			jwk:  rfc7515A4Key,
			alg:  ES512,
			token: rfcText(`
				eyJhbGciOiJFUzUxMiJ9
				.
				UGF5bG9hZA
				.
				AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZq
				wqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp
				EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn`),
			header:     `{"alg":"ES512"}`,
			payload:    "Payload",
			sameHeader: true,
		},
	})
}

// TestRFC7515UnsecuredJWS checks that the unsecured JWS of RFC 7515 A.5 is
// refused, as is the same "none" header with a signature attached (so the
// refusal does not rest on the empty signature alone) and in other cases.
func TestRFC7515UnsecuredJWS(t *testing.T) {
	const a5 = "eyJhbGciOiJub25lIn0" +
		"." +
		"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt" +
		"cGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		"."
	enc := base64.RawURLEncoding.EncodeToString
	withSig := a5 + enc([]byte("signature"))
	payload := a5[strings.IndexByte(a5, '.') : len(a5)-1]
	tests := []struct {
		name  string
		token string
		want  []error // any of these
	}{
		{"A.5 as printed", a5, []error{ErrAlgorithm, ErrMalformed}},
		{"A.5 with a signature", withSig, []error{ErrAlgorithm}},
		{"None", enc([]byte(`{"alg":"None"}`)) + payload + ".c2ln", []error{ErrAlgorithm}},
		{"NONE", enc([]byte(`{"alg":"NONE"}`)) + payload + ".c2ln", []error{ErrAlgorithm}},
	}
	k, err := GenerateKey(HS256)
	if err != nil {
		t.Fatal(err)
	}
	ks := NewKeySet(k)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := ParseCompact(tt.token, 0)
			if err == nil {
				_, err = j.Verify(ks)
				t.Errorf("ParseCompact accepted an unsecured JWS (Verify: %v)", err)
				return
			}
			ok := false
			for _, w := range tt.want {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				t.Errorf("error = %v, want one of %v", err, tt.want)
			}
		})
	}
}

func TestRFC8037Examples(t *testing.T) {
	runRFCExamples(t, []rfcExample{{
		name: "A.4/EdDSA",
		jwk:  rfc8037Key,
		alg:  EdDSA,
		token: rfcText(`
			eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCj
			P0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_Mu
			M0KAg`),
		header:        `{"alg":"EdDSA"}`,
		payload:       "Example of Ed25519 signing",
		deterministic: true,
		sameHeader:    true,
	}})
}

func TestRFC7520Examples(t *testing.T) {
	payloadB64 := rfcText(rfc7520PayloadB64)
	if got, err := base64.RawURLEncoding.DecodeString(payloadB64); err != nil || string(got) != rfc7520Payload {
		t.Fatalf("RFC 7520 Figure 8 does not decode to Figure 7: %q, %v", got, err)
	}
	examples := []rfcExample{
		{
			name: "4.1/RS256",
			jwk:  rfc7520RSAKey,
			alg:  RS256,
			token: rfcText(`
				eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX
				hhbXBsZSJ9
				.` + payloadB64 + `.
				MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmK
				ZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4J
				IwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w
				W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluP
				xUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_f
				cIe8u9ipH84ogoree7vjbU5y18kDquDg`),
			header:        `{"alg":"RS256","kid":"bilbo.baggins@hobbiton.example"}`,
			payload:       rfc7520Payload,
			deterministic: true,
			sameHeader:    true,
		},
		{
			name: "4.2/PS384",
			jwk:  rfc7520RSAKey,
			alg:  PS384,
			token: rfcText(`
				eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX
				hhbXBsZSJ9
				.` + payloadB64 + `.
				cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2I
				pN6-tPid6VrklHkqsGqDqHCdP6O8TTB5dDDItllVo6_1OLPpcbUrhiUSMxbbXU
				vdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYRX
				e8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT
				0qI0n6uiP1aCN_2_jLAeQTlqRHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a
				6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw`),
			header:     `{"alg":"PS384","kid":"bilbo.baggins@hobbiton.example"}`,
			payload:    rfc7520Payload,
			sameHeader: true,
		},
		{
			name: "4.3/ES512",
			jwk:  rfc7520ECKey,
			alg:  ES512,
			token: rfcText(`
				eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX
				hhbXBsZSJ9
				.` + payloadB64 + `.
				AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvb
				u9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kv
				AD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2`),
			header:     `{"alg":"ES512","kid":"bilbo.baggins@hobbiton.example"}`,
			payload:    rfc7520Payload,
			sameHeader: true,
		},
		{
			name: "4.4/HS256",
			jwk:  rfc7520HMACKey,
			alg:  HS256,
			token: rfcText(`
				eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LW
				VlZjMxNGJjNzAzNyJ9
				.` + payloadB64 + `.
				s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0`),
			header:        `{"alg":"HS256","kid":"018c0ae5-4d9b-471b-bfd6-eef314bc7037"}`,
			payload:       rfc7520Payload,
			deterministic: true,
			sameHeader:    true,
		},
	}
	runRFCExamples(t, examples)

	// The RSA key of Figure 4 is bound to one algorithm at a time: bound to
	// RS256 (4.1), it must not verify the PS384 token of 4.2, and the
	// reverse (RFC 8725 §3.1).
	rs := rfcKey(t, rfc7520RSAKey, RS256).Public()
	ps := rfcKey(t, rfc7520RSAKey, PS384).Public()
	for _, c := range []struct {
		token string
		key   *Key
	}{{examples[1].token, rs}, {examples[0].token, ps}} {
		j, err := ParseCompact(c.token, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := j.Verify(NewKeySet(c.key)); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("%s token with a %s key: error = %v, want ErrAlgorithm", j.Header.Algorithm, c.key.Algorithm(), err)
		}
	}
}

func TestRFC7638Thumbprint(t *testing.T) {
	tests := []struct {
		name string
		jwk  string
		alg  Algorithm
		kid  string // the key's kid after parsing
		want string
	}{
		{
			// RFC 7638 §3.1: the thumbprint ignores "alg" and "kid".
			name: "RFC 7638 §3.1 RSA",
			jwk: `{
				"kty": "RSA",
				"n": "` + rfcText(`0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4
				cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs
				tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2
				QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbI
				SD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqb
				w0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw`) + `",
				"e": "AQAB",
				"alg": "RS256",
				"kid": "2011-04-29"
			}`,
			alg:  RS256,
			kid:  "2011-04-29",
			want: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
		},
		{
			// RFC 8037 A.3: the thumbprint of the A.2 public key.
			name: "RFC 8037 A.3 Ed25519",
			jwk:  `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`,
			alg:  EdDSA,
			kid:  "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", // a key without kid gets its thumbprint
			want: "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
		},
		{
			// The private key of RFC 8037 A.1 has the same thumbprint.
			name: "RFC 8037 A.1 private Ed25519",
			jwk:  rfc8037Key,
			alg:  EdDSA,
			kid:  "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
			want: "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := rfcKey(t, tt.jwk, tt.alg)
			got, err := k.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatalf("Thumbprint: %v", err)
			}
			if got != tt.want {
				t.Errorf("Thumbprint = %s, want %s", got, tt.want)
			}
			if got := k.ThumbprintSHA256(); got != tt.want {
				t.Errorf("ThumbprintSHA256 = %s, want %s", got, tt.want)
			}
			if k.KeyID() != tt.kid {
				t.Errorf("KeyID = %q, want %q", k.KeyID(), tt.kid)
			}
		})
	}
}
