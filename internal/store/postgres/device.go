package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
)

const deviceCodeColumns = `hash, user_code, client_id, scopes, audience, created_at, expires_at,
	interval_us, last_polled_at, status, user_id, session_id, auth_time, amr, acr, decided_at, redeemed_at`

const selectDeviceCode = `SELECT ` + deviceCodeColumns + ` FROM device_codes`

func scanDeviceCode(row pgx.Row) (store.DeviceCode, error) {
	var (
		d                             store.DeviceCode
		status                        string
		interval                      int64
		polled, auth, decided, redeem *time.Time
		userID                        *string
	)
	err := row.Scan(&d.Hash, &d.UserCode, &d.ClientID, &d.Scopes, &d.Audience, &d.CreatedAt, &d.ExpiresAt,
		&interval, &polled, &status, &userID, &d.SessionID, &auth, &d.AMR, &d.ACR, &decided, &redeem)
	if err != nil {
		return store.DeviceCode{}, err
	}
	d.Scopes, d.Audience, d.AMR = nonEmptyList(d.Scopes), nonEmptyList(d.Audience), nonEmptyList(d.AMR)
	d.CreatedAt, d.ExpiresAt = d.CreatedAt.UTC(), d.ExpiresAt.UTC()
	d.Interval = time.Duration(interval) * time.Microsecond
	d.LastPolledAt, d.AuthTime = fromOptionalTime(polled), fromOptionalTime(auth)
	d.DecidedAt, d.RedeemedAt = fromOptionalTime(decided), fromOptionalTime(redeem)
	d.Status = store.DeviceCodeStatus(status)
	if userID != nil {
		d.UserID = *userID
	}
	return d, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// micro truncates t to the store's precision, in UTC (the zero time stays
// zero).
func micro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(store.TimePrecision).UTC()
}

// CreateDeviceCode stores a new device code; store.ErrAlreadyExists if the
// hash or user code is taken, store.ErrNotFound if the client does not
// exist.
func (s *Store) CreateDeviceCode(ctx context.Context, d store.DeviceCode) error {
	const op = "store/postgres: create device code"
	if err := d.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO device_codes (`+deviceCodeColumns+`) VALUES (`+params(1, 17)+`)`,
		d.Hash, d.UserCode, d.ClientID, list(d.Scopes), list(d.Audience), micro(d.CreatedAt), micro(d.ExpiresAt),
		d.Interval.Microseconds(), nil, string(d.Status), nil, "", nil, list(d.AMR), "", nil, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, classify(err))
	}
	return nil
}

// GetDeviceCode returns the device code with the given hash, or
// store.ErrNotFound.
func (s *Store) GetDeviceCode(ctx context.Context, hash []byte) (store.DeviceCode, error) {
	if len(hash) != sha256.Size {
		return store.DeviceCode{}, fmt.Errorf("store/postgres: get device code: %w", store.ErrNotFound)
	}
	return s.getDeviceCode(ctx, "get device code", `hash = $1`, hash)
}

// GetDeviceCodeByUserCode returns the device code with the given user
// code, or store.ErrNotFound.
func (s *Store) GetDeviceCodeByUserCode(ctx context.Context, userCode string) (store.DeviceCode, error) {
	return s.getDeviceCode(ctx, "get device code by user code", `user_code = $1`, userCode)
}

func (s *Store) getDeviceCode(ctx context.Context, op, cond string, arg any) (store.DeviceCode, error) {
	d, err := scanDeviceCode(s.reads.QueryRow(ctx, selectDeviceCode+` WHERE `+cond, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.DeviceCode{}, fmt.Errorf("store/postgres: %s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return store.DeviceCode{}, fmt.Errorf("store/postgres: %s: %w", op, classify(err))
	}
	return d, nil
}

// deviceTx locks the device code selected by cond (FOR UPDATE), applies
// fn and, when fn returns no error, writes the record it returns with
// fn's further writes, all in one transaction.
func (s *Store) deviceTx(ctx context.Context, cond string, arg any, fn func(tx pgx.Tx, d store.DeviceCode) (store.DeviceCode, error)) (store.DeviceCode, error) {
	var out store.DeviceCode
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		d, err := scanDeviceCode(tx.QueryRow(ctx, selectDeviceCode+` WHERE `+cond+` FOR UPDATE`, arg))
		if errors.Is(err, pgx.ErrNoRows) {
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
		next.LastPolledAt, next.AuthTime = micro(next.LastPolledAt), micro(next.AuthTime)
		next.DecidedAt, next.RedeemedAt = micro(next.DecidedAt), micro(next.RedeemedAt)
		_, err = tx.Exec(ctx, `UPDATE device_codes SET interval_us = $2, last_polled_at = $3, status = $4,
			user_id = $5, session_id = $6, auth_time = $7, amr = $8, acr = $9, decided_at = $10, redeemed_at = $11
			WHERE hash = $1`,
			next.Hash, next.Interval.Microseconds(), optionalTime(next.LastPolledAt), string(next.Status),
			nullString(next.UserID), next.SessionID, optionalTime(next.AuthTime), list(next.AMR), next.ACR,
			optionalTime(next.DecidedAt), optionalTime(next.RedeemedAt))
		if err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}

// DecideDeviceCode records the user's decision (store.ApplyDeviceDecision).
func (s *Store) DecideDeviceCode(ctx context.Context, userCode string, now time.Time, dec store.DeviceDecision) (store.DeviceCode, error) {
	const op = "store/postgres: decide device code"
	if err := store.CheckExpiry("decision time", now); err != nil {
		return store.DeviceCode{}, fmt.Errorf("%s: %w", op, err)
	}
	d, err := s.deviceTx(ctx, `user_code = $1`, userCode, func(_ pgx.Tx, d store.DeviceCode) (store.DeviceCode, error) {
		return store.ApplyDeviceDecision(d, now, dec)
	})
	return deviceResult(op, d, err)
}

// PollDeviceCode records a poll (store.ApplyDevicePoll).
func (s *Store) PollDeviceCode(ctx context.Context, hash []byte, now time.Time) (store.DeviceCode, bool, error) {
	const op = "store/postgres: poll device code"
	if err := store.CheckExpiry("poll time", now); err != nil {
		return store.DeviceCode{}, false, fmt.Errorf("%s: %w", op, err)
	}
	if len(hash) != sha256.Size {
		return store.DeviceCode{}, false, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var slow bool
	d, err := s.deviceTx(ctx, `hash = $1`, hash, func(_ pgx.Tx, d store.DeviceCode) (store.DeviceCode, error) {
		d, slow = store.ApplyDevicePoll(d, now)
		return d, nil
	})
	if err != nil {
		return store.DeviceCode{}, false, fmt.Errorf("%s: %w", op, err)
	}
	return d, slow, nil
}

// RedeemDeviceCode marks the approved code redeemed and stores what it
// issued, in one transaction with the code locked.
func (s *Store) RedeemDeviceCode(ctx context.Context, hash []byte, now time.Time, issue store.Issue) (store.DeviceCode, error) {
	const op = "store/postgres: redeem device code"
	if err := issue.Validate(); err != nil {
		return store.DeviceCode{}, fmt.Errorf("%s: %w", op, err)
	}
	if err := store.CheckExpiry("use time", now); err != nil {
		return store.DeviceCode{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(hash) != sha256.Size {
		return store.DeviceCode{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	d, err := s.deviceTx(ctx, `hash = $1`, hash, func(tx pgx.Tx, d store.DeviceCode) (store.DeviceCode, error) {
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
	err = classify(err)
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
	return s.purge(ctx, "delete expired device codes", now, []string{`DELETE FROM device_codes WHERE expires_at <= $1`}, nil)
}
