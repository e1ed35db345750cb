package websession_test

import (
	"crypto/rand"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/writ-dev/writ/websession"
)

// An application keeps its users signed in with a session cookie it signs
// itself. At sign-in it calls Start; every request goes through Handler,
// which puts the session in the context and slides its expiry.
func ExampleManager_Handler() {
	secret := make([]byte, 32) // in production: from a secret store, the same on every replica
	if _, err := rand.Read(secret); err != nil {
		log.Fatal(err)
	}
	key, err := websession.NewHMACKey(secret)
	if err != nil {
		log.Fatal(err)
	}
	sessions, err := websession.New(websession.Config{
		AppURL: "https://app.example.com",
		Keys:   []websession.Key{{Key: key}},
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /signed-in", func(w http.ResponseWriter, r *http.Request) {
		// After the user has proved who they are (e.g. an OpenID Connect callback).
		if _, err := sessions.Start(w, "alice", map[string]string{"name": "Alice"}); err != nil {
			http.Error(w, "cannot start a session", http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		if s, ok := websession.FromContext(r.Context()); ok {
			fmt.Fprintf(w, "hello %s", s.Data["name"])
			return
		}
		fmt.Fprint(w, "please sign in")
	})
	app := sessions.Handler(mux)

	// A browser: sign in, then come back with the cookie.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "https://app.example.com/signed-in", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	app.ServeHTTP(rec, req)
	cookie := rec.Result().Cookies()[0]
	fmt.Println(cookie.Name, cookie.HttpOnly, cookie.Secure, cookie.SameSite == http.SameSiteLaxMode)

	req = httptest.NewRequest(http.MethodGet, "https://app.example.com/", nil)
	req.AddCookie(cookie)
	rec = httptest.NewRecorder()
	app.ServeHTTP(rec, req)
	fmt.Println(rec.Body)
	// Output:
	// __Host-session true true true
	// hello Alice
}

// Unsafe requests of a session carry its CSRF token, here in a hidden form
// field; without it the middleware answers 403.
func ExampleSession_CSRFToken() {
	key, _ := websession.NewHMACKey([]byte("an example secret of 32+ bytes!!"))
	sessions, _ := websession.New(websession.Config{AppURL: "https://app.example.com", Keys: []websession.Key{{Key: key}}})
	app := sessions.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "done")
	}))
	rec := httptest.NewRecorder()
	s, _ := sessions.Start(rec, "alice", nil)
	cookie := rec.Result().Cookies()[0]

	post := func(form url.Values) {
		req := httptest.NewRequest(http.MethodPost, "https://app.example.com/transfer", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://app.example.com")
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.SplitN(rec.Body.String(), ":", 2)[0])
	}
	post(url.Values{"amount": {"10"}, websession.DefaultCSRFField: {s.CSRFToken()}})
	post(url.Values{"amount": {"10"}})
	// Output:
	// 200 done
	// 403 Forbidden
}

// Keys rotate without signing anyone out: the new key signs, the old one
// verifies the sessions it signed until it retires, and every request that
// slides a session moves it to the new key.
func ExampleKey_rotation() {
	oldKey, _ := websession.NewHMACKey([]byte("the key of last month, 32+ bytes"))
	newKey, _ := websession.NewHMACKey([]byte("the key of this month, 32+ bytes"))
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	_, err := websession.New(websession.Config{
		AppURL: "https://app.example.com",
		Keys: []websession.Key{
			{Key: newKey},
			{Key: oldKey, RetireAt: now.Add(websession.DefaultLifetime)},
		},
		Now: func() time.Time { return now },
	})
	fmt.Println(err)
	// Output: <nil>
}
