package audit

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"testing"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// TestJournalPayloadRoundTrip checks that every field a caller sets comes
// back from a binary payload as it went in.
func TestJournalPayloadRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 30, 0, 123456789, time.UTC)
	for _, e := range []store.AuditEvent{
		{Time: at, Type: store.AuditTokenIssued},
		{Time: at, Type: store.AuditTokenIssued, ClientID: "svc", Subject: "svc", RequestID: "req-1",
			Details: json.RawMessage(`{"grant_type":"client_credentials","scope":"a b"}`)},
		{Time: at.Add(-time.Hour), Type: "token_exchanged", ClientID: "agent", Subject: "user-1",
			Actors: []string{"agent", "tool", "é"}, DelegationID: "d-1", By: "admin", RequestID: "r",
			Details: json.RawMessage(`{}`)},
		{Time: time.Unix(0, 0).UTC(), Type: "x", Actors: []string{""}},
	} {
		p := appendJournalPayload(nil, e)
		if p[0] != journalBinary {
			t.Fatalf("payload starts with %#x", p[0])
		}
		got, err := decodeJournalPayload(p)
		if err != nil {
			t.Fatalf("decode %+v: %v", e, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, e)
		}
	}
}

// TestJournalPayloadJSON reads a record as earlier versions wrote it: a
// journal left by a node killed before an upgrade is still replayed.
func TestJournalPayloadJSON(t *testing.T) {
	p := []byte(`{"time":"2026-12-03T09:30:00.5Z","type":"token_issued","client_id":"svc","sub":"u",` +
		`"actors":["a"],"delegation_id":"d","by":"admin","request_id":"r","details":{"k":1}}`)
	want := store.AuditEvent{Time: time.Date(2026, 12, 3, 9, 30, 0, 5e8, time.UTC), Type: "token_issued",
		ClientID: "svc", Subject: "u", Actors: []string{"a"}, DelegationID: "d", By: "admin", RequestID: "r",
		Details: json.RawMessage(`{"k":1}`)}
	// Through the file reader: header, checksum and payload.
	rec := binary.BigEndian.AppendUint32(nil, uint32(len(p)))
	rec = binary.BigEndian.AppendUint32(rec, crc32.Checksum(p, castagnoli))
	rec = append(rec, p...)
	var got []store.AuditEvent
	if err := readJournal(bufio.NewReader(bytes.NewReader(rec)), func(e store.AuditEvent, size int64) error {
		if size != int64(len(rec)) {
			t.Errorf("size %d, want %d", size, len(rec))
		}
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Time.Equal(want.Time) {
		t.Fatalf("read %+v, want %+v", got, want)
	}
	got[0].Time = want.Time
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("read\n %+v\nwant %+v", got[0], want)
	}
}

// TestJournalPayloadMalformed refuses payloads that are cut short, carry
// bytes after the event, or count more actors than bytes.
func TestJournalPayloadMalformed(t *testing.T) {
	good := appendJournalPayload(nil, store.AuditEvent{Time: time.Unix(1, 0), Type: "t", Actors: []string{"a", "b"},
		Details: json.RawMessage(`{"k":1}`)})
	cases := map[string][]byte{
		"empty":           {},
		"unknown format":  {2, 0},
		"no time":         {journalBinary},
		"trailing byte":   append(append([]byte(nil), good...), 0),
		"bad json":        []byte(`{"time":`),
		"huge count":      append(appendJournalPayload(nil, store.AuditEvent{Type: "t"})[:8], 0xff, 0xff, 0xff, 0xff, 0x0f),
		"string too long": {journalBinary, 0, 0x7f, 'a'},
	}
	for i := 1; i < len(good); i++ {
		cases[fmt.Sprintf("cut at %d", i)] = good[:i]
	}
	for name, p := range cases {
		if _, err := decodeJournalPayload(p); !errors.Is(err, errJournalPayload) {
			t.Errorf("%s (%x): err = %v, want errJournalPayload", name, p, err)
		}
	}
}

// FuzzJournalPayload: no payload panics the decoder or makes it allocate
// beyond its size, and what decodes from a binary payload encodes back to
// the same bytes.
func FuzzJournalPayload(f *testing.F) {
	f.Add(appendJournalPayload(nil, store.AuditEvent{Time: time.Unix(1, 5).UTC(), Type: "token_issued", ClientID: "c",
		Actors: []string{"a"}, Details: json.RawMessage(`{"k":1}`)}))
	f.Add([]byte(`{"time":"2026-12-03T09:30:00Z","type":"t"}`))
	f.Add([]byte{journalBinary, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, p []byte) {
		e, err := decodeJournalPayload(p)
		if err != nil || len(p) == 0 || p[0] != journalBinary {
			return
		}
		if again := appendJournalPayload(nil, e); !bytes.Equal(again, p) {
			// Varints have one shortest form; others decode but do not
			// come back the same. Decoding the re-encoding must agree.
			e2, err := decodeJournalPayload(again)
			if err != nil || !reflect.DeepEqual(e, e2) {
				t.Fatalf("re-encoding %x of %x decodes to %+v, %v; want %+v", again, p, e2, err, e)
			}
		}
	})
}

// BenchmarkJournalWrite is the request path's share of a journaled event:
// the record of a client credentials JWT encoded and written, one write
// per event.
//
//	go test ./internal/audit/ -run '^$' -bench JournalWrite -benchmem
func BenchmarkJournalWrite(b *testing.B) {
	j, err := OpenJournal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	e := []store.AuditEvent{{Time: time.Now(), Type: store.AuditTokenIssued, ClientID: "c_0123456789abcdef01234567",
		Subject: "c_0123456789abcdef01234567", RequestID: "0123456789abcdef01234567",
		Details: json.RawMessage(`{"grant_type":"client_credentials","scope":"orders:read orders:write","aud":["https://api.example.com"],"jti":"0123456789abcdef0123456789abcdef"}`)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.Write(e); err != nil {
			b.Fatal(err)
		}
	}
}
