package config

import (
	"fmt"
	"sort"
	"strings"
)

// otherEnv are the WRIT_* variables that are not settings of the table but
// are read elsewhere: secrets that live only in the environment, the
// configuration file, and the CLI's own variables.
func otherEnv() []string {
	return []string{
		"WRIT_CONFIG",
		"WRIT_MASTER_KEY",
		"WRIT_ADMIN_TOKEN",
		"WRIT_ADMIN_ENDPOINT",
		"WRIT_CLIENT_SECRET",
	}
}

// UnknownEnvironment returns one warning for each WRIT_* variable in
// environ (os.Environ's form, NAME=VALUE) that names no setting and no
// other variable writ reads, with the closest known name when one is near
// ("did you mean"). Variables starting WRIT_TEST_ belong to the tests and
// are left alone. Values are never quoted: some are secrets.
func UnknownEnvironment(environ []string) []string {
	known := otherEnv()
	for _, f := range fields() {
		known = append(known, f.env)
	}
	isKnown := make(map[string]bool, len(known))
	for _, k := range known {
		isKnown[k] = true
	}
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "WRIT_") || strings.HasPrefix(name, "WRIT_TEST_") || isKnown[name] {
			continue
		}
		w := fmt.Sprintf("environment variable %s names no writ setting; it is ignored", truncate(name))
		if best, ok := closest(name, known); ok {
			w += fmt.Sprintf(" (did you mean %s?)", best)
		}
		warnings = append(warnings, w)
	}
	sort.Strings(warnings)
	return warnings
}

// closest returns the name in known nearest to name by edit distance, when
// it is near enough to be a likely typo.
func closest(name string, known []string) (string, bool) {
	best, bestD := "", -1
	for _, k := range known {
		d := editDistance(name, k)
		if bestD < 0 || d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	// The WRIT_ prefix is shared, so judge the distance against the rest.
	limit := max(2, (len(name)-len("WRIT_"))/3)
	return best, bestD >= 0 && bestD <= limit
}

// editDistance is the Levenshtein distance between a and b (bytes: the
// names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
