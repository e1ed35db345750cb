//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package gateway

// h1CanPeek: elsewhere the idle check sees only bytes already buffered;
// a connection the upstream closed is found when a request fails on it
// (and retried when the request can be sent again).
const h1CanPeek = false

func (pc *h1Conn) peekFD(uintptr) bool {
	pc.quiet = true
	return true
}
