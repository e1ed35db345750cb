package audit

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

// A journal is a node-local, append-only file of the audit events that
// have no store transaction of their own (a client credentials JWT, a
// failed sign-in). The Appender writes an event to its journal before the
// request is answered — one write(2) per batch of waiting requests, so
// the event survives the process being killed — and moves journaled
// events into the store's chain in large batches off the request path
// (Store.AppendJournaled also records how far the journal is applied, in
// the same transaction). A node that restarts replays, with Recover, what
// no transaction holds. The store, not the journal, is the trail: a
// journal only bridges the moments between a response and its batch's
// commit.
//
// File format: records of a 4-byte big-endian payload length, the 4-byte
// CRC-32C of the payload, and the payload. A payload is the event in
// binary (journalBinary, then the fields of journalEvent in order: the
// time as a varint of Unix nanoseconds, each string as a uvarint length
// and its bytes, the actors as a uvarint count and as many strings, the
// details as a string) or, as earlier versions wrote it, as a JSON object
// (its first byte is "{"). A torn or corrupt record ends the journal: it
// was never acknowledged.

// journalPrefix and journalExt name journal files: audit-<hex>.journal,
// whose journal name (in the store) is audit-<hex>.
const (
	journalPrefix = "audit-"
	journalExt    = ".journal"
	// maxJournalRecord bounds one record's payload.
	maxJournalRecord = 1 << 20
	// journalHeader is the length and checksum before each payload.
	journalHeader = 8
)

// ErrJournalBroken is returned by Journal.Write once a failed write could
// not be undone: the file's end is unknown, so nothing more is written to
// it.
var ErrJournalBroken = errors.New("audit: journal broken by an earlier write failure")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Journal is one open journal file, held with an exclusive lock for as
// long as it is open (so Recover in another process leaves it alone). It
// is not safe for concurrent use: the Appender writes from one goroutine.
type Journal struct {
	dir    string
	name   string
	f      *os.File
	size   int64
	broken bool
	buf    []byte
}

// OpenJournal creates a new, empty journal in dir (created 0700 when
// missing; the file is 0600) and locks it.
func OpenJournal(dir string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: journal directory: %w", err)
	}
	var id [10]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("audit: journal name: %w", err)
	}
	name := journalPrefix + hex.EncodeToString(id[:])
	f, err := os.OpenFile(filepath.Join(dir, name+journalExt), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: create journal: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: lock journal %s: %w", f.Name(), err)
	}
	return &Journal{dir: dir, name: name, f: f}, nil
}

// Name is the journal's name in the store (AppendJournaled).
func (j *Journal) Name() string { return j.name }

// Size is the offset after the last record written.
func (j *Journal) Size() int64 { return j.size }

// Write appends the events as one write and returns the offset after
// each (ends[i] is where event i's record ends). A failed write is undone
// (the file truncated back); if that fails too the journal is broken.
func (j *Journal) Write(events []store.AuditEvent) (ends []int64, err error) {
	if j.broken {
		return nil, ErrJournalBroken
	}
	buf, ends := j.buf[:0], make([]int64, len(events))
	for i, e := range events {
		start := len(buf)
		buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0)
		buf = appendJournalPayload(buf, e)
		n := len(buf) - start - journalHeader
		if n > maxJournalRecord {
			return nil, fmt.Errorf("audit: journal: event of %d bytes is too large", n)
		}
		binary.BigEndian.PutUint32(buf[start:], uint32(n))
		binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+journalHeader:], castagnoli))
		ends[i] = j.size + int64(len(buf))
	}
	j.buf = buf
	if _, err := j.f.WriteAt(buf, j.size); err != nil {
		if terr := j.f.Truncate(j.size); terr != nil {
			j.broken = true
		}
		return nil, fmt.Errorf("audit: write journal: %w", err)
	}
	j.size += int64(len(buf))
	return ends, nil
}

// Close closes the file (and releases its lock), keeping it for Recover.
func (j *Journal) Close() error { return j.f.Close() }

// Remove closes and deletes the file: every record in it is in the store.
func (j *Journal) Remove() error {
	j.f.Close()
	if err := os.Remove(j.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: remove journal: %w", err)
	}
	return nil
}

// journalEvent is the JSON payload of earlier versions: the fields a
// caller sets (the store assigns sequence numbers and hashes). Recover
// still reads it.
type journalEvent struct {
	Time         time.Time       `json:"time"`
	Type         string          `json:"type"`
	ClientID     string          `json:"client_id,omitempty"`
	Subject      string          `json:"sub,omitempty"`
	Actors       []string        `json:"actors,omitempty"`
	DelegationID string          `json:"delegation_id,omitempty"`
	By           string          `json:"by,omitempty"`
	RequestID    string          `json:"request_id,omitempty"`
	Details      json.RawMessage `json:"details,omitempty"`
}

// journalBinary is the first byte of a binary payload.
const journalBinary = 1

// appendJournalPayload appends e's binary payload to buf. A journal is
// written on the request path of every client credentials JWT: this
// costs a fraction of encoding/json's reflection, and nothing is parsed
// twice (details are copied as they are, validated once by Validate).
func appendJournalPayload(buf []byte, e store.AuditEvent) []byte {
	buf = append(buf, journalBinary)
	buf = binary.AppendVarint(buf, e.Time.UnixNano())
	for _, s := range [...]string{e.Type, e.ClientID, e.Subject, e.DelegationID, e.By, e.RequestID} {
		buf = appendJournalString(buf, s)
	}
	buf = binary.AppendUvarint(buf, uint64(len(e.Actors)))
	for _, a := range e.Actors {
		buf = appendJournalString(buf, a)
	}
	buf = binary.AppendUvarint(buf, uint64(len(e.Details)))
	return append(buf, e.Details...)
}

func appendJournalString(buf []byte, s string) []byte {
	return append(binary.AppendUvarint(buf, uint64(len(s))), s...)
}

// errJournalPayload is a payload that does not decode.
var errJournalPayload = errors.New("audit: journal: malformed record")

// decodeJournalPayload decodes a payload of either format.
func decodeJournalPayload(p []byte) (store.AuditEvent, error) {
	if len(p) > 0 && p[0] == '{' {
		var je journalEvent
		if err := json.Unmarshal(p, &je); err != nil {
			return store.AuditEvent{}, fmt.Errorf("%w: %w", errJournalPayload, err)
		}
		return store.AuditEvent{Time: je.Time, Type: je.Type, ClientID: je.ClientID, Subject: je.Subject,
			Actors: je.Actors, DelegationID: je.DelegationID, By: je.By, RequestID: je.RequestID, Details: je.Details}, nil
	}
	d := journalDecoder{p: p}
	if len(p) == 0 || d.byte() != journalBinary {
		return store.AuditEvent{}, errJournalPayload
	}
	var e store.AuditEvent
	if ns := d.varint(); d.ok {
		e.Time = time.Unix(0, ns).UTC()
	}
	for _, f := range [...]*string{&e.Type, &e.ClientID, &e.Subject, &e.DelegationID, &e.By, &e.RequestID} {
		*f = string(d.bytes())
	}
	// Each actor takes at least its length byte: a count beyond the bytes
	// left is malformed, and never sizes an allocation.
	if n := d.uvarint(); d.ok && n > 0 {
		if n > uint64(len(d.p)) {
			return store.AuditEvent{}, errJournalPayload
		}
		e.Actors = make([]string, n)
		for i := range e.Actors {
			e.Actors[i] = string(d.bytes())
		}
	}
	if b := d.bytes(); len(b) > 0 {
		e.Details = append(json.RawMessage(nil), b...)
	}
	if !d.ok || len(d.p) != 0 {
		return store.AuditEvent{}, errJournalPayload
	}
	return e, nil
}

// journalDecoder reads a binary payload; the first short or malformed
// read clears ok, and every read after it returns zero values.
type journalDecoder struct {
	p  []byte
	ok bool
}

func (d *journalDecoder) byte() byte {
	d.ok = len(d.p) > 0
	if !d.ok {
		return 0
	}
	b := d.p[0]
	d.p = d.p[1:]
	return b
}

// varint reads a zig-zag varint, as binary.AppendVarint writes it.
func (d *journalDecoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *journalDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if !d.ok || n <= 0 {
		d.ok = false
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *journalDecoder) bytes() []byte {
	n := d.uvarint()
	if !d.ok || n > uint64(len(d.p)) {
		d.ok = false
		return nil
	}
	b := d.p[:n]
	d.p = d.p[n:]
	return b
}

// JournalStore is what Recover replays journals into.
type JournalStore interface {
	// AppendJournaled, AuditJournalPosition and ForgetAuditJournal are
	// store.AuditChainStore's.
	AppendJournaled(ctx context.Context, journal string, pos int64, events []store.AuditEvent) (int64, error)
	AuditJournalPosition(ctx context.Context, journal string) (int64, error)
	ForgetAuditJournal(ctx context.Context, journal string) error
}

// Recover replays into st every journal in dir that no running process
// holds (a node that was killed, or stopped while its store was
// unreachable): the records after the position st holds for it, in
// batches of at most maxBatch, each batch with its new position; then it
// deletes the file and forgets the journal. It returns the number of
// events replayed. A missing dir holds nothing.
func Recover(ctx context.Context, dir string, st JournalStore, maxBatch int, log *slog.Logger) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: read journal directory: %w", err)
	}
	if maxBatch <= 0 {
		maxBatch = 512
	}
	total := 0
	for _, de := range entries {
		file := de.Name()
		if de.IsDir() || !strings.HasPrefix(file, journalPrefix) || !strings.HasSuffix(file, journalExt) {
			continue
		}
		name := strings.TrimSuffix(file, journalExt)
		if store.ValidateJournalName(name) != nil {
			continue
		}
		n, err := recoverOne(ctx, filepath.Join(dir, file), name, st, maxBatch)
		total += n
		if errors.Is(err, errLocked) {
			continue // a live process writes it
		}
		if err != nil {
			return total, err
		}
		if n > 0 && log != nil {
			log.Info("audit journal replayed", "journal", name, "events", n)
		}
	}
	return total, nil
}

func recoverOne(ctx context.Context, path, name string, st JournalStore, maxBatch int) (int, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("audit: open journal: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return 0, err
	}
	pos, err := st.AuditJournalPosition(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("audit: recover journal %s: %w", name, err)
	}
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		return 0, fmt.Errorf("audit: recover journal %s: %w", name, err)
	}
	n := 0
	batch := make([]store.AuditEvent, 0, maxBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := st.AppendJournaled(ctx, name, pos, batch); err != nil {
			return fmt.Errorf("audit: recover journal %s: %w", name, err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	err = readJournal(bufio.NewReader(f), func(e store.AuditEvent, size int64) error {
		batch = append(batch, e)
		pos += size
		if len(batch) == maxBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return n, err
	}
	if err := os.Remove(path); err != nil {
		return n, fmt.Errorf("audit: remove replayed journal: %w", err)
	}
	// The file is gone first: a crash here leaves a position for nothing,
	// never a file replayed twice.
	if err := st.ForgetAuditJournal(ctx, name); err != nil {
		return n, fmt.Errorf("audit: recover journal %s: %w", name, err)
	}
	return n, nil
}

// readJournal calls fn with each whole, intact record of r and its size
// (header included), and stops without error at the end or at the first
// torn or corrupt record; only fn's errors are returned.
func readJournal(r *bufio.Reader, fn func(e store.AuditEvent, size int64) error) error {
	var hdr [journalHeader]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n == 0 || n > maxJournalRecord {
			return nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil
		}
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			return nil
		}
		e, err := decodeJournalPayload(payload)
		if err != nil {
			return nil
		}
		if err := fn(e, int64(journalHeader)+int64(n)); err != nil {
			return err
		}
	}
}
