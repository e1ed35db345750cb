package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/jose"
)

// newTokenDecryptCmd builds "writ token decrypt".
func newTokenDecryptCmd(s *streams) *cobra.Command {
	var (
		keyFile, alg string
		maxSize      int
	)
	cmd := &cobra.Command{
		Use:   "decrypt --key FILE [TOKEN]",
		Short: "Decrypt an encrypted token (JWE) with a private key",
		Long: `Decrypt a compact JWE, such as an ID token or a UserInfo response writ
encrypted for a client that registered id_token_encrypted_response_alg or
userinfo_encrypted_response_alg, and print what it holds.

--key FILE is the private key the token was encrypted to: the JWK written by
"writ key generate --alg RSA-OAEP-256 --out FILE" (or RSA-OAEP, ECDH-ES,
ECDH-ES+A128KW, ECDH-ES+A256KW), or a PKCS#8 PEM key with --alg. The token
is the TOKEN argument or, without one (or with -), standard input.

Standard output holds the plaintext and a newline. For a nested token
(header "cty":"JWT") that is a signed JWT, NOT verified by this command:
pipe it into "writ token verify". A token that does not decrypt exits with
status 1 and one line on standard error.`,
		Example: `  # Decrypt an ID token and verify the signed token inside
  writ token decrypt --key rp-enc.json < id_token.jwe |
    writ token verify --jwks https://id.example.com/.well-known/jwks.json \
      --issuer https://id.example.com --audience my-client`,
		Args: maxArgs(1, "TOKEN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTokenDecrypt(cmd.Context(), s, args, keyFile, alg, maxSize)
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyFile, "key", "", "the private key `FILE` (a JWK, or PKCS#8 PEM with --alg)")
	f.StringVar(&alg, "alg", "", "bind a PEM key to key management `ALG` (RSA-OAEP, RSA-OAEP-256, ECDH-ES, ECDH-ES+A128KW, ECDH-ES+A256KW)")
	f.IntVar(&maxSize, "max-size", jose.DefaultMaxSize, "accept tokens of at most `N` bytes")
	return cmd
}

// runTokenDecrypt implements "writ token decrypt".
func runTokenDecrypt(ctx context.Context, s *streams, args []string, keyFile, alg string, maxSize int) error {
	if keyFile == "" {
		return usagef("--key FILE is required: the private key the token was encrypted to")
	}
	if maxSize < 1 || maxSize > maxTokenSizeLimit {
		return usagef("--max-size %d: must be between 1 and %d bytes", maxSize, maxTokenSizeLimit)
	}
	key, err := loadDecryptionKey(keyFile, jose.Algorithm(alg))
	if err != nil {
		return err
	}
	token, err := readToken(ctx, s, args, maxSize)
	switch {
	case errors.Is(err, jose.ErrTooLarge):
		return undecodable(err)
	case err != nil:
		return err
	case token == "":
		return undecodable(fmt.Errorf("%w: the token is empty", jose.ErrMalformed))
	}
	plaintext, h, err := jose.Decrypt(token, jose.NewKeySet(key), maxSize)
	if err != nil {
		return &verdictError{prefix: "cannot decrypt token", err: err}
	}
	if _, err := s.out.Write(append(plaintext, '\n')); err != nil {
		return fmt.Errorf("cannot write the plaintext: %w", err)
	}
	note := "the plaintext is on standard output"
	if h.ContentType == "JWT" {
		note = "the signed JWT inside is on standard output, NOT verified: pipe it into 'writ token verify'"
	}
	fmt.Fprintf(s.err, "writ: decrypted (%s, %s, kid %q); %s\n", h.Algorithm, h.Encryption, h.KeyID, note)
	return nil
}

// loadDecryptionKey reads a private key for a JWE key management
// algorithm: a JWK, or a PEM key bound to alg.
func loadDecryptionKey(path string, alg jose.Algorithm) (*jose.Key, error) {
	if alg != "" && (!alg.IsEncryption() || alg == jose.Direct) {
		return nil, usagef("--alg %q: choose RSA-OAEP, RSA-OAEP-256, ECDH-ES, ECDH-ES+A128KW or ECDH-ES+A256KW", truncate(string(alg), 16))
	}
	data, err := readFileLimited(path, jose.MaxJWKSize, "key file")
	if err != nil {
		return nil, err
	}
	var key *jose.Key
	if isPEM(data) {
		if alg == "" {
			return nil, usagef("--alg is required with a PEM key: a PEM file does not record the algorithm")
		}
		if key, err = jose.ParsePEM(data, alg); err != nil {
			return nil, fmt.Errorf("invalid PEM key in %s: %w", path, err)
		}
	} else {
		members, err := topLevelMembers(data)
		if err != nil {
			return nil, fmt.Errorf("%s is neither a JWK (JSON object) nor a PEM key", path)
		}
		if _, ok := members["keys"]; ok {
			return nil, fmt.Errorf("%s is a JWK Set; --key needs one private JWK, such as the file written by 'writ key generate --out'", path)
		}
		if key, err = jose.ParseKey(data); err != nil {
			return nil, fmt.Errorf("invalid JWK in %s: %w", path, err)
		}
		if alg != "" && key.Algorithm() != alg {
			return nil, usagef("--alg %s does not match the key in %s, which is bound to %s", alg, path, key.Algorithm())
		}
	}
	if !key.IsPrivate() || !key.Algorithm().IsEncryption() || key.Algorithm() == jose.Direct {
		return nil, fmt.Errorf("%s is not a private key for encryption (its algorithm is %s); generate one with 'writ key generate --alg RSA-OAEP-256 --out FILE'", path, key.Algorithm())
	}
	return key, nil
}
