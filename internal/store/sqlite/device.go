package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/writ-dev/writ/internal/store"
)

const deviceCodeColumns = `hash, user_code, client_id, scopes, audience, created_at, expires_at,
	interval_us, last_polled_at, status, user_id, session_id, auth_time, amr, acr, decided_at, redeemed_at`

const selectDeviceCode = `SELECT ` + deviceCodeColumns + ` FROM device_codes`

func scanDeviceCode(row scanner) (store.DeviceCode, error) {
	var (
		d                             store.DeviceCode
		scopes, aud, amr, status      string
		created, expiresAt, interval  int64
		polled, auth, decided, redeem sql.NullInt64
		userID                        sql.NullString
	)
	err := row.Scan(&d.Hash, &d.UserCode, &d.ClientID, &scopes, &aud, &created, &expiresAt,
		&interval, &polled, &status, &userID, &d.SessionID, &auth, &amr, &d.ACR, &decided, &redeem)
	if err != nil {
		return store.DeviceCode{}, err
	}
	for _, l := range []struct {
		dst *[]string
		src string
	}{{&d.Scopes, scopes}, {&d.Audience, aud}, {&d.AMR, amr}} {
		if *l.dst, err = decodeList(l.src); err != nil {
			return store.DeviceCode{}, err
		}
	}
	d.CreatedAt, d.ExpiresAt = decodeTime(created), decodeTime(expiresAt)
	d.Interval = time.Duration(interval) * time.Microsecond
	d.LastPolledAt, d.AuthTime = decodeOptionalTime(polled), decodeOptionalTime(auth)
	d.DecidedAt, d.RedeemedAt = decodeOptionalTime(decided), decodeOptionalTime(redeem)
	d.Status, d.UserID = store.DeviceCodeStatus(status), userID.String
	return d, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateDeviceCode stores a new device code; store.ErrAlreadyExists if the
// hash or user code is taken, store.ErrNotFound if the client does not
// exist.
func (s *Store) CreateDeviceCode(ctx context.Context, d store.DeviceCode) error {
	const op = "store/sqlite: create device code"
	if err := d.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var lists [3]string
	for i, l := range [][]string{d.Scopes, d.Audience, d.AMR} {
		var err error
		if lists[i], err = encodeList(l); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO device_codes (`+deviceCodeColumns+`) VALUES (`+params(17)+`)`,
		d.Hash, d.UserCode, d.ClientID, lists[0], lists[1], encodeTime(d.CreatedAt), encodeTime(d.ExpiresAt),
		d.Interval.Microseconds(), nil, string(d.Status), nil, "", nil, lists[2], "", nil, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, classify(err))
	}
	return nil
}

// GetDeviceCode returns the device code with the given hash, or
// store.ErrNotFound.
func (s *Store) GetDeviceCode(ctx context.Context, hash []byte) (store.DeviceCode, error) {
	if len(hash) != sha256.Size {
		return store.DeviceCode{}, fmt.Errorf("store/sqlite: get device code: %w", store.ErrNotFound)
	}
	return s.getDeviceCode(ctx, s.w, "get device code", `hash = ?`, hash)
}

// GetDeviceCodeByUserCode returns the device code with the given user
// code, or store.ErrNotFound.
func (s *Store) GetDeviceCodeByUserCode(ctx context.Context, userCode string) (store.DeviceCode, error) {
	return s.getDeviceCode(ctx, s.w, "get device code by user code", `user_code = ?`, userCode)
}

func (s *Store) getDeviceCode(ctx context.Context, q dbtx, op, cond string, arg any) (store.DeviceCode, error) {
	d, err := scanDeviceCode(q.QueryRowContext(ctx, selectDeviceCode+` WHERE `+cond, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return store.DeviceCode{}, fmt.Errorf("store/sqlite: %s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return store.DeviceCode{}, fmt.Errorf("store/sqlite: %s: %w", op, classify(err))
	}
	return d, nil
}

// updateDeviceCode writes the mutable columns of d.
func updateDeviceCode(ctx context.Context, tx dbtx, d store.DeviceCode) error {
	amr, err := encodeList(d.AMR)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE device_codes SET interval_us = ?, last_polled_at = ?, status = ?,
		user_id = ?, session_id = ?, auth_time = ?, amr = ?, acr = ?, decided_at = ?, redeemed_at = ? WHERE hash = ?`,
		d.Interval.Microseconds(), encodeOptionalTime(d.LastPolledAt), string(d.Status), nullString(d.UserID),
		d.SessionID, encodeOptionalTime(d.AuthTime), amr, d.ACR, encodeOptionalTime(d.DecidedAt),
		encodeOptionalTime(d.RedeemedAt), d.Hash)
	return err
}

// deviceTx reads the device code selected by cond in one BEGIN IMMEDIATE
// transaction, applies fn and, when fn returns no error, writes the
// record it returns with fn's further writes.
func (s *Store) deviceTx(ctx context.Context, cond string, arg any, fn func(tx dbtx, d store.DeviceCode) (store.DeviceCode, error)) (store.DeviceCode, error) {
	var out store.DeviceCode
	err := s.inTx(ctx, func(tx dbtx) error {
		d, err := scanDeviceCode(tx.QueryRowContext(ctx, selectDeviceCode+` WHERE `+cond, arg))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		out = d
		next, err := fn(tx, d)
		if err != nil {
			return err
		}
		if err := updateDeviceCode(ctx, tx, next); err != nil {
			return err
		}
		out = decodeDeviceTimes(next)
		return nil
	})
	return out, err
}

// decodeDeviceTimes truncates d's times as the store keeps them.
func decodeDeviceTimes(d store.DeviceCode) store.DeviceCode {
	rt := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return decodeTime(encodeTime(t))
	}
	d.LastPolledAt, d.AuthTime, d.DecidedAt, d.RedeemedAt = rt(d.LastPolledAt), rt(d.AuthTime), rt(d.DecidedAt), rt(d.RedeemedAt)
	return d
}

// DecideDeviceCode records the user's decision (store.ApplyDeviceDecision).
func (s *Store) DecideDeviceCode(ctx context.Context, userCode string, now time.Time, dec store.DeviceDecision) (store.DeviceCode, error) {
	const op = "store/sqlite: decide device code"
	if err := store.CheckExpiry("decision time", now); err != nil {
		return store.DeviceCode{}, fmt.Errorf("%s: %w", op, err)
	}
	d, err := s.deviceTx(ctx, `user_code = ?`, userCode, func(_ dbtx, d store.DeviceCode) (store.DeviceCode, error) {
		return store.ApplyDeviceDecision(d, now, dec)
	})
	return deviceResult(op, d, err)
}

// PollDeviceCode records a poll (store.ApplyDevicePoll).
func (s *Store) PollDeviceCode(ctx context.Context, hash []byte, now time.Time) (store.DeviceCode, bool, error) {
	const op = "store/sqlite: poll device code"
	if err := store.CheckExpiry("poll time", now); err != nil {
		return store.DeviceCode{}, false, fmt.Errorf("%s: %w", op, err)
	}
	if len(hash) != sha256.Size {
		return store.DeviceCode{}, false, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var slow bool
	d, err := s.deviceTx(ctx, `hash = ?`, hash, func(_ dbtx, d store.DeviceCode) (store.DeviceCode, error) {
		d, slow = store.ApplyDevicePoll(d, now)
		return d, nil
	})
	if err != nil {
		return store.DeviceCode{}, false, fmt.Errorf("%s: %w", op, err)
	}
	return d, slow, nil
}

// RedeemDeviceCode marks the approved code redeemed and stores what it
// issued, in one BEGIN IMMEDIATE transaction.
func (s *Store) RedeemDeviceCode(ctx context.Context, hash []byte, now time.Time, issue store.Issue) (store.DeviceCode, error) {
	const op = "store/sqlite: redeem device code"
	if err := issue.Validate(); err != nil {
		return store.DeviceCode{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := store.CheckExpiry("use time", now); err != nil {
		return store.DeviceCode{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(hash) != sha256.Size {
		return store.DeviceCode{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	d, err := s.deviceTx(ctx, `hash = ?`, hash, func(tx dbtx, d store.DeviceCode) (store.DeviceCode, error) {
		if err := store.CheckDeviceRedeemable(d, now, issue); err != nil {
			return d, err
		}
		if err := writeIssue(ctx, tx, issue, true); err != nil {
			return d, err
		}
		d.Status, d.RedeemedAt = store.DeviceRedeemed, now
		return d, nil
	})
	return deviceResult(op, d, err)
}

// deviceResult wraps err with op; the record goes with ErrReused and
// ErrExpired.
func deviceResult(op string, d store.DeviceCode, err error) (store.DeviceCode, error) {
	switch {
	case errors.Is(err, store.ErrReused), errors.Is(err, store.ErrExpired):
		return d, fmt.Errorf("%s: %w", op, err)
	case err != nil:
		return store.DeviceCode{}, fmt.Errorf("%s: %w", op, err)
	}
	return d, nil
}

// DeleteExpiredDeviceCodes removes the device codes past their expiry.
func (s *Store) DeleteExpiredDeviceCodes(ctx context.Context, now time.Time) (int64, error) {
	return s.purge(ctx, "delete expired device codes", now, []string{`DELETE FROM device_codes WHERE expires_at <= ?1`}, nil)
}
