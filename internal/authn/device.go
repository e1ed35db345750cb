package authn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// Device cookie defaults.
const (
	// DefaultDeviceCookie is the name of the device cookie.
	DefaultDeviceCookie = "writ_device"
	// DevicePurpose names the master-key derivation that yields
	// DeviceCookies.Key.
	DevicePurpose = "device-cookie/v1"
	// DefaultDeviceTTL is how long a device cookie is honoured after it
	// was issued.
	DefaultDeviceTTL = 180 * 24 * time.Hour
)

const (
	deviceVersion   = 1
	deviceNonceSize = 16
	// deviceHeader is the version byte, the issue time and the nonce.
	deviceHeader = 1 + 8 + deviceNonceSize
	// maxDeviceCookie bounds a device cookie read from a request.
	maxDeviceCookie = 1024
	deviceMACLabel  = "writ/device-cookie/v1\x00"
)

// DeviceCookies issues and checks device cookies (OWASP, "Slow Down Online
// Guessing Attacks with Device Cookies"): a browser that signed in to an
// account gets a cookie naming the account, MACed under a server key, and
// later presents it to be told apart from strangers guessing that
// account's password (see Throttle). The cookie holds the account's
// store.UsernameKey, the issue time and a random nonce; its device ID, the
// key of its own failure count, is the nonce. It is HttpOnly,
// SameSite=Strict, Path=/, Secure when configured, and names one account:
// signing in to another account replaces it.
//
// A DeviceCookies is safe for concurrent use.
type DeviceCookies struct {
	// Key is the 32-byte MAC key, derived from the master key
	// (DeriveKey(DevicePurpose)) so that every node accepts the cookies of
	// the others; required.
	Key []byte
	// Secure sets the cookie's Secure attribute (https issuers).
	Secure bool
	// CookieName names the cookie; empty means DefaultDeviceCookie. With
	// Secure, use the __Host- prefix.
	CookieName string
	// TTL is how long a cookie is honoured; zero or negative means
	// DefaultDeviceTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of nonces; nil means crypto/rand.
	Rand io.Reader
}

// Issue sets a new device cookie for username on w, with a fresh nonce.
func (d *DeviceCookies) Issue(w http.ResponseWriter, username string) error {
	if len(d.Key) < 32 {
		return errors.New("authn: DeviceCookies needs a 32-byte key")
	}
	payload := make([]byte, deviceHeader, deviceHeader+len(username))
	payload[0] = deviceVersion
	binary.BigEndian.PutUint64(payload[1:9], uint64(d.now().Unix()))
	r := d.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, payload[9:deviceHeader]); err != nil {
		return fmt.Errorf("authn: device cookie nonce: %w", err)
	}
	payload = append(payload, store.UsernameKey(username)...)
	value := base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(d.mac(payload))
	if len(value) > maxDeviceCookie {
		return errors.New("authn: device cookie too long")
	}
	http.SetCookie(w, &http.Cookie{
		Name:     d.cookieName(),
		Value:    value,
		Path:     "/",
		MaxAge:   int(d.ttl() / time.Second),
		Secure:   d.Secure,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// Trusted returns the device ID of r's device cookie when the cookie is
// intact, unexpired and names username (compared as store.UsernameKey);
// otherwise it returns "". The device ID is not secret but says nothing
// about the account.
func (d *DeviceCookies) Trusted(r *http.Request, username string) string {
	if len(d.Key) < 32 || username == "" {
		return ""
	}
	c, err := r.Cookie(d.cookieName())
	if err != nil || len(c.Value) > maxDeviceCookie {
		return ""
	}
	p64, m64, ok := strings.Cut(c.Value, ".")
	if !ok {
		return ""
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(p64)
	if err != nil || len(payload) <= deviceHeader || payload[0] != deviceVersion {
		return ""
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(m64)
	if err != nil || !hmac.Equal(mac, d.mac(payload)) {
		return ""
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(payload[1:9])), 0)
	if now := d.now(); issued.After(now.Add(time.Minute)) || !now.Before(issued.Add(d.ttl())) {
		return ""
	}
	if !hmac.Equal(payload[deviceHeader:], []byte(store.UsernameKey(username))) {
		return ""
	}
	return hex.EncodeToString(payload[9:deviceHeader])
}

func (d *DeviceCookies) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, d.Key)
	m.Write([]byte(deviceMACLabel))
	m.Write(payload)
	return m.Sum(nil)
}

func (d *DeviceCookies) cookieName() string {
	if d.CookieName == "" {
		return DefaultDeviceCookie
	}
	return d.CookieName
}

func (d *DeviceCookies) ttl() time.Duration {
	if d.TTL <= 0 {
		return DefaultDeviceTTL
	}
	return d.TTL
}

func (d *DeviceCookies) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}
