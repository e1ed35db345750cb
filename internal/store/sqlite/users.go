package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/txn"
)

const userColumns = `id, username, username_key, password_hash, disabled,
	name, given_name, family_name, middle_name, nickname, preferred_username,
	profile, picture, website, email, email_verified, gender, birthdate,
	zoneinfo, locale, phone_number, phone_number_verified,
	address_formatted, address_street, address_locality, address_region,
	address_postal_code, address_country, attributes,
	created_at, updated_at, password_changed_at`

const userColumnCount = 32

const selectUser = `SELECT ` + userColumns + ` FROM users`

// userValues returns u's column values in userColumns order.
func userValues(u store.User) ([]any, error) {
	attrs, err := encodeAttributes(u.Attributes)
	if err != nil {
		return nil, err
	}
	a := u.Address
	return []any{
		u.ID, u.Username, store.UsernameKey(u.Username), u.PasswordHash, boolInt(u.Disabled),
		u.Name, u.GivenName, u.FamilyName, u.MiddleName, u.Nickname, u.PreferredUsername,
		u.Profile, u.Picture, u.Website, u.Email, boolInt(u.EmailVerified), u.Gender, u.Birthdate,
		u.Zoneinfo, u.Locale, u.PhoneNumber, boolInt(u.PhoneNumberVerified),
		a.Formatted, a.StreetAddress, a.Locality, a.Region,
		a.PostalCode, a.Country, attrs,
		encodeTime(u.CreatedAt), encodeTime(u.UpdatedAt), encodeTime(u.PasswordChangedAt),
	}, nil
}

func scanUser(row scanner) (store.User, error) {
	var (
		u                                   store.User
		key, attrs                          string
		disabled, emailVerified, phoneVerif int64
		created, updated, pwChanged         int64
	)
	a := &u.Address
	err := row.Scan(&u.ID, &u.Username, &key, &u.PasswordHash, &disabled,
		&u.Name, &u.GivenName, &u.FamilyName, &u.MiddleName, &u.Nickname, &u.PreferredUsername,
		&u.Profile, &u.Picture, &u.Website, &u.Email, &emailVerified, &u.Gender, &u.Birthdate,
		&u.Zoneinfo, &u.Locale, &u.PhoneNumber, &phoneVerif,
		&a.Formatted, &a.StreetAddress, &a.Locality, &a.Region,
		&a.PostalCode, &a.Country, &attrs,
		&created, &updated, &pwChanged)
	if err != nil {
		return store.User{}, err
	}
	if u.Attributes, err = decodeAttributes(attrs); err != nil {
		return store.User{}, err
	}
	u.Disabled, u.EmailVerified, u.PhoneNumberVerified = disabled != 0, emailVerified != 0, phoneVerif != 0
	u.CreatedAt, u.UpdatedAt, u.PasswordChangedAt = decodeTime(created), decodeTime(updated), decodeTime(pwChanged)
	return u, nil
}

// usernameTaken explains a unique violation on username_key, the only
// unique constraint an insert or update of a user can hit other than the
// ID (which the statements handle themselves).
func usernameTaken(op string, err error) error {
	err = classify(err)
	if errors.Is(err, store.ErrAlreadyExists) {
		return fmt.Errorf("store/sqlite: %s: the username is taken: %w", op, err)
	}
	return fmt.Errorf("store/sqlite: %s: %w", op, err)
}

// CreateUser stores a new user; store.ErrAlreadyExists if the ID or the
// username (case-insensitively) is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: create user: %w", err)
	}
	vals, err := userValues(u)
	if err != nil {
		return fmt.Errorf("store/sqlite: create user: %w", err)
	}
	return s.inTx(ctx, func(q dbtx) error {
		res, err := q.ExecContext(ctx, `INSERT INTO users (`+userColumns+`)
			VALUES (`+params(userColumnCount)+`)
			ON CONFLICT (id) DO NOTHING`, vals...)
		if err != nil {
			return usernameTaken("create user", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: create user: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store/sqlite: create user %q: %w", u.ID, store.ErrAlreadyExists)
		}
		return nil
	})
}

// GetUser returns the user with the given ID, or store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	if store.CheckID("user ID", id) != nil {
		return store.User{}, fmt.Errorf("store/sqlite: get user: %w", store.ErrNotFound)
	}
	u, err := scanUser(s.r.QueryRowContext(ctx, selectUser+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("store/sqlite: get user %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("store/sqlite: get user: %w", classify(err))
	}
	return u, nil
}

// GetUserByUsername returns the user whose username has the same
// store.UsernameKey as username, or store.ErrNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	if store.CheckID("username", username) != nil {
		return store.User{}, fmt.Errorf("store/sqlite: get user by username: %w", store.ErrNotFound)
	}
	u, err := scanUser(s.r.QueryRowContext(ctx, selectUser+` WHERE username_key = ?`, store.UsernameKey(username)))
	if errors.Is(err, sql.ErrNoRows) {
		// The username is not quoted: it may be a mistyped password.
		return store.User{}, fmt.Errorf("store/sqlite: get user by username: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("store/sqlite: get user by username: %w", classify(err))
	}
	return u, nil
}

// ListUsers returns one page of users ordered by ID.
func (s *Store) ListUsers(ctx context.Context, opts store.ListOptions) ([]store.User, error) {
	if opts.After != "" {
		if err := store.CheckID("list cursor", opts.After); err != nil {
			return nil, fmt.Errorf("store/sqlite: list users: %w", err)
		}
	}
	rows, err := s.r.QueryContext(ctx, selectUser+` WHERE id > ? ORDER BY id LIMIT ?`,
		opts.After, opts.EffectiveLimit())
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: list users: %w", classify(err))
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store/sqlite: list users: %w", classify(err))
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list users: %w", classify(err))
	}
	return out, nil
}

// UpdateUser applies fn to the stored user in one BEGIN IMMEDIATE
// transaction and returns the stored result.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(store.User) (store.User, error)) (store.User, error) {
	if store.CheckID("user ID", id) != nil {
		return store.User{}, fmt.Errorf("store/sqlite: update user: %w", store.ErrNotFound)
	}
	read := func(tx dbtx) (store.User, error) {
		u, err := scanUser(tx.QueryRowContext(ctx, selectUser+` WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return u, store.ErrNotFound
		}
		return u, err
	}
	check := func(u store.User) error {
		if u.ID != id {
			return fmt.Errorf("%w: the user ID cannot change", store.ErrInvalid)
		}
		return u.Validate()
	}
	write := func(tx dbtx, u store.User) (store.User, error) {
		vals, err := userValues(u)
		if err != nil {
			return store.User{}, err
		}
		// vals[0] is the ID: set every other column, match on the ID.
		_, err = tx.ExecContext(ctx, `UPDATE users SET
		username = ?, username_key = ?, password_hash = ?, disabled = ?,
		name = ?, given_name = ?, family_name = ?, middle_name = ?, nickname = ?, preferred_username = ?,
		profile = ?, picture = ?, website = ?, email = ?, email_verified = ?, gender = ?, birthdate = ?,
		zoneinfo = ?, locale = ?, phone_number = ?, phone_number_verified = ?,
		address_formatted = ?, address_street = ?, address_locality = ?, address_region = ?,
		address_postal_code = ?, address_country = ?, attributes = ?,
		created_at = ?, updated_at = ?, password_changed_at = ?
		WHERE id = ?`, append(vals[1:], vals[0])...)
		if err != nil {
			return store.User{}, usernameTaken("update user", err)
		}
		return read(tx)
	}
	stored, err := txn.Update(ctx, s.inTx, read, fn, check, write)
	if err != nil {
		return store.User{}, fmt.Errorf("store/sqlite: update user %q: %w", id, err)
	}
	return stored, nil
}

// DeleteUser removes the user and (by cascade) their sessions,
// authorization codes, refresh token families and consents.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if store.CheckID("user ID", id) != nil {
		return fmt.Errorf("store/sqlite: delete user: %w", store.ErrNotFound)
	}
	return s.inTx(ctx, func(q dbtx) error {
		res, err := q.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("store/sqlite: delete user: %w", classify(err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: delete user: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store/sqlite: delete user %q: %w", id, store.ErrNotFound)
		}
		return nil
	})
}
