package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/cluster"
	"github.com/writ-dev/writ/internal/server"
)

// followChanges makes the caches of this node follow the changes other
// nodes commit: a client's registration is dropped from the client cache,
// a trusted issuer is read again, the key ring is reloaded. Without change
// notifications (SQLite: one node) it does nothing.
func (a *App) followChanges() {
	if a.cluster == nil {
		return
	}
	if a.Config.DPoP && a.Config.DPoPReplay == "memory" {
		a.log.Warn("dpop_replay is memory: with several nodes on this database, a DPoP proof used at one node is accepted once more at each other node; set dpop_replay to a Redis URL that every node shares (docs/deployment.md)")
	}
	clients := a.Server.Clients()
	a.cluster.Handle(cluster.TopicClients, func(id string) {
		if id == "" {
			clients.InvalidateAll()
			return
		}
		clients.Invalidate(id)
	})
	a.cluster.Handle(cluster.TopicTrustedIssuers, func(iss string) {
		if iss == "" {
			a.Trust.InvalidateAll()
			return
		}
		a.Trust.Invalidate(iss)
	})
	a.cluster.Handle(cluster.TopicKeyRing, func(string) {
		select {
		case a.ringChanged <- struct{}{}:
		default: // a reload is pending already
		}
	})
}

// errRingStale reports a key ring not read from the store for too long.
var errRingStale = errors.New("the signing key ring was not read from the store recently")

// errNotListening reports that change notifications are down.
var errNotListening = errors.New("change notifications are down: caches follow other nodes within their polling bounds")

// readyChecks are this node's conditions of readiness beyond the
// database and the signing key: its key ring was read from the store
// within three poll intervals (otherwise its JWKS may lack a key another
// node signs with), and, as advice, change notifications are up.
func (a *App) readyChecks() []server.ReadyCheck {
	stale := 3 * a.Config.ClusterPollInterval
	checks := []server.ReadyCheck{{Name: "key_ring", Check: func(context.Context) error {
		if at := a.ringCheckedAt.Load(); at != 0 && time.Since(time.Unix(0, at)) > stale {
			return fmt.Errorf("%w: last read %s ago", errRingStale, time.Since(time.Unix(0, at)).Round(time.Second))
		}
		return nil
	}}}
	if a.cluster != nil {
		checks = append(checks, server.ReadyCheck{Name: "change_notifications", Advisory: true, Check: func(context.Context) error {
			if !a.cluster.Listening() {
				return errNotListening
			}
			return nil
		}})
	}
	return checks
}
