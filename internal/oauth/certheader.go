package oauth

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// maxCertHeader bounds the client certificate header: a leaf and a few
// intermediates, URL-encoded.
const maxCertHeader = 16 << 10

// maxChain bounds the certificates taken from a header.
const maxChain = 8

// ErrCertHeader is the error of a client certificate header that does not
// hold a certificate.
var ErrCertHeader = errors.New("malformed client certificate header")

// ParseCertHeader parses a client certificate forwarded by a
// TLS-terminating proxy, leaf first, in the common forms:
//
//   - URL-encoded PEM, one or more certificates (nginx
//     $ssl_client_escaped_cert, Traefik, HAProxy with url-encoding);
//   - PEM whose line breaks became spaces or tabs (nginx $ssl_client_cert,
//     AWS ALB);
//   - Envoy's x-forwarded-client-cert: the Cert (and Chain) element of the
//     last, nearest, element (URL-encoded PEM, quoted or not);
//   - RFC 9440 Client-Cert: the DER form as a structured-field byte
//     sequence (:base64:);
//   - bare base64 of the DER form.
//
// The value is bounded (16 KiB) and at most 8 certificates are taken.
// Errors wrap ErrCertHeader.
func ParseCertHeader(v string) ([]*x509.Certificate, error) {
	if len(v) > maxCertHeader {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrCertHeader, maxCertHeader)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, fmt.Errorf("%w: empty", ErrCertHeader)
	}
	if xfcc, ok := xfccCert(v); ok {
		v = xfcc
	}
	switch {
	case len(v) > 2 && v[0] == ':' && v[len(v)-1] == ':':
		der, err := base64.StdEncoding.DecodeString(v[1 : len(v)-1])
		if err != nil {
			return nil, fmt.Errorf("%w: the byte sequence is not base64", ErrCertHeader)
		}
		return parseDERs([][]byte{der})
	case strings.Contains(v, "%"):
		u, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("%w: bad URL encoding", ErrCertHeader)
		}
		// A query-style encoding turns the spaces of the PEM markers
		// into '+' (the body's own '+' are %2B).
		v = strings.NewReplacer("-----BEGIN+CERTIFICATE-----", "-----BEGIN CERTIFICATE-----",
			"-----END+CERTIFICATE-----", "-----END CERTIFICATE-----").Replace(u)
	}
	if strings.Contains(v, "-----BEGIN") {
		return parsePEMs(v)
	}
	der, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%w: neither PEM nor base64", ErrCertHeader)
	}
	return parseDERs([][]byte{der})
}

// xfccCert returns the URL-encoded Cert (and Chain) of the last element of
// an Envoy x-forwarded-client-cert value, ok false when v is not one.
func xfccCert(v string) (string, bool) {
	if strings.HasPrefix(v, "-----") || strings.HasPrefix(v, "%2D") || strings.HasPrefix(v, ":") {
		return "", false
	}
	elems := splitQuoted(v, ',')
	last := elems[len(elems)-1]
	var cert, chain string
	found := false
	for _, pair := range splitQuoted(last, ';') {
		k, val, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "cert":
			cert, found = val, true
		case "chain":
			chain = val
		case "by", "hash", "subject", "uri", "dns":
		}
	}
	if !found {
		return "", false
	}
	if chain != "" {
		// Chain holds the leaf too; the PEM parse keeps the first copy.
		return chain, true
	}
	return cert, true
}

// splitQuoted splits s at sep outside double quotes.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// parsePEMs reads the CERTIFICATE blocks of s, repairing line breaks a
// proxy turned into spaces or tabs.
func parsePEMs(s string) ([]*x509.Certificate, error) {
	const begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
	var ders [][]byte
	for len(ders) < maxChain {
		i := strings.Index(s, begin)
		if i < 0 {
			break
		}
		rest := s[i+len(begin):]
		j := strings.Index(rest, end)
		if j < 0 {
			return nil, fmt.Errorf("%w: a PEM block without its end", ErrCertHeader)
		}
		body := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, rest[:j])
		der, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			// A body that is really PEM (e.g. with headers) goes through
			// encoding/pem.
			b, _ := pem.Decode([]byte(s[i : i+len(begin)+j+len(end)]))
			if b == nil {
				return nil, fmt.Errorf("%w: a PEM body is not base64", ErrCertHeader)
			}
			der = b.Bytes
		}
		ders = append(ders, der)
		s = rest[j+len(end):]
	}
	if len(ders) == 0 {
		return nil, fmt.Errorf("%w: no CERTIFICATE block", ErrCertHeader)
	}
	return parseDERs(ders)
}

// parseDERs parses certificates, keeping each once.
func parseDERs(ders [][]byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCertHeader, err)
		}
		dup := false
		for _, o := range out {
			if o.Equal(c) {
				dup = true
			}
		}
		if !dup {
			out = append(out, c)
		}
	}
	return out, nil
}
