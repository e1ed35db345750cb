// A relying party built from panva's openid-client on its default settings,
// driven by internal/interop/openidclient_test.go:
//
//   WRIT_ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI in the environment;
//   NODE_EXTRA_CA_CERTS names the test CA (the only thing set besides them);
//   ID_TOKEN_ALG, when set, overrides the expected ID token algorithm;
//   DPOP=1 makes the client bind its tokens to a DPoP key of its own (RFC
//   9449): every token request and the UserInfo request carry proofs.
//
// It speaks JSON lines: it prints {"step":"authorize","url":...}, reads
// {"callback":...} (where the browser landed) from standard input, then runs
// the code grant with PKCE, reads the ID token claims and UserInfo, refreshes,
// introspects and revokes, and prints {"step":"done",...}. On an error it
// prints {"step":"error",...} and exits 1.
import * as readline from 'node:readline';
import * as client from 'openid-client';

const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function readMessage() {
  const { value, done } = await lines.next();
  if (done) throw new Error('standard input ended');
  return JSON.parse(value);
}

const header = (jws) => JSON.parse(Buffer.from(jws.split('.')[0], 'base64url').toString());

async function main() {
  const { WRIT_ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, ID_TOKEN_ALG, DPOP } = process.env;
  // Defaults: a string secret means client_secret_post; ID tokens are
  // expected signed with RS256 (id_token_signed_response_alg's default).
  // ID_TOKEN_ALG, when set, is the one departure from them.
  const metadata = ID_TOKEN_ALG
    ? { client_secret: CLIENT_SECRET, id_token_signed_response_alg: ID_TOKEN_ALG }
    : CLIENT_SECRET;
  const config = await client.discovery(new URL(WRIT_ISSUER), CLIENT_ID, metadata);
  const DPoP = DPOP ? client.getDPoPHandle(config, await client.randomDPoPKeyPair()) : undefined;

  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email offline_access',
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  say({ step: 'authorize', url: url.href });

  const { callback } = await readMessage();
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  }, undefined, { DPoP });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
  const refreshedClaims = refreshed.id_token ? refreshed.claims() : null;

  const introspection = await client.tokenIntrospection(config, refreshed.access_token);
  await client.tokenRevocation(config, refreshed.refresh_token);
  const revoked = await client.tokenIntrospection(config, refreshed.refresh_token, {
    token_type_hint: 'refresh_token',
  });

  say({
    step: 'done',
    token_endpoint_auth_method: config.clientMetadata().token_endpoint_auth_method ?? null,
    id_token_alg: header(tokens.id_token).alg,
    claims,
    userinfo,
    scope: tokens.scope,
    refresh_rotated: !!refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token,
    refreshed_sub: refreshedClaims ? refreshedClaims.sub : null,
    introspection,
    revoked_active: revoked.active,
    token_type: tokens.token_type,
    refreshed_token_type: refreshed.token_type,
    introspection_token_type: introspection.token_type ?? null,
    dpop_jkt: introspection.cnf?.jkt ?? null,
  });
}

main().then(
  () => process.exit(0),
  (err) => {
    say({
      step: 'error',
      error: String(err),
      code: err?.code ?? null,
      cause: err?.cause === undefined ? null : String(JSON.stringify(err.cause) ?? err.cause),
    });
    process.exit(1);
  },
);
