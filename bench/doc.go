// Package bench holds writ's comparative benchmarks against golang-jwt,
// go-jose and jwx, and its interoperability tests with go-jose. It is a
// separate module so that writ itself never depends on its peers.
package bench
