package oauth

import (
	"net"
	"strings"
)

// IsLoopbackHost is the loopback rule of client registration: "localhost",
// 127.0.0.1 or ::1. Redirect URIs and jwks_uri may use plain http only on
// such a host.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback))
}
