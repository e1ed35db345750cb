//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package gateway

import "syscall"

// h1CanPeek: the idle check looks at the socket itself.
const h1CanPeek = true

// peekFD looks, without blocking and without consuming it, for a byte or
// the end of the stream on an idle connection.
func (pc *h1Conn) peekFD(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	pc.quiet = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	return true
}
