package app

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"

	"github.com/writ-dev/writ/internal/config"
)

// Admin token strength required in production.
const (
	// MinAdminTokenLength is the shortest admin token production accepts.
	MinAdminTokenLength = 32
	// MinAdminTokenBits is the least estimated entropy (tokenEntropyBits)
	// of an admin token in production. 32 random hexadecimal digits (128
	// bits) estimate at about 115, rarely under 96; `openssl rand -base64
	// 32` at about 220.
	MinAdminTokenBits = 80
	// minDevAdminTokenLength is the shortest admin token development mode
	// accepts.
	minDevAdminTokenLength = 16
)

// checkProduction lists what production mode refuses beyond
// config.Validate: an admin listener reachable from other hosts without
// TLS, and a weak admin token. It returns nil in development mode.
func checkProduction(cfg *config.Config, getenv func(string) string) error {
	if cfg.Mode != config.Production {
		return nil
	}
	var errs []error
	if host, _, err := net.SplitHostPort(cfg.AdminAddr); err == nil && !isLoopbackListenHost(host) && cfg.AdminTLSCertFile == "" {
		errs = append(errs, fmt.Errorf("admin_addr %s is reachable from other hosts: serve the admin API over TLS (--admin-tls-cert-file and --admin-tls-key-file) or bind it to a loopback address such as 127.0.0.1:8081", cfg.AdminAddr))
	}
	if tok := getenv(EnvAdminToken); tok != "" {
		if err := checkAdminToken(tok); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("production mode: %w", errors.Join(errs...))
	}
	return nil
}

// checkAdminToken refuses an admin token that is short or guessable. The
// error says why, never what the token is.
func checkAdminToken(tok string) error {
	if len(tok) < MinAdminTokenLength {
		return fmt.Errorf("%s is %d characters: use at least %d random ones (e.g. openssl rand -base64 32)", EnvAdminToken, len(tok), MinAdminTokenLength)
	}
	if bits := tokenEntropyBits(tok); bits < MinAdminTokenBits {
		return fmt.Errorf("%s looks guessable (about %.0f bits of entropy, at least %d needed: repeated characters, a short alphabet or a sequence): use random characters (e.g. openssl rand -base64 32)", EnvAdminToken, bits, MinAdminTokenBits)
	}
	return nil
}

// tokenEntropyBits estimates the entropy of a token that ought to be
// random: its length times the smaller of the Shannon entropy per byte of
// its bytes and of the differences between neighbouring bytes. The first
// catches repeats and short alphabets ("aaaa…", "abab…", "0101…"), the
// second sequences ("abcd…", "0123…"). A token that repeats itself with a
// period ("passwordpassword…") counts as its first period only. It
// overestimates words and patterns it does not model, so it is a floor to
// refuse the obviously weak, not a measure of strength.
func tokenEntropyBits(tok string) float64 {
	n := len(tok)
	if n == 0 {
		return 0
	}
	if p := period(tok); p < n {
		return tokenEntropyBits(tok[:p])
	}
	var chars [256]int
	for i := 0; i < n; i++ {
		chars[tok[i]]++
	}
	perChar := shannon(chars[:], n)
	if n > 1 {
		var diffs [511]int
		for i := 1; i < n; i++ {
			diffs[int(tok[i])-int(tok[i-1])+255]++
		}
		perChar = math.Min(perChar, shannon(diffs[:], n-1))
	}
	return perChar * float64(n)
}

// maxPeriodScan bounds the tokens period looks at (quadratic work).
const maxPeriodScan = 1024

// period returns the shortest p such that at least 90% of the bytes of tok
// equal the byte p before them, or len(tok) when there is none.
func period(tok string) int {
	n := len(tok)
	if n > maxPeriodScan {
		return n
	}
	for p := 1; p <= n/2; p++ {
		same := 0
		for i := p; i < n; i++ {
			if tok[i] == tok[i-p] {
				same++
			}
		}
		if same*10 >= (n-p)*9 {
			return p
		}
	}
	return n
}

// shannon is the Shannon entropy, in bits, of counts summing to total.
func shannon(counts []int, total int) float64 {
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(total)
			h -= p * math.Log2(p)
		}
	}
	return h
}

// isLoopbackListenHost reports whether a listen address's host only
// accepts connections from this machine: "localhost" or a loopback IP
// literal. An empty host (every interface) is not.
func isLoopbackListenHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
