#!/usr/bin/env bash
# Memory of `ami gateway --sim` under large action bodies: for each body below, a fresh gateway
# on 127.0.0.1 gets 55 concurrent requests, then 55 one after another, and its VmHWM (peak
# resident set) and VmRSS are read from /proc before and after each wave.
#
#   huge-array     {"V": ["a", x 190000]} (~760 KB): over the body limit
#   long-array     {"V": [0, x 100000]} (~200 KB): within the body limit, too many lines
#   largest-valid  125 headers with 1,022-byte lines, padded with spaces to just under the
#                  body limit: accepted and sent to the simulator
#
# Bounded: 330 requests in all (by default), each given at most 30 s; loopback only. The
# simulator runs in the gateway's process, so its memory is in the figures too.
#
# Usage: crates/ami-gateway/benches/body_memory.sh [path/to/ami]
#   the default is target/release/ami (cargo build --release -p ami-cli); CONCURRENT=n and
#   SEQUENTIAL=n change the waves (a gateway that answers 504 after 10 s makes a long
#   sequential wave slow).
set -euo pipefail

AMI=${1:-target/release/ami}
CONCURRENT=${CONCURRENT:-55}
SEQUENTIAL=${SEQUENTIAL:-55}
BODY_LIMIT=$((256 * 1024))
[ -x "$AMI" ] || { echo "no executable at $AMI (cargo build --release -p ami-cli)" >&2; exit 2; }

work=$(mktemp -d)
gateway_pid=
cleanup() {
    if [ -n "$gateway_pid" ]; then kill "$gateway_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The bodies.
python3 - "$work" "$BODY_LIMIT" <<'EOF'
import json, sys
work, limit = sys.argv[1], int(sys.argv[2])
open(f"{work}/huge-array", "w").write('{"V": [' + ",".join(['"a"'] * 190000) + "]}")
open(f"{work}/long-array", "w").write('{"V": [' + ",".join(["0"] * 100000) + "]}")
# "X000: " and 1,016 bytes of value: 1,022 bytes per line, 125 headers (127 lines on the wire
# with Action: and ActionID:).
headers = {f"X{i:03}": f"{i:03}" + "v" * (1022 - 6 - 3) for i in range(125)}
text = json.dumps(headers)
open(f"{work}/largest-valid", "w").write(text + " " * (limit - 1 - len(text)))
EOF

kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$gateway_pid/status"; }
mem() { printf 'VmHWM %6d KiB  VmRSS %6d KiB' "$(kib VmHWM)" "$(kib VmRSS)"; }

token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')

post() { # body-file -> "status seconds"
    curl -s -o /dev/null --max-time 30 -w '%{http_code} %{time_total}\n' \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        --data-binary "@$1" "$url/v1/servers/sim/actions/Ping" || true
}

summary() { # file of "status seconds" lines
    awk '{ n[$1]++; if ($2 > max) max = $2 } END {
        for (s in n) printf "%s x%d  ", s, n[s]; printf "slowest %.3f s", max }' "$1"
}

for body in huge-array long-array largest-valid; do
    AMI_GATEWAY_TOKEN=$token "$AMI" gateway --sim --sim-calls-per-second 0 \
        --listen 127.0.0.1:0 > "$work/out" 2> "$work/err" &
    gateway_pid=$!
    url=
    for _ in $(seq 100); do
        url=$(sed -n 's|^ami gateway listening on \(http://127\.0\.0\.1:[0-9]*\)/$|\1|p' "$work/out")
        [ -n "$url" ] && curl -sf "$url/readyz" > /dev/null && break
        sleep 0.1
    done
    [ -n "$url" ] || { echo "the gateway did not start:" >&2; cat "$work/err" >&2; exit 1; }
    echo "== $body ($(wc -c < "$work/$body") bytes)"
    echo "   started:            $(mem)"
    : > "$work/concurrent"
    clients=()
    for _ in $(seq "$CONCURRENT"); do
        post "$work/$body" >> "$work/concurrent" &
        clients+=($!)
    done
    wait "${clients[@]}"
    echo "   $CONCURRENT concurrent:      $(mem)   $(summary "$work/concurrent")"
    : > "$work/sequential"
    for _ in $(seq "$SEQUENTIAL"); do post "$work/$body" >> "$work/sequential"; done
    echo "   $SEQUENTIAL sequential:      $(mem)   $(summary "$work/sequential")"
    kill "$gateway_pid"
    wait "$gateway_pid" 2>/dev/null || true
    gateway_pid=
done
