package introspect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/jwt"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/introspect"
)

// exampleServer stands in for an authorization server's introspection
// endpoint: it knows one active token, "opaque-token-1".
func exampleServer(sign func(body string) string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := `{"active":false}`
		if r.PostFormValue("token") == "opaque-token-1" {
			body = `{"active":true,"iss":"https://id.example.com","sub":"alice","client_id":"billing",` +
				`"scope":"orders:read","aud":"https://api.example.com/orders","exp":4102444800}`
		}
		if sign != nil && r.Header.Get("Accept") == introspect.MediaTypeJWT {
			w.Header().Set("Content-Type", introspect.MediaTypeJWT)
			fmt.Fprint(w, sign(body))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
}

// A resource server verifies the opaque tokens it receives by asking the
// authorization server. A token that is not active is an invalid token
// (401); an endpoint that cannot answer is rs.ErrUnavailable (503).
func Example() {
	as := exampleServer(nil)
	defer as.Close()

	c, err := introspect.New(introspect.Config{
		Endpoint:     as.URL + "/oauth2/introspect",
		ClientID:     "orders-api",
		ClientSecret: "orders-api-secret",
		Issuer:       "https://id.example.com",
		Audience:     "https://api.example.com/orders",
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	tok, err := c.Verify(ctx, "opaque-token-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Subject, tok.ClientID, tok.Scopes)

	_, err = c.Verify(ctx, "revoked-token")
	fmt.Println(errors.Is(err, rs.ErrInvalidToken))
	// Output:
	// alice billing [orders:read]
	// true
}

// The cache answers who a token is, never whether a route may be used:
// every handler checks the scopes it needs on the Token it gets, on a
// cache hit as on a miss.
func ExampleClient_Verify_scopes() {
	as := exampleServer(nil)
	defer as.Close()
	c, err := introspect.New(introspect.Config{
		Endpoint: as.URL, ClientID: "orders-api", ClientSecret: "orders-api-secret",
		Audience: "https://api.example.com/orders",
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, need := range []string{"orders:read", "orders:write"} {
		tok, err := c.Verify(context.Background(), "opaque-token-1") // the second time from the cache
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %v\n", need, tok.HasScope(need))
	}
	fmt.Println("requests:", c.Stats().Requests)
	// Output:
	// orders:read: true
	// orders:write: false
	// requests: 1
}

// A gateway swaps the opaque token a client presents for the signed JWT the
// authorization server returns (RFC 9701), and forwards that upstream.
func ExampleClient_Phantom() {
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		log.Fatal(err)
	}
	sign := func(body string) string {
		payload, _ := json.Marshal(map[string]any{
			"iss": "https://id.example.com", "aud": "gateway", "iat": time.Now().Unix(),
			"token_introspection": json.RawMessage(body),
		})
		tok, _ := jose.Sign(key, payload, &jose.SignOptions{Type: introspect.TypeJWT})
		return tok
	}
	as := exampleServer(sign)
	defer as.Close()

	// In production: rs.NewRemoteKeySet(ctx, the server's jwks_uri).
	keys := jwt.StaticKeys(jose.NewKeySet(key.Public()))
	c, err := introspect.New(introspect.Config{
		Endpoint: as.URL, ClientID: "gateway", ClientSecret: "gateway-secret",
		JWTResponse: true, ResponseKeys: keys, Issuer: "https://id.example.com",
		AnyAudience: true, // the gateway checks each route's audience
	})
	if err != nil {
		log.Fatal(err)
	}
	phantom, tok, err := c.Phantom(context.Background(), "opaque-token-1")
	if err != nil {
		log.Fatal(err)
	}
	upstream := http.Header{}
	upstream.Set("Authorization", "Bearer "+phantom)
	fmt.Println(tok.Subject, len(upstream.Get("Authorization")) > len("Bearer "))
	// Output:
	// alice true
}
