package portable_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/writ-dev/writ/internal/portable"
)

// minimal is the smallest document Parse accepts.
const minimal = `{"format":"writ-export","version":1,"exported_at":"2026-01-02T03:04:05Z","schema_version":10,
"master_key_check":"x","key_ring":null,"clients":[],"users":[],"consents":[],"trusted_issuers":[]}`

// Hostile and malformed documents are refused with ErrInvalidDocument,
// before any store is touched.
func TestParseRefuses(t *testing.T) {
	with := func(old, new string) string { return strings.Replace(minimal, old, new, 1) }
	cases := map[string]string{
		"empty":                   ``,
		"not an object":           `[]`,
		"trailing data":           minimal + `{}`,
		"unknown member":          with(`"version":1`, `"version":1,"extra":true`),
		"duplicate member":        with(`"version":1`, `"version":1,"version":1`),
		"duplicate folded":        with(`"version":1`, `"version":1,"VERSION":1`),
		"other format":            with(`writ-export`, `other`),
		"newer version":           with(`"version":1`, `"version":2`),
		"no master key check":     with(`"master_key_check":"x"`, `"master_key_check":""`),
		"client without ID":       with(`"clients":[]`, `"clients":[{"ID":""}]`),
		"client twice":            with(`"clients":[]`, `"clients":[{"ID":"a"},{"ID":"a"}]`),
		"unknown client member":   with(`"clients":[]`, `"clients":[{"ID":"a","Secret":"x"}]`),
		"client NUL":              with(`"clients":[]`, `"clients":[{"ID":"a","Name":"a\u0000b"}]`),
		"negative ttl":            with(`"clients":[]`, `"clients":[{"ID":"a","AccessTokenTTL":-1}]`),
		"user twice by username":  with(`"users":[]`, `"users":[{"ID":"a","Username":"x"},{"ID":"b","Username":"X"}]`),
		"user without username":   with(`"users":[]`, `"users":[{"ID":"a"}]`),
		"consent twice":           with(`"consents":[]`, `"consents":[{"UserID":"u","ClientID":"c"},{"UserID":"u","ClientID":"c"}]`),
		"issuer empty":            with(`"trusted_issuers":[]`, `"trusted_issuers":[{"Issuer":""}]`),
		"key ring not an object":  with(`"key_ring":null`, `"key_ring":"sealed"`),
		"wrong type":              with(`"version":1`, `"version":"1"`),
		"invalid UTF-8":           with(`"master_key_check":"x"`, "\"master_key_check\":\"\xff\""),
		"lone surrogate":          with(`"master_key_check":"x"`, `"master_key_check":"\ud800"`),
		"too deep":                with(`"key_ring":null`, `"key_ring":`+strings.Repeat(`[`, 100)+strings.Repeat(`]`, 100)),
		"time out of range":       with(`"clients":[]`, `"clients":[{"ID":"a","CreatedAt":"0000-01-01T00:00:00Z"}]`),
		"base64 not base64":       with(`"clients":[]`, `"clients":[{"ID":"a","SecretHash":"%%%"}]`),
		"jti twice":               with(`"consents":[]`, `"consents":[],"revoked_jtis":[{"JTI":"a","ExpiresAt":"2026-01-01T00:00:00Z"},{"JTI":"a","ExpiresAt":"2026-01-01T00:00:00Z"}]`),
		"jti without expiry":      with(`"consents":[]`, `"consents":[],"revoked_jtis":[{"JTI":"a"}]`),
		"jti empty":               with(`"consents":[]`, `"consents":[],"revoked_jtis":[{"JTI":"","ExpiresAt":"2026-01-01T00:00:00Z"}]`),
		"attributes not JSON map": with(`"users":[]`, `"users":[{"ID":"a","Username":"a","Attributes":[]}]`),
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := portable.Parse([]byte(doc)); !errors.Is(err, portable.ErrInvalidDocument) {
				t.Errorf("Parse: %v, want ErrInvalidDocument", err)
			}
		})
	}
	if _, err := portable.Parse([]byte(minimal)); err != nil {
		t.Fatalf("the minimal document: %v", err)
	}
}

// Read stops at its bound.
func TestReadBound(t *testing.T) {
	doc := []byte(minimal)
	if _, err := portable.Read(bytes.NewReader(doc), int64(len(doc))); err != nil {
		t.Fatalf("at the bound: %v", err)
	}
	if _, err := portable.Read(bytes.NewReader(doc), int64(len(doc)-1)); !errors.Is(err, portable.ErrInvalidDocument) {
		t.Fatalf("past the bound: %v", err)
	}
}

// FuzzParse: any input is either refused with ErrInvalidDocument or gives
// a document that encodes and parses again to the same encoding.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(strings.Replace(minimal, `"clients":[]`, `"clients":[{"ID":"a","Name":"β","AccessTokenTTL":5,"Metadata":{"k":"v"},"Agent":{"Owner":"user:u"}}]`, 1)))
	f.Add([]byte(strings.Replace(minimal, `"users":[]`, `"users":[{"ID":"u","Username":"z","Attributes":{"roles":["a"]}}]`, 1)))
	f.Add([]byte(strings.Replace(minimal, `"key_ring":null`, `"key_ring":{"version":1,"keys":[]}`, 1)))
	f.Add([]byte(`{"format":"writ-export","version":1,"VERSION":2}`))
	f.Add([]byte(strings.Replace(minimal, `"consents":[]`, `"consents":[{"UserID":"u","ClientID":"c","Scopes":["a"]}],"revoked_jtis":[{"JTI":"j","ExpiresAt":"2026-01-01T00:00:00Z"}]`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := portable.Parse(data)
		if err != nil {
			if !errors.Is(err, portable.ErrInvalidDocument) {
				t.Fatalf("error without ErrInvalidDocument: %v", err)
			}
			return
		}
		var a bytes.Buffer
		if err := portable.Write(&a, d); err != nil {
			t.Fatalf("write an accepted document: %v", err)
		}
		d2, err := portable.Parse(a.Bytes())
		if err != nil {
			t.Fatalf("an accepted document, encoded again, is refused: %v\n%s", err, a.Bytes())
		}
		var b bytes.Buffer
		portable.Write(&b, d2)
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("encoding is not stable:\n%s\n%s", a.Bytes(), b.Bytes())
		}
	})
}
