#!/usr/bin/env bash
# Vendor the dev-only GraphiQL IDE (graphiql's UMD build plus the React 18 UMD builds it needs)
# from the npm registry, never a CDN at runtime, and pin every file's SHA-256.
#
#   scripts/vendor_graphiql.sh            # fetch the pinned versions, verify against SHA256SUMS
#   GRAPHIQL_VERSION=3.9.0 REACT_VERSION=18.3.1 scripts/vendor_graphiql.sh --update
#                                         # deliberately move the pins
#
# Files land in ui/static/vendor/graphiql/ with the version in their names (so a browser never
# keeps a stale copy); their checksums are the `graphiql/...` lines of ui/static/vendor/SHA256SUMS
# (other lines, such as htmx's, are kept as they are). Fails when a downloaded file does not match
# a checksum already recorded there, so a tampered or re-published package is noticed instead of
# silently committed.
#
# graphiql 3.9 is the last 3.x and the first whose graphiql.min.js is really minified (~1 MB;
# 3.0-3.8 ship an unminified development bundle of ~3.5 MB). graphiql 4+ ships no UMD build.
set -euo pipefail

GRAPHIQL_VERSION="${GRAPHIQL_VERSION:-3.9.0}"
REACT_VERSION="${REACT_VERSION:-18.3.1}"
UPDATE=0
[[ "${1:-}" == "--update" ]] && UPDATE=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/ui/static/vendor"
DEST="$VENDOR/graphiql"
SUMS="$VENDOR/SHA256SUMS"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && npm pack --silent "graphiql@${GRAPHIQL_VERSION}" "react@${REACT_VERSION}" \
    "react-dom@${REACT_VERSION}" >/dev/null)

# "package tarball|file inside it|vendored name"
FILES=(
    "graphiql-${GRAPHIQL_VERSION}.tgz|package/graphiql.min.js|graphiql-${GRAPHIQL_VERSION}.min.js"
    "graphiql-${GRAPHIQL_VERSION}.tgz|package/graphiql.min.css|graphiql-${GRAPHIQL_VERSION}.min.css"
    "graphiql-${GRAPHIQL_VERSION}.tgz|package/LICENSE|LICENSE-graphiql"
    "react-${REACT_VERSION}.tgz|package/umd/react.production.min.js|react-${REACT_VERSION}.production.min.js"
    "react-dom-${REACT_VERSION}.tgz|package/umd/react-dom.production.min.js|react-dom-${REACT_VERSION}.production.min.js"
    "react-${REACT_VERSION}.tgz|package/LICENSE|LICENSE-react"
)

mkdir -p "$TMP/out"
NEW_SUMS=""
FAILED=0
for entry in "${FILES[@]}"; do
    IFS='|' read -r tarball inner name <<<"$entry"
    unpacked="$TMP/unpacked/${tarball%.tgz}"
    mkdir -p "$unpacked"
    tar -xzf "$TMP/$tarball" -C "$unpacked" "$inner"
    cp "$unpacked/$inner" "$TMP/out/$name"
    actual="$(sha256sum "$TMP/out/$name" | cut -d' ' -f1)"
    recorded=""
    if [[ -f "$SUMS" ]]; then
        recorded="$(awk -v n="graphiql/$name" '$2 == n { print $1 }' "$SUMS")"
    fi
    if [[ -n "$recorded" && "$recorded" != "$actual" && "$UPDATE" -eq 0 ]]; then
        echo "error: graphiql/$name from npm has sha256 $actual, but SHA256SUMS records $recorded." >&2
        FAILED=1
    fi
    NEW_SUMS+="$(printf '%s  %s' "$actual" "graphiql/$name")"$'\n'
done
if [[ "$FAILED" -ne 0 ]]; then
    echo "Investigate before trusting them; rerun with --update only if the change is expected." >&2
    exit 1
fi

# Keep exactly one vendored GraphiQL: replace the directory and its checksum lines.
rm -rf "$DEST"
mkdir -p "$DEST"
cp "$TMP/out/"* "$DEST/"
KEPT=""
if [[ -f "$SUMS" ]]; then
    KEPT="$(awk '$2 !~ /^graphiql\// { print }' "$SUMS")"
fi
{
    [[ -n "$KEPT" ]] && printf '%s\n' "$KEPT"
    printf '%s' "$NEW_SUMS"
} >"$SUMS.tmp"
mv "$SUMS.tmp" "$SUMS"
(cd "$VENDOR" && sha256sum --check --quiet SHA256SUMS)
echo "vendored graphiql ${GRAPHIQL_VERSION} and react/react-dom ${REACT_VERSION} into ui/static/vendor/graphiql/:"
(cd "$DEST" && du -b -- * | sort -k2)
