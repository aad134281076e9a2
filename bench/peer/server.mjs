// The certified peer for Panjereh's benchmark: node-oidc-provider 9 in ONE Node process,
// its in-memory adapter, one confidential client allowed `client_credentials`, and
// ES256-signed JWT access tokens (RFC 9068) through resource indicators.
//
// Environment: PEER_PORT, PEER_CLIENT_ID, PEER_CLIENT_SECRET (set by bench/peer.py).
// Listens on 127.0.0.1 only.
import * as http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.env.PEER_PORT || 5900);
const clientId = process.env.PEER_CLIENT_ID || 'bench-peer';
const clientSecret = process.env.PEER_CLIENT_SECRET || randomBytes(32).toString('base64url');
const issuer = `http://127.0.0.1:${port}`;
const RESOURCE = 'urn:panjereh-bench:api';
const API_SCOPE = 'api:read';

function jwk(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg.toLowerCase()}-bench` };
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: API_SCOPE,
  }],
  // ES256 signs the access tokens; an RSA key is there for the ID-token default (RS256).
  jwks: { keys: [jwk('ec', { namedCurve: 'P-256' }, 'ES256'), jwk('rsa', { modulusLength: 2048 }, 'RS256')] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', API_SCOPE],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: API_SCOPE,
        audience: RESOURCE,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  ttl: { ClientCredentials: 600 },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 30_000;
server.listen(port, '127.0.0.1', () => console.log(`peer listening on ${issuer} (oidc-provider, node ${process.version})`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
