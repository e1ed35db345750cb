package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

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
func userValues(u store.User) []any {
	a := u.Address
	return []any{
		u.ID, u.Username, store.UsernameKey(u.Username), u.PasswordHash, u.Disabled,
		u.Name, u.GivenName, u.FamilyName, u.MiddleName, u.Nickname, u.PreferredUsername,
		u.Profile, u.Picture, u.Website, u.Email, u.EmailVerified, u.Gender, u.Birthdate,
		u.Zoneinfo, u.Locale, u.PhoneNumber, u.PhoneNumberVerified,
		a.Formatted, a.StreetAddress, a.Locality, a.Region,
		a.PostalCode, a.Country, attributes(u.Attributes),
		u.CreatedAt, u.UpdatedAt, u.PasswordChangedAt,
	}
}

func scanUser(row pgx.Row) (store.User, error) {
	var (
		u     store.User
		key   string
		attrs map[string]string
	)
	a := &u.Address
	err := row.Scan(&u.ID, &u.Username, &key, &u.PasswordHash, &u.Disabled,
		&u.Name, &u.GivenName, &u.FamilyName, &u.MiddleName, &u.Nickname, &u.PreferredUsername,
		&u.Profile, &u.Picture, &u.Website, &u.Email, &u.EmailVerified, &u.Gender, &u.Birthdate,
		&u.Zoneinfo, &u.Locale, &u.PhoneNumber, &u.PhoneNumberVerified,
		&a.Formatted, &a.StreetAddress, &a.Locality, &a.Region,
		&a.PostalCode, &a.Country, &attrs,
		&u.CreatedAt, &u.UpdatedAt, &u.PasswordChangedAt)
	if err != nil {
		return store.User{}, err
	}
	u.Attributes = fromAttributes(attrs)
	u.CreatedAt, u.UpdatedAt, u.PasswordChangedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC(), u.PasswordChangedAt.UTC()
	return u, nil
}

// usernameTaken explains a unique violation on username_key, the only
// unique constraint an insert or update of a user can hit other than the
// ID (which the statements handle themselves).
func usernameTaken(op string, err error) error {
	err = classify(err)
	if errors.Is(err, store.ErrAlreadyExists) {
		return fmt.Errorf("store/postgres: %s: the username is taken: %w", op, err)
	}
	return fmt.Errorf("store/postgres: %s: %w", op, err)
}

// CreateUser stores a new user; store.ErrAlreadyExists if the ID or the
// username (case-insensitively) is taken.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("store/postgres: create user: %w", classify(err))
	}
	return s.write(ctx, func(q writer) error {
		tag, err := q.Exec(ctx, `INSERT INTO users (`+userColumns+`)
			VALUES (`+params(1, userColumnCount)+`)
			ON CONFLICT (id) DO NOTHING`, userValues(u)...)
		if err != nil {
			return usernameTaken("create user", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store/postgres: create user %q: %w", u.ID, store.ErrAlreadyExists)
		}
		return nil
	})
}

// GetUser returns the user with the given ID, or store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	if store.CheckID("user ID", id) != nil {
		return store.User{}, fmt.Errorf("store/postgres: get user: %w", store.ErrNotFound)
	}
	u, err := scanUser(s.reads.QueryRow(ctx, selectUser+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, fmt.Errorf("store/postgres: get user %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("store/postgres: get user: %w", classify(err))
	}
	return u, nil
}

// GetUserByUsername returns the user whose username has the same
// store.UsernameKey as username, or store.ErrNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	if store.CheckID("username", username) != nil {
		return store.User{}, fmt.Errorf("store/postgres: get user by username: %w", store.ErrNotFound)
	}
	u, err := scanUser(s.reads.QueryRow(ctx, selectUser+` WHERE username_key = $1`, store.UsernameKey(username)))
	if errors.Is(err, pgx.ErrNoRows) {
		// The username is not quoted: it may be a mistyped password.
		return store.User{}, fmt.Errorf("store/postgres: get user by username: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("store/postgres: get user by username: %w", classify(err))
	}
	return u, nil
}

// ListUsers returns one page of users ordered by ID (byte order: the
// column is COLLATE "C").
func (s *Store) ListUsers(ctx context.Context, opts store.ListOptions) ([]store.User, error) {
	if opts.After != "" {
		if err := store.CheckID("list cursor", opts.After); err != nil {
			return nil, fmt.Errorf("store/postgres: list users: %w", err)
		}
	}
	rows, err := s.pool.Query(ctx, selectUser+` WHERE id > $1 ORDER BY id LIMIT $2`,
		opts.After, opts.EffectiveLimit())
	if err != nil {
		return nil, fmt.Errorf("store/postgres: list users: %w", classify(err))
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store/postgres: list users: %w", classify(err))
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: list users: %w", classify(err))
	}
	return out, nil
}

// UpdateUser applies fn to the user row locked with SELECT ... FOR UPDATE,
// in one transaction, and returns the stored result.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(store.User) (store.User, error)) (store.User, error) {
	if store.CheckID("user ID", id) != nil {
		return store.User{}, fmt.Errorf("store/postgres: update user: %w", store.ErrNotFound)
	}
	read := func(tx pgx.Tx) (store.User, error) {
		u, err := scanUser(tx.QueryRow(ctx, selectUser+` WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
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
	write := func(tx pgx.Tx, u store.User) (store.User, error) {
		// $1 is the ID: set every other column, match on the ID.
		stored, err := scanUser(tx.QueryRow(ctx, `UPDATE users SET
		username = $2, username_key = $3, password_hash = $4, disabled = $5,
		name = $6, given_name = $7, family_name = $8, middle_name = $9, nickname = $10, preferred_username = $11,
		profile = $12, picture = $13, website = $14, email = $15, email_verified = $16, gender = $17, birthdate = $18,
		zoneinfo = $19, locale = $20, phone_number = $21, phone_number_verified = $22,
		address_formatted = $23, address_street = $24, address_locality = $25, address_region = $26,
		address_postal_code = $27, address_country = $28, attributes = $29,
		created_at = $30, updated_at = $31, password_changed_at = $32
		WHERE id = $1
		RETURNING `+userColumns, userValues(u)...))
		if err != nil {
			return store.User{}, usernameTaken("update user", err)
		}
		return stored, nil
	}
	stored, err := txn.Update(ctx, s.inTx, read, fn, check, write)
	if err != nil {
		return store.User{}, fmt.Errorf("store/postgres: update user %q: %w", id, err)
	}
	return stored, nil
}

// DeleteUser removes the user and (by cascade) their sessions,
// authorization codes, refresh token families and consents.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if store.CheckID("user ID", id) != nil {
		return fmt.Errorf("store/postgres: delete user: %w", store.ErrNotFound)
	}
	return s.write(ctx, func(q writer) error {
		tag, err := q.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("store/postgres: delete user: %w", classify(err))
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store/postgres: delete user %q: %w", id, store.ErrNotFound)
		}
		return nil
	})
}
