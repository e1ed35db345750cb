package ui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// DefaultLocale is the locale used when no requested one is supported.
const DefaultLocale = "en"

// supportedLocales lists the locales of catalog, space-separated, in the
// order PickLocale prefers them on a tie.
const supportedLocales = "en"

// Input bounds for PickLocale.
const (
	maxLocaleInput = 1024
	maxLocaleTags  = 32
	maxTagLen      = 35
)

// PickLocale chooses the locale of a page: the first supported entry of
// uiLocales (the space-separated OpenID Connect ui_locales parameter, in
// order of preference), else the best supported entry of acceptLanguage
// (an HTTP Accept-Language header, by q-value), else DefaultLocale.
// A tag matches a supported locale exactly or by its primary language
// ("en-GB" matches "en"); matching ignores case and accepts "_" for "-".
func PickLocale(uiLocales, acceptLanguage string) string {
	for i, tag := range strings.Fields(truncate(uiLocales, maxLocaleInput)) {
		if i == maxLocaleTags {
			break
		}
		if l, ok := matchLocale(tag); ok {
			return l
		}
	}
	for _, tag := range acceptedLanguages(truncate(acceptLanguage, maxLocaleInput)) {
		if l, ok := matchLocale(tag); ok {
			return l
		}
	}
	return DefaultLocale
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// acceptedLanguages returns the language ranges of an Accept-Language
// header, most preferred first, leaving out q=0, "*" and malformed entries.
func acceptedLanguages(header string) []string {
	type entry struct {
		tag string
		q   float64
	}
	var entries []entry
	for i, part := range strings.Split(header, ",") {
		if i == maxLocaleTags {
			break
		}
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.TrimSpace(tag)
		if tag == "" || tag == "*" {
			continue
		}
		q := 1.0
		if params = strings.TrimSpace(params); params != "" {
			name, value, ok := strings.Cut(params, "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
				continue
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil || v < 0 || v > 1 {
				continue
			}
			q = v
		}
		if q > 0 {
			entries = append(entries, entry{tag, q})
		}
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return cmp.Compare(b.q, a.q) })
	tags := make([]string, len(entries))
	for i, e := range entries {
		tags[i] = e.tag
	}
	return tags
}

// matchLocale returns the supported locale matching tag: exactly, else the
// supported locale equal to tag's primary language, else the first
// supported locale with the same primary language.
func matchLocale(tag string) (string, bool) {
	tag = strings.ToLower(strings.ReplaceAll(tag, "_", "-"))
	if tag == "" || len(tag) > maxTagLen || strings.Trim(tag, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return "", false
	}
	base, _, _ := strings.Cut(tag, "-")
	supported := strings.Fields(supportedLocales)
	for _, s := range supported {
		if strings.ToLower(s) == tag {
			return s, true
		}
	}
	for _, s := range supported {
		if strings.ToLower(s) == base {
			return s, true
		}
	}
	for _, s := range supported {
		if sb, _, _ := strings.Cut(strings.ToLower(s), "-"); sb == base {
			return s, true
		}
	}
	return "", false
}
