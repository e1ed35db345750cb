package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

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
	lists := [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.ResponseTypes, c.Scopes, c.Audiences}
	enc := make([]string, len(lists))
	for i, l := range lists {
		s, err := encodeList(l)
		if err != nil {
			return nil, err
		}
		enc[i] = s
	}
	meta, err := encodeMap(c.Metadata)
	if err != nil {
		return nil, err
	}
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
		c.ID, nullBytes(c.SecretHash), encodeTime(c.SecretRotatedAt), c.Name,
		enc[0], enc[1], enc[2], enc[3], enc[4], enc[5],
		c.TokenEndpointAuthMethod, nullBytes(c.JWKS), c.JWKSURI, c.AccessTokenFormat,
		int64(c.AccessTokenTTL), int64(c.RefreshTokenTTL), int64(c.IDTokenTTL), boolInt(c.FirstParty),
		c.BackchannelLogoutURI, meta, encodeTime(c.CreatedAt), encodeTime(c.UpdatedAt),
		c.IDTokenSignedResponseAlg, nullText(agent), nullText(exchange), c.Origin,
		nullBytes(c.RegistrationTokenHash), encodeOptionalTime(c.TokensRevokedBefore), boolInt(c.DPoPBoundAccessTokens), boolInt(c.RequirePushedAuthorizationRequests),
		nullText(tlsAuth), boolInt(c.TLSClientCertificateBoundAccessTokens),
		c.IDTokenEncryptedResponseAlg, c.IDTokenEncryptedResponseEnc,
		c.UserinfoSignedResponseAlg, c.UserinfoEncryptedResponseAlg,
		c.UserinfoEncryptedResponseEnc, c.Profile,
	}, nil
}

type scanner interface {
	Scan(dest ...any) error
}

func scanClient(row scanner) (store.Client, error) {
	var (
		c                               store.Client
		rotated, created, updated       int64
		lists                           [6]string
		atTTL, rtTTL, idTTL, firstParty int64
		dpopBound                       int64
		requirePAR, certBound           int64
		tlsAuth                         sql.NullString
		meta                            string
		secretHash, jwks, regHash       []byte
		agent, exchange                 sql.NullString
		revokedBefore                   sql.NullInt64
	)
	err := row.Scan(&c.ID, &secretHash, &rotated, &c.Name,
		&lists[0], &lists[1], &lists[2], &lists[3], &lists[4], &lists[5],
		&c.TokenEndpointAuthMethod, &jwks, &c.JWKSURI, &c.AccessTokenFormat,
		&atTTL, &rtTTL, &idTTL, &firstParty,
		&c.BackchannelLogoutURI, &meta, &created, &updated,
		&c.IDTokenSignedResponseAlg, &agent, &exchange, &c.Origin,
		&regHash, &revokedBefore, &dpopBound, &requirePAR,
		&tlsAuth, &certBound,
		&c.IDTokenEncryptedResponseAlg, &c.IDTokenEncryptedResponseEnc,
		&c.UserinfoSignedResponseAlg, &c.UserinfoEncryptedResponseAlg,
		&c.UserinfoEncryptedResponseEnc, &c.Profile)
	if err != nil {
		return store.Client{}, err
	}
	if c.Agent, err = recjson.DecodeAgent([]byte(agent.String)); err != nil {
		return store.Client{}, err
	}
	if c.Exchange, err = recjson.DecodeExchange([]byte(exchange.String)); err != nil {
		return store.Client{}, err
	}
	if c.TLSClientAuth, err = recjson.DecodeTLSClientAuth([]byte(tlsAuth.String)); err != nil {
		return store.Client{}, err
	}
	c.RegistrationTokenHash = nonEmpty(regHash)
	c.TokensRevokedBefore = decodeOptionalTime(revokedBefore)
	dst := []*[]string{&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.ResponseTypes, &c.Scopes, &c.Audiences}
	for i, d := range dst {
		if *d, err = decodeList(lists[i]); err != nil {
			return store.Client{}, err
		}
	}
	if c.Metadata, err = decodeMap(meta); err != nil {
		return store.Client{}, err
	}
	c.SecretHash, c.JWKS = nonEmpty(secretHash), nonEmpty(jwks)
	c.SecretRotatedAt, c.CreatedAt, c.UpdatedAt = decodeTime(rotated), decodeTime(created), decodeTime(updated)
	c.AccessTokenTTL, c.RefreshTokenTTL, c.IDTokenTTL = time.Duration(atTTL), time.Duration(rtTTL), time.Duration(idTTL)
	c.FirstParty, c.DPoPBoundAccessTokens = firstParty != 0, dpopBound != 0
	c.RequirePushedAuthorizationRequests = requirePAR != 0
	c.TLSClientCertificateBoundAccessTokens = certBound != 0
	return c, nil
}

// CreateClient stores a new client; store.ErrAlreadyExists if the ID is
// taken.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("store/sqlite: create client: %w", err)
	}
	vals, err := clientValues(c)
	if err != nil {
		return fmt.Errorf("store/sqlite: create client: %w", err)
	}
	return s.inTx(ctx, func(q dbtx) error {
		res, err := q.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`)
			VALUES (`+params(38)+`)
			ON CONFLICT (id) DO NOTHING`, vals...)
		if err != nil {
			return fmt.Errorf("store/sqlite: create client: %w", classify(err))
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: create client: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store/sqlite: create client %q: %w", c.ID, store.ErrAlreadyExists)
		}
		return nil
	})
}

// GetClient returns the client with the given ID, or store.ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	if store.CheckID("client ID", id) != nil {
		return store.Client{}, fmt.Errorf("store/sqlite: get client: %w", store.ErrNotFound)
	}
	c, err := scanClient(s.r.QueryRowContext(ctx, selectClient+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Client{}, fmt.Errorf("store/sqlite: get client %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("store/sqlite: get client: %w", classify(err))
	}
	return c, nil
}

// ListClients returns one page of clients ordered by ID.
func (s *Store) ListClients(ctx context.Context, opts store.ListOptions) ([]store.Client, error) {
	if opts.After != "" {
		if err := store.CheckID("list cursor", opts.After); err != nil {
			return nil, fmt.Errorf("store/sqlite: list clients: %w", err)
		}
	}
	rows, err := s.r.QueryContext(ctx, selectClient+` WHERE id > ? ORDER BY id LIMIT ?`,
		opts.After, opts.EffectiveLimit())
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: list clients: %w", classify(err))
	}
	defer rows.Close()
	var out []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("store/sqlite: list clients: %w", classify(err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list clients: %w", classify(err))
	}
	return out, nil
}

// UpdateClient applies fn to the stored client in one BEGIN IMMEDIATE
// transaction and returns the stored result. TokensRevokedBefore never
// moves back: an earlier (or zero) one keeps the stored one.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	if store.CheckID("client ID", id) != nil {
		return store.Client{}, fmt.Errorf("store/sqlite: update client: %w", store.ErrNotFound)
	}
	var revokedBefore time.Time // the stored TokensRevokedBefore
	read := func(tx dbtx) (store.Client, error) {
		c, err := scanClient(tx.QueryRowContext(ctx, selectClient+` WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
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
	write := func(tx dbtx, c store.Client) (store.Client, error) {
		c.TokensRevokedBefore = laterOf(c.TokensRevokedBefore, revokedBefore)
		vals, err := clientValues(c)
		if err != nil {
			return store.Client{}, err
		}
		// vals[0] is the ID: set every other column, match on the ID.
		if _, err := tx.ExecContext(ctx, `UPDATE clients SET
		secret_hash = ?, secret_rotated_at = ?, name = ?, redirect_uris = ?,
		post_logout_redirect_uris = ?, grant_types = ?, response_types = ?, scopes = ?, audiences = ?,
		token_endpoint_auth_method = ?, jwks = ?, jwks_uri = ?, access_token_format = ?,
		access_token_ttl = ?, refresh_token_ttl = ?, id_token_ttl = ?, first_party = ?,
		backchannel_logout_uri = ?, metadata = ?, created_at = ?, updated_at = ?,
		id_token_signed_response_alg = ?, agent = ?, exchange = ?, origin = ?,
		registration_token_hash = ?, tokens_revoked_before = ?, dpop_bound_access_tokens = ?,
		require_pushed_authorization_requests = ?,
		tls_client_auth = ?, tls_client_certificate_bound_access_tokens = ?,
		id_token_encrypted_response_alg = ?, id_token_encrypted_response_enc = ?,
		userinfo_signed_response_alg = ?, userinfo_encrypted_response_alg = ?,
		userinfo_encrypted_response_enc = ?, profile = ?
		WHERE id = ?`, append(vals[1:], vals[0])...); err != nil {
			return store.Client{}, err
		}
		return read(tx)
	}
	stored, err := txn.Update(ctx, s.inTx, read, fn, check, write)
	if err != nil {
		return store.Client{}, fmt.Errorf("store/sqlite: update client %q: %w", id, err)
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
		return fmt.Errorf("store/sqlite: delete client: %w", store.ErrNotFound)
	}
	err := s.inTx(ctx, func(tx dbtx) error {
		if _, err := revokeFamilies(ctx, tx, `client_id <> ? AND delegation_id IN (`+clientDelegationTree+`)`, id, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("store/sqlite: delete client %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store/sqlite: delete client: %w", classify(err))
	}
	return nil
}
