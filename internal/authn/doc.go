// Package authn signs people in to writ: password hashing (argon2id in PHC
// string form), throttling of failed sign-ins (per address, a progressive
// delay per account, device cookies for browsers that signed in before), the
// password check itself, browser sessions and CSRF protection of the
// sign-in forms.
//
// # Security properties
//
//   - An unknown username, a wrong password, a disabled user and a user
//     without a password all yield ErrInvalidCredentials after the same
//     work (an argon2id computation; DummyVerify stands in when there is no
//     stored hash to verify against), so that neither the error nor its
//     timing tells whether an account exists.
//   - Secrets (passwords, cookie values, keys) never appear in errors or
//     logs. Session cookies are random 256-bit values of which the store
//     keeps only the SHA-256; CSRF tokens are an HMAC of a per-browser
//     random cookie under a server key.
//   - Every input is bounded before any expensive work: passwords to
//     MaxPasswordLength bytes, usernames to store.MaxIDLength, encoded
//     hashes to their exact PHC shape and parameter bounds, the throttle's
//     memory to a cap on tracked keys, and the number of argon2id
//     computations in flight (Login.MaxConcurrent), each of which takes
//     Params.Memory KiB.
//
// Randomness comes from crypto/rand unless a Rand io.Reader is given (for
// tests); time from a Now func (time.Now when nil). No package-level state
// is mutable.
package authn
