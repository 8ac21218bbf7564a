// The peer named in the tokens issue: node-oidc-provider (one process) issuing ES256 JWT access tokens by
// the client-credentials grant, configured as measurements.md describes. bench/tokens_http.py runs it side
// by side with our server (scenario peer_client_credentials) so that both are measured on the same machine
// on the same day. It uses the oidc-provider that the test command installs into tests/oauth/upstream.
//
// Usage: node oidc_provider_cc.mjs PORT PACKAGE_DIR   (PACKAGE_DIR: the folder holding node_modules; prints
// "listening <issuer>"; the client is bench / bench-secret)
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const port = Number(process.argv[2]);
const { default: Provider } = await import(
  pathToFileURL(join(process.argv[3], 'node_modules', 'oidc-provider', 'lib', 'index.js')).href);
const issuer = `http://127.0.0.1:${port}`;
const audience = 'https://journal.region.test';
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'peer-es256', alg: 'ES256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'journal',
    id_token_signed_response_alg: 'ES256',  // unused, but must name an algorithm of the key set
  }],
  jwks: { keys: [jwk] },
  scopes: ['journal'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      getResourceServerInfo: () => ({
        scope: 'journal',
        audience,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.on('server_error', (ctx, error) => console.error('server_error', error));
provider.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
