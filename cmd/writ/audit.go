package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/app"
	"github.com/writ-dev/writ/internal/audit"
	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/keys"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storeopen"
	"github.com/writ-dev/writ/jose"
)

// This file holds the commands that read the audit trail straight from
// the store, with no server: "writ audit verify" and "writ audit tail".

// storeFlags name the store a command opens directly.
type storeFlags struct {
	dataDir, database string
}

func (f *storeFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", "writ-data", "data directory of the server (for its SQLite database and development master key)")
	fl.StringVar(&f.database, "database", "", "database DSN of the server (default: $WRIT_DATABASE, else the SQLite file in --data-dir)")
}

func (f *storeFlags) dsn() string {
	if f.database != "" {
		return f.database
	}
	if v := os.Getenv("WRIT_DATABASE"); v != "" {
		return v
	}
	return (&config.Config{DataDir: f.dataDir}).DatabaseDSN()
}

// open opens the store without migrating it: these commands only read.
func (f *storeFlags) open(ctx context.Context) (store.Store, error) {
	st, err := storeopen.Open(ctx, f.dsn())
	if err != nil {
		return nil, fmt.Errorf("open the server's database: %w", err)
	}
	return st, nil
}

// Exit statuses of "writ audit verify".
const auditVerifyHelp = `Exit status: 0 when the chain is intact and every anchor verifies; 1 when it
is broken (the message names the first bad record: "changed", "deleted",
"reordered", "unlinked" or "bad anchor", with its sequence number); 2 when
the store or the keys cannot be read, or on bad flags.`

func newAuditVerifyCmd(s *streams) *cobra.Command {
	var (
		sf        storeFlags
		jwksFile  string
		masterKey string
		noAnchors bool
		asJSON    bool
		heads     []string
	)
	cmd := &cobra.Command{
		Use:   "verify [--data-dir DIR | --database DSN]",
		Short: "Check the audit trail's hash chain and signed anchors, straight from the store",
		Long: `Read the whole audit trail from the store (no server needed; it may be
running) and check it: every event's hash over its content and the hash of
the event before, sequence numbers without gaps, the store's chain head, and
every anchor (the chain head signed by the key ring) against the key ring's
public keys, retired keys included.

The key ring is sealed: the master key comes from $WRIT_MASTER_KEY or
$WRIT_MASTER_KEY_FILE, --master-key-file, or the development master key in
--data-dir. --jwks adds public keys (for example an archived JWKS holding
keys removed from the ring since they signed an anchor). --no-anchors checks
the chain alone: then a chain rewritten after a change is not detected.

What the store holds cannot show that the newest events were deleted
together with the anchors after what is left. Keep the head somewhere the
store's writers cannot reach (the "head N, hash H" this command prints, or
the seq and hash of the last line your SIEM received from "writ audit
tail") and give it back with --expect-head N:H: the trail must still hold
that event, unchanged.

` + auditVerifyHelp,
		Example: `  writ audit verify --data-dir ./writ-data
  writ audit verify --database postgres://writ@db/writ --master-key-file /etc/writ/master.key
  writ audit verify --data-dir ./writ-data --expect-head 1042:3f9a…(64 hex digits)`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			expect, err := parseExpectedHeads(heads)
			if err != nil {
				return err
			}
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			var ks *jose.KeySet
			if !noAnchors {
				if ks, err = anchorKeys(ctx, st, &sf, masterKey, jwksFile); err != nil {
					return err
				}
			}
			r, err := audit.Verify(ctx, st, ks, expect...)
			var br *audit.BreakError
			if errors.As(err, &br) {
				if asJSON {
					_ = json.NewEncoder(s.out).Encode(map[string]any{"intact": false, "seq": br.Seq, "kind": br.Kind, "reason": br.Reason})
				}
				return &verdictError{prefix: "audit trail", err: br}
			}
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(s.out).Encode(map[string]any{"intact": true, "events": r.Events, "legacy": r.Legacy,
					"head": r.Head, "head_hash": hex.EncodeToString(r.HeadHash), "anchors": r.Anchors, "last_anchor": r.LastAnchor})
			}
			fmt.Fprintf(s.out, "audit trail intact: %d events (head %d", r.Events, r.Head)
			if r.HeadHash != nil {
				fmt.Fprintf(s.out, ", hash %s", hex.EncodeToString(r.HeadHash))
			}
			fmt.Fprint(s.out, ")")
			if r.Legacy > 0 {
				fmt.Fprintf(s.out, ", the first %d unchained (appended before the chain existed)", r.Legacy)
			}
			switch {
			case noAnchors:
				fmt.Fprintln(s.out, "; anchors not checked")
			case r.Anchors == 0:
				fmt.Fprintln(s.out, "; no anchors yet")
			default:
				fmt.Fprintf(s.out, "; %d anchors verified, the last at %d", r.Anchors, r.LastAnchor)
				if r.LastAnchor < r.Head {
					fmt.Fprintf(s.out, " (events after it are protected by the chain alone)")
				}
				fmt.Fprintln(s.out)
			}
			return nil
		},
	}
	sf.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&jwksFile, "jwks", "", "also trust the public keys of this JWK Set `FILE` for anchors")
	fl.StringVar(&masterKey, "master-key-file", "", "master key `FILE` that seals the key ring")
	fl.BoolVar(&noAnchors, "no-anchors", false, "check the hash chain only, not the signed anchors")
	fl.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	fl.StringArrayVar(&heads, "expect-head", nil, "`SEQ:HASH` of an event recorded outside the store (hash in hex) that the trail must still hold; repeatable")
	return cmd
}

// parseExpectedHeads parses --expect-head values, SEQ:HASH with the hash
// in hex as verify prints it.
func parseExpectedHeads(vals []string) ([]audit.Head, error) {
	out := make([]audit.Head, 0, len(vals))
	for _, v := range vals {
		seqText, hashText, ok := strings.Cut(v, ":")
		seq, err := strconv.ParseInt(seqText, 10, 64)
		if !ok || err != nil || seq < 1 {
			return nil, &usageError{fmt.Errorf("--expect-head %q: want SEQ:HASH, a sequence number of 1 or more, a colon and the event's hash in hex", v)}
		}
		hash, err := hex.DecodeString(hashText)
		if err != nil || len(hash) != sha256.Size {
			return nil, &usageError{fmt.Errorf("--expect-head %q: the hash must be %d hex digits (the hash verify prints)", v, 2*sha256.Size)}
		}
		out = append(out, audit.Head{Seq: seq, Hash: hash})
	}
	return out, nil
}

// anchorKeys returns the public keys anchors are checked with: the key
// ring's (unsealed with the master key) and those of jwksFile.
func anchorKeys(ctx context.Context, st store.Store, sf *storeFlags, masterKeyFile, jwksFile string) (*jose.KeySet, error) {
	var all []*jose.Key
	if jwksFile != "" {
		data, err := os.ReadFile(jwksFile)
		if err != nil {
			return nil, fmt.Errorf("--jwks: %w", err)
		}
		ks, err := jose.ParseKeySet(data)
		if err != nil {
			return nil, fmt.Errorf("--jwks %s: %w", jwksFile, err)
		}
		all = append(all, ks.Keys()...)
	}
	data, _, err := st.GetKeyRing(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// No key ring: only --jwks keys (anchors then fail to verify).
	case err != nil:
		return nil, fmt.Errorf("read the key ring: %w", err)
	default:
		mk, err := findMasterKey(sf, masterKeyFile)
		if err != nil {
			return nil, err
		}
		var algs []jose.Algorithm
		for _, a := range jose.SignatureAlgorithms() {
			if !a.IsSymmetric() {
				algs = append(algs, a)
			}
		}
		ring, err := keys.NewRing(keys.Options{Algorithms: algs})
		if err != nil {
			return nil, err
		}
		if err := ring.UnmarshalSealed(data, mk); err != nil {
			return nil, fmt.Errorf("open the key ring: %w (is this the master key the keys were sealed with?)", err)
		}
		all = append(all, ring.PublicKeySet().Keys()...)
	}
	return jose.NewKeySet(all...), nil
}

// findMasterKey finds the master key as "writ serve" does
// (app.LoadMasterKey): the environment, then --master-key-file, then the
// development key in the data directory.
func findMasterKey(sf *storeFlags, file string) (keys.MasterKey, error) {
	mk, err := app.LoadMasterKey(&config.Config{DataDir: sf.dataDir, MasterKeyFile: file}, os.Getenv)
	if errors.Is(err, keys.ErrNoMasterKey) {
		return keys.MasterKey{}, usagef("no master key to open the key ring with: set WRIT_MASTER_KEY, give --master-key-file, or --no-anchors to check the chain alone")
	}
	return mk, err
}

// tailLine is one audit event as a JSON line of "writ audit tail".
type tailLine struct {
	Seq          int64           `json:"seq"`
	Time         time.Time       `json:"time"`
	Type         string          `json:"type"`
	ClientID     string          `json:"client_id,omitempty"`
	Subject      string          `json:"subject,omitempty"`
	Actors       []string        `json:"actors,omitempty"`
	DelegationID string          `json:"delegation_id,omitempty"`
	By           string          `json:"by,omitempty"`
	RequestID    string          `json:"request_id,omitempty"`
	Details      json.RawMessage `json:"details,omitempty"`
	PrevHash     string          `json:"prev_hash,omitempty"`
	Hash         string          `json:"hash,omitempty"`
}

func newAuditTailCmd(s *streams) *cobra.Command {
	var (
		sf       storeFlags
		after    int64
		follow   bool
		output   string
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "tail [--after SEQ] [--follow] [--output FILE]",
		Short: "Stream audit events as JSON lines (for a SIEM), straight from the store",
		Long: `Print the audit events after --after as JSON lines, oldest first, on
standard output or appended to --output FILE, reading the store directly.
With --follow it keeps polling for new events every --interval until
interrupted.

With --output and no --after, it resumes after the last event already in
the file, so that a restarted tail neither repeats nor skips an event.
Each line carries the event's prev_hash and hash (hex), so that a copy
kept elsewhere can be checked against the store's chain later.`,
		Example: `  writ audit tail --data-dir ./writ-data
  writ audit tail --follow --output /var/log/writ/audit.jsonl --data-dir ./writ-data`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if after < 0 {
				return usagef("--after %d: want a sequence number, 0 or more", after)
			}
			if interval <= 0 {
				return usagef("--interval must be positive")
			}
			out := s.out
			if output != "" {
				if !cmd.Flags().Changed("after") {
					last, err := lastTailSeq(output)
					if err != nil {
						return err
					}
					after = last
				}
				f, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
				if err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			return tailAudit(ctx, st, out, after, follow, interval)
		},
	}
	sf.bind(cmd)
	fl := cmd.Flags()
	fl.Int64Var(&after, "after", 0, "start after sequence number `SEQ`")
	fl.BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	fl.StringVarP(&output, "output", "o", "", "append to `FILE` instead of standard output, resuming after its last event")
	fl.DurationVar(&interval, "interval", time.Second, "how often --follow polls for new events")
	return cmd
}

// tailAudit writes the events after after to out, one JSON line each,
// and with follow keeps polling until ctx ends.
func tailAudit(ctx context.Context, st store.AuditStore, out io.Writer, after int64, follow bool, interval time.Duration) error {
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	for {
		events, err := st.ListAudit(ctx, store.AuditQuery{AfterSeq: after, Limit: store.MaxListLimit})
		if err != nil {
			if follow && ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, e := range events {
			l := tailLine{Seq: e.Seq, Time: e.Time, Type: e.Type, ClientID: e.ClientID, Subject: e.Subject, Actors: e.Actors,
				DelegationID: e.DelegationID, By: e.By, RequestID: e.RequestID, Details: e.Details}
			if e.Hash != nil {
				l.PrevHash, l.Hash = hex.EncodeToString(e.PrevHash), hex.EncodeToString(e.Hash)
			}
			if err := enc.Encode(l); err != nil {
				return err
			}
			after = e.Seq
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if len(events) == store.MaxListLimit {
			continue
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// lastTailSeq returns the seq of the last complete line of a tail output
// file (0 when it does not exist or is empty).
func lastTailSeq(path string) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	const window = 64 << 10
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	off := max(fi.Size()-window, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	buf = bytes.TrimRight(buf, "\n")
	if len(buf) == 0 {
		return 0, nil
	}
	last := buf[bytes.LastIndexByte(buf, '\n')+1:]
	var l struct {
		Seq json.Number `json:"seq"`
	}
	if err := json.Unmarshal(last, &l); err != nil {
		return 0, fmt.Errorf("%s: the last line is not an audit event (give --after): %w", path, err)
	}
	seq, err := strconv.ParseInt(l.Seq.String(), 10, 64)
	if err != nil || seq < 0 {
		return 0, fmt.Errorf("%s: the last line has no sequence number (give --after)", path)
	}
	return seq, nil
}

// parseWhen reads an RFC 3339 time, or a duration before now.
func parseWhen(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, errors.New("not a time or duration")
	}
	return now.Add(-d), nil
}
