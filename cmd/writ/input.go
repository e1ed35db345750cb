package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/writ-dev/writ/jose"
)

// maxTokenSizeLimit is the largest value --max-size accepts.
const maxTokenSizeLimit = 1 << 20

// tokenWhitespaceSlack is how many bytes of surrounding white space (a
// trailing newline, CRLF, indentation) a token read from standard input
// may carry on top of --max-size.
const tokenWhitespaceSlack = 1 << 10

// readFileLimited reads at most limit bytes from the file at path. what
// names the file's role in error messages ("key file", "claims file").
func readFileLimited(path string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", what, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("cannot read %s: %s is a directory", what, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s %s: %w", what, path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s %s is larger than %d bytes", what, path, limit)
	}
	return data, nil
}

// readAllContext reads r until EOF or limit+1 bytes, whichever comes first,
// and gives up when ctx is done (so that Ctrl-C works while waiting on a
// terminal). It reports whether more than limit bytes were available.
func readAllContext(ctx context.Context, r io.Reader, limit int64) (data []byte, tooLarge bool, err error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		done <- result{b, err}
	}()
	select {
	case <-ctx.Done():
		return nil, false, ctx.Err()
	case res := <-done:
		if res.err != nil {
			return nil, false, res.err
		}
		if int64(len(res.data)) > limit {
			return nil, true, nil
		}
		return res.data, false, nil
	}
}

// isTerminal reports whether r is a character device such as a terminal,
// where waiting for input would only hang.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// readToken returns the compact token from the argument, or from standard
// input when there is no argument or it is "-". Surrounding white space is
// trimmed. A token larger than maxSize (plus a little white space) read from
// standard input is reported as jose.ErrTooLarge without being read whole;
// the caller wraps that error as a verdict.
func readToken(ctx context.Context, s *streams, args []string, maxSize int) (string, error) {
	if len(args) == 1 && args[0] != "-" {
		return strings.TrimSpace(args[0]), nil
	}
	if isTerminal(s.in) {
		return "", usagef("no token given: pass it as the TOKEN argument or on standard input")
	}
	data, tooLarge, err := readAllContext(ctx, s.in, int64(maxSize+tokenWhitespaceSlack))
	switch {
	case err != nil:
		return "", fmt.Errorf("cannot read the token from standard input: %w", err)
	case tooLarge:
		return "", fmt.Errorf("%w: more than %d bytes on standard input (limit --max-size %d)", jose.ErrTooLarge, maxSize+tokenWhitespaceSlack, maxSize)
	}
	return strings.TrimSpace(string(data)), nil
}

// parseSignatureAlg checks that name is a signature algorithm writ supports.
func parseSignatureAlg(flag, name string) (jose.Algorithm, error) {
	alg := jose.Algorithm(name)
	if alg.IsSignature() {
		return alg, nil
	}
	for _, a := range jose.SignatureAlgorithms() {
		if strings.EqualFold(string(a), name) {
			return "", usagef("--%s %q: algorithm names are case-sensitive; did you mean %s?", flag, truncate(name, 16), a)
		}
	}
	if strings.EqualFold(name, "none") {
		return "", usagef("--%s none: unsigned tokens are never accepted; choose one of %s", flag, algList())
	}
	return "", usagef("--%s %q is not a supported signature algorithm; choose one of %s", flag, truncate(name, 16), algList())
}

// algList names every supported signature algorithm, for messages.
func algList() string {
	algs := jose.SignatureAlgorithms()
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// isRSAAlg reports whether alg takes an RSA key (RS*, PS*, RSA-OAEP*).
func isRSAAlg(alg jose.Algorithm) bool {
	return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
}

// encryptionAlgList lists the public-key JWE algorithms "writ key generate"
// makes keys for.
func encryptionAlgList() string {
	var names []string
	for _, a := range jose.EncryptionAlgorithms() {
		if a != jose.Direct {
			names = append(names, string(a))
		}
	}
	return strings.Join(names, ", ")
}

// isPEM reports whether data looks like a PEM document.
func isPEM(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN "))
}

// topLevelMembers returns the member names of a JSON object, or an error
// when data is not one. Strict parsing (duplicates and all) is left to the
// jose parsers; this only tells a JWK from a JWK Set.
func topLevelMembers(data []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// writeJSON writes v as indented JSON followed by a newline, without
// escaping <, > and & (claims hold URLs).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// indentJSON re-indents a JSON document and adds a trailing newline.
func indentJSON(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, data, "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// jsonString encodes s as a JSON string literal without HTML escaping.
func jsonString(s string) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// readTextFlag reads a flag given as @FILE or @- (standard input), at most
// limit bytes; the flag names it in errors.
func readTextFlag(ctx context.Context, s *streams, flag, v string, limit int64) (string, error) {
	switch {
	case v == "@-":
		b, tooLarge, err := readAllContext(ctx, s.in, limit)
		if err != nil {
			return "", fmt.Errorf("--%s: cannot read standard input: %w", flag, err)
		}
		if tooLarge {
			return "", usagef("--%s: standard input is larger than %d bytes", flag, limit)
		}
		return string(b), nil
	case strings.HasPrefix(v, "@"):
		b, err := readFileLimited(v[1:], limit, flag+" file")
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return "", usagef("--%s must be @FILE or @- (standard input)", flag)
}
