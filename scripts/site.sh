#!/usr/bin/env bash
# Builds the documentation site: static files in BUILD/site (default
# BUILD=build). Open BUILD/site/index.html, or serve the directory with
# `python3 -m http.server -d build/site`.
#
# Sources: docs/ (the pages and the man pages: the same Markdown that
# scripts/man.sh turns into roff) and bench/results/. Generator: MkDocs
# (Debian package mkdocs), with --strict so that any warning (a broken
# link, a bad nav entry) fails the build; pandoc makes the roff copies.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
build=${1:-build}
mkdir -p "$build"
build=$(cd "$build" && pwd)
command -v mkdocs >/dev/null || { echo "site.sh: mkdocs is needed (apt-get install mkdocs)" >&2; exit 1; }
src=$build/site-src
rm -rf "$src" "$build/site"
mkdir -p "$src/bench" "$src/man/roff"
# Only the Markdown pages: docs/ also holds the docs tests and the filter.
(cd docs && find . -name '*.md' -print0 | xargs -0 cp --parents -t "$src")
cp bench/results/*.md "$src/bench/"
# The roff pages too, for download next to their HTML form.
scripts/man.sh "$src/man/roff"
# A config in the build directory that takes everything from mkdocs.yml
# but reads and writes there.
cat >"$build/mkdocs.yml" <<CONF
INHERIT: $repo/mkdocs.yml
docs_dir: site-src
site_dir: site
CONF
mkdocs build --strict --quiet --config-file "$build/mkdocs.yml"
echo "site: $build/site/index.html"
