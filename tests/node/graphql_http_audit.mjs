// The GraphQL-over-HTTP audit of the reference implementation (graphql-http's auditServer)
// against a running riskops: `node graphql_http_audit.mjs URL` with the API token in
// GRAPHQL_AUDIT_TOKEN (sent as `Authorization: Bearer`). Prints the results as JSON:
// [{id, name, status: "ok" | "warn" | "error", reason?}], one per audit.
import { auditServer } from 'graphql-http';

const [url] = process.argv.slice(2);
const token = process.env.GRAPHQL_AUDIT_TOKEN;
if (!url || !token) {
  console.error('usage: GRAPHQL_AUDIT_TOKEN=... node graphql_http_audit.mjs URL');
  process.exit(2);
}

const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
const out = [];
for (const result of results) {
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    entry.reason = result.reason;
    try {
      entry.response = { status: result.response.status, body: await result.response.text() };
    } catch {
      // the body was read by the audit already
    }
  }
  out.push(entry);
}
console.log(JSON.stringify(out));
