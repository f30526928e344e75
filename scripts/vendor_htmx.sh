#!/usr/bin/env bash
# Vendor htmx from the npm registry (never a CDN at runtime) and pin its SHA-256.
#
#   scripts/vendor_htmx.sh            # fetch the pinned version, verify against SHA256SUMS
#   HTMX_VERSION=2.0.5 scripts/vendor_htmx.sh --update   # deliberately move the pin
#
# Fails when the downloaded file does not match a checksum already recorded in SHA256SUMS,
# so a tampered or re-published package is noticed instead of silently committed.
set -euo pipefail

VERSION="${HTMX_VERSION:-2.0.4}"
UPDATE=0
[[ "${1:-}" == "--update" ]] && UPDATE=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/ui/static/vendor"
NAME="htmx-${VERSION}.min.js"
SUMS="$VENDOR/SHA256SUMS"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && npm pack --silent "htmx.org@${VERSION}" >/dev/null)
tar -xzf "$TMP/htmx.org-${VERSION}.tgz" -C "$TMP" package/dist/htmx.min.js
ACTUAL="$(sha256sum "$TMP/package/dist/htmx.min.js" | cut -d' ' -f1)"

mkdir -p "$VENDOR"
RECORDED=""
if [[ -f "$SUMS" ]]; then
    RECORDED="$(awk -v n="$NAME" '$2 == n { print $1 }' "$SUMS")"
fi

if [[ -n "$RECORDED" && "$RECORDED" != "$ACTUAL" && "$UPDATE" -eq 0 ]]; then
    echo "error: $NAME from npm has sha256 $ACTUAL, but SHA256SUMS records $RECORDED." >&2
    echo "Investigate before trusting it; rerun with --update only if the change is expected." >&2
    exit 1
fi

# Keep exactly one vendored htmx: remove other versions and their checksum lines.
find "$VENDOR" -maxdepth 1 -name 'htmx-*.min.js' ! -name "$NAME" -delete
cp "$TMP/package/dist/htmx.min.js" "$VENDOR/$NAME"
# The htmx line stays first (the app reads it); other vendored files' lines are kept.
{ printf '%s  %s\n' "$ACTUAL" "$NAME"; [[ -f "$SUMS" ]] && awk '$2 !~ /^htmx-/' "$SUMS"; } >"$SUMS.new"
mv "$SUMS.new" "$SUMS"
(cd "$VENDOR" && sha256sum --check --quiet SHA256SUMS)
echo "vendored $NAME (sha256 $ACTUAL)"
