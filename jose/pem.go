package jose

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// ParsePEM reads one PEM block and binds the key in it to alg. It accepts
// PKCS#8 and PKIX ("PRIVATE KEY", "PUBLIC KEY"), the legacy "EC PRIVATE KEY"
// and "RSA PRIVATE KEY" / "RSA PUBLIC KEY" forms, and "CERTIFICATE" (whose
// public key is taken, without any chain validation). For an EC or Ed25519
// key, alg may be empty and is inferred from the curve. Encrypted PEM is
// refused.
func ParsePEM(data []byte, alg Algorithm, opts ...KeyOption) (*Key, error) {
	if len(data) > MaxJWKSize {
		return nil, fmt.Errorf("%w: PEM larger than %d bytes", ErrInvalidKey, MaxJWKSize)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block found", ErrInvalidKey)
	}
	if _, encrypted := block.Headers["DEK-Info"]; encrypted {
		return nil, fmt.Errorf("%w: encrypted PEM is not supported; decrypt it first", ErrInvalidKey)
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("%w: unsupported PEM block %q", ErrInvalidKey, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: PEM %s: %v", ErrInvalidKey, block.Type, err)
	}
	if alg == "" {
		alg, err = inferAlg(key)
		if err != nil {
			return nil, err
		}
	}
	return NewKey(alg, key, opts...)
}

func inferAlg(key any) (Algorithm, error) {
	var pub *ecdsa.PublicKey
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PublicKey:
		pub = k
	case ed25519.PrivateKey, ed25519.PublicKey:
		return EdDSA, nil
	case *rsa.PrivateKey, *rsa.PublicKey:
		return "", fmt.Errorf("%w: an RSA key needs an explicit algorithm (RS256, PS256, ...)", ErrInvalidKey)
	default:
		return "", fmt.Errorf("%w: unsupported key type %T", ErrInvalidKey, key)
	}
	if _, alg, _ := ecCurve(pub.Curve.Params().Name); alg != "" {
		return alg, nil
	}
	return "", fmt.Errorf("%w: unsupported EC curve", ErrInvalidKey)
}

// MarshalPEM encodes the key as PEM: PKCS#8 "PRIVATE KEY" when it holds a
// private key, PKIX "PUBLIC KEY" otherwise. Symmetric keys have no PEM form.
func (k *Key) MarshalPEM() ([]byte, error) {
	switch {
	case k.secret != nil:
		return nil, fmt.Errorf("%w: symmetric keys have no PEM form; use the JWK", ErrInvalidKey)
	case k.priv != nil:
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	default:
		der, err := x509.MarshalPKIXPublicKey(k.pub)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
	}
}
