// A real OpenID provider (panva's oidc-provider, certified) on loopback, for the single sign-on
// tests: `node oidc_provider.mjs --port N --client-id ID --client-secret S --redirect-uri URI
// [--accounts accounts.json]`. It prints "ready <issuer>" once it listens.
//
// Its login is a plain HTML form (e-mail and password of one of the test accounts) that a test
// fills in with any HTTP client; consent is granted with the login, so one POST completes the
// interaction. A second client, `<client id>-other`, exists so that a test can make the provider
// issue the next ID token for that other application (a token meant for someone else):
// POST /__test/next-id-token {"audience_of": "<client id>-other"} or {"ttl": 1} (an ID token
// that expires after one second). POST /__test/accounts {"<e-mail>": {"password", "name",
// "groups", "email_verified"}} adds people to its directory (each test its own). Only for the
// tests: nothing else in the provider is changed.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'client-id': { type: 'string', default: 'riskops' },
    'client-secret': { type: 'string', default: 'riskops-test-secret' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
    accounts: { type: 'string' },
  },
});

const port = Number(args.port);
const issuer = `http://127.0.0.1:${port}`;
const clientId = args['client-id'];

// e-mail -> { password, name, email_verified, groups }
const DEFAULT_ACCOUNTS = {
  'ana@acme.test': { password: 'ana-password', name: 'Ana Analyst', groups: ['risk-analysts'] },
  'bob@acme.test': { password: 'bob-password', name: 'Bob Boss', groups: ['risk-approvers', 'staff'] },
  'eve@evil.test': { password: 'eve-password', name: 'Eve Elsewhere', groups: ['risk-analysts'] },
};
const accounts = args.accounts ? JSON.parse(readFileSync(args.accounts, 'utf8')) : DEFAULT_ACCOUNTS;

// What the next ID token issued looks like (the test knob above), and the one being issued.
let nextIdToken = {};
let issuing = {};

const client = (id) => ({
  client_id: id,
  client_secret: args['client-secret'],
  redirect_uris: args['redirect-uri'],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
});

const provider = new Provider(issuer, {
  clients: [client(clientId), client(`${clientId}-other`)],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  cookies: { keys: ['riskops-test-provider-cookie-key'] },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    IdToken: () => issuing.ttl ?? 3600,
  },
  async findAccount(ctx, sub) {
    const account = accounts[sub];
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: sub,
          email_verified: account.email_verified ?? true,
          name: account.name,
          groups: account.groups ?? [],
        };
      },
    };
  },
});

// The test knob's audience: the next ID token is issued as if for the other client.
const IdToken = provider.IdToken;
const issue = IdToken.prototype.issue;
IdToken.prototype.issue = async function issueMaybeTampered(options) {
  if (options?.use !== 'idtoken') return issue.call(this, options);
  issuing = nextIdToken;
  nextIdToken = {};
  try {
    if (issuing.audience_of) {
      this.client = await provider.Client.find(issuing.audience_of);
    }
    return await issue.call(this, options);
  } finally {
    issuing = {};
  }
};

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error) {
  return `<!doctype html><html lang="en"><head><title>Test provider: sign in</title></head><body>
<main><h1>Sign in to the test provider</h1>${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>E-mail <input name="login" type="email" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></main></body></html>`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'interaction mismatch');
  if (req.method === 'GET' && !action) return send(res, 200, loginPage(uid));
  if (req.method !== 'POST' || action !== 'login') return send(res, 404, 'not found');
  const form = new URLSearchParams(await readBody(req));
  const email = form.get('login') ?? '';
  const account = accounts[email];
  if (!account || account.password !== form.get('password')) {
    return send(res, 200, loginPage(uid, 'Wrong e-mail or password.'));
  }
  const grant = new provider.Grant({ accountId: email, clientId: details.params.client_id });
  grant.addOIDCScope(String(details.params.scope ?? 'openid'));
  const grantId = await grant.save();
  return provider.interactionFinished(
    req,
    res,
    { login: { accountId: email }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

const callback = provider.callback();
const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/__test/accounts' && req.method === 'POST') {
      Object.assign(accounts, JSON.parse((await readBody(req)) || '{}'));
      return send(res, 204, '');
    }
    if (url.pathname === '/__test/next-id-token' && req.method === 'POST') {
      nextIdToken = JSON.parse((await readBody(req)) || '{}');
      return send(res, 204, '');
    }
    const found = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login))?$/);
    if (found) return await interaction(req, res, found[1], found[2]);
    return callback(req, res);
  } catch (err) {
    console.error(err);
    return send(res, 500, String(err?.message ?? err), 'text/plain');
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
