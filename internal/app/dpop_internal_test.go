package app

import (
	"strings"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/rs/dpop"
)

func TestDPoPOptions(t *testing.T) {
	a := &App{now: time.Now}
	o, err := a.dpopOptions(&config.Config{DPoP: false})
	if err != nil || !o.Disabled {
		t.Fatalf("dpop off: %+v %v", o, err)
	}
	o, err = a.dpopOptions(&config.Config{DPoP: true, DPoPReplay: "memory", DPoPAlgorithms: []string{"ES256", "EdDSA"}, DPoPMaxAge: time.Minute})
	if err != nil || o.Disabled || len(o.Algorithms) != 2 || o.MaxAge != time.Minute || o.NonceSecret != nil {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	if _, ok := o.Replay.(*dpop.MemoryReplayCache); !ok {
		t.Errorf("replay cache %T, want memory", o.Replay)
	}
	_, err = a.dpopOptions(&config.Config{DPoP: true, DPoPReplay: "redis://writ:hunter2@127.0.0.1:notaport/0"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("a bad Redis URL: %v", err)
	}
	if len(a.closers) != 0 {
		t.Errorf("a client was opened for a bad URL")
	}
}
