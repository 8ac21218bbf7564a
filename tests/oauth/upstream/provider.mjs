// A real OpenID Connect provider (node-oidc-provider) that plays the region's login service in tests.
//
// Usage: node provider.mjs PORT CONFIG_JSON
// CONFIG_JSON (written by tests/oauth/conftest.py) holds:
//   keys      private JWKs (with kid and alg) the provider signs with, so tests can also mint tokens with
//             the upstream's real, published key (expired ones, for instance);
//   accounts  login name -> claims put in access tokens (pid, hpr_number, security_level, name);
//   audience  the resource indicator (and aud) of the access tokens it issues for our token exchange.
// The file is re-read on every login, so a test can add accounts while the provider runs.
// It prints "listening <issuer>" once it accepts connections.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, configPath] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const config = () => JSON.parse(readFileSync(configPath, 'utf8'));
const { keys, audience } = config();

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'journal',
    client_secret: 'journal-secret',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys },
  pkce: { required: () => false },
  claims: { openid: ['sub'], profile: ['name'] },
  async findAccount(ctx, id) {
    const claims = config().accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, name: claims.name }; } };
  },
  // Claims a token-exchange server needs, in the access token as HelseID puts them there.
  async extraTokenClaims(ctx, token) {
    const claims = config().accounts[token.accountId] || {};
    return { pid: claims.pid, hpr_number: claims.hpr_number, security_level: claims.security_level };
  },
  // First-party app: no consent screen, the grant covers what was asked.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile');
    grant.addResourceScope(audience, 'clinical');
    await grant.save();
    return grant;
  },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'clinical',
        audience,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.on('server_error', (ctx, error) => console.error('server_error', error));

provider.listen(Number(port), '127.0.0.1', () => console.log(`listening ${issuer}`));
