package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// maxAccessTokenFile bounds the access token "writ dpop proof" reads.
const maxAccessTokenFile = 64 << 10

// newDPoPCmd builds "writ dpop", the DPoP (RFC 9449) client commands.
func newDPoPCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dpop",
		Short: "Make DPoP proofs (RFC 9449) for token and resource requests",
		Long: `Make DPoP proofs (RFC 9449), as a client does: a short-lived JWT signed
by the client's own key, sent in the DPoP header of a request, so that the
access token it gets is bound to that key (cnf.jkt) and useless without it.

The key is any private asymmetric key "writ key generate --out FILE" writes
(ES256 by default). Each proof is for one request (method and URL), is
good for a short time, and is accepted once.`,
		Example: `  # A key for the client
  writ key generate --out dpop-key.json > /dev/null

  # A proof for the token endpoint, and the key's thumbprint (the cnf.jkt)
  writ dpop proof --key dpop-key.json --htu https://id.example.com/oauth2/token
  writ dpop thumbprint --key dpop-key.json

  # A proof for a resource request with the bound access token
  writ dpop proof --key dpop-key.json --htm GET \
    --htu https://api.example.com/orders --access-token-file token.txt`,
		GroupID: groupTokens,
		Args:    noUnknownSubcommand,
		RunE:    showHelp,
		// Only groups subcommands: its usage line is "writ X [command]".
		DisableFlagsInUseLine: true,
	}
	cmd.AddCommand(newDPoPProofCmd(s), newDPoPThumbprintCmd(s))
	return cmd
}

// dpopProofOptions are the flags of "writ dpop proof".
type dpopProofOptions struct {
	keyFile   string
	alg       string
	htm       string
	htu       string
	tokenFile string
	nonce     string
}

// newDPoPProofCmd builds "writ dpop proof".
func newDPoPProofCmd(s *streams) *cobra.Command {
	o := &dpopProofOptions{}
	cmd := &cobra.Command{
		Use:   "proof --key FILE --htu URL [--htm POST] [--access-token-file FILE|-] [--nonce NONCE]",
		Short: "Print a DPoP proof for one request",
		Long: `Print a DPoP proof (RFC 9449 §4.2) for one request, followed by a newline:
the value of the request's DPoP header.

The proof is signed by --key (a private JWK or PEM key) with its public
half in the header, and says: a random jti, htm (--htm, default POST), htu
(--htu without its query and fragment) and iat (now). With
--access-token-file (- for standard input) it carries ath, the hash of the
access token, as a resource request needs; with --nonce, the server's
nonce from its last DPoP-Nonce response header.

A proof is accepted once and for a short time (two minutes at writ): make
a new one for each request.`,
		Example: `  # Token request
  curl -s -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials \
    -H "DPoP: $(writ dpop proof --key dpop-key.json --htu https://id.example.com/oauth2/token)" \
    https://id.example.com/oauth2/token

  # Resource request with the bound token
  curl -s -H "Authorization: DPoP $(cat token.txt)" \
    -H "DPoP: $(writ dpop proof --key dpop-key.json --htm GET --htu https://api.example.com/orders --access-token-file token.txt)" \
    https://api.example.com/orders`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDPoPProof(cmd.Context(), s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.keyFile, "key", "", "sign with the private key in `FILE` (JWK or PEM)")
	f.StringVar(&o.alg, "alg", "", "the `ALG` of a PEM RSA key (RS256, PS256, ...); a JWK names its own")
	f.StringVar(&o.htm, "htm", "POST", "the request's HTTP `METHOD`")
	f.StringVar(&o.htu, "htu", "", "the request's absolute `URL` (query and fragment are dropped)")
	f.StringVar(&o.tokenFile, "access-token-file", "", "bind the proof to the access token in `FILE` (- for standard input) with ath")
	f.StringVar(&o.nonce, "nonce", "", "the server's `NONCE` (its last DPoP-Nonce header)")
	return cmd
}

// runDPoPProof implements "writ dpop proof".
func runDPoPProof(ctx context.Context, s *streams, o *dpopProofOptions) error {
	switch {
	case o.keyFile == "":
		return usagef("--key is required: the private key the token is bound to (make one with 'writ key generate --out FILE')")
	case o.htu == "":
		return usagef("--htu is required: the URL of the request the proof is for")
	case o.htm == "" || strings.ToUpper(o.htm) != o.htm || strings.ContainsAny(o.htm, " \t\r\n"):
		return usagef("--htm must be an HTTP method in capitals, such as POST or GET")
	}
	if u, err := url.Parse(o.htu); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return usagef("--htu must be an absolute http or https URL")
	}
	var alg jose.Algorithm
	if o.alg != "" {
		var err error
		if alg, err = parseSignatureAlg("alg", o.alg); err != nil {
			return err
		}
	}
	key, err := loadSigningKey(o.keyFile, alg, "")
	if err != nil {
		return err
	}
	if key.IsSymmetric() {
		return fmt.Errorf("the key in %s is an HMAC secret; a DPoP proof needs an asymmetric key (ES256, EdDSA, RS256, ...)", o.keyFile)
	}
	var token string
	if o.tokenFile != "" {
		if token, err = readAccessToken(ctx, s, o.tokenFile); err != nil {
			return err
		}
	}
	proof, err := dpop.NewProof(key, o.htm, o.htu, token, o.nonce, time.Now())
	if err != nil {
		return fmt.Errorf("cannot make the proof: %w", err)
	}
	_, err = fmt.Fprintln(s.out, proof)
	return err
}

// readAccessToken reads one access token from path, or from standard input
// for "-", without surrounding white space.
func readAccessToken(ctx context.Context, s *streams, path string) (string, error) {
	var data []byte
	if path == "-" {
		if isTerminal(s.in) {
			return "", usagef("--access-token-file -: standard input is a terminal; pipe the token in or name a file")
		}
		var tooLarge bool
		var err error
		data, tooLarge, err = readAllContext(ctx, s.in, maxAccessTokenFile)
		switch {
		case err != nil:
			return "", fmt.Errorf("cannot read the access token from standard input: %w", err)
		case tooLarge:
			return "", fmt.Errorf("the access token on standard input is larger than %d bytes", maxAccessTokenFile)
		}
	} else {
		var err error
		if data, err = readFileLimited(path, maxAccessTokenFile, "access token file"); err != nil {
			return "", err
		}
	}
	token := string(bytes.TrimSpace(data))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("%s does not hold one access token", displayPath(path))
	}
	return token, nil
}

func displayPath(path string) string {
	if path == "-" {
		return "standard input"
	}
	return path
}

// newDPoPThumbprintCmd builds "writ dpop thumbprint".
func newDPoPThumbprintCmd(s *streams) *cobra.Command {
	var keyFile, algName string
	cmd := &cobra.Command{
		Use:   "thumbprint --key FILE [--alg ALG]",
		Short: "Print the RFC 7638 thumbprint of a key: the cnf.jkt of tokens bound to it",
		Long: `Print the RFC 7638 SHA-256 thumbprint of a key (base64url), followed by a
newline: the value of cnf.jkt in the access tokens bound to it, and of the
dpop_jkt authorization request parameter.`,
		Example: `  writ dpop thumbprint --key dpop-key.json`,
		Args:    noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if keyFile == "" {
				return usagef("--key is required")
			}
			var alg jose.Algorithm
			if algName != "" {
				var err error
				if alg, err = parseSignatureAlg("alg", algName); err != nil {
					return err
				}
			}
			key, err := loadSigningKey(keyFile, alg, "")
			if err != nil {
				return err
			}
			if key.IsSymmetric() {
				return fmt.Errorf("the key in %s is an HMAC secret; DPoP keys are asymmetric", keyFile)
			}
			_, err = fmt.Fprintln(s.out, key.ThumbprintSHA256())
			return err
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the private key `FILE` (JWK or PEM)")
	cmd.Flags().StringVar(&algName, "alg", "", "the `ALG` of a PEM RSA key (RS256, PS256, ...)")
	return cmd
}
