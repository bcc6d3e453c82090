#!/usr/bin/env bash
# Runs `swift test` (arguments passed on) under a time limit, so that a test that never ends
# fails the run with its name instead of holding it until an outer timeout kills it silently.
#
#   TEST_TIME_LIMIT=1200 bash scripts/test-watchdog.sh
#
# Past the limit (seconds, default 1200; the whole suite takes a few minutes) it prints the
# tests that started and never ended, the test process's thread backtraces (gdb or lldb, when
# installed), stops the run and exits with status 124.
set -uo pipefail
swift=${SWIFT:-swift}
limit=${TEST_TIME_LIMIT:-1200}
log=$(mktemp "${TMPDIR:-/tmp}/strata-test-log.XXXXXX")
trap 'rm -f "$log"' EXIT

# Line-buffered (stdbuf), so that the log holds every test that started when the limit strikes.
buffering=()
command -v stdbuf >/dev/null && buffering=(stdbuf -oL -eL)
setsid "${buffering[@]}" "$swift" test "$@" >"$log" 2>&1 &
runner=$!
tail -n +1 -f --pid="$runner" "$log" &
follower=$!

unfinished() {
    # "◇ Test name() started." without a "✔/✘ Test name() …" line; cases of parameterised
    # tests have lines of their own and are left out.
    comm -23 \
        <(sed -n 's/^◇ Test \(.*\) started\.$/\1/p' "$log" | grep -v '^case passing\|^run$' | sort -u) \
        <(sed -n 's/^[✔✘] Test \([^ ]*\) .*/\1/p' "$log" | sort -u)
}

deadline=$((SECONDS + limit))
while kill -0 "$runner" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
        sleep 1
        echo
        echo "test-watchdog: the tests ran past ${limit} s; still running:"
        unfinished | sed 's/^/  /'
        for pid in $(pgrep -s "$runner" -f 'xctest|PackageTests'); do
            echo "test-watchdog: threads of test process $pid:"
            if command -v gdb >/dev/null; then
                timeout 120 gdb -p "$pid" -batch -ex 'thread apply all bt 25' 2>/dev/null | grep -E '^(Thread|#)' | head -400
            elif command -v lldb >/dev/null; then
                timeout 120 lldb -p "$pid" --batch -o 'thread backtrace all -c 25' 2>/dev/null | head -400
            fi
        done
        # The session holds swift-test and the test process (each in a process group of its own).
        pkill -TERM -s "$runner" 2>/dev/null
        sleep 5
        pkill -KILL -s "$runner" 2>/dev/null
        wait "$follower" 2>/dev/null
        exit 124
    fi
    sleep 2
done
wait "$runner"
status=$?
wait "$follower" 2>/dev/null
exit "$status"
