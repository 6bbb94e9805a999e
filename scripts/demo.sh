#!/usr/bin/env bash
# Demo: the Chromium OS boot graph (examples/chromeos-boot) in a session
# instance run by an ordinary user. Builds the binaries into ./bin, starts
# `init --user`, waits until the graph settles, prints `initctl list`,
# `initctl blame` and `initctl why failsafe-delay`, writes the boot chart
# (`initctl boot-chart`) to build/demo/boot.svg, and stops the instance.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/ ./cmd/...
for n in start stop restart reload status; do ln -sf initctl "bin/$n"; done
for n in reboot halt poweroff telinit runlevel; do ln -sf shutdown "bin/$n"; done

rt=$(mktemp -d)
export XDG_RUNTIME_DIR="$rt" XDG_CACHE_HOME="$rt/cache"
unset UPSTART_SESSION
# --chromeos and --default-oom-score -1000: the Chromium OS fork's rules
# (docs/decisions.md); an ordinary user may not lower the OOM score, so
# the daemon logs that and goes on.
bin/init --user --verbose --no-log --chromeos --default-oom-score -1000 \
	--confdir "$PWD/examples/chromeos-boot" 2>"$rt/init.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$rt"' EXIT

for _ in $(seq 200); do
	[ -s "$rt/upstart/sessions/$pid.session" ] && break
	sleep 0.05
done
export "$(cat "$rt/upstart/sessions/$pid.session")"
echo "session instance $pid at $UPSTART_SESSION"

# Settled: system-services and failsafe are up, the failsafe delay is over,
# and no job is between states.
settled() {
	local out
	out=$(bin/initctl list) || return 1
	grep -q '^system-services start/running' <<<"$out" &&
		grep -q '^failsafe start/running' <<<"$out" &&
		grep -q '^failsafe-delay stop/waiting' <<<"$out" &&
		! grep -vqE ' (start/running|stop/waiting)' <<<"$out"
}
for _ in $(seq 300); do
	settled && break
	sleep 0.05
done
echo "--- initctl list"
bin/initctl list | sort
echo "--- initctl blame (time each job took to start)"
bin/initctl blame
echo "--- initctl why failsafe-delay"
bin/initctl why failsafe-delay
mkdir -p build/demo
bin/initctl boot-chart >build/demo/boot.svg
echo "--- boot chart: $PWD/build/demo/boot.svg"
echo "--- events the boot produced (from the daemon's log)"
grep -c 'state changed' "$rt/init.log" | sed 's/^/state changes: /' || true
kill -TERM "$pid"
wait "$pid" || true
trap 'rm -rf "$rt"' EXIT

