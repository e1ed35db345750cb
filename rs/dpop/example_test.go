package dpop_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs"
	"github.com/writ-dev/writ/rs/dpop"
)

// A resource server checks the DPoP proof of each request that presents a
// DPoP-bound access token. The rs middleware calls CheckDPoP for you; here
// it is called by hand. The client side (NewProof) builds the proof.
func ExampleVerifier_CheckDPoP() {
	v, err := dpop.NewVerifier(dpop.Config{
		Algorithms: []jose.Algorithm{jose.ES256, jose.EdDSA},
		// Behind a proxy, the URL the client addressed:
		URL: dpop.OriginURL("https://api.example.com"),
	})
	if err != nil {
		log.Fatal(err)
	}

	// The client holds a key; the token its issuer gave it is bound to
	// the key's thumbprint (cnf.jkt).
	clientKey, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		log.Fatal(err)
	}
	accessToken, jkt := "an-access-token", clientKey.ThumbprintSHA256()
	proof, err := dpop.NewProof(clientKey, http.MethodGet, "https://api.example.com/orders/7", accessToken, "", time.Now())
	if err != nil {
		log.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "http://backend:8080/orders/7", nil)
	r.Header.Set("Authorization", "DPoP "+accessToken)
	r.Header.Set(dpop.Header, proof)

	fmt.Println("first:", v.CheckDPoP(r.Context(), r, accessToken, jkt))
	err = v.CheckDPoP(r.Context(), r, accessToken, jkt)
	fmt.Println("again:", errors.Is(err, dpop.ErrReplay), errors.Is(err, rs.ErrInvalidDPoPProof))
	// Output:
	// first: <nil>
	// again: true true
}

// A token endpoint checks the proof of a token request with Verify and
// binds the new token to the proof's key.
func ExampleVerifier_Verify() {
	v, err := dpop.NewVerifier(dpop.Config{})
	if err != nil {
		log.Fatal(err)
	}
	clientKey, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	proof, err := dpop.NewProof(clientKey, http.MethodPost, "https://id.example.com/oauth2/token", "", "", time.Now())
	if err != nil {
		log.Fatal(err)
	}
	p, err := v.Verify(context.Background(), dpop.Params{
		Proof:  proof,
		Method: http.MethodPost,
		URL:    "https://id.example.com/oauth2/token",
	})
	if err != nil {
		log.Fatal(err)
	}
	// p.JKT goes into the access token as cnf.jkt.
	fmt.Println(p.JKT == clientKey.ThumbprintSHA256(), p.Key.IsPrivate())
	// Output: true false
}

// With server nonces on, a proof without the current nonce is answered
// with an *rs.NonceError; the client retries with the nonce it was sent in
// the DPoP-Nonce header. Every node that shares the secret accepts the
// nonce: nothing is stored.
func ExampleNewNonces() {
	secret := []byte("32 bytes or more of random secret")
	nonces, err := dpop.NewNonces(secret, 5*time.Minute, nil)
	if err != nil {
		log.Fatal(err)
	}
	v, err := dpop.NewVerifier(dpop.Config{Nonces: nonces})
	if err != nil {
		log.Fatal(err)
	}
	clientKey, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		log.Fatal(err)
	}
	const url = "https://api.example.com/orders"
	send := func(nonce string) error {
		proof, err := dpop.NewProof(clientKey, http.MethodPost, url, "", nonce, time.Now())
		if err != nil {
			log.Fatal(err)
		}
		_, err = v.Verify(context.Background(), dpop.Params{Proof: proof, Method: http.MethodPost, URL: url})
		return err
	}

	err = send("")
	var ne *rs.NonceError
	if errors.As(err, &ne) {
		fmt.Println("use_dpop_nonce, DPoP-Nonce sent:", ne.Nonce == nonces.Current())
		fmt.Println("retry:", send(ne.Nonce))
	}
	// Output:
	// use_dpop_nonce, DPoP-Nonce sent: true
	// retry: <nil>
}

// Several gateway nodes share one replay cache in Redis, so that a proof
// used at one node is refused at every other.
func ExampleNewRedisReplayCache() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	v, err := dpop.NewVerifier(dpop.Config{
		Replay: dpop.NewRedisReplayCache(client, "writ:dpop:"),
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = v // v.CheckDPoP(...) in every node; a Redis that is down gives rs.ErrUnavailable (503)
}

// htu is compared after RFC 3986 normalisation, without query and fragment.
func ExampleNormalizeURL() {
	for _, u := range []string{
		"HTTPS://API.Example.com:443/orders/%7e7/./items?page=2#top",
		"http://127.0.0.1:8080",
	} {
		n, err := dpop.NormalizeURL(u)
		fmt.Println(n, err)
	}
	// Output:
	// https://api.example.com/orders/~7/items <nil>
	// http://127.0.0.1:8080/ <nil>
}
