#!/usr/bin/env bash
# Re-vendors the dashboard's third-party libraries from the npm registry at
# the pinned versions below: `npm pack` fetches each package tarball, its
# sha512 is checked against the pinned integrity, and only the files the
# dashboard loads (plus the licence) are extracted into vendor/.
#
# Usage: web-dashboard/vendor.sh        (needs npm, tar, openssl)
# To upgrade a library, change its version and integrity here
# (`npm view NAME@VERSION dist.integrity`), run the script, and check the
# dashboard in a browser and with the browser tests.
set -euo pipefail
cd "$(dirname "$0")"

# name version integrity destination files...
packages=(
  "leaflet 1.9.4 sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA== leaflet LICENSE dist/leaflet-src.esm.js dist/leaflet.css dist/images/layers.png dist/images/layers-2x.png dist/images/marker-icon.png dist/images/marker-icon-2x.png dist/images/marker-shadow.png"
  "uplot 1.6.32 sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw== uplot LICENSE dist/uPlot.esm.js dist/uPlot.min.css"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for entry in "${packages[@]}"; do
  read -r name version integrity dest files <<<"$entry"
  echo "==> $name@$version"
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
  tarball="$work/$name-$version.tgz"
  got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "integrity mismatch for $name@$version: got $got, want $integrity" >&2
    exit 1
  fi
  mkdir -p "$work/$name"
  tar -xzf "$tarball" -C "$work/$name"
  rm -rf "vendor/$dest"
  mkdir -p "vendor/$dest"
  for f in $files; do
    mkdir -p "vendor/$dest/$(dirname "${f#dist/}")"
    cp "$work/$name/package/$f" "vendor/$dest/${f#dist/}"
  done
  printf '%s@%s %s\n' "$name" "$version" "$integrity" >"vendor/$dest/VERSION"
done
echo "vendored into $(pwd)/vendor"
