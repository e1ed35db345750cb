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
// CRC-32C of the payload, and the payload (the event as JSON). A torn or
// corrupt record ends the journal: it was never acknowledged.

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
		buf, err = appendJournalPayload(buf, e)
		if err != nil {
			return nil, err
		}
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

// journalEvent is an event's record payload: the fields a caller sets
// (the store assigns sequence numbers and hashes).
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

func appendJournalPayload(buf []byte, e store.AuditEvent) ([]byte, error) {
	b, err := json.Marshal(journalEvent{Time: e.Time, Type: e.Type, ClientID: e.ClientID, Subject: e.Subject,
		Actors: e.Actors, DelegationID: e.DelegationID, By: e.By, RequestID: e.RequestID, Details: e.Details})
	if err != nil {
		return nil, fmt.Errorf("audit: journal: encode event: %w", err)
	}
	return append(buf, b...), nil
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
		var je journalEvent
		if json.Unmarshal(payload, &je) != nil {
			return nil
		}
		e := store.AuditEvent{Time: je.Time, Type: je.Type, ClientID: je.ClientID, Subject: je.Subject,
			Actors: je.Actors, DelegationID: je.DelegationID, By: je.By, RequestID: je.RequestID, Details: je.Details}
		if err := fn(e, int64(journalHeader)+int64(n)); err != nil {
			return err
		}
	}
}
