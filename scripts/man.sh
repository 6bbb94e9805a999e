#!/usr/bin/env bash
# Builds the man pages (roff) from their Markdown sources in docs/man/
# with pandoc: docs/man/NAME.SECTION.md -> OUTDIR/NAME.SECTION
# (default build/man). Used by scripts/install-docs.sh and scripts/site.sh;
# the same sources are pages of the site.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/man}
mkdir -p "$out"
command -v pandoc >/dev/null || { echo "man.sh: pandoc is needed (apt-get install pandoc)" >&2; exit 1; }
for src in docs/man/*.[1-8].md; do
	page=$(basename "$src" .md)
	# pandoc writes .PP right after each .SH/.SS; mandoc calls that a
	# warning ("skipping paragraph macro"), so drop those.
	pandoc --standalone --from markdown-tex_math_dollars --to man --lua-filter docs/man/man.lua "$src" |
		awk '/^\.(SH|SS) / { print; head = 1; next } head && /^\.PP$/ { head = 0; next } { head = 0; print }' >"$out/$page"
done
