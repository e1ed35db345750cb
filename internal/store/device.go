package store

import (
	"context"
	"fmt"
	"time"
)

// DeviceCodeStatus is where a device authorization (RFC 8628) stands.
type DeviceCodeStatus string

// Device authorization states: pending until the user decides, then
// approved or denied; an approved one becomes redeemed when the device
// gets its tokens.
const (
	DevicePending  DeviceCodeStatus = "pending"
	DeviceApproved DeviceCodeStatus = "approved"
	DeviceDenied   DeviceCodeStatus = "denied"
	DeviceRedeemed DeviceCodeStatus = "redeemed"
)

// DeviceSlowDown is how much a device's polling interval grows each time
// it polls faster than it may (RFC 8628 §3.5, slow_down).
const DeviceSlowDown = 5 * time.Second

// DeviceCode is a device authorization (RFC 8628 §3.2): the device code,
// keyed by its SHA-256 (the code itself is never stored), and the user
// code the user types at the verification page.
type DeviceCode struct {
	// Hash is the SHA-256 of the device_code (32 bytes).
	Hash []byte
	// UserCode is the user_code in its normalised form (upper case, no
	// separators); unique among stored device codes.
	UserCode string
	// ClientID is the client the code was issued to; it must exist.
	// Deleting the client deletes its device codes.
	ClientID string
	// Scopes are the scopes asked for (and granted on approval).
	Scopes []string
	// Audience is the audience of the tokens the code redeems for.
	Audience []string
	// CreatedAt is when the code was issued.
	CreatedAt time.Time
	// ExpiresAt is when the code stops being usable; must not be zero.
	ExpiresAt time.Time
	// Interval is the least time between two polls (positive); it grows
	// by DeviceSlowDown on each poll that comes too early.
	Interval time.Duration
	// LastPolledAt is when the device last polled; zero until then. Set
	// by PollDeviceCode.
	LastPolledAt time.Time
	// Status is where the authorization stands; DevicePending for a new
	// code.
	Status DeviceCodeStatus
	// UserID is the user who decided; empty until then. Deleting the user
	// deletes their device codes.
	UserID string
	// SessionID is the sid of the browser session the user decided in, or
	// empty.
	SessionID string
	// AuthTime, AMR and ACR describe the user's authentication when they
	// approved; zero until then.
	AuthTime time.Time
	AMR      []string
	ACR      string
	// DecidedAt is when the user approved or denied; zero until then.
	DecidedAt time.Time
	// RedeemedAt is when the device got its tokens; zero until then.
	RedeemedAt time.Time
}

// DeviceDecision is a user's answer to a device authorization.
type DeviceDecision struct {
	// Approve grants the authorization; false denies it.
	Approve bool
	// UserID is the signed-in user who decided; required.
	UserID string
	// SessionID is their browser session's sid, or empty.
	SessionID string
	// AuthTime, AMR and ACR describe their authentication.
	AuthTime time.Time
	AMR      []string
	ACR      string
}

// DeviceCodeStore keeps device authorizations. Deciding, polling and
// redeeming each run in one transaction with the code locked, so that of
// concurrent callers exactly one decides and exactly one redeems.
type DeviceCodeStore interface {
	// CreateDeviceCode stores a new device code (status DevicePending, the
	// decision and poll fields zero); ErrAlreadyExists if the hash or the
	// user code is taken, ErrNotFound if the client does not exist.
	CreateDeviceCode(ctx context.Context, d DeviceCode) error
	// GetDeviceCode returns the code with the given hash, expired ones
	// included, or ErrNotFound.
	GetDeviceCode(ctx context.Context, hash []byte) (DeviceCode, error)
	// GetDeviceCodeByUserCode returns the code with the given normalised
	// user code, expired ones included, or ErrNotFound.
	GetDeviceCodeByUserCode(ctx context.Context, userCode string) (DeviceCode, error)
	// DecideDeviceCode records the user's decision on the code with the
	// given user code at now (ApplyDeviceDecision): ErrNotFound, ErrReused
	// if decided before, ErrExpired, or the record as stored.
	DecideDeviceCode(ctx context.Context, userCode string, now time.Time, d DeviceDecision) (DeviceCode, error)
	// PollDeviceCode records a poll of the code at now (ApplyDevicePoll)
	// and returns the record as stored and whether the poll came too early
	// (the interval then grew); ErrNotFound for an unknown hash.
	PollDeviceCode(ctx context.Context, hash []byte, now time.Time) (DeviceCode, bool, error)
	// RedeemDeviceCode marks the approved code redeemed at now and stores
	// what it issued, in one transaction (CheckDeviceRedeemable): with an
	// error nothing is written; the record is returned with ErrReused and
	// ErrExpired.
	RedeemDeviceCode(ctx context.Context, hash []byte, now time.Time, issue Issue) (DeviceCode, error)
	// DeleteExpiredDeviceCodes removes the codes whose ExpiresAt is at or
	// before now and returns how many.
	DeleteExpiredDeviceCodes(ctx context.Context, now time.Time) (int64, error)
}

// Validate reports an error wrapping ErrInvalid unless d can be stored as
// a new device code.
func (d DeviceCode) Validate() error {
	if err := checkHash("device code hash", d.Hash); err != nil {
		return err
	}
	if err := CheckID("user code", d.UserCode); err != nil {
		return err
	}
	if err := CheckID("client ID", d.ClientID); err != nil {
		return err
	}
	for _, l := range []struct {
		field string
		value []string
	}{{"scopes", d.Scopes}, {"audience", d.Audience}, {"amr", d.AMR}} {
		if err := checkList(l.field, l.value); err != nil {
			return err
		}
	}
	if err := CheckTime("created_at", d.CreatedAt); err != nil {
		return err
	}
	if err := CheckExpiry("expires_at", d.ExpiresAt); err != nil {
		return err
	}
	switch {
	case d.Interval <= 0 || d.Interval%TimePrecision != 0:
		return invalid("interval", "must be a positive whole number of microseconds")
	case d.Status != DevicePending:
		return invalid("status", "must be pending for a new device code")
	case d.UserID != "" || d.SessionID != "" || !d.AuthTime.IsZero() || len(d.AMR) > 0 || d.ACR != "" ||
		!d.DecidedAt.IsZero() || !d.RedeemedAt.IsZero() || !d.LastPolledAt.IsZero():
		return invalid("device code", "must not be decided, polled or redeemed when created")
	}
	return nil
}

// ApplyDeviceDecision is the rule every backend applies in
// DecideDeviceCode once the code is locked: ErrReused unless it is
// pending, ErrExpired at or after ExpiresAt, ErrInvalid without a user;
// otherwise the decided record.
func ApplyDeviceDecision(d DeviceCode, now time.Time, dec DeviceDecision) (DeviceCode, error) {
	if err := CheckID("user ID", dec.UserID); err != nil {
		return d, err
	}
	if err := checkOptionalID("session ID", dec.SessionID); err != nil {
		return d, err
	}
	if d.Status != DevicePending {
		return d, ErrReused
	}
	if !d.ExpiresAt.After(now) {
		return d, ErrExpired
	}
	d.Status = DeviceDenied
	if dec.Approve {
		d.Status = DeviceApproved
	}
	d.UserID, d.SessionID, d.AuthTime, d.AMR, d.ACR = dec.UserID, dec.SessionID, dec.AuthTime, dec.AMR, dec.ACR
	d.DecidedAt = now
	return d, nil
}

// ApplyDevicePoll is the rule every backend applies in PollDeviceCode: a
// poll sooner than Interval after the last one grows Interval by
// DeviceSlowDown and reports slow; every poll sets LastPolledAt.
func ApplyDevicePoll(d DeviceCode, now time.Time) (DeviceCode, bool) {
	slow := !d.LastPolledAt.IsZero() && now.Before(d.LastPolledAt.Add(d.Interval))
	if slow {
		d.Interval += DeviceSlowDown
	}
	d.LastPolledAt = now
	return d, slow
}

// CheckDeviceRedeemable is the rule every backend applies in
// RedeemDeviceCode once the code is locked: ErrReused if redeemed before,
// ErrExpired at or after ExpiresAt, ErrInvalid unless approved or when the
// issue is not for the code's client and user.
func CheckDeviceRedeemable(d DeviceCode, now time.Time, i Issue) error {
	switch {
	case d.Status == DeviceRedeemed:
		return ErrReused
	case !d.ExpiresAt.After(now):
		return ErrExpired
	case d.Status != DeviceApproved:
		return fmt.Errorf("%w: the device code is %s", ErrInvalid, d.Status)
	}
	if r := i.Refresh; r != nil && (r.ClientID != d.ClientID || r.UserID != d.UserID) {
		return invalid("issued refresh token", "is not for the device code's client and user")
	}
	if o := i.Access.Opaque; o != nil && (o.ClientID != d.ClientID || o.Subject != d.UserID) {
		return invalid("issued access token", "is not for the device code's client and user")
	}
	return nil
}
