package jose

import (
	"crypto"
	"crypto/elliptic"
	_ "crypto/sha256" // register SHA-256 for crypto.Hash
	_ "crypto/sha512" // register SHA-384 and SHA-512 for crypto.Hash
)

// Algorithm is a JWA algorithm name (RFC 7518), for signatures ("ES256") or
// for JWE key management ("RSA-OAEP-256").
type Algorithm string

// Signature algorithms (RFC 7518 §3, RFC 8037).
const (
	HS256 Algorithm = "HS256"
	HS384 Algorithm = "HS384"
	HS512 Algorithm = "HS512"
	RS256 Algorithm = "RS256"
	RS384 Algorithm = "RS384"
	RS512 Algorithm = "RS512"
	PS256 Algorithm = "PS256"
	PS384 Algorithm = "PS384"
	PS512 Algorithm = "PS512"
	ES256 Algorithm = "ES256"
	ES384 Algorithm = "ES384"
	ES512 Algorithm = "ES512"
	EdDSA Algorithm = "EdDSA"
)

// Key management algorithms for JWE (RFC 7518 §4).
const (
	// RSAOAEP is RSAES OAEP with SHA-1 and MGF1 with SHA-1 (RFC 7518
	// §4.3). writ produces it for relying parties that register it; it is
	// still sound, unlike RSA1_5, which writ never uses.
	RSAOAEP      Algorithm = "RSA-OAEP"
	RSAOAEP256   Algorithm = "RSA-OAEP-256"
	ECDHES       Algorithm = "ECDH-ES"
	ECDHESA128KW Algorithm = "ECDH-ES+A128KW"
	ECDHESA256KW Algorithm = "ECDH-ES+A256KW"
	Direct       Algorithm = "dir"
)

// EncryptionAlgorithms lists every JWE key management algorithm writ
// supports, in a stable order.
func EncryptionAlgorithms() []Algorithm {
	return []Algorithm{RSAOAEP, RSAOAEP256, ECDHES, ECDHESA128KW, ECDHESA256KW, Direct}
}

// family groups algorithms by the kind of key they take.
type family uint8

const (
	famNone family = iota
	famHMAC
	famRSA
	famPSS
	famECDSA
	famEdDSA
	famRSAEnc
	famECDHEnc
	famDirEnc
)

type algInfo struct {
	fam   family
	hash  crypto.Hash
	curve elliptic.Curve // ECDSA only
	size  int            // ECDSA: coordinate size in bytes; HMAC: minimum key size
}

func lookupAlg(a Algorithm) (algInfo, bool) {
	switch a {
	case HS256:
		return algInfo{fam: famHMAC, hash: crypto.SHA256, size: 32}, true
	case HS384:
		return algInfo{fam: famHMAC, hash: crypto.SHA384, size: 48}, true
	case HS512:
		return algInfo{fam: famHMAC, hash: crypto.SHA512, size: 64}, true
	case RS256:
		return algInfo{fam: famRSA, hash: crypto.SHA256}, true
	case RS384:
		return algInfo{fam: famRSA, hash: crypto.SHA384}, true
	case RS512:
		return algInfo{fam: famRSA, hash: crypto.SHA512}, true
	case PS256:
		return algInfo{fam: famPSS, hash: crypto.SHA256}, true
	case PS384:
		return algInfo{fam: famPSS, hash: crypto.SHA384}, true
	case PS512:
		return algInfo{fam: famPSS, hash: crypto.SHA512}, true
	case ES256:
		return algInfo{fam: famECDSA, hash: crypto.SHA256, curve: elliptic.P256(), size: 32}, true
	case ES384:
		return algInfo{fam: famECDSA, hash: crypto.SHA384, curve: elliptic.P384(), size: 48}, true
	case ES512:
		return algInfo{fam: famECDSA, hash: crypto.SHA512, curve: elliptic.P521(), size: 66}, true
	case EdDSA:
		return algInfo{fam: famEdDSA}, true
	case RSAOAEP, RSAOAEP256:
		return algInfo{fam: famRSAEnc}, true
	case ECDHES, ECDHESA128KW, ECDHESA256KW:
		return algInfo{fam: famECDHEnc}, true
	case Direct:
		return algInfo{fam: famDirEnc, size: 32}, true
	}
	return algInfo{}, false
}

// IsSignature reports whether a is a JWS algorithm writ signs and verifies.
func (a Algorithm) IsSignature() bool {
	info, ok := lookupAlg(a)
	return ok && info.fam >= famHMAC && info.fam <= famEdDSA
}

// IsSymmetric reports whether a is an HMAC algorithm.
func (a Algorithm) IsSymmetric() bool {
	info, ok := lookupAlg(a)
	return ok && info.fam == famHMAC
}

// IsEncryption reports whether a is a JWE key management algorithm writ supports.
func (a Algorithm) IsEncryption() bool {
	info, ok := lookupAlg(a)
	return ok && info.fam >= famRSAEnc
}

// SignatureAlgorithms lists every signature algorithm writ supports, in a
// stable order.
func SignatureAlgorithms() []Algorithm {
	return []Algorithm{HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA}
}
