#!/usr/bin/env bash
# Fetches the pinned front-end packages from the npm registry and copies into the repository the
# files the service serves (the DSFR) and the ones the browser tests inject (axe-core), with
# their licences. Run it after changing a version below; commit what it changes.
set -euo pipefail
cd "$(dirname "$0")/.."

DSFR_VERSION=1.15.3
AXE_VERSION=4.14.1

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# `npm pack` downloads the published tarballs (integrity-checked) without running any script.
(cd "$work" && npm pack --silent "@gouvfr/dsfr@${DSFR_VERSION}" "axe-core@${AXE_VERSION}" >/dev/null)
mkdir -p "$work/dsfr" "$work/axe"
tar -xzf "$work/gouvfr-dsfr-${DSFR_VERSION}.tgz" -C "$work/dsfr" --strip-components=1
tar -xzf "$work/axe-core-${AXE_VERSION}.tgz" -C "$work/axe" --strip-components=1

# The DSFR: the compiled stylesheets and scripts, the favicons, and every file the stylesheets
# reference (fonts and the icons the components draw).
dist="$work/dsfr/dist"
out=crates/web/static/dsfr
rm -rf "$out"
mkdir -p "$out"
for file in dsfr.min.css dsfr.print.min.css dsfr.module.min.js dsfr.nomodule.min.js; do
  # The source maps are not shipped: drop the comment that points to them.
  sed -e 's|/\*# sourceMappingURL=[^*]*\*/||' -e 's|//# sourceMappingURL=.*$||' \
    "$dist/$file" > "$out/$file"
done
cp -r "$dist/favicon" "$out/favicon"
grep -oh 'url([^)]*)' "$dist/dsfr.min.css" "$dist/dsfr.print.min.css" \
  | sed -e 's/^url(//' -e 's/)$//' -e 's/^["'\'']//' -e 's/["'\'']$//' \
  | grep -v '^data:' | sort -u \
  | while read -r referenced; do
      mkdir -p "$out/$(dirname "$referenced")"
      cp "$dist/$referenced" "$out/$referenced"
    done
cp "$work/dsfr/LICENSE.md" "$out/LICENSE.md"
printf '@gouvfr/dsfr %s (npm), files from dist/; licence: LICENSE.md\n' "$DSFR_VERSION" > "$out/VERSION"

# axe-core, injected into every page by the browser tests.
axe_out=tests/assets/axe-core
rm -rf "$axe_out"
mkdir -p "$axe_out"
cp "$work/axe/axe.min.js" "$work/axe/LICENSE" "$axe_out/"
printf 'axe-core %s (npm); licence: LICENSE (MPL-2.0)\n' "$AXE_VERSION" > "$axe_out/VERSION"

echo "DSFR ${DSFR_VERSION} -> ${out} ($(find "$out" -type f | wc -l) files), axe-core ${AXE_VERSION} -> ${axe_out}"
