#!/usr/bin/env bash
# Vendors the pinned swagger-ui-dist release into assets/ so the gateway serves /docs from files
# embedded in its binary and never fetches anything at runtime.
#
# Reproducible: the tarball is fetched by exact version through npm and must match the sha256
# recorded below before a single byte is copied. To move to another release, change both PINNED_*
# values (take the new sha256 from a tarball you have reviewed), run this script, and review the
# diff. The script also rewrites the "?v=" cache-busting query in assets/index.html, because the Go
# handler only grants long-lived caching to vendored files requested with the current version.
#
# Needs: bash, npm, tar, sha256sum (or shasum), sed. Usage: internal/docsui/update-assets.sh
set -euo pipefail

PINNED_PACKAGE="swagger-ui-dist"
PINNED_VERSION="5.35.0"
PINNED_SHA256="1b8e891893404ea4c3558b6a87e2a3e494e7eedba41168c2ece5800a391a6ea6"

# Files taken verbatim from the package. The bundle's third-party licence file is included because
# the bundle's first line points to it and the MIT/BSD code inside requires its notices to travel
# with redistributed copies. Source maps, the standalone preset and the demo pages are not needed.
VENDORED_FILES=(
  swagger-ui-bundle.js
  swagger-ui-bundle.js.LICENSE.txt
  swagger-ui.css
  LICENSE
  NOTICE
)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
assets="${here}/assets"

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# --ignore-scripts: packing never needs lifecycle scripts, and running none is the safe default.
(cd "${work}" && npm pack --silent --ignore-scripts --pack-destination "${work}" \
  "${PINNED_PACKAGE}@${PINNED_VERSION}" >/dev/null)

tarball="${work}/${PINNED_PACKAGE}-${PINNED_VERSION}.tgz"
if [[ ! -f "${tarball}" ]]; then
  echo "update-assets: npm pack did not produce ${tarball}" >&2
  exit 1
fi

actual="$(sha256_of "${tarball}")"
if [[ "${actual}" != "${PINNED_SHA256}" ]]; then
  echo "update-assets: sha256 mismatch for ${PINNED_PACKAGE}@${PINNED_VERSION}" >&2
  echo "  expected ${PINNED_SHA256}" >&2
  echo "  actual   ${actual}" >&2
  exit 1
fi

mkdir -p "${work}/x"
tar -xzf "${tarball}" -C "${work}/x"

mkdir -p "${assets}"
for f in "${VENDORED_FILES[@]}"; do
  if [[ ! -f "${work}/x/package/${f}" ]]; then
    echo "update-assets: ${f} missing from the package" >&2
    exit 1
  fi
  cp "${work}/x/package/${f}" "${assets}/${f}"
  chmod 0644 "${assets}/${f}"
done

# VERSION is read by docsui.go at startup: it checks every vendored file against these hashes, so
# a hand-edited bundle fails loudly instead of being cached by browsers as if it were pristine.
{
  echo "# Written by update-assets.sh; do not edit by hand."
  echo "package=${PINNED_PACKAGE}"
  echo "version=${PINNED_VERSION}"
  echo "tarball_sha256=${PINNED_SHA256}"
  for f in "${VENDORED_FILES[@]}"; do
    echo "vendored=${f} $(sha256_of "${assets}/${f}")"
  done
} >"${assets}/VERSION"

if [[ ! -f "${assets}/index.html" ]]; then
  echo "update-assets: assets/index.html is hand-written and must exist" >&2
  exit 1
fi
# Point index.html at the new version so browsers drop their immutable copies of the old one.
sed -i.bak -E 's/(swagger-ui(-bundle\.js|\.css))\?v=[^"]*/\1?v='"${PINNED_VERSION}"'/g' "${assets}/index.html"
rm -f "${assets}/index.html.bak"

echo "update-assets: vendored ${PINNED_PACKAGE}@${PINNED_VERSION} into ${assets}"
