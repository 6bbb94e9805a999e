#!/usr/bin/env bash
# install.sh: build goupstart's commands as static binaries and install
# them, their symlinks and (with --debian) the job set for Debian-like
# systems into a root directory.
#
#   scripts/install.sh [--debian] [--session] [--destdir DIR]
#
#   --destdir DIR   install under DIR instead of / (DESTDIR-style: DIR/sbin,
#                   DIR/etc/init, …; the system test builds its guest so)
#   --debian        also install conf/debian/*.conf into DIR/etc/init (the
#                   jobs that run /etc/init.d through sysv-rc, the gettys,
#                   control-alt-delete, …; see conf/debian/*.conf)
#   --session       also install conf/session/*.conf (the bridges of a
#                   session instance) into DIR/usr/share/upstart/sessions
#   --force-jobs    overwrite job files that exist already (default: keep
#                   them, so local changes survive a reinstall)
#
# Installed: /sbin/init, /sbin/initctl (+ start, stop, restart, reload,
# status), /sbin/shutdown (+ reboot, halt, poweroff, telinit, runlevel),
# /sbin/sysv-rc, /sbin/init-checkconf, /usr/bin/initctl2dot, the D-Bus
# policy /etc/dbus-1/system.d/Upstart.conf, and the job directory
# /etc/init. Needs Go; binaries are built with CGO_ENABLED=0 so that they
# run before any library is mounted.
set -euo pipefail
cd "$(dirname "$0")/.."

destdir=
debian=0
session=0
force=0
while [ $# -gt 0 ]; do
	case "$1" in
	--destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
	--destdir=*) destdir=${1#--destdir=}; shift ;;
	--debian) debian=1; shift ;;
	--session) session=1; shift ;;
	--force-jobs) force=1; shift ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "install.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
done
if [ -n "$destdir" ]; then
	mkdir -p "$destdir"
	destdir=$(cd "$destdir" && pwd)
fi
if [ -z "$destdir" ] && [ "$(id -u)" != 0 ]; then
	echo "install.sh: installing into / needs root (or give --destdir)" >&2
	exit 1
fi

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$build/" ./cmd/...

install -d "$destdir/sbin" "$destdir/usr/bin" "$destdir/etc/init" "$destdir/etc/dbus-1/system.d"
for b in "$build"/*; do
	name=${b##*/}
	case "$name" in
	initctl2dot) dir=usr/bin ;;
	*) dir=sbin ;;
	esac
	install -m 0755 "$b" "$destdir/$dir/$name.new"
	mv -f "$destdir/$dir/$name.new" "$destdir/$dir/$name"
done
for n in start stop restart reload status; do ln -sfn initctl "$destdir/sbin/$n"; done
if [ -e "$destdir/sbin/shutdown" ]; then
	for n in reboot halt poweroff telinit runlevel; do ln -sfn shutdown "$destdir/sbin/$n"; done
fi
install -m 0644 conf/dbus/Upstart.conf "$destdir/etc/dbus-1/system.d/Upstart.conf"

# install_jobs SRC DIR: job files of SRC into DIR, keeping edited ones
# unless --force-jobs.
install_jobs() {
	install -d "$2"
	for f in "$1"/*.conf; do
		t="$2/${f##*/}"
		if [ -e "$t" ] && [ "$force" = 0 ] && ! cmp -s "$f" "$t"; then
			echo "install.sh: keeping the existing $t (--force-jobs replaces it)" >&2
			continue
		fi
		install -m 0644 "$f" "$t"
	done
}
if [ "$debian" = 1 ]; then
	install_jobs conf/debian "$destdir/etc/init"
fi
if [ "$session" = 1 ]; then
	install_jobs conf/session "$destdir/usr/share/upstart/sessions"
fi
echo "installed into ${destdir:-/}"
