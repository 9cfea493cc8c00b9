#!/usr/bin/env bash
# Checks the running server against its own OpenAPI document with schemathesis: every answer
# matches the document, valid requests are accepted, invalid ones refused, nothing is a 500.
# Uses the debug binary `cargo test` built; run from scripts/test.sh (or alone after a build).
# Extra arguments go to `schemathesis run` (e.g. --max-examples 200 for a longer run).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/debug/fealty
if [ ! -x "$bin" ]; then
  echo "error: $bin is missing; run cargo build first" >&2
  exit 1
fi
if ! command -v schemathesis >/dev/null 2>&1; then
  echo "error: schemathesis is not installed (python3 -m pip install schemathesis)" >&2
  exit 1
fi

data="$(mktemp -d)"
log="$data.log"
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$data" "$log"
}
trap cleanup EXIT

# Port 0: the server picks a free loopback port and prints it.
"$bin" serve --data "$data" --listen 127.0.0.1:0 >"$log" 2>&1 &
server=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*$/\1/p' "$log" | head -n 1)"
  [ -n "$url" ] && break
  if ! kill -0 "$server" 2>/dev/null; then
    cat "$log" >&2
    echo "error: fealty serve exited before listening" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  cat "$log" >&2
  echo "error: fealty serve did not start listening" >&2
  exit 1
fi

# No --scope: a key with every scope, so no operation is refused for want of one.
key="$("$bin" apikey create --data "$data" --name schemathesis)"

# A member with points, a reward and a parked shop order exist, so generated requests sometimes
# reach real ones. The order is Shopify's 4242, the example the document gives for attaching;
# the hooks point well-formed attach requests at it and at the member (printed here).
member="$(python3 - "$url" "$key" <<'PY'
import base64, hashlib, hmac, json, sys, urllib.request

url, key = sys.argv[1], sys.argv[2]


def call(method, path, body, extra=None):
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    headers.update(extra or {})
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data, headers, method=method)
    with urllib.request.urlopen(req) as res:
        return json.load(res)


def post(path, body, extra=None):
    return call("POST", path, body, extra)


member = post("/api/v1/members", {"name": "Fuzz Member"})["id"]
post(f"/api/v1/members/{member}/transactions", {"kind": "earn", "points": 1000},
     {"Idempotency-Key": "api-fuzz-seed"})
post("/api/v1/rewards", {"name": "Free coffee", "cost": 10})

# A paid Shopify order for an email no member has, signed as Shopify signs: it is parked.
secret = "api-fuzz-shopify-secret"
call("PUT", "/api/v1/integrations/shopify", {"enabled": True, "secret": secret})
currency = call("GET", "/api/v1/settings", None)["currency"]
order = {"id": 4242, "email": "nobody@example.com", "total_price": "12.50", "currency": currency}
body = json.dumps(order).encode()
signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
hook = urllib.request.Request(url + "/hooks/shopify", body, {
    "Content-Type": "application/json",
    "X-Shopify-Topic": "orders/paid",
    "X-Shopify-Hmac-Sha256": signature,
    "X-Shopify-Webhook-Id": "api-fuzz-seed",
}, method="POST")
with urllib.request.urlopen(hook) as res:
    outcome = json.load(res)["outcome"]
if not outcome.startswith("parked"):
    sys.exit(f"error: the seeded Shopify order was not parked: {outcome}")
print(member)
PY
)"

# No check is excluded. The documented exceptions, each with its reason, are in
# scripts/api_fuzz_hooks.py: fresh Idempotency-Keys, real check digits on card numbers, and
# refusals of earning by amount that depend on the settings. The text patterns name the format
# characters of the Basic Multilingual Plane only (see NOT_TEXT in src/http/api/mod.rs).
# One worker: with two threads, Python 3.11's ast.parse (which hypothesis calls to describe
# strategies) sometimes fails with "AST constructor recursion depth mismatch".
started=$SECONDS
FEALTY_FUZZ_KEY="$key" FEALTY_FUZZ_MEMBER="$member" PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=api_fuzz_hooks \
  schemathesis --config-file scripts/schemathesis.toml run "$url/api/v1/openapi.json" \
  --checks all \
  --max-examples 30 \
  --seed 1 \
  --workers 1 \
  --request-timeout 10 \
  "$@"
echo "api-fuzz: schemathesis finished in $((SECONDS - started)) s"
