// A real, independent OAuth 2.0 authorization server for end-to-end tests:
// panva's oidc-provider, configured like a Databricks workspace token endpoint.
//   - token route /oidc/v1/token, client credentials grant, client_secret_basic
//   - RFC 9396 authorization_details of type workspace_permission, validated
//   - RS256 JWT access tokens carrying scope and authorization_details
// Usage: node oauth-server.mjs --port 0 --public-key-out FILE [--issuer URL] [--ttl SECONDS]
// Prints one JSON line on start ({"port":..., "issuer":..., "clients":[...]}), exits on
// SIGTERM or when stdin closes.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import Provider, { errors } from 'oidc-provider';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(arg('port', '0'));
const ttl = Number(arg('ttl', '3600'));
const publicKeyOut = arg('public-key-out', '');
const issuerArg = arg('issuer', '');
const resource = 'urn:dbserve:serving';
// Endpoint ids this server will grant permissions on, and which actions each client holds.
const endpointIds = (arg('endpoints', 'e0123456789abcdef') || '').split(',');

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
if (publicKeyOut) writeFileSync(publicKeyOut, publicKey.export({ type: 'spki', format: 'pem' }));
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'dbserve-test' };

// The second client's credentials hold characters RFC 6749 §2.3.1 requires a client to
// form-urlencode before base64: a client that sends them raw is refused. They stay within
// VSCHAR (%x20-7E, RFC 6749 Appendix A): oidc-provider refuses any other character in
// Basic credentials, however well encoded.
const clients = [
  { client_id: 'dbserve-sp', client_secret: 'plain-secret-0123456789', actions: ['query_inference_endpoint'] },
  { client_id: 'dbserve:sp/special', client_secret: 'se:cr+et%2F /~=&', actions: ['query_inference_endpoint', 'manage_inference_endpoint'] },
  { client_id: 'dbserve-no-query', client_secret: 'no-query-secret', actions: [] },
];
const actionsByClient = new Map(clients.map((c) => [c.client_id, new Set(c.actions)]));

const configuration = {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    authorization_details_types: ['workspace_permission'],
  })),
  jwks: { keys: [signingKey] },
  scopes: ['all-apis'],
  routes: { token: '/oidc/v1/token' },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'all-apis',
        accessTokenFormat: 'jwt',
        accessTokenTTL: ttl,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
    richAuthorizationRequests: {
      enabled: true,
      types: {
        workspace_permission: {
          validate(ctx, detail, client) {
            const allowedKeys = new Set(['type', 'object_type', 'object_path', 'actions']);
            for (const key of Object.keys(detail)) {
              if (!allowedKeys.has(key)) throw new errors.InvalidAuthorizationDetails(`unknown field '${key}'`);
            }
            if (detail.object_type !== 'serving-endpoints') {
              throw new errors.InvalidAuthorizationDetails('object_type must be serving-endpoints');
            }
            const match = /^\/serving-endpoints\/([^/]+)$/.exec(detail.object_path || '');
            if (!match || !endpointIds.includes(match[1])) {
              throw new errors.InvalidAuthorizationDetails('object_path does not name a serving endpoint');
            }
            if (!Array.isArray(detail.actions) || detail.actions.length === 0) {
              throw new errors.InvalidAuthorizationDetails('actions must be a non-empty array');
            }
            const held = actionsByClient.get(client.clientId) || new Set();
            for (const action of detail.actions) {
              if (!held.has(action)) {
                throw new errors.InvalidAuthorizationDetails('User is not authorized to the requested authorizations');
              }
            }
          },
        },
      },
      authorizationDetailsForAccessToken(ctx) {
        return JSON.parse(ctx.oidc.params.authorization_details);
      },
      authorizationDetailsForGrantSource() { return undefined; },
      authorizationDetailsForIntrospection() { return undefined; },
    },
  },
  ttl: { ClientCredentials: ttl },
};

const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  const actualPort = server.address().port;
  const issuer = issuerArg || `http://127.0.0.1:${actualPort}`;
  const provider = new Provider(issuer, configuration);
  provider.proxy = true;
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({
    port: actualPort,
    issuer,
    token_path: '/oidc/v1/token',
    resource,
    public_key_file: publicKeyOut,
    endpoints: endpointIds,
    clients: clients.map(({ client_id, client_secret, actions }) => ({ client_id, client_secret, actions })),
  })}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
