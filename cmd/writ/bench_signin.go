package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/writ-dev/writ/internal/config"
	"github.com/writ-dev/writ/internal/loadgen"
	"github.com/writ-dev/writ/internal/opaque"
	"github.com/writ-dev/writ/internal/store"
	"github.com/writ-dev/writ/internal/store/storeopen"
)

// seedFlags are the flags of the bench commands that prepare credentials
// directly in the database before the run.
type seedFlags struct {
	benchFlags
	count       int
	redirectURI string
	dataDir     string
	database    string
}

func (f *seedFlags) bind(cmd *cobra.Command) {
	f.benchFlags.bind(cmd)
	fl := cmd.Flags()
	fl.IntVarP(&f.count, "requests", "n", 20000, "credentials to prepare ahead of the run (each is redeemed once)")
	fl.StringVar(&f.redirectURI, "redirect-uri", "", "a redirect URI registered for the client (default: its first)")
	fl.StringVar(&f.dataDir, "data-dir", "writ-data", "data directory of the server (for its SQLite database)")
	fl.StringVar(&f.database, "database", "", "database DSN of the server (default: the SQLite file in --data-dir)")
}

func (f *seedFlags) dsn() string {
	if f.database != "" {
		return f.database
	}
	if v := os.Getenv("WRIT_DATABASE"); v != "" {
		return v
	}
	return (&config.Config{DataDir: f.dataDir}).DatabaseDSN()
}

// seed opens the server's store, checks the client, creates a bench user,
// and calls prepare for each of count credentials.
func (f *seedFlags) seed(ctx context.Context, s *streams, grantType string, prepare func(st store.Store, c store.Client, u store.User, i int, now time.Time) (string, error)) ([]string, error) {
	if f.count < 1 || f.count > 1_000_000 {
		return nil, usagef("--requests must be between 1 and 1000000")
	}
	st, err := storeopen.Open(ctx, f.dsn())
	if err != nil {
		return nil, fmt.Errorf("open the server's database: %w", err)
	}
	defer st.Close()
	c, err := st.GetClient(ctx, f.clientID)
	if err != nil {
		return nil, fmt.Errorf("client %q: %w", f.clientID, err)
	}
	if !slices.Contains(c.GrantTypes, grantType) {
		return nil, usagef("client %s may not use the %s grant; register it with --grant-type %s", c.ID, grantType, grantType)
	}
	if f.redirectURI == "" && len(c.RedirectURIs) > 0 {
		f.redirectURI = c.RedirectURIs[0]
	}
	now := time.Now().UTC()
	suffix := opaque.Random(9)
	u := store.User{ID: "bench-" + suffix, Username: "writ-bench-" + suffix, Name: "writ bench", Email: "bench@example.invalid", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("create bench user: %w", err)
	}
	scopes := store.ConsentScopes(c.Scopes)
	if err := st.PutConsent(ctx, store.Consent{UserID: u.ID, ClientID: c.ID, Scopes: scopes, GrantedAt: now, UpdatedAt: now}); err != nil {
		return nil, fmt.Errorf("bench consent: %w", err)
	}
	fmt.Fprintf(s.err, "writ: preparing %d credentials for user %s (delete it afterwards: writ user delete %s)\n", f.count, u.ID, u.ID)
	out := make([]string, f.count)
	for i := range out {
		if out[i], err = prepare(st, c, u, i, now); err != nil {
			return nil, err
		}
		if (i+1)%5000 == 0 {
			fmt.Fprintf(s.err, "  %d prepared\n", i+1)
		}
	}
	return out, nil
}

func newBenchCodeCmd(s *streams) *cobra.Command {
	var f seedFlags
	cmd := &cobra.Command{
		Use:   "code",
		Short: "Load the token endpoint with authorization code redemptions (codes prepared ahead)",
		Long: `Prepare N authorization codes directly in the server's database (for a bench
user with consent, PKCE-less, valid for 10 minutes), then redeem each once at
the token endpoint with the client's credentials. A redemption consumes the
code, mints an access token, an ID token when the client has the openid
scope, and a refresh token when it has offline_access.`,
		Example: `  WRIT_CLIENT_SECRET=... writ bench code --client-id <id> -n 20000 -c 16 -d 10s`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			codes, err := f.seed(cmd.Context(), s, "authorization_code", func(st store.Store, c store.Client, u store.User, _ int, now time.Time) (string, error) {
				code, hash := opaque.New(opaque.CodePrefix)
				return code, st.CreateAuthCode(cmd.Context(), store.AuthCode{
					Hash: hash, ClientID: c.ID, UserID: u.ID, RedirectURI: f.redirectURI, Scopes: c.Scopes,
					Nonce: "bench", AuthTime: now, AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
				})
			})
			if err != nil {
				return err
			}
			return f.redeem(cmd.Context(), s, "authorization code redemption", codes, func(v string) url.Values {
				return url.Values{"grant_type": {"authorization_code"}, "code": {v}, "redirect_uri": {f.redirectURI}}
			})
		},
	}
	f.bind(cmd)
	return cmd
}

func newBenchRefreshCmd(s *streams) *cobra.Command {
	var f seedFlags
	cmd := &cobra.Command{
		Use:   "refresh",
		Short: "Load the token endpoint with refresh token rotations (tokens prepared ahead)",
		Long: `Prepare N refresh tokens (one family each) directly in the server's database,
then use each once at the token endpoint. Each use rotates the token: the old
one is marked used, a new one is stored, and new access (and ID) tokens are
minted.`,
		Example: `  WRIT_CLIENT_SECRET=... writ bench refresh --client-id <id> -n 20000 -c 16 -d 10s`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			tokens, err := f.seed(cmd.Context(), s, "refresh_token", func(st store.Store, c store.Client, u store.User, _ int, now time.Time) (string, error) {
				v, hash := opaque.New(opaque.RefreshTokenPrefix)
				return v, st.CreateRefreshToken(cmd.Context(), store.RefreshToken{
					Hash: hash, FamilyID: opaque.Random(16), ClientID: c.ID, UserID: u.ID, Scopes: c.Scopes,
					AuthTime: now, AMR: []string{"pwd"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(24 * time.Hour),
				})
			})
			if err != nil {
				return err
			}
			return f.redeem(cmd.Context(), s, "refresh token rotation", tokens, func(v string) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {v}}
			})
		},
	}
	f.bind(cmd)
	return cmd
}

// redeem runs the load, each prepared credential used once; the run ends
// when they are used up or the duration passes.
func (f *seedFlags) redeem(ctx context.Context, s *streams, what string, values []string, form func(string) url.Values) error {
	var next atomic.Int64
	f.benchFlags.count = len(values)
	return runBench(ctx, s, &f.benchFlags, what, f.issuer+"/oauth2/token",
		func(ctx context.Context, _, _ int) (*http.Request, error) {
			i := next.Add(1) - 1
			if i >= int64(len(values)) {
				return nil, loadgen.ErrDone
			}
			return f.post(ctx, "/oauth2/token", form(values[i]))
		},
		expectJSONMember("access_token"))
}
