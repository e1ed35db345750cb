package main

import (
	"strings"

	"github.com/spf13/pflag"

	"github.com/writ-dev/writ/internal/oidc"
)

// responseCrypto holds the flags of signed and encrypted responses (OpenID
// Connect Registration §2): ID tokens encrypted to the client's key, and
// UserInfo signed and/or encrypted.
type responseCrypto struct {
	idTokenAlg, idTokenEnc   string
	userinfoSign             string
	userinfoAlg, userinfoEnc string
}

// register adds the flags to fs; hint tells how an update clears a value.
func (r *responseCrypto) register(fs *pflag.FlagSet, hint string) {
	algList := strings.Join(oidc.ResponseEncryptionAlgValues(), ", ")
	encList := strings.Join(oidc.ResponseEncryptionEncValues(), ", ")
	fs.StringVar(&r.idTokenAlg, "id-token-encrypted-response-alg", "", "encrypt the client's ID tokens to its key (from --jwks or --jwks-uri) with key management `ALG`: "+algList+hint)
	fs.StringVar(&r.idTokenEnc, "id-token-encrypted-response-enc", "", "content encryption `ENC` of the client's ID tokens: "+encList+" (default "+string(oidc.DefaultResponseEncryption)+")"+hint)
	fs.StringVar(&r.userinfoSign, "userinfo-signed-response-alg", "", "answer the client's UserInfo requests with a JWT signed with `ALG` (RS256, PS256, ES256 or EdDSA, as the key ring offers)"+hint)
	fs.StringVar(&r.userinfoAlg, "userinfo-encrypted-response-alg", "", "encrypt the client's UserInfo responses to its key with key management `ALG`: "+algList+hint)
	fs.StringVar(&r.userinfoEnc, "userinfo-encrypted-response-enc", "", "content encryption `ENC` of the client's UserInfo responses: "+encList+" (default "+string(oidc.DefaultResponseEncryption)+")"+hint)
}

// fields lists flag, metadata member and value of each flag.
func (r *responseCrypto) fields() [][3]string {
	return [][3]string{
		{"id-token-encrypted-response-alg", "id_token_encrypted_response_alg", r.idTokenAlg},
		{"id-token-encrypted-response-enc", "id_token_encrypted_response_enc", r.idTokenEnc},
		{"userinfo-signed-response-alg", "userinfo_signed_response_alg", r.userinfoSign},
		{"userinfo-encrypted-response-alg", "userinfo_encrypted_response_alg", r.userinfoAlg},
		{"userinfo-encrypted-response-enc", "userinfo_encrypted_response_enc", r.userinfoEnc},
	}
}

// joinAlgEnc renders a registered encryption as "ALG / ENC", or "" when
// there is none.
func joinAlgEnc(alg, enc string) string {
	if alg == "" {
		return ""
	}
	if enc == "" {
		enc = string(oidc.DefaultResponseEncryption)
	}
	return alg + " / " + enc
}
