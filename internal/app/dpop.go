package app

import (
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/server"
	"github.com/writ-dev/writ/jose"
	"github.com/writ-dev/writ/rs/dpop"
)

// dpopRedisPrefix prefixes the token endpoint's DPoP replay keys in Redis
// (the gateway uses its own prefix).
const dpopRedisPrefix = "writ:dpop:"

// dpopOptions turns the dpop_* settings into the token endpoint's DPoP
// options: the algorithms and window, the replay cache in memory or in
// Redis, and, with dpop_nonce, nonces keyed by a master-key subkey so that
// every node of the deployment issues and accepts the same ones.
func (a *App) dpopOptions(cfg *config.Config) (*server.DPoPOptions, error) {
	if !cfg.DPoP {
		return &server.DPoPOptions{Disabled: true}, nil
	}
	o := &server.DPoPOptions{MaxAge: cfg.DPoPMaxAge}
	for _, alg := range cfg.DPoPAlgorithms {
		o.Algorithms = append(o.Algorithms, jose.Algorithm(alg))
	}
	if cfg.DPoPReplay != "" && cfg.DPoPReplay != "memory" {
		opts, err := redis.ParseURL(cfg.DPoPReplay)
		if err != nil {
			// The error may quote the URL, and with it a password.
			return nil, errors.New("dpop_replay is not a usable Redis URL")
		}
		client := redis.NewClient(opts)
		a.closers = append(a.closers, client)
		o.Replay = dpop.NewRedisReplayCache(client, dpopRedisPrefix)
	} else {
		o.Replay = dpop.NewMemoryReplayCache(0, a.now)
	}
	if cfg.DPoPNonce {
		secret, err := a.master.DeriveKey(server.DPoPNoncePurpose)
		if err != nil {
			return nil, err
		}
		o.NonceSecret = secret
	}
	return o, nil
}
