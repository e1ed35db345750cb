package chain

import (
	"bytes"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

func TestLink(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	events := []store.AuditEvent{
		{Time: at, Type: "a", ClientID: "c"},
		{Time: at, Type: "b", Subject: "u", Actors: []string{"x"}, Details: []byte(`{"k":1}`)},
	}
	for _, tc := range []struct {
		name string
		head []byte
		want []byte // the first event's PrevHash
	}{
		{"empty trail", nil, Genesis()},
		{"after a head", bytes.Repeat([]byte{7}, Size), bytes.Repeat([]byte{7}, Size)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Link(tc.head, 5, events)
			if len(got) != len(events) {
				t.Fatalf("Link returned %d events, want %d", len(got), len(events))
			}
			prev := tc.want
			for i, e := range got {
				if e.Seq != int64(5+i) {
					t.Errorf("event %d: Seq = %d, want %d", i, e.Seq, 5+i)
				}
				if !bytes.Equal(e.PrevHash, prev) {
					t.Errorf("event %d: PrevHash = %x, want %x", i, e.PrevHash, prev)
				}
				if !Valid(e) {
					t.Errorf("event %d: hash does not verify", i)
				}
				prev = e.Hash
			}
			if events[0].Seq != 0 || events[0].Hash != nil || events[1].PrevHash != nil {
				t.Error("Link changed its argument")
			}
		})
	}
}
