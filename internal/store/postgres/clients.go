package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/internal/recjson"
	"github.com/writ-dev/writ/internal/store/internal/txn"
)

const clientColumns = `id, secret_hash, secret_rotated_at, name, redirect_uris,
	post_logout_redirect_uris, grant_types, response_types, scopes, audiences,
	token_endpoint_auth_method, jwks, jwks_uri, access_token_format,
	access_token_ttl, refresh_token_ttl, id_token_ttl, first_party,
	backchannel_logout_uri, metadata, created_at, updated_at,
	id_token_signed_response_alg, agent, exchange, origin,
	registration_token_hash, tokens_revoked_before, dpop_bound_access_tokens, require_pushed_authorization_requests,
	tls_client_auth, tls_client_certificate_bound_access_tokens,
	id_token_encrypted_response_alg, id_token_encrypted_response_enc,
	userinfo_signed_response_alg, userinfo_encrypted_response_alg,
	userinfo_encrypted_response_enc, profile`

const selectClient = `SELECT ` + clientColumns + ` FROM clients`

// clientValues returns c's column values in clientColumns order.
func clientValues(c store.Client) ([]any, error) {
	agent, err := recjson.EncodeAgent(c.Agent)
	if err != nil {
		return nil, err
	}
	exchange, err := recjson.EncodeExchange(c.Exchange)
	if err != nil {
		return nil, err
	}
	tlsAuth, err := recjson.EncodeTLSClientAuth(c.TLSClientAuth)
	if err != nil {
		return nil, err
	}
	return []any{
		c.ID, nullBytes(c.SecretHash), c.SecretRotatedAt, c.Name,
		list(c.RedirectURIs), list(c.PostLogoutRedirectURIs), list(c.GrantTypes),
		list(c.ResponseTypes), list(c.Scopes), list(c.Audiences),
		c.TokenEndpointAuthMethod, nullBytes(c.JWKS), c.JWKSURI, c.AccessTokenFormat,
		int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL), int64(c.IDTokenTTL), c.FirstParty,
		c.BackchannelLogoutURI, metadata(c.Metadata), c.CreatedAt, c.UpdatedAt,
		c.IDTokenSignedResponseAlg, nullJSON(agent), nullJSON(exchange), c.Origin,
		nullBytes(c.RegistrationTokenHash), optionalTime(c.TokensRevokedBefore), c.DPoPBoundAccessTokens, c.RequirePushedAuthorizationRequests,
		nullJSON(tlsAuth), c.TLSClientCertificateBoundAccessTokens,
		c.IDTokenEncryptedResponseAlg, c.IDTokenEncryptedResponseEnc,
		c.UserinfoSignedResponseAlg, c.UserinfoEncryptedResponseAlg,
		c.UserinfoEncryptedResponseEnc, c.Profile,
	}, nil
}

func scanClient(row pgx.Row) (store.Client, error) {
	var (
		c                   store.Client
		atTTL, rtTTL, idTTL int64
		agent, exchange     []byte
		tlsAuth             []byte
		revokedBefore       *time.Time
	)
	err := row.Scan(&c.ID, &c.SecretHash, &c.SecretRotatedAt, &c.Name,
		&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes,
		&c.ResponseTypes, &c.Scopes, &c.Audiences,
		&c.TokenEndpointAuthMethod, &c.JWKS, &c.JWKSURI, &c.AccessTokenFormat,
		&atTTL, &rtTTL, &idTTL, &c.FirstParty,
		&c.BackchannelLogoutURI, &c.Metadata, &c.CreatedAt, &c.UpdatedAt,
		&c.IDTokenSignedResponseAlg, &agent, &exchange, &c.Origin,
		&c.RegistrationTokenHash, &revokedBefore, &c.DPoPBoundAccessTokens, &c.RequirePushedAuthorizationRequests,
		&tlsAuth, &c.TLSClientCertificateBoundAccessTokens,
		&c.IDTokenEncryptedResponseAlg, &c.IDTokenEncryptedResponseEnc,
		&c.UserinfoSignedResponseAlg, &c.UserinfoEncryptedResponseAlg,
		&c.UserinfoEncryptedResponseEnc, &c.Profile)
	if err != nil {
		return store.Client{}, err
	}
	if c.Agent, err = recjson.DecodeAgent(agent); err != nil {
		return store.Client{}, err
	}
	if c.Exchange, err = recjson.DecodeExchange(exchange); err != nil {
		return store.Client{}, err
	}
	if c.TLSClientAuth, err = recjson.DecodeTLSClientAuth(tlsAuth); err != nil {
		return store.Client{}, err
	}
	c.RegistrationTokenHash = nonEmpty(c.RegistrationTokenHash)
	c.TokensRevokedBefore = fromOptionalTime(revokedBefore)
	c.SecretHash, c.JWKS = nonEmpty(c.SecretHash), nonEmpty(c.JWKS)
	for _, l := range []*[]string{&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.ResponseTypes, &c.Scopes, &c.Audiences} {
		*l = nonEmptyList(*l)
	}
	if len(c.Metadata) == 0 {
		c.Metadata = nil
	}
	c.SecretRotatedAt, c.CreatedAt, c.UpdatedAt = c.SecretRotatedAt.UTC(), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	c.AccessTokenTTL, c.RefreshTokenTTL, c.IDTokenTTL = time.Duration(atTTL), time.Duration(rtTTL), time.Duration(idTTL)
	return c, nil
}

// CreateClient stores a new client; store.ErrAlreadyExists if the ID is
// taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("store/postgres: create client: %w", classify(err))
	}
	vals, err := clientValues(c)
	if err != nil {
		return fmt.Errorf("store/postgres: create client: %w", classify(err))
	}
	return s.write(ctx, func(q writer) error {
		tag, err := q.Exec(ctx, `INSERT INTO clients (`+clientColumns+`)
			VALUES (`+params(1, 38)+`)
			ON CONFLICT (id) DO NOTHING`, vals...)
		if err != nil {
			return fmt.Errorf("store/postgres: create client: %w", classify(err))
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store/postgres: create client %q: %w", c.ID, store.ErrAlreadyExists)
		}
		return nil
	})
}

// GetClient returns the client with the given ID, or store.ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	if store.CheckID("client ID", id) != nil {
		return store.Client{}, fmt.Errorf("store/postgres: get client: %w", store.ErrNotFound)
	}
	c, err := scanClient(s.reads.QueryRow(ctx, selectClient+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Client{}, fmt.Errorf("store/postgres: get client %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("store/postgres: get client: %w", classify(err))
	}
	return c, nil
}

// ListClients returns one page of clients ordered by ID (byte order: the
// column is COLLATE "C").
func (s *Store) ListClients(ctx context.Context, opts store.ListOptions) ([]store.Client, error) {
	if opts.After != "" {
		if err := store.CheckID("list cursor", opts.After); err != nil {
			return nil, fmt.Errorf("store/postgres: list clients: %w", err)
		}
	}
	rows, err := s.pool.Query(ctx, selectClient+` WHERE id > $1 ORDER BY id LIMIT $2`,
		opts.After, opts.EffectiveLimit())
	if err != nil {
		return nil, fmt.Errorf("store/postgres: list clients: %w", classify(err))
	}
	defer rows.Close()
	var out []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("store/postgres: list clients: %w", classify(err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: list clients: %w", classify(err))
	}
	return out, nil
}

// UpdateClient applies fn to the client row locked with SELECT ... FOR
// UPDATE, in one transaction, and returns the stored result.
// TokensRevokedBefore never moves back: an earlier (or zero) one keeps the
// stored one.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	if store.CheckID("client ID", id) != nil {
		return store.Client{}, fmt.Errorf("store/postgres: update client: %w", store.ErrNotFound)
	}
	var revokedBefore time.Time // the stored TokensRevokedBefore
	read := func(tx pgx.Tx) (store.Client, error) {
		c, err := scanClient(tx.QueryRow(ctx, selectClient+` WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return c, store.ErrNotFound
		}
		revokedBefore = c.TokensRevokedBefore
		return c, err
	}
	check := func(c store.Client) error {
		if c.ID != id {
			return fmt.Errorf("%w: the client ID cannot change", store.ErrInvalid)
		}
		return c.Validate()
	}
	write := func(tx pgx.Tx, c store.Client) (store.Client, error) {
		c.TokensRevokedBefore = laterOf(c.TokensRevokedBefore, revokedBefore)
		vals, err := clientValues(c)
		if err != nil {
			return store.Client{}, err
		}
		// $1 is the ID: set every other column, match on the ID.
		return scanClient(tx.QueryRow(ctx, `UPDATE clients SET
		secret_hash = $2, secret_rotated_at = $3, name = $4, redirect_uris = $5,
		post_logout_redirect_uris = $6, grant_types = $7, response_types = $8, scopes = $9, audiences = $10,
		token_endpoint_auth_method = $11, jwks = $12, jwks_uri = $13, access_token_format = $14,
		access_token_ttl = $15, refresh_token_ttl = $16, id_token_ttl = $17, first_party = $18,
		backchannel_logout_uri = $19, metadata = $20, created_at = $21, updated_at = $22,
		id_token_signed_response_alg = $23, agent = $24, exchange = $25, origin = $26,
		registration_token_hash = $27, tokens_revoked_before = $28, dpop_bound_access_tokens = $29,
		require_pushed_authorization_requests = $30,
		tls_client_auth = $31, tls_client_certificate_bound_access_tokens = $32,
		id_token_encrypted_response_alg = $33, id_token_encrypted_response_enc = $34,
		userinfo_signed_response_alg = $35, userinfo_encrypted_response_alg = $36,
		userinfo_encrypted_response_enc = $37, profile = $38
		WHERE id = $1
		RETURNING `+clientColumns, vals...))
	}
	stored, err := txn.Update(ctx, s.inTx, read, fn, check, write)
	if err != nil {
		return store.Client{}, fmt.Errorf("store/postgres: update client %q: %w", id, err)
	}
	return stored, nil
}

// DeleteClient removes the client and (by cascade) its token records,
// authorization codes, refresh token families, consents and delegations,
// in one transaction that first revokes the refresh token families (with
// their access tokens) of other clients' delegations below the client's:
// those delegations count as revoked once the client's are gone.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if store.CheckID("client ID", id) != nil {
		return fmt.Errorf("store/postgres: delete client: %w", store.ErrNotFound)
	}
	// Lock order as RevokeClientGrants: the client row, the delegations in
	// ID order, then the families in ID order; the cascade deletes what
	// is the client's.
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM clients WHERE id = $1 FOR UPDATE`, id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := lockDelegations(ctx, tx, `SELECT id FROM delegations WHERE id IN (`+clientDelegationTree+`) ORDER BY id FOR UPDATE`, id); err != nil {
			return err
		}
		if _, err := revokeFamilies(ctx, tx, `client_id <> $1 AND delegation_id IN (`+clientDelegationTree+`)`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("store/postgres: delete client %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store/postgres: delete client: %w", classify(err))
	}
	return nil
}
