#!/usr/bin/env node
// A relying party built only on openid-client (panva's certified OpenID Connect client, v6),
// used against Panjereh exactly as an agency would: nothing but the issuer URL and the
// registered client's credentials. The citizen's part (the login pages) is done by a "driver":
// this script prints the authorization URL and waits for the URL the provider redirected the
// browser to (the redirect URI with ?code=...&state=...&iss=...).
//
// Protocol (one JSON object per line on stdout; everything else goes to stderr):
//   1. {"step": "authorize", "authorization_url": ..., "state": ..., "nonce": ..., "discovery": {...}}
//   2. the driver writes the callback URL as one line on stdin (or passes --callback-url / --callback-file)
//   3. {"step": "result", "id_token_claims": ..., "userinfo": ..., "refresh": {...}, "end_session_url": ...}
//   on any failure: {"step": "error", "where": ..., "name": ..., "message": ..., "code": ..., ...}, exit 1.
//
// Usage:
//   node rp.mjs --issuer http://127.0.0.1:5000 --client-id ID --client-secret SECRET \
//       --redirect-uri http://127.0.0.1:8080/callback --post-logout-redirect-uri http://127.0.0.1:8080/ \
//       [--scope "openid profile national_id"] [--auth-method client_secret_basic|client_secret_post|default]
//       [--id-token-alg RS256|ES256] [--par] [--auth-method private_key_jwt --private-jwk FILE]

import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

import * as client from 'openid-client';

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string' },
    'post-logout-redirect-uri': { type: 'string' },
    scope: { type: 'string', default: 'openid profile national_id' },
    // client_secret_basic | client_secret_post | private_key_jwt | none, or "default" to leave the
    // choice to openid-client (client_secret_post when a secret is given)
    'auth-method': { type: 'string', default: 'client_secret_basic' },
    // private_key_jwt: a file with the client's private JWK (EC P-256, with "kid")
    'private-jwk': { type: 'string' },
    'ui-locales': { type: 'string', default: 'en' },
    // the client's registered ID token algorithm (idp clients add --id-token-alg)
    'id-token-alg': { type: 'string', default: 'RS256' },
    // push the authorization request first (RFC 9126) with buildAuthorizationUrlWithPAR
    par: { type: 'boolean', default: false },
    'callback-url': { type: 'string' },
    'callback-file': { type: 'string' },
    timeout: { type: 'string', default: '20' },
  },
  strict: true,
});

let where = 'arguments';

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function describeError(err) {
  if (err === null || typeof err !== 'object') return { message: String(err) };
  const out = { name: err.name, message: err.message };
  for (const key of ['code', 'error', 'error_description', 'status']) {
    if (err[key] !== undefined) out[key] = err[key];
  }
  if (err.cause !== undefined) {
    try {
      out.cause = err.cause instanceof Error ? describeError(err.cause) : JSON.parse(JSON.stringify(err.cause));
    } catch {
      out.cause = String(err.cause);
    }
  }
  return out;
}

function required(name) {
  const value = args[name];
  if (!value) throw new TypeError(`--${name} is required`);
  return value;
}

async function readCallbackUrl() {
  if (args['callback-url']) return args['callback-url'];
  if (args['callback-file']) return (await readFile(args['callback-file'], 'utf8')).trim();
  const rl = createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    if (line.trim()) {
      rl.close();
      return line.trim();
    }
  }
  throw new Error('stdin closed before the callback URL arrived');
}

async function clientAuthentication(method, secret) {
  switch (method) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(secret);
    case 'client_secret_post':
      return client.ClientSecretPost(secret);
    case 'none':
      return client.None();
    case 'private_key_jwt': {
      const jwk = JSON.parse(await readFile(required('private-jwk'), 'utf8'));
      const { kid, alg, use, key_ops: _ops, ...material } = jwk;
      const key = await crypto.subtle.importKey('jwk', material, { name: 'ECDSA', namedCurve: 'P-256' }, false,
        ['sign']);
      return client.PrivateKeyJwt({ key, kid });
    }
    case 'default':
      return undefined;
    default:
      throw new TypeError(`unsupported --auth-method ${method}`);
  }
}

function decodeJwtHeader(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'));
}

async function main() {
  const issuer = new URL(required('issuer'));
  const clientId = required('client-id');
  const method = args['auth-method'];
  const clientSecret = ['none', 'private_key_jwt'].includes(method) ? undefined : required('client-secret');
  const redirectUri = required('redirect-uri');
  const postLogoutRedirectUri = args['post-logout-redirect-uri'];
  const timeout = Number(args.timeout);

  // --- discovery (plain http is allowed only because the test provider listens on 127.0.0.1) ---
  where = 'discovery';
  const execute = issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [];
  const config = await client.discovery(
    issuer,
    clientId,
    { client_secret: clientSecret, id_token_signed_response_alg: args['id-token-alg'] },
    await clientAuthentication(method, clientSecret),
    { execute, timeout },
  );
  const meta = config.serverMetadata();

  // --- the authorization request: PKCE S256, state, nonce ---
  where = args.par ? 'buildAuthorizationUrlWithPAR' : 'buildAuthorizationUrl';
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const parameters = {
    redirect_uri: redirectUri,
    scope: args.scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ui_locales: args['ui-locales'],
  };
  const authorizationUrl = args.par
    ? await client.buildAuthorizationUrlWithPAR(config, parameters)
    : client.buildAuthorizationUrl(config, parameters);
  emit({
    step: 'authorize',
    authorization_url: authorizationUrl.href,
    state,
    nonce,
    discovery: {
      issuer: meta.issuer,
      authorization_endpoint: meta.authorization_endpoint,
      token_endpoint: meta.token_endpoint,
      userinfo_endpoint: meta.userinfo_endpoint,
      end_session_endpoint: meta.end_session_endpoint,
      acr_values_supported: meta.acr_values_supported,
      supportsPKCE: config.serverMetadata().supportsPKCE(),
    },
  });

  // --- the citizen signs in (the driver), and the browser comes back to the redirect URI ---
  where = 'callback';
  const callbackUrl = new URL(await readCallbackUrl());

  // --- the code grant: openid-client checks iss (RFC 9207), state, the PKCE verifier, and the ID token
  //     (signature against jwks_uri, iss, aud, exp, iat, nonce) ---
  where = 'authorizationCodeGrant';
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();

  where = 'fetchUserInfo';
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

  // --- refresh: a new access token (and, with openid in scope, a new ID token) ---
  where = 'refreshTokenGrant';
  const refresh = { attempted: Boolean(tokens.refresh_token) };
  let latestIdToken = tokens.id_token;
  if (tokens.refresh_token) {
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    const refreshedClaims = refreshed.claims();
    refresh.ok = Boolean(refreshed.access_token);
    refresh.token_type = refreshed.token_type;
    refresh.new_access_token = refreshed.access_token !== tokens.access_token;
    refresh.new_id_token = Boolean(refreshed.id_token) && refreshed.id_token !== tokens.id_token;
    refresh.new_refresh_token = Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token;
    refresh.id_token_claims = refreshedClaims ?? null;
    refresh.access_token = refreshed.access_token;
    refresh.id_token = refreshed.id_token ?? null;
    refresh.expires_in = refreshed.expiresIn() ?? null;
    refresh.scope = refreshed.scope ?? null;
    where = 'fetchUserInfo (refreshed access token)';
    refresh.userinfo = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
    if (refreshed.id_token) latestIdToken = refreshed.id_token;
  }

  // --- RP-initiated logout: the end-session URL, for the driver to open in the citizen's browser ---
  where = 'buildEndSessionUrl';
  const endSessionState = client.randomState();
  const endSessionParams = { id_token_hint: latestIdToken, state: endSessionState };
  if (postLogoutRedirectUri) endSessionParams.post_logout_redirect_uri = postLogoutRedirectUri;
  const endSessionUrl = client.buildEndSessionUrl(config, endSessionParams);

  emit({
    step: 'result',
    id_token_claims: claims,
    id_token_header: decodeJwtHeader(tokens.id_token),
    id_token: tokens.id_token,
    access_token: tokens.access_token,
    token_type: tokens.token_type,
    expires_in: tokens.expiresIn() ?? null,
    scope: tokens.scope ?? null,
    has_refresh_token: Boolean(tokens.refresh_token),
    userinfo,
    refresh,
    end_session_url: endSessionUrl.href,
    end_session_state: endSessionState,
  });
}

main().then(
  () => process.exit(0),
  (err) => {
    emit({ step: 'error', where, ...describeError(err) });
    process.exit(1);
  },
);
