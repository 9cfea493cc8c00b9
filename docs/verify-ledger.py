#!/usr/bin/env python3
"""Re-verifies a FealTY ledger from `fealty export --format json`, with nothing but Python.

Usage: python3 verify-ledger.py export.json | --backup backup.jsonl

With --backup, it reads the decompressed body of a backup instead (docs/backup-format.md).

Follows docs/ledger-hash.md: every entry's hash is SHA-256 over its hash input, which starts
with the previous entry's hash, so an altered, removed or reordered entry breaks the chain.
"""
import datetime
import hashlib
import json
import struct
import sys

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KINDS = {"earn": 1, "redeem": 2, "adjust": 3, "expire": 4, "reversal": 5}
SOURCES = {"system": 0, "cli": 1, "staff": 2, "api_key": 3, "webhook": 4}
V1_FIELDS = ["seq", "member_id", "kind", "points", "balance_after", "reason", "source",
             "reference", "idempotency_key", "reverses", "reward_id", "amount", "created_at"]


def ulid_bytes(text):
    n = 0
    for c in text:
        n = n * 32 + CROCKFORD.index(c)
    return n.to_bytes(16, "big")


def unix_nanos(rfc3339):
    # "2026-11-25T20:32:07.123456789Z": Python's datetime keeps microseconds only.
    main, _, frac = rfc3339.rstrip("Z").partition(".")
    secs = int(datetime.datetime.fromisoformat(main).replace(
        tzinfo=datetime.timezone.utc).timestamp())
    return secs * 10**9 + int((frac + "000000000")[:9])


def text(value):
    if value is None:
        return b"\x00"
    raw = value.encode()
    return b"\x01" + struct.pack(">I", len(raw)) + raw


def input_v1(prev, e):
    body = {f: e[f] for f in V1_FIELDS}
    if body["amount"] is not None:
        body["amount"] = {"amount_minor": e["amount"]["amount_minor"],
                          "currency": e["amount"]["currency"]}
    source = {"type": e["source"]["type"]}
    source.update({k: v for k, v in e["source"].items() if k != "type"})
    body["source"] = source
    return prev.hex().encode() + b"\n" + json.dumps(
        body, separators=(",", ":"), ensure_ascii=False).encode()


def input_v2(prev, e):
    out = b"fealty-ledger-v2" + prev
    out += struct.pack(">Q", e["seq"]) + ulid_bytes(e["member_id"])
    out += bytes([KINDS[e["kind"]]])
    out += struct.pack(">qqq", e["points"], e["balance_after"], unix_nanos(e["created_at"]))
    source = e["source"]
    out += bytes([SOURCES[source["type"]]])
    if source["type"] == "staff":
        out += text(source["username"])
    elif source["type"] == "api_key":
        out += text(source["key_id"])
    elif source["type"] == "webhook":
        out += text(source["provider"])
    out += text(e["reason"]) + text(e["reference"]) + text(e["idempotency_key"])
    out += b"\x00" if e["reverses"] is None else b"\x01" + struct.pack(">Q", e["reverses"])
    out += text(e["reward_id"])
    if e["amount"] is None:
        out += b"\x00"
    else:
        out += b"\x01" + struct.pack(">q", e["amount"]["amount_minor"])
        out += e["amount"]["currency"].encode()
    return out


def backup_ledger(path):
    """The ledger rows' readable views, from a backup body's `ledger` section."""
    table = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if isinstance(row, dict):
                table = row["table"]
            elif table == "ledger":
                yield row[1]


def main(path, backup=False):
    if backup:
        ledger = backup_ledger(path)
    else:
        with open(path, encoding="utf-8") as f:
            ledger = json.load(f)["ledger"]
    prev = bytes(32)
    n = 0
    for n, e in enumerate(ledger, start=1):
        if e["seq"] != n:
            print(f"entry {e['seq']}: expected entry {n} here (missing or reordered)")
            return 1
        # A backup's rows do not repeat the previous hash: it is the previous row's.
        if "prev_hash" in e and bytes.fromhex(e["prev_hash"]) != prev:
            print(f"entry {n}: prev_hash is not the previous entry's hash")
            return 1
        make = {1: input_v1, 2: input_v2}.get(e["hash_input"])
        if make is None:
            print(f"entry {n}: unknown hash input {e['hash_input']}")
            return 1
        digest = hashlib.sha256(make(prev, e)).digest()
        if digest.hex() != e["hash"]:
            print(f"entry {n}: hash does not match its content (altered)")
            return 1
        prev = digest
    print(f"ok: {n} entries, chain intact, last hash {prev.hex()}")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--backup":
        sys.exit(main(args[1], backup=True))
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    sys.exit(main(args[0]))
