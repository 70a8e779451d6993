#!/usr/bin/env bash
# Vendor MathJax 3 so that the website renders math without a CDN.
#
# Usage: bash tools/fetch_mathjax.sh [DEST]      (default: _vendor/mathjax; `make mathjax`)
#
# Fetches the npm package mathjax@3.2.2 with `npm pack`, checks the tarball's sha256, and
# copies into DEST what the book needs: es5/tex-mml-chtml.js, its fonts (at
# DEST/output/chtml/fonts/woff-v2/, the path the script resolves relative to itself) and
# MathJax's LICENSE. `_config.yml` publishes _vendor/ with `html_extra_path`, so the pages
# load /mathjax/tex-mml-chtml.js from the site itself.
set -euo pipefail

VERSION=3.2.2
TARBALL="mathjax-${VERSION}.tgz"
# sha256 of the registry's tarball, measured once; it matches the registry's own
# dist.integrity (sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==).
SHA256=1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09

DEST="${1:-_vendor/mathjax}"

die() { echo "fetch_mathjax.sh: error: $*" >&2; exit 1; }

command -v npm >/dev/null 2>&1 \
  || die "npm is not installed; it is needed to fetch MathJax (Debian: apt-get install npm)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is not installed (coreutils)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if ! (cd "$tmp" && npm pack "mathjax@${VERSION}" --silent >/dev/null); then
  die "\`npm pack mathjax@${VERSION}\` failed (is the npm registry reachable?)"
fi
[[ -f "$tmp/$TARBALL" ]] || die "npm pack did not produce $TARBALL"

actual="$(sha256sum "$tmp/$TARBALL" | cut -d' ' -f1)"
if [[ "$actual" != "$SHA256" ]]; then
  die "checksum mismatch for $TARBALL: got sha256 $actual, expected $SHA256; refusing to use it"
fi

tar -xzf "$tmp/$TARBALL" -C "$tmp" \
  package/LICENSE package/es5/tex-mml-chtml.js package/es5/output/chtml/fonts/woff-v2

# Assemble next to DEST, then swap it in, so that an interrupted run leaves no half copy.
stage="${DEST%/}.partial"
rm -rf "$stage"
mkdir -p "$stage/output/chtml/fonts"
cp "$tmp/package/LICENSE" "$stage/LICENSE"
cp "$tmp/package/es5/tex-mml-chtml.js" "$stage/tex-mml-chtml.js"
cp -R "$tmp/package/es5/output/chtml/fonts/woff-v2" "$stage/output/chtml/fonts/woff-v2"
rm -rf "$DEST"
mv "$stage" "$DEST"

nfonts=$(find "$DEST/output/chtml/fonts/woff-v2" -name '*.woff' | wc -l)
echo "MathJax ${VERSION} (sha256 verified) -> $DEST: tex-mml-chtml.js, ${nfonts} fonts, LICENSE"
