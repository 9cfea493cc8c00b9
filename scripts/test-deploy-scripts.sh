#!/usr/bin/env bash
# shellcheck disable=SC2016 # the fakes are written out with their own $-expressions
# Runs scripts/deploy.sh and scripts/destroy.sh offline, in seconds: terraform, packer,
# curl, ssh, cargo, rustup and zig are small fakes on PATH that record their arguments
# (in calls.log) and answer like the real ones (terraform keeps a state of addresses,
# `state show` of a missing address fails as Terraform does; curl answers the Linode API
# from files). Also checks scripts/check_binary.py on hand-made ELF and Mach-O headers.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python="$(python3 -c 'import sys; print(sys.executable)')"
failures=0
fail() {
  echo "FAIL $case: $*" >&2
  failures=$((failures + 1))
}
# pass: reports the case ok when it added no failure.
pass() {
  [ "$failures" != "${seen:-0}" ] || echo "ok   $case"
  seen=$failures
}

# ---------------------------------------------------------------------------- binaries
# elf.py OUT MACHINE [GLIBC...]: an ELF64 header with MACHINE (62 x86-64, 183 aarch64);
# with GLIBC versions it is dynamic and asks for them in .gnu.version_r, else static.
cat >"$tmp/elf.py" <<'PY'
import struct, sys
out, machine, versions = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
if machine < 0:  # a 64-bit Mach-O header, what cargo builds on a Mac
    open(out, "wb").write(struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 2, 0, 0, 0, 0))
    sys.exit()
strtab = b"\0libc.so.6\0" + b"".join(f"GLIBC_{v}\0".encode() for v in versions)
names, pos = [], len(b"\0libc.so.6\0")
for v in versions:
    names.append(pos)
    pos += len(f"GLIBC_{v}\0")
verneed = b""
if versions:
    verneed = struct.pack("<HHIII", 1, len(versions), 1, 16, 0)
    for i, n in enumerate(names):
        verneed += struct.pack("<IHHII", 0, 0, i + 2, n, 16 if i + 1 < len(names) else 0)
phnum = 2 if versions else 1
phoff = 64
str_off = phoff + 56 * phnum
vn_off = str_off + len(strtab)
shoff = vn_off + len(verneed)
sections = [b"\0" * 64, struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, str_off, len(strtab), 0, 0, 1, 0)]
if versions:
    sections.append(struct.pack("<IIQQQQIIQQ", 0, 0x6FFFFFFE, 2, 0, vn_off, len(verneed), 1, 1, 8, 0))
ident = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
head = ident + struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, phoff, shoff, 0, 64, 56, phnum, 64, len(sections), 0)
kinds = [3, 2] if versions else [1]  # PT_INTERP + PT_DYNAMIC, or one PT_LOAD
ph = b"".join(struct.pack("<IIQQQQQQ", k, 4, 0, 0, 0, 0, 0, 8) for k in kinds)
open(out, "wb").write(head + ph + strtab + verneed + b"".join(sections))
PY
mk() { "$python" "$tmp/elf.py" "$@"; }
mk "$tmp/ok-static" 62
mk "$tmp/ok-236" 62 2.2.5 2.34 2.36
mk "$tmp/new-239" 62 2.2.5 2.39
mk "$tmp/arm" 183 2.17
mk "$tmp/macho" -1

case="check_binary.py accepts x86-64 static and glibc <= 2.36"
out="$("$python" scripts/check_binary.py "$tmp/ok-static" 2>&1)" || fail "static refused: $out"
out="$("$python" scripts/check_binary.py "$tmp/ok-236" 2>&1)" || fail "glibc 2.36 refused: $out"
grep -q "glibc 2.36 at most" <<<"$out" || fail "no glibc version in: $out"
pass
case="check_binary.py refuses glibc 2.39, aarch64 and Mach-O"
for bad in new-239:"needs glibc 2.39" arm:"not x86-64" macho:"not a Linux (ELF)"; do
  if out="$("$python" scripts/check_binary.py "$tmp/${bad%%:*}" 2>&1)"; then
    fail "${bad%%:*} accepted: $out"
  fi
  grep -qF "${bad#*:}" <<<"$out" || fail "${bad%%:*}: want '${bad#*:}' in: $out"
done
pass

# ---------------------------------------------------------------------------- the fakes
bin="$tmp/bin"
mkdir "$bin"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$python" >"$bin/python3"

# The fakes find their world in $FAKE: state (one address a line), api/ (Linode API
# answers, the path with / and ? as _), ssh_rc, binary, calls.log.
cat >"$bin/terraform" <<'SH'
#!/usr/bin/env bash
set -u
case "${1:-}" in -chdir=*) shift ;; esac
echo "terraform $*${TF_VAR_s3_secret_access_key:+ [TF_VAR_s3_secret_access_key set]}" >>"$FAKE/calls.log"
touch "$FAKE/state"
has() { grep -qxF "$1" "$FAKE/state"; }
server='linode_instance.fealty[0]
linode_firewall.fealty[0]
linode_domain_record.a[0]
linode_domain_record.aaaa[0]'
case "$1 ${2:-}" in
  "init "*) echo "Terraform has been successfully initialized!" ;;
  "state list") cat "$FAKE/state" ;;
  "state show")
    addr="${*: -1}"
    if ! has "$addr"; then
      printf 'No instance found for the given address!\n\nThis command requires that the address references one specific instance.\nTo view the available instances, use "terraform state list". Please modify \nthe address to reference a specific instance.\n' >&2
      exit 1
    fi
    printf '# %s:\nresource "x" "y" {\n    id    = "4242"\n    image = "private/555"\n}\n' "$addr"
    ;;
  "state rm")
    has "$3" || { echo "Error: Invalid target address: no matching objects found for $3" >&2; exit 1; }
    grep -vxF "$3" "$FAKE/state" >"$FAKE/state.new"; mv "$FAKE/state.new" "$FAKE/state"
    echo "Removed $3"; echo "Successfully removed 1 resource instance(s)."
    ;;
  "apply "*)
    if [[ " $* " == *" server=false "* ]]; then
      grep -vxF "$server" "$FAKE/state" >"$FAKE/state.new"; mv "$FAKE/state.new" "$FAKE/state"
    else
      grep -vxF "$server" "$FAKE/state" >"$FAKE/state.new"; { cat "$FAKE/state.new"; echo "$server"; } >"$FAKE/state"
    fi
    echo "Apply complete!"
    ;;
  "destroy "*)
    if has linode_volume.data; then
      echo "Error: Instance cannot be destroyed (linode_volume.data has lifecycle.prevent_destroy set)" >&2; exit 1
    fi
    sed 's/^/destroyed /' "$FAKE/state" >>"$FAKE/calls.log"; : >"$FAKE/state"
    echo "Destroy complete!"
    ;;
  "output -raw")
    case "$3" in
      ipv4) if has 'linode_instance.fealty[0]'; then echo 192.0.2.10; else echo "Error: Unsupported value for raw output" >&2; exit 1; fi ;;
      bucket) echo s3://fealty-example-com-abc/fealty ;;
      *) echo "Error: Output \"$3\" not found" >&2; exit 1 ;;
    esac
    ;;
  *) echo "fake terraform: unexpected $*" >&2; exit 1 ;;
esac
SH

cat >"$bin/curl" <<'SH'
#!/usr/bin/env bash
set -u
method=GET url="" write="" fail=0
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -X) method="${args[i + 1]}" ;;
    -w) write="${args[i + 1]}" ;;
    -f*) fail=1 ;;
    https://* | http://*) url="${args[i]}" ;;
  esac
done
echo "curl $method $url" >>"$FAKE/calls.log"
case "$url" in
  */healthz) echo ok; exit 0 ;;
  https://ifconfig.me*) echo 203.0.113.7; exit 0 ;;
  https://api.linode.com/v4/*)
    path="${url#https://api.linode.com/v4/}"
    file="$FAKE/api/$(tr '/?' '__' <<<"$path")"
    code=200 body='{}'
    if [ "$method" = GET ]; then
      if [ -f "$file" ]; then body="$(cat "$file")"; else code=404 body='{"errors": [{"reason": "Not found"}]}'; fi
    fi
    printf '%s' "$body"
    [ -z "$write" ] || printf "${write//%\{http_code\}/$code}"
    [ "$fail" = 0 ] || [ "$code" -lt 400 ] || exit 22
    exit 0
    ;;
esac
echo "fake curl: no answer for $url" >&2
exit 6
SH

cat >"$bin/ssh" <<'SH'
#!/bin/sh
echo "ssh $*" >>"$FAKE/calls.log"
case "$*" in *"setup link"*) echo "setup link: https://rewards.example.com/setup/abc"; exit 0 ;; esac
exit "$(cat "$FAKE/ssh_rc" 2>/dev/null || echo 0)"
SH

cat >"$bin/packer" <<'SH'
#!/bin/sh
echo "packer $*" >>"$FAKE/calls.log"
if [ "$1" = build ]; then
  echo '{"builds": [{"artifact_id": "private/777"}]}' >packer/manifest.json
fi
SH

cat >"$bin/cargo" <<'SH'
#!/bin/sh
echo "cargo $*" >>"$FAKE/calls.log"
[ "$1" = zigbuild ] || { echo "fake cargo: unexpected $*" >&2; exit 1; }
[ "$2" = --help ] && exit 0
mkdir -p target/x86_64-unknown-linux-gnu/release
cp "$FAKE/binary" target/x86_64-unknown-linux-gnu/release/fealty
SH
printf '#!/bin/sh\necho "rustup $*" >>"$FAKE/calls.log"\necho x86_64-unknown-linux-gnu\n' >"$bin/rustup"
printf '#!/bin/sh\necho "zig $*" >>"$FAKE/calls.log"\n' >"$bin/zig"
chmod +x "$bin"/*

# A fresh checkout with the scripts under test and a fake world for them.
world() {
  n=$((${n:-0} + 1))
  co="$tmp/co$n"
  FAKE="$tmp/fake$n"
  mkdir -p "$co/scripts" "$co/terraform" "$co/packer" "$FAKE/api" "$FAKE/home/.ssh"
  cp scripts/deploy.sh scripts/destroy.sh scripts/build-release.sh scripts/check_binary.py "$co/scripts/"
  cp "$tmp/ok-236" "$FAKE/binary"
  : >"$FAKE/calls.log"
  : >"$FAKE/state"
  echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest owner@shop" >"$FAKE/home/.ssh/id_ed25519.pub"
  local all='"Linodes", "Block Storage", "Object Storage", "Cloud Firewall", "Metadata"'
  echo "{\"id\": \"nl-ams\", \"status\": \"ok\", \"capabilities\": [$all]}" >"$FAKE/api/regions_nl-ams"
  echo '{"id": "xx-old", "status": "ok", "capabilities": ["Linodes", "Block Storage"]}' >"$FAKE/api/regions_xx-old"
  echo '{"id": "xx-nos3", "status": "ok", "capabilities": ["Linodes", "Metadata"]}' >"$FAKE/api/regions_xx-nos3"
  cat >"$FAKE/api/regions_page_size=500" <<JSON
{"data": [{"id": "nl-ams", "status": "ok", "capabilities": [$all]},
          {"id": "us-mia", "status": "ok", "capabilities": [$all]},
          {"id": "xx-old", "status": "ok", "capabilities": ["Linodes", "Block Storage"]},
          {"id": "xx-nos3", "status": "ok", "capabilities": ["Linodes", "Metadata"]}]}
JSON
  echo '{"data": []}' >"$FAKE/api/images_page_size=500"
  echo '{"data": []}' >"$FAKE/api/domains_page_size=500"
  export FAKE
}
tfvars() {
  cat >"$co/terraform/fealty.auto.tfvars.json" <<JSON
{
  "domain": "example.com",
  "hostname": "rewards",
  "create_domain": $1,
  "acme_email": "owner@example.com",
  "region": "nl-ams",
  "backup_to": ""
}
JSON
}
state() { printf '%s\n' "$@" >"$FAKE/state"; }
stored='linode_volume.data
linode_object_storage_bucket.backups[0]
linode_object_storage_key.backups[0]
random_id.bucket
random_password.backup'
server='linode_instance.fealty[0]
linode_firewall.fealty[0]
linode_domain_record.a[0]
linode_domain_record.aaaa[0]'

# run SCRIPT [ARGS...]: runs the copy in the current world with only the fakes and the
# base system on PATH; stdin from $answer; sets $rc and $out (stdout and stderr).
run() {
  rc=0
  out="$(cd "$co" && printf '%s\n' "${answer:-}" |
    env -i PATH="$bin:/usr/bin:/bin" HOME="$FAKE/home" FAKE="$FAKE" LINODE_TOKEN=tok \
      FEALTY_DOMAIN=example.com FEALTY_ACME_EMAIL=owner@example.com FEALTY_ADMIN_CIDR=203.0.113.7/32 \
      "${extra_env[@]}" bash "scripts/$1" "${@:2}" 2>&1)" || rc=$?
}
extra_env=()
calls() { cat "$FAKE/calls.log"; }
has_call() { grep -qF -- "$1" "$FAKE/calls.log"; }
# before A B: the first call matching A comes before the first matching B.
before() {
  local a b
  a="$(grep -nF -- "$1" "$FAKE/calls.log" | head -n 1 | cut -d: -f1)"
  b="$(grep -nF -- "$2" "$FAKE/calls.log" | head -n 1 | cut -d: -f1)"
  [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]
}

# ---------------------------------------------------------------------------- destroy.sh
case="destroy.sh twice against a state with no server"
world
tfvars false
state "$stored"
for attempt in 1 2; do
  : >"$FAKE/calls.log"
  run destroy.sh
  [ "$rc" = 0 ] || fail "run $attempt: exit $rc: $out"
  grep -q "No FealTY server in the Terraform state: it is already gone" <<<"$out" || fail "run $attempt: no clear message: $out"
  [ "$(calls)" = "$(printf 'terraform init -input=false\nterraform state list')" ] || fail "run $attempt: calls: $(calls)"
done
pass

case="destroy.sh, destroy.sh again, then destroy.sh --everything"
world
tfvars false
state "$stored" "$server"
run destroy.sh
[ "$rc" = 0 ] || fail "first: exit $rc: $out"
has_call "terraform apply -input=false -auto-approve -var image_id=private/555 -var server=false" || fail "first: no apply with the server's image: $(calls)"
run destroy.sh
{ [ "$rc" = 0 ] && grep -q "already gone" <<<"$out"; } || fail "second: exit $rc: $out"
: >"$FAKE/calls.log"
answer=example.com run destroy.sh --everything
[ "$rc" = 0 ] || fail "--everything: exit $rc: $out"
has_call "curl DELETE https://api.linode.com/v4/volumes/4242" || fail "--everything: volume not deleted: $(calls)"
has_call "destroyed linode_object_storage_bucket.backups[0]" || fail "--everything: bucket not destroyed: $(calls)"
! has_call "terraform apply" || fail "--everything: applied again with no server: $(calls)"
[ ! -f "$co/terraform/fealty.auto.tfvars.json" ] || fail "--everything: inputs left behind"
run destroy.sh --everything
{ [ "$rc" = 0 ] && grep -q "Nothing to remove" <<<"$out"; } || fail "--everything again: exit $rc: $out"
pass

case="destroy.sh --everything keeps a zone deploy.sh created, and says so first"
world
tfvars true
state "$stored" "$server" 'linode_domain.this[0]'
answer=example.com run destroy.sh --everything
[ "$rc" = 0 ] || fail "exit $rc: $out"
prompt="$(sed -n '1,/Type the domain/p' <<<"$out")"
grep -q "the DNS zone example.com in Linode's DNS manager and its other records (MX...); add --delete-zone" <<<"$prompt" ||
  fail "no word before the confirmation that the zone stays: $out"
grep -q 'bills \$5 a month even with no bucket' <<<"$prompt" || fail "no word on Object Storage billing before the confirmation: $out"
before "terraform state rm linode_domain.this[0]" "terraform destroy" || fail "the zone was not taken out of the state before destroy: $(calls)"
! has_call "destroyed linode_domain.this[0]" || fail "the zone was destroyed: $(calls)"
pass

case="destroy.sh --everything --delete-zone deletes the zone"
world
tfvars true
state "$stored" 'linode_domain.this[0]'
answer=example.com run destroy.sh --everything --delete-zone
[ "$rc" = 0 ] || fail "exit $rc: $out"
grep -q "the DNS zone example.com with every record in it (MX too)" <<<"$out" || fail "no warning: $out"
has_call "destroyed linode_domain.this[0]" || fail "the zone was not destroyed: $(calls)"
pass

case="destroy.sh --everything not confirmed deletes nothing"
world
tfvars false
state "$stored" "$server"
answer=nope run destroy.sh --everything
{ [ "$rc" = 1 ] && grep -q "not confirmed; nothing was deleted" <<<"$out"; } || fail "exit $rc: $out"
{ ! has_call "terraform apply" && ! has_call "curl"; } || fail "calls: $(calls)"
pass

# ---------------------------------------------------------------------------- deploy.sh
case="deploy.sh without an SSH key stops before calling anything"
world
rm "$FAKE/home/.ssh/id_ed25519.pub"
run deploy.sh
[ "$rc" = 1 ] || fail "exit $rc"
grep -q "no SSH public key found: make one with ssh-keygen -t ed25519.*FEALTY_SSH_KEY" <<<"$out" || fail "message: $out"
[ ! -s "$FAKE/calls.log" ] || fail "calls: $(calls)"
pass

case="deploy.sh refuses a region without Metadata, naming good regions"
world
extra_env=(FEALTY_REGION=xx-old)
run deploy.sh
extra_env=()
[ "$rc" = 1 ] || fail "exit $rc: $out"
grep -q "the region xx-old does not offer Metadata; regions that offer Metadata and Object Storage: nl-ams us-mia (set FEALTY_REGION)" <<<"$out" || fail "message: $out"
{ ! has_call cargo && ! has_call packer && ! has_call terraform; } || fail "built or applied: $(calls)"
pass

case="deploy.sh refuses an unknown region with the API's reason"
world
extra_env=(FEALTY_REGION=xx-nope)
run deploy.sh
extra_env=()
{ [ "$rc" = 1 ] && [ "$out" = "deploy: error: the Linode API answered 404 for GET /v4/regions/xx-nope: Not found" ]; } ||
  fail "exit $rc: $out"
pass

case="deploy.sh refuses a region without Object Storage"
world
extra_env=(FEALTY_REGION=xx-nos3)
run deploy.sh
extra_env=()
{ [ "$rc" = 1 ] && grep -q "does not offer Object Storage; regions that offer Metadata and Object Storage: nl-ams us-mia" <<<"$out"; } || fail "exit $rc: $out"
! has_call packer || fail "built: $(calls)"
pass

case="first deploy: portable build, image, apply, setup link, keeps the newest two images"
world
cat >"$FAKE/api/images_page_size=500" <<'JSON'
{"data": [
  {"id": "private/1", "label": "fealty-20260101-120000", "is_public": false},
  {"id": "private/3", "label": "fealty-20260301-120000", "is_public": false},
  {"id": "private/777", "label": "fealty-20261202-010000", "is_public": false},
  {"id": "private/2", "label": "fealty-20260201-120000", "is_public": false},
  {"id": "private/4", "label": "fealty-20260401-120000", "is_public": false},
  {"id": "private/9", "label": "my-other-image", "is_public": false},
  {"id": "linode/debian12", "label": "Debian 12", "is_public": true}]}
JSON
run deploy.sh
[ "$rc" = 0 ] || fail "exit $rc: $out"
has_call "cargo zigbuild --locked --target x86_64-unknown-linux-gnu.2.36 --release" || fail "no zigbuild: $(calls)"
has_call "packer build -var region=nl-ams -var version=dev -var binary=target/x86_64-unknown-linux-gnu/release/fealty packer/" || fail "packer: $(calls)"
has_call "terraform apply -input=false -auto-approve -var image_id=private/777 -var server=true" || fail "apply: $(calls)"
! grep -q "systemctl stop" "$FAKE/calls.log" || fail "stopped a server on a first deploy: $(calls)"
deleted="$(grep '^curl DELETE' "$FAKE/calls.log" | sed 's|.*/images/||' | sort | tr '\n' ' ')"
[ "$deleted" = "private/1 private/2 private/3 " ] || fail "deleted images: '$deleted'"
grep -q "Open this one-time setup link to create the owner account: https://rewards.example.com/setup/abc" <<<"$out" || fail "no link: $out"
"$python" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ssh_keys"] == ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest owner@shop"], d; assert d["backup_to"] == "", d' \
  "$co/terraform/fealty.auto.tfvars.json" || fail "inputs: $(cat "$co/terraform/fealty.auto.tfvars.json")"
pass

case="FEALTY_KEEP_IMAGES=1 keeps every image"
: >"$FAKE/calls.log"
extra_env=(FEALTY_KEEP_IMAGES=1 FEALTY_SKIP_STOP=1)
run deploy.sh
extra_env=()
[ "$rc" = 0 ] || fail "exit $rc: $out"
! has_call "curl DELETE" || fail "deleted: $(calls)"
pass

case="deploy.sh refuses a binary for a newer glibc before packer runs"
world
cp "$tmp/new-239" "$FAKE/binary"
run deploy.sh
{ [ "$rc" = 1 ] && grep -q "needs glibc 2.39 but the server has 2.36" <<<"$out"; } || fail "exit $rc: $out"
{ ! has_call packer && ! has_call "terraform apply"; } || fail "calls: $(calls)"
pass

case="redeploy stops FealTY on the old server over SSH, after the image, before apply"
world
tfvars false
state "$stored" "$server"
run deploy.sh
[ "$rc" = 0 ] || fail "exit $rc: $out"
{ grep -q "^ssh .*root@192.0.2.10" "$FAKE/calls.log" && grep -qx "systemctl stop fealty.service" "$FAKE/calls.log"; } || fail "no stop over SSH: $(calls)"
grep -q 'grep -q "database closed"' "$FAKE/calls.log" || fail "the stop does not look for database closed: $(calls)"
{ before "packer build" "systemctl stop" && before "systemctl stop" "terraform apply"; } || fail "order: $(calls)"
pass

case="redeploy refuses to replace a server it could not stop cleanly"
world
tfvars false
state "$stored" "$server"
echo 1 >"$FAKE/ssh_rc"
run deploy.sh
[ "$rc" = 1 ] || fail "exit $rc: $out"
grep -q 'could not stop FealTY cleanly on 192.0.2.10 (no "database closed" in journalctl -u fealty); nothing was replaced.*FEALTY_SKIP_STOP=1' <<<"$out" || fail "message: $out"
! has_call "terraform apply" || fail "applied: $(calls)"
: >"$FAKE/calls.log"
extra_env=(FEALTY_SKIP_STOP=1)
run deploy.sh
extra_env=()
{ [ "$rc" = 0 ] && has_call "terraform apply"; } || fail "FEALTY_SKIP_STOP=1: exit $rc: $out"
! grep -q "systemctl stop" "$FAKE/calls.log" || fail "FEALTY_SKIP_STOP=1 still stopped: $(calls)"
pass

case="external bucket: no Object Storage needed in the region, variables passed"
world
extra_env=(FEALTY_REGION=xx-nos3 FEALTY_BACKUP_TO=s3://my-b2-bucket/shop FEALTY_S3_ENDPOINT=https://s3.us-west-004.backblazeb2.com
  FEALTY_S3_REGION=us-west-004 FEALTY_S3_ACCESS_KEY_ID=0040abc FEALTY_S3_SECRET_ACCESS_KEY=K004secret/x+y)
run deploy.sh
extra_env=()
[ "$rc" = 0 ] || fail "exit $rc: $out"
has_call "terraform apply -input=false -auto-approve -var image_id=private/777 -var server=true [TF_VAR_s3_secret_access_key set]" ||
  fail "the secret key did not reach terraform: $(calls)"
"$python" -c 'import json,sys; d=json.load(open(sys.argv[1]))
assert (d["backup_to"], d["s3_endpoint"], d["s3_region"]) == ("s3://my-b2-bucket/shop", "https://s3.us-west-004.backblazeb2.com", "us-west-004"), d
assert "K004secret/x+y" not in open(sys.argv[1]).read()' "$co/terraform/fealty.auto.tfvars.json" ||
  fail "inputs: $(cat "$co/terraform/fealty.auto.tfvars.json")"
pass

case="external bucket: a value with a quote or a missing key is refused before anything runs"
world
extra_env=(FEALTY_BACKUP_TO='s3://b/"x' FEALTY_S3_ENDPOINT=https://e FEALTY_S3_ACCESS_KEY_ID=a FEALTY_S3_SECRET_ACCESS_KEY=b)
run deploy.sh
{ [ "$rc" = 1 ] && grep -q "FEALTY_BACKUP_TO must not contain quotes" <<<"$out"; } || fail "quote: exit $rc: $out"
extra_env=(FEALTY_BACKUP_TO=s3://b/x FEALTY_S3_ENDPOINT=https://e FEALTY_S3_ACCESS_KEY_ID=a)
run deploy.sh
{ [ "$rc" = 1 ] && grep -q "FEALTY_S3_SECRET_ACCESS_KEY is not" <<<"$out"; } || fail "missing key: exit $rc: $out"
extra_env=()
[ ! -s "$FAKE/calls.log" ] || fail "calls: $(calls)"
pass

case="FEALTY_CREATE_DOMAIN=1 with the zone kept by destroy.sh --everything is refused before the build"
world
echo '{"data": [{"id": 1, "domain": "example.com"}]}' >"$FAKE/api/domains_page_size=500"
extra_env=(FEALTY_CREATE_DOMAIN=1)
run deploy.sh
extra_env=()
{ [ "$rc" = 1 ] && grep -q "example.com is already in Linode's DNS manager: run again without FEALTY_CREATE_DOMAIN" <<<"$out"; } ||
  fail "exit $rc: $out"
! has_call cargo || fail "built: $(calls)"
pass

if [ "$failures" -gt 0 ]; then
  echo "test-deploy-scripts: $failures failure(s)" >&2
  exit 1
fi
echo "test-deploy-scripts: all passed"
