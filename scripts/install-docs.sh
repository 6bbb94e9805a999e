#!/usr/bin/env bash
# Installs the man pages (built from docs/man/*.md by scripts/man.sh) into
# DESTDIR/PREFIX/share/man/manN, with the aliases the pages name (start(8)
# … status(8) are initctl(8); halt(8) and poweroff(8) are reboot(8)).
# With --site it also builds the site and copies it to
# DESTDIR/PREFIX/share/doc/goupstart/html.
#
#   scripts/install-docs.sh [--prefix /usr/local] [--destdir DIR] [--site]
#
# This is separate from installing the binaries and the job set.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=/usr/local destdir= site=
while [ $# -gt 0 ]; do
	case $1 in
	--prefix) prefix=$2; shift 2 ;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--destdir) destdir=$2; shift 2 ;;
	--destdir=*) destdir=${1#*=}; shift ;;
	--site) site=1; shift ;;
	*) echo "install-docs.sh: unknown argument: $1" >&2; exit 2 ;;
	esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
scripts/man.sh "$tmp"
man="$destdir$prefix/share/man"
for page in "$tmp"/*.[1-8]; do
	sec=${page##*.}
	install -D -m 0644 "$page" "$man/man$sec/$(basename "$page")"
done
for alias in start stop restart reload status; do
	printf '.so man8/initctl.8\n' >"$tmp/$alias.8"
	install -D -m 0644 "$tmp/$alias.8" "$man/man8/$alias.8"
done
# Upstart had a page per event; here upstart-events(7) holds them all.
for alias in startup starting started stopping stopped runlevel control-alt-delete \
	keyboard-request power-status-changed file-event dbus-event; do
	printf '.so man7/upstart-events.7\n' >"$tmp/$alias.7"
	install -D -m 0644 "$tmp/$alias.7" "$man/man7/$alias.7"
done
for alias in halt poweroff; do
	printf '.so man8/reboot.8\n' >"$tmp/$alias.8"
	install -D -m 0644 "$tmp/$alias.8" "$man/man8/$alias.8"
done
echo "man pages installed in $man"
if [ -n "$site" ]; then
	scripts/site.sh >/dev/null
	mkdir -p "$destdir$prefix/share/doc/goupstart"
	rm -rf "$destdir$prefix/share/doc/goupstart/html"
	cp -r build/site "$destdir$prefix/share/doc/goupstart/html"
	echo "site installed in $destdir$prefix/share/doc/goupstart/html"
fi
