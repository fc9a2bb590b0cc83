#!/usr/bin/env bash
# Fetches the pinned front-end packages from the npm registry and copies into the repository the
# files the service serves (the DSFR) and the ones the browser tests inject (axe-core), with
# their licences. Run it after changing a version below; commit what it changes.
set -euo pipefail
cd "$(dirname "$0")/.."

DSFR_VERSION=1.15.3
AXE_VERSION=4.14.1
DECOUPAGE_VERSION=6.0.0

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# `npm pack` downloads the published tarballs (integrity-checked) without running any script.
(cd "$work" && npm pack --silent "@gouvfr/dsfr@${DSFR_VERSION}" "axe-core@${AXE_VERSION}" \
  "@etalab/decoupage-administratif@${DECOUPAGE_VERSION}" >/dev/null)
mkdir -p "$work/dsfr" "$work/axe" "$work/decoupage"
tar -xzf "$work/gouvfr-dsfr-${DSFR_VERSION}.tgz" -C "$work/dsfr" --strip-components=1
tar -xzf "$work/axe-core-${AXE_VERSION}.tgz" -C "$work/axe" --strip-components=1
tar -xzf "$work/etalab-decoupage-administratif-${DECOUPAGE_VERSION}.tgz" -C "$work/decoupage" \
  --strip-components=1

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

# The communes of the official geographic code (current ones, municipal arrondissements, and the
# former communes that live on as delegated or associated ones), as `code<TAB>name` sorted by
# code; when a current commune shares its code with the former commune it was (a commune
# nouvelle keeps its chief town's code), `code<TAB>current name<TAB>former name`.
places_out=crates/places/data
mkdir -p "$places_out"
node -e '
  const communes = require(process.argv[1]);
  const current = new Map();
  const former = new Map();
  for (const c of communes) {
    const live = c.type === "commune-actuelle" || c.type === "arrondissement-municipal";
    (live ? current : former).set(c.code, c.nom);
  }
  const codes = [...new Set([...current.keys(), ...former.keys()])].sort();
  const lines = codes.map((code) => {
    const now = current.get(code), then = former.get(code);
    if (now === undefined) return `${code}\t${then}`;
    return then === undefined || then === now ? `${code}\t${now}` : `${code}\t${now}\t${then}`;
  });
  process.stdout.write(lines.join("\n") + "\n");
' "$work/decoupage/data/communes.json" > "$places_out/communes.tsv"
cp "$work/decoupage/LICENSE" "$places_out/LICENSE-decoupage-administratif"
printf '@etalab/decoupage-administratif %s (npm), data/communes.json; licence: LICENSE-decoupage-administratif (MIT)\n' \
  "$DECOUPAGE_VERSION" > "$places_out/VERSION-communes"

echo "DSFR ${DSFR_VERSION} -> ${out} ($(find "$out" -type f | wc -l) files), axe-core ${AXE_VERSION} -> ${axe_out}, communes ${DECOUPAGE_VERSION} -> ${places_out}"
