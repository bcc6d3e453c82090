#!/usr/bin/env bash
# Fuzzes the running API against its OpenAPI document with schemathesis: a throw-away server
# (its own STRATA_HOME, a free loopback port), an admin key made for the run, every check on.
# Exits non-zero on any server error (5xx) or response that breaks the document.
set -euo pipefail
cd "$(dirname "$0")/.."
STRATA=${STRATA:-.build/release/strata}
SCHEMATHESIS=${SCHEMATHESIS:-.venv/bin/schemathesis}
home=$(mktemp -d /tmp/strata-fuzz.XXXXXX)
chmod 755 "$home"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
export STRATA_HOME="$home" PORT="$port" LOG_LEVEL=warning RATE_LIMIT_ANONYMOUS=1000000
"$STRATA" serve > "$home/serve.log" 2>&1 &
server=$!
cleanup() { kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$home"; }
trap cleanup EXIT
for _ in $(seq 1 240); do
    curl -fsS "http://127.0.0.1:$port/ready" > /dev/null 2>&1 && break
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/ready" > /dev/null || { echo "the server did not become ready:"; tail -20 "$home/serve.log"; exit 1; }
# The key goes in both headers: given only one, schemathesis fills the other security scheme's
# header with generated values, and two different credentials are refused (401) before any
# handler runs. The same key twice is accepted. Event streams that stay open while their
# resource is unfinished are left out (each example would wait for the request timeout). ensure_resource_availability is left out: it
# takes any id a POST returns for the id of any GET, e.g. a text message's id for the file
# route of messages that carry files, whose 404 is right.
key=$("$STRATA" keys create --name fuzz --permissions admin --rate-limit 1000000 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
"$SCHEMATHESIS" run "http://127.0.0.1:$port/openapi.json" \
    --header "Authorization: Bearer $key" \
    --header "X-API-Key: $key" \
    --checks all \
    --exclude-checks positive_data_acceptance,ensure_resource_availability \
    --exclude-path /api/events \
    --exclude-path "/api/workorders/orders/{id}/events" \
    --exclude-path "/api/workflows/executions/{id}/logs/stream" \
    --exclude-path /api/factory/events \
    --max-examples "${FUZZ_EXAMPLES:-100}" \
    --request-timeout 10 \
    --generation-deterministic
