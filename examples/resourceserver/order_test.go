package main

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseOrder(t *testing.T) {
	for _, tc := range []struct {
		body     string
		item     string
		quantity int
		err      error
	}{
		{`{"item": "pens", "quantity": 2}`, "pens", 2, nil},
		{` {"quantity": 1000, "item": "  ink  "} `, "ink", 1000, nil},
		{`{"item": "` + strings.Repeat("x", maxItemLength) + `", "quantity": 1}`, strings.Repeat("x", maxItemLength), 1, nil},
		{`{"item": "` + strings.Repeat("x", maxItemLength+1) + `", "quantity": 1}`, "", 0, errOrderValues},
		{`{"item": "pens", "quantity": 0}`, "", 0, errOrderValues},
		{`{"item": "pens", "quantity": 1001}`, "", 0, errOrderValues},
		{`{"item": "   ", "quantity": 1}`, "", 0, errOrderValues},
		{`{"item": "pens"}`, "", 0, errOrderJSON},
		{`{"quantity": 1}`, "", 0, errOrderJSON},
		{`{"item": "pens", "quantity": 1, "price": 3}`, "", 0, errOrderJSON},
		{`{"item": "pens", "quantity": 1.5}`, "", 0, errOrderJSON},
		{`{"item": 7, "quantity": 1}`, "", 0, errOrderJSON},
		{`{"item": "pens", "quantity": 1}{}`, "", 0, errOrderJSON},
		{`[]`, "", 0, errOrderJSON},
		{``, "", 0, errOrderJSON},
		{`null`, "", 0, errOrderJSON},
	} {
		item, q, err := parseOrder([]byte(tc.body))
		if item != tc.item || q != tc.quantity || !errors.Is(err, tc.err) {
			t.Errorf("parseOrder(%.40q) = %q, %d, %v; want %q, %d, %v", tc.body, item, q, err, tc.item, tc.quantity, tc.err)
		}
	}
}

func FuzzParseOrder(f *testing.F) {
	for _, s := range []string{`{"item": "pens", "quantity": 2}`, `{"item": "\u00e9", "quantity": 1}`, `{"item": "x", "quantity": 1}{}`, `{}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		item, q, err := parseOrder(body)
		if err != nil {
			if item != "" || q != 0 {
				t.Fatalf("a refused order returned %q, %d", item, q)
			}
			return
		}
		if item == "" || len(item) > maxItemLength || !utf8.ValidString(item) || strings.TrimSpace(item) != item || q < 1 || q > maxQuantity {
			t.Fatalf("accepted an order out of bounds: %q, %d", item, q)
		}
	})
}
