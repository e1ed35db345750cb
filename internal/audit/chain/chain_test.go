package chain

import (
	"bytes"
	"fmt"
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

// goldenEvent exercises every field of the encoding.
func goldenEvent() store.AuditEvent {
	return store.AuditEvent{
		Seq: 42, Time: time.Unix(1700000000, 123456789), Type: "token.issued", ClientID: "c1", Subject: "u1",
		Actors: []string{"agent-a", "agent-b"}, DelegationID: "d1", By: "admin", RequestID: "req-1",
		Details: []byte(`{"grant_type":"client_credentials"}`),
	}
}

// TestHashGolden pins the encoding: trails written by earlier versions
// must keep verifying, so any change to Encode's bytes fails here.
func TestHashGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		prev []byte
		e    store.AuditEvent
		want string
	}{
		{"every field", bytes.Repeat([]byte{7}, Size), goldenEvent(), "17e191cbaee7da2b8780eab612118eb2bc5d5df16736f22d093c2b812638f443"},
		{"empty fields", Genesis(), store.AuditEvent{Seq: 1, Time: time.Unix(0, 0), Type: "t"}, "8d269bf16993fbf8dd600ccdf8d4159626ecd8c3897a55852b19a446a2621d3e"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fmt.Sprintf("%x", Hash(tc.prev, tc.e)); got != tc.want {
				t.Errorf("Hash = %s, want %s", got, tc.want)
			}
			linked := Link(tc.prev, tc.e.Seq, []store.AuditEvent{tc.e})
			if got := fmt.Sprintf("%x", linked[0].Hash); got != tc.want {
				t.Errorf("Link's hash = %s, want %s", got, tc.want)
			}
		})
	}
}

// BenchmarkLink is the drain's hashing of a batch of 512 events.
func BenchmarkLink(b *testing.B) {
	events := make([]store.AuditEvent, 512)
	for i := range events {
		events[i] = goldenEvent()
	}
	b.ReportAllocs()
	for b.Loop() {
		Link(nil, 1, events)
	}
}
