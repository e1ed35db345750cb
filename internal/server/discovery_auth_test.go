package server_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/writ-dev/writ/internal/oauth"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/jose"
)

// TestDiscoveryAssertionAlgorithms: every endpoint whose auth methods list
// private_key_jwt also lists the assertion algorithms it accepts (RFC 8414
// §2), asymmetric ones only, in both documents and with sign-in on or off.
func TestDiscoveryAssertionAlgorithms(t *testing.T) {
	pairs := map[string]string{
		"token_endpoint_auth_methods_supported":         "token_endpoint_auth_signing_alg_values_supported",
		"introspection_endpoint_auth_methods_supported": "introspection_endpoint_auth_signing_alg_values_supported",
		"revocation_endpoint_auth_methods_supported":    "revocation_endpoint_auth_signing_alg_values_supported",
	}
	for name, e := range map[string]*testEnv{"machine": newEnv(t, envOptions{}), "sign-in": newSignInEnv(t, envOptions{})} {
		for _, path := range []string{server.PathASMetadata, server.PathOIDCMetadata} {
			t.Run(name+path, func(t *testing.T) {
				var md map[string]json.RawMessage
				decodeJSON(t, e.get(t, path).Body, &md)
				for methodsField, algsField := range pairs {
					var methods, algs []string
					if err := json.Unmarshal(md[methodsField], &methods); err != nil {
						t.Fatalf("%s: %v", methodsField, err)
					}
					if !slices.Contains(methods, oauth.AuthPrivateKeyJWT) {
						if _, ok := md[algsField]; ok {
							t.Errorf("%s without private_key_jwt in %s", algsField, methodsField)
						}
						continue
					}
					if err := json.Unmarshal(md[algsField], &algs); err != nil || len(algs) == 0 {
						t.Errorf("%s lists private_key_jwt but %s = %s", methodsField, algsField, md[algsField])
						continue
					}
					for _, a := range algs {
						if alg := jose.Algorithm(a); alg.IsSymmetric() || a == "none" {
							t.Errorf("%s lists %s", algsField, a)
						}
					}
					if !slices.Contains(algs, "ES256") || !slices.Contains(algs, "RS256") {
						t.Errorf("%s = %v, want at least ES256 and RS256", algsField, algs)
					}
				}
			})
		}
	}
}
