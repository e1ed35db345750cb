package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/jose"
)

// maxRSABits mirrors the largest RSA key the token core accepts.
const maxRSABits = 8192

// newKeyCmd builds "writ key", the group of key management commands.
func newKeyCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Create and manage signing keys",
		Long: `Create and manage the keys that sign and verify tokens.

Keys are JSON Web Keys (RFC 7517). Each key is bound to exactly one
algorithm, and its "kid" is by default its RFC 7638 thumbprint.`,
		Example: `  # Create an ES256 key; private JWK to key.json, public JWK Set to jwks.json
  writ key generate --out key.json > jwks.json`,
		GroupID: groupTokens,
		Args:    noUnknownSubcommand,
		RunE:    showHelp,
		// Only groups subcommands: its usage line is "writ X [command]".
		DisableFlagsInUseLine: true,
	}
	cmd.AddCommand(newKeyGenerateCmd(s), newKeyMasterCmd(s), newKeyRotateCmd(s), newKeyListCmd(s))
	return cmd
}

// keyGenerateOptions are the flags of "writ key generate".
type keyGenerateOptions struct {
	alg    string
	bits   int
	out    string
	force  bool
	kid    string
	format string
}

// newKeyGenerateCmd builds "writ key generate".
func newKeyGenerateCmd(s *streams) *cobra.Command {
	o := &keyGenerateOptions{}
	cmd := &cobra.Command{
		Use:   "generate [--alg ES256] [--out FILE]",
		Short: "Generate a signing key: private key to a file, public JWK Set to standard output",
		Long: `Generate a new signing key for one algorithm.

The private key is written to --out FILE with mode 0600; an existing file is
never replaced unless --force is given. The public half is printed on
standard output as a JWK Set ({"keys": [...]}), ready to be given to
"writ token verify --jwks" or published by a server.

Without --out the private key is printed on standard output instead (and
the public JWK Set is not printed): keep that output secret.

HMAC keys (HS256, HS384, HS512) are shared secrets and have no public half:
nothing public is printed; give the private key file to both
"writ token mint --key" and "writ token verify --jwks".

Algorithms: ES256 (default), ES384, ES512, EdDSA (Ed25519), RS256, RS384,
RS512, PS256, PS384, PS512 (RSA, --bits 2048 to 8192), HS256, HS384, HS512.

Encryption keys, for a relying party that has ID tokens or UserInfo
encrypted to it: RSA-OAEP, RSA-OAEP-256 (RSA, --bits 2048 to 8192),
ECDH-ES, ECDH-ES+A128KW, ECDH-ES+A256KW (P-256). Their public JWK carries
"use":"enc"; register it as the client's jwks, and open tokens with
"writ token decrypt --key FILE".

The private key is a JWK by default; --format pem writes PKCS#8 PEM instead
(not for HMAC keys). A PEM file does not record the algorithm or kid, so
"writ token mint" then needs --alg for RSA keys, and --kid cannot be used.`,
		Example: `  # ES256 key: private JWK in key.json, public JWK Set in jwks.json
  writ key generate --out key.json > jwks.json

  # 3072-bit RSA-PSS key with a chosen kid
  writ key generate --alg PS256 --bits 3072 --kid 2025-06 --out rsa.json > rsa-jwks.json

  # Ed25519 key as PKCS#8 PEM
  writ key generate --alg EdDSA --format pem --out ed25519.pem > ed25519-jwks.json

  # Encryption key for a relying party (register rp-enc-jwks.json as its jwks)
  writ key generate --alg RSA-OAEP-256 --out rp-enc.json > rp-enc-jwks.json

  # HMAC secret (no public half; the same file signs and verifies)
  writ key generate --alg HS256 --out secret.json

  # Replace an existing key file
  writ key generate --out key.json --force > jwks.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeyGenerate(cmd.Context(), cmd, s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.alg, "alg", string(jose.ES256), "bind the key to signature algorithm `ALG`: "+algList()+"; or to encryption algorithm "+encryptionAlgList())
	f.IntVar(&o.bits, "bits", jose.MinRSABits, "RSA modulus size `BITS` (2048 to 8192), for RS*, PS* and RSA-OAEP* keys only")
	f.StringVar(&o.out, "out", "", "write the private key to `FILE` (mode 0600) and print the public JWK Set")
	f.BoolVar(&o.force, "force", false, "replace --out FILE if it exists")
	f.StringVar(&o.kid, "kid", "", "use `KID` as the key ID instead of the RFC 7638 thumbprint")
	f.StringVar(&o.format, "format", "jwk", "private key `FORMAT`: jwk or pem (PKCS#8)")
	return cmd
}

// validate checks the flags and returns the algorithm.
func (o *keyGenerateOptions) validate(cmd *cobra.Command) (jose.Algorithm, error) {
	alg := jose.Algorithm(o.alg)
	if !alg.IsEncryption() || alg == jose.Direct {
		var err error
		if alg, err = parseSignatureAlg("alg", o.alg); err != nil {
			return "", err
		}
	}
	if isRSAAlg(alg) {
		if o.bits < jose.MinRSABits || o.bits > maxRSABits {
			return "", usagef("--bits %d: RSA keys must have %d to %d bits", o.bits, jose.MinRSABits, maxRSABits)
		}
		if o.bits%8 != 0 {
			return "", usagef("--bits %d: must be a multiple of 8, for example 2048, 3072 or 4096", o.bits)
		}
	} else if cmd.Flags().Changed("bits") {
		return "", usagef("--bits applies only to RSA algorithms (RS256 ... PS512, RSA-OAEP, RSA-OAEP-256), not %s", alg)
	}
	switch o.format {
	case "jwk":
	case "pem":
		if alg.IsSymmetric() {
			return "", usagef("--format pem: %s keys are shared secrets and have no PEM form; use --format jwk", alg)
		}
		if cmd.Flags().Changed("kid") {
			return "", usagef("--kid cannot be used with --format pem: a PEM file cannot record a kid; use --format jwk")
		}
	default:
		return "", usagef("--format %q: choose jwk or pem", truncate(o.format, 16))
	}
	if cmd.Flags().Changed("kid") {
		if err := checkKeyID(o.kid); err != nil {
			return "", err
		}
	}
	if cmd.Flags().Changed("out") && o.out == "" {
		return "", usagef("--out needs a file name")
	}
	if o.force && o.out == "" {
		return "", usagef("--force only makes sense with --out FILE")
	}
	return alg, nil
}

// checkKeyID rejects kid values that would be awkward or dangerous in
// headers, logs and file names: empty, very long, or with control characters.
func checkKeyID(kid string) error {
	if kid == "" {
		return usagef("--kid must not be empty; leave it out to use the key's thumbprint")
	}
	if len(kid) > 256 {
		return usagef("--kid is longer than 256 bytes")
	}
	for _, r := range kid {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return usagef("--kid must be printable text without control characters")
		}
	}
	return nil
}

// runKeyGenerate implements "writ key generate".
func runKeyGenerate(ctx context.Context, cmd *cobra.Command, s *streams, o *keyGenerateOptions) error {
	alg, err := o.validate(cmd)
	if err != nil {
		return err
	}
	if o.out != "" && !o.force {
		// Fail before the (possibly slow) generation when the file exists.
		if _, err := os.Lstat(o.out); err == nil {
			return fmt.Errorf("%s already exists; writ never overwrites a key file: choose another --out or pass --force to replace it", o.out)
		}
	}
	key, err := generateKey(ctx, alg, o.bits, o.kid)
	if err != nil {
		return err
	}

	var private []byte
	if o.format == "pem" {
		private, err = key.MarshalPEM()
	} else {
		private, err = marshalJWK(key)
	}
	if err != nil {
		return fmt.Errorf("cannot encode the private key: %w", err)
	}

	if o.out == "" {
		if _, err := s.out.Write(private); err != nil {
			return fmt.Errorf("cannot write the private key to standard output: %w", err)
		}
		fmt.Fprintf(s.err, "writ: no --out given: the %s private key (kid %q) was printed on standard output; keep it secret (use --out FILE to write it with mode 0600 and print the public JWK Set)\n", alg, key.KeyID())
		return nil
	}

	if err := writeSecretFile(o.out, private, o.force); err != nil {
		return err
	}
	if key.IsSymmetric() {
		fmt.Fprintf(s.err, "writ: wrote the %s secret (kid %q) to %s with mode 0600; HMAC keys have no public half, so nothing is printed: give this file to both --key and --jwks\n", alg, key.KeyID(), o.out)
		return nil
	}
	public, err := json.Marshal(jose.NewKeySet(key))
	if err != nil {
		return fmt.Errorf("cannot encode the public JWK Set: %w", err)
	}
	public, err = indentJSON(public)
	if err != nil {
		return fmt.Errorf("cannot encode the public JWK Set: %w", err)
	}
	if _, err := s.out.Write(public); err != nil {
		return fmt.Errorf("cannot write the public JWK Set to standard output: %w", err)
	}
	fmt.Fprintf(s.err, "writ: wrote the %s private key (kid %q) to %s with mode 0600; the public JWK Set is on standard output\n", alg, key.KeyID(), o.out)
	return nil
}

// generateKey creates the key, giving up early when ctx is cancelled (large
// RSA keys take seconds).
func generateKey(ctx context.Context, alg jose.Algorithm, bits int, kid string) (*jose.Key, error) {
	var opts []jose.KeyOption
	if kid != "" {
		opts = append(opts, jose.WithKeyID(kid))
	}
	type result struct {
		key *jose.Key
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		if isRSAAlg(alg) {
			r.key, r.err = jose.GenerateRSAKey(alg, bits, opts...)
		} else {
			r.key, r.err = jose.GenerateKey(alg, opts...)
		}
		done <- r
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("cannot generate the %s key: %w", alg, r.err)
		}
		return r.key, nil
	}
}

// marshalJWK encodes a key as an indented JWK with a trailing newline.
func marshalJWK(k *jose.Key) ([]byte, error) {
	data, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	return indentJSON(data)
}

// writeSecretFile writes data to path with mode 0600. Without force it
// refuses to replace any existing file (or symlink). With force it writes a
// temporary file in the same directory and renames it over path, so the
// result is never a partial key and never keeps a looser mode.
func writeSecretFile(path string, data []byte, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; writ never overwrites a key file: choose another --out or pass --force to replace it", path)
		}
		if err != nil {
			return fmt.Errorf("cannot create the key file: %w", err)
		}
		if err := writeAndClose(f, data); err != nil {
			os.Remove(path)
			return fmt.Errorf("cannot write the key file %s: %w", path, err)
		}
		return nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("cannot write the key file: %s is a directory", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".writ-key-*")
	if err != nil {
		return fmt.Errorf("cannot create the key file: %w", err)
	}
	if err := writeAndClose(tmp, data); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot write the key file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot replace the key file: %w", err)
	}
	return nil
}

// writeAndClose writes data to f, makes sure the mode is exactly 0600
// whatever the umask, flushes it to disk and closes it.
func writeAndClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
