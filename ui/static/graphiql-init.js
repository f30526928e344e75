// Starts the dev-only GraphiQL page (ui/templates/graphiql.html). A separate file, not inline
// script, so the page's CSP can stay `script-src 'self'`. Needs the vendored React, ReactDOM and
// GraphiQL UMD builds (the globals React, ReactDOM and GraphiQL), loaded before this script.
(function () {
  "use strict";

  // The page's CSP allows <style> elements only with this response's nonce, which the server put
  // on this script's tag (browsers hide it from the DOM attribute; the property keeps it). The
  // one <style> GraphiQL creates (Radix's scroll lock while a dialog is open) picks it up from
  // the global webpack convention.
  var script = document.currentScript;
  if (script && script.nonce) {
    window.__webpack_nonce__ = script.nonce;
  }

  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint") || "/graphql";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = meta ? meta.getAttribute("content") : "";

  // The page fills the window (CSSOM assignments, which `style-src 'self'` allows).
  document.documentElement.style.height = "100%";
  document.body.style.height = "100%";
  document.body.style.margin = "0";
  root.style.height = "100vh";
  root.textContent = "";

  // Cookie-authenticated POSTs need the X-CSRF-Token header from the page; headers typed into
  // GraphiQL's header editor (e.g. `Authorization: Bearer ...`) are sent as well and win.
  function fetcher(graphQLParams, opts) {
    var headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (csrfToken) {
      headers["X-CSRF-Token"] = csrfToken;
    }
    var extra = (opts && opts.headers) || {};
    Object.keys(extra).forEach(function (name) {
      headers[name] = extra[name];
    });
    return fetch(endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: headers,
      body: JSON.stringify(graphQLParams),
    }).then(function (response) {
      return response.text().then(function (text) {
        try {
          return JSON.parse(text);
        } catch (e) {
          // Strawberry answers some transport errors (400, 405) in plain text.
          return { errors: [{ message: "HTTP " + response.status + ": " + text }] };
        }
      });
    });
  }

  // `/graphql?query=...&variables=...&operationName=...` opens the IDE with that operation, and
  // the URL follows the editors so it can be bookmarked or shared.
  var params = new URLSearchParams(window.location.search);

  function remember(name, value) {
    if (value) {
      params.set(name, value);
    } else {
      params.delete(name);
    }
    var search = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (search ? "?" + search : ""));
  }

  var props = {
    fetcher: fetcher,
    defaultQuery:
      "# riskops GraphQL, development mode only.\n" +
      "# Run with Ctrl-Enter; the Docs button shows the schema.\n\n" +
      "{\n  me {\n    user {\n      name\n      email\n    }\n    roles\n  }\n}\n",
    onEditQuery: function (value) {
      remember("query", value);
    },
    onEditVariables: function (value) {
      remember("variables", value);
    },
    onEditOperationName: function (value) {
      remember("operationName", value);
    },
  };
  if (params.has("query")) {
    props.query = params.get("query");
  }
  if (params.has("variables")) {
    props.variables = params.get("variables");
  }
  if (params.has("operationName")) {
    props.operationName = params.get("operationName");
  }

  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
