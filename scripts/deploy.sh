#!/usr/bin/env bash
# Deploys FealTY to Linode: builds the binary for the server (scripts/build-release.sh),
# bakes a Packer image, applies terraform/ (server, data volume, firewall, DNS, backup
# bucket), waits for https://<hostname>.<domain>/healthz and prints the one-time owner
# setup link. Run it again to upgrade: FealTY is stopped cleanly on the old server, the
# server is replaced, the volume and bucket stay; images older than the newest two go.
#
# Required: LINODE_TOKEN, FEALTY_DOMAIN (example.com), FEALTY_ACME_EMAIL, and an SSH key
#   (FEALTY_SSH_KEY, a public key file; default ~/.ssh/id_ed25519.pub, id_ecdsa.pub, id_rsa.pub).
# Optional: FEALTY_REGION (nl-ams), FEALTY_TYPE (g6-nanode-1), FEALTY_ADMIN_CIDR
#   (SSH allowed from; default: this machine's public IPv4/32), FEALTY_HOSTNAME (rewards),
#   FEALTY_CREATE_DOMAIN=1 (create the domain in Linode's DNS manager),
#   FEALTY_SKIP_STOP=1 (replace an old server that cannot be stopped cleanly: it is dead),
#   FEALTY_KEEP_IMAGES=1 (keep every older fealty-* image).
# Backups to any S3-compatible bucket instead of Linode Object Storage (all four needed):
#   FEALTY_BACKUP_TO (s3://bucket/prefix), FEALTY_S3_ENDPOINT (https://...),
#   FEALTY_S3_ACCESS_KEY_ID, FEALTY_S3_SECRET_ACCESS_KEY; FEALTY_S3_REGION if it wants one.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "deploy: error: $*" >&2
  exit 1
}
say() { echo "== $*"; }
# remote IP COMMAND: runs COMMAND as root on the server, never asking anything.
remote() { ssh -o StrictHostKeyChecking=accept-new -o ConnectTimeout=15 -o BatchMode=yes "root@$1" "$2"; }
api=https://api.linode.com/v4

for tool in packer terraform cargo curl ssh python3; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool is not installed (needed: packer, terraform, cargo, curl, ssh, python3; see the README's Deploy to Linode)"
done

# json EXPR [ARG...]: evaluates the Python expression EXPR over the JSON document d on
# stdin (ARGs in sys.argv[2:]) and prints the result, a list one item a line.
json() {
  python3 -c 'import json, re, sys
d = json.load(sys.stdin)
r = eval(sys.argv[1])
print("\n".join(map(str, r)) if isinstance(r, list) else r)' "$@"
}

# linode PATH EXPR [ARG...]: GET from the Linode API and evaluate EXPR over the answer
# (see json); dies with the API's own reason on an error.
linode() {
  local out
  out="$(curl -sS --max-time 30 -H "Authorization: Bearer $LINODE_TOKEN" -w '\n%{http_code}' "$api/$1")" ||
    die "could not reach the Linode API ($api/$1)"
  local code="${out##*$'\n'}"
  local body="${out%$'\n'*}"
  if [ "$code" != 200 ]; then
    local reason
    reason="$(json '"; ".join(e.get("reason", "") for e in d.get("errors", []))' <<<"$body" 2>/dev/null || true)"
    die "the Linode API answered $code for GET /v4/$1${reason:+: $reason}"
  fi
  shift
  json "$@" <<<"$body"
}

# A value that goes into the server's systemd environment file.
plain() {
  case "$2" in
    *[\"\'\\\$\`]* | *$'\n'*) die "$1 must not contain quotes, backslashes, dollar signs or line breaks" ;;
  esac
}

[ -n "${LINODE_TOKEN:-}" ] || die "LINODE_TOKEN is not set: make a personal access token at https://cloud.linode.com/profile/tokens"
[ -n "${FEALTY_DOMAIN:-}" ] || die "FEALTY_DOMAIN is not set: your domain, e.g. FEALTY_DOMAIN=example.com"
[ -n "${FEALTY_ACME_EMAIL:-}" ] || die "FEALTY_ACME_EMAIL is not set: an email for Let's Encrypt, e.g. FEALTY_ACME_EMAIL=you@example.com"
case "$FEALTY_DOMAIN" in
  *.*) ;;
  *) die "FEALTY_DOMAIN=$FEALTY_DOMAIN does not look like a domain (example.com)" ;;
esac
case "$FEALTY_ACME_EMAIL" in
  ?*@?*.?*) ;;
  *) die "FEALTY_ACME_EMAIL=$FEALTY_ACME_EMAIL does not look like an email address" ;;
esac
plain FEALTY_DOMAIN "$FEALTY_DOMAIN"
plain FEALTY_ACME_EMAIL "$FEALTY_ACME_EMAIL"
export LINODE_TOKEN

region="${FEALTY_REGION:-nl-ams}"
instance_type="${FEALTY_TYPE:-g6-nanode-1}"
hostname="${FEALTY_HOSTNAME:-rewards}"
fqdn="$hostname.$FEALTY_DOMAIN"
create_domain=false
[ "${FEALTY_CREATE_DOMAIN:-0}" != 1 ] || create_domain=true

# The setup link is read, and FealTY stopped before a redeploy, over SSH: no key, no deploy.
ssh_key_file="${FEALTY_SSH_KEY:-}"
if [ -z "$ssh_key_file" ]; then
  for f in "$HOME/.ssh/id_ed25519.pub" "$HOME/.ssh/id_ecdsa.pub" "$HOME/.ssh/id_rsa.pub"; do
    if [ -f "$f" ]; then
      ssh_key_file="$f"
      break
    fi
  done
fi
[ -n "$ssh_key_file" ] ||
  die "no SSH public key found: make one with ssh-keygen -t ed25519 (it writes ~/.ssh/id_ed25519.pub), or set FEALTY_SSH_KEY=/path/to/key.pub"
[ -f "$ssh_key_file" ] || die "FEALTY_SSH_KEY=$ssh_key_file is not a file (give the public key, e.g. ~/.ssh/id_ed25519.pub)"
ssh_key="$(head -n 1 "$ssh_key_file")"
case "$ssh_key" in
  ssh-* | ecdsa-* | sk-*) ;;
  *) die "$ssh_key_file is not an SSH public key (a line starting ssh-ed25519, ssh-rsa, ...)" ;;
esac

# Backups: Linode Object Storage in the region, or an external S3-compatible bucket.
backup_to="${FEALTY_BACKUP_TO:-}"
s3_endpoint="${FEALTY_S3_ENDPOINT:-}"
s3_region="${FEALTY_S3_REGION:-}"
if [ -n "$backup_to" ]; then
  case "$backup_to" in
    s3://?*) ;;
    *) die "FEALTY_BACKUP_TO=$backup_to is not an s3://bucket/prefix address" ;;
  esac
  [ -n "$s3_endpoint" ] || die "FEALTY_BACKUP_TO is set but FEALTY_S3_ENDPOINT is not: the bucket's https:// S3 endpoint"
  [ -n "${FEALTY_S3_ACCESS_KEY_ID:-}" ] || die "FEALTY_BACKUP_TO is set but FEALTY_S3_ACCESS_KEY_ID is not"
  [ -n "${FEALTY_S3_SECRET_ACCESS_KEY:-}" ] || die "FEALTY_BACKUP_TO is set but FEALTY_S3_SECRET_ACCESS_KEY is not"
  plain FEALTY_BACKUP_TO "$backup_to"
  plain FEALTY_S3_ENDPOINT "$s3_endpoint"
  plain FEALTY_S3_REGION "$s3_region"
  plain FEALTY_S3_ACCESS_KEY_ID "$FEALTY_S3_ACCESS_KEY_ID"
  plain FEALTY_S3_SECRET_ACCESS_KEY "$FEALTY_S3_SECRET_ACCESS_KEY"
else
  for name in FEALTY_S3_ENDPOINT FEALTY_S3_REGION FEALTY_S3_ACCESS_KEY_ID FEALTY_S3_SECRET_ACCESS_KEY; do
    [ -z "${!name:-}" ] || die "$name is set but FEALTY_BACKUP_TO is not: set FEALTY_BACKUP_TO=s3://bucket/prefix for an external bucket, or unset $name"
  done
fi

# Before anything is built: the region must run cloud-init user data (Metadata) and,
# for the Linode bucket, offer Object Storage.
wanted=(Metadata)
[ -n "$backup_to" ] || wanted+=("Object Storage")
wanted_text="${wanted[0]}${wanted[1]:+ and ${wanted[1]}}"
case "$region" in
  *[!a-z0-9-]* | "") die "FEALTY_REGION=$region is not a Linode region id such as nl-ams" ;;
esac
capabilities="$(linode "regions/$region" 'd.get("capabilities", [])')"
for capability in "${wanted[@]}"; do
  if ! grep -qxF "$capability" <<<"$capabilities"; then
    good="$(linode "regions?page_size=500" \
      '[r["id"] for r in d["data"] if r.get("status", "ok") == "ok" and all(c in r.get("capabilities", []) for c in sys.argv[2:])]' \
        "${wanted[@]}" | tr '\n' ' ')"
    die "the region $region does not offer $capability; regions that offer $wanted_text: ${good:-none found }(set FEALTY_REGION)"
  fi
done

admin_cidr="${FEALTY_ADMIN_CIDR:-}"
if [ -z "$admin_cidr" ]; then
  ip="$(curl -fsS4 --max-time 10 https://ifconfig.me 2>/dev/null || true)"
  [ -n "$ip" ] || die "FEALTY_ADMIN_CIDR is not set and this machine's public address could not be found; set e.g. FEALTY_ADMIN_CIDR=203.0.113.7/32"
  admin_cidr="$ip/32"
fi

# The state tells a first deploy from a redeploy.
terraform -chdir=terraform init -input=false
state="$(terraform -chdir=terraform state list 2>/dev/null || true)"
in_state() { grep -qxF "$1" <<<"$state"; }

# destroy.sh --everything keeps a zone deploy.sh made: it cannot be made a second time.
if [ "$create_domain" = true ] && ! in_state 'linode_domain.this[0]'; then
  zones="$(linode "domains?page_size=500" '[x["domain"] for x in d["data"]]')"
  ! grep -qxF "$FEALTY_DOMAIN" <<<"$zones" ||
    die "FEALTY_CREATE_DOMAIN=1 but $FEALTY_DOMAIN is already in Linode's DNS manager: run again without FEALTY_CREATE_DOMAIN"
fi

say "building the binary for the server (x86_64 Linux, glibc 2.36)"
binary="$(scripts/build-release.sh | tail -n 1)"
[ -n "$binary" ] || die "scripts/build-release.sh printed no binary"
# The gate before an image is made: a binary that cannot run on Debian 12 x86_64 stops here.
python3 scripts/check_binary.py "$binary" || die "$binary would not run on the server; nothing was deployed"

say "packer build (a private Debian 12 image with fealty; a few minutes)"
version="$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
rm -f packer/manifest.json
packer init packer/
packer build -var "region=$region" -var "version=$version" -var "binary=$binary" packer/
[ -f packer/manifest.json ] || die "packer did not write packer/manifest.json"
image_id="$(json 'd["builds"][-1]["artifact_id"]' <packer/manifest.json)"
case "$image_id" in
  private/*) ;;
  [0-9]*) image_id="private/$image_id" ;;
  *) die "unexpected image id '$image_id' in packer/manifest.json" ;;
esac
say "image $image_id"

# The inputs stay in a file beside the state, so scripts/destroy.sh needs none of them.
# The external bucket's keys do not: Terraform takes them from the environment.
FEALTY_SSH_KEY_LINE="$ssh_key" python3 - terraform/fealty.auto.tfvars.json \
  "$FEALTY_DOMAIN" "$hostname" "$create_domain" "$FEALTY_ACME_EMAIL" "$region" "$instance_type" \
  "$admin_cidr" "$backup_to" "$s3_endpoint" "$s3_region" <<'PY'
import json, os, sys
path, domain, hostname, create, email, region, itype, cidr, backup_to, endpoint, s3_region = sys.argv[1:]
inputs = {
    "domain": domain, "hostname": hostname, "create_domain": create == "true",
    "acme_email": email, "region": region, "instance_type": itype, "admin_cidr": cidr,
    "ssh_keys": [os.environ["FEALTY_SSH_KEY_LINE"]],
    "backup_to": backup_to, "s3_endpoint": endpoint, "s3_region": s3_region,
}
with open(path, "w") as f:
    json.dump(inputs, f, indent=2)
    f.write("\n")
PY
if [ -n "$backup_to" ]; then
  export TF_VAR_s3_access_key_id="$FEALTY_S3_ACCESS_KEY_ID"
  export TF_VAR_s3_secret_access_key="$FEALTY_S3_SECRET_ACCESS_KEY"
fi

# A redeploy replaces the running server: stop FealTY on it first, so it ships its last
# backup segment and closes the database, and nothing acknowledged is lost.
if in_state 'linode_instance.fealty[0]'; then
  old_ip="$(terraform -chdir=terraform output -raw ipv4 2>/dev/null || true)"
  if [ "${FEALTY_SKIP_STOP:-0}" = 1 ]; then
    say "FEALTY_SKIP_STOP=1: replacing the old server ${old_ip:-} without stopping FealTY on it"
  else
    [ -n "$old_ip" ] || die "the state has a server but no address for it; if it is gone, run again with FEALTY_SKIP_STOP=1"
    say "stopping FealTY on the old server $old_ip (it ships its last backup and closes the database)"
    # The invocation id picks this run's journal, so an older clean stop does not count.
    # shellcheck disable=SC2016 # expanded on the server
    stop='set -e
id="$(systemctl show -p InvocationID --value fealty.service)"
systemctl stop fealty.service
[ -n "$id" ] && journalctl _SYSTEMD_INVOCATION_ID="$id" -o cat --no-pager | grep -q "database closed"'
    remote "$old_ip" "$stop" ||
      die "could not stop FealTY cleanly on $old_ip (no \"database closed\" in journalctl -u fealty); nothing was replaced. Look with: ssh root@$old_ip journalctl -u fealty. If that server is dead, run again with FEALTY_SKIP_STOP=1"
    say "FealTY stopped cleanly on $old_ip"
  fi
fi

say "terraform apply"
terraform -chdir=terraform apply -input=false -auto-approve -var "image_id=$image_id" -var server=true
ipv4="$(terraform -chdir=terraform output -raw ipv4)"

# The first certificate waits until the domain's nameservers lead here, and a failed order
# is retried after 1, 5, then 30 minutes: give it time, and say what the server waits for.
say "waiting for https://$fqdn/healthz (boot, volume, DNS and certificate; usually minutes, up to 45)"
ok=0
for i in $(seq 1 270); do
  # --resolve: do not wait for DNS caches; the certificate is still checked for the name.
  if [ "$(curl -fsS --max-time 10 --resolve "$fqdn:443:$ipv4" "https://$fqdn/healthz" 2>/dev/null || true)" = ok ]; then
    ok=1
    break
  fi
  if [ $((i % 30)) -eq 0 ]; then
    said="$(remote "$ipv4" "journalctl -u fealty -o cat --no-pager | grep -E 'waiting for DNS|certificate|CERTIFICATE' | tail -n 1" 2>/dev/null || true)"
    [ -z "$said" ] || echo "   the server says: $said"
  fi
  sleep 10
done
[ "$ok" = 1 ] || die "https://$fqdn/healthz did not answer within 45 minutes; look with: ssh root@$ipv4 journalctl -u fealty -u fealty-volume -u cloud-final"
say "FealTY answers at https://$fqdn"

# Older images cost money ($0.10/GB a month): keep the newest two and the one in use.
if [ "${FEALTY_KEEP_IMAGES:-0}" = 1 ]; then
  say "FEALTY_KEEP_IMAGES=1: keeping every fealty-* image"
else
  old_images="$(linode "images?page_size=500" '[i["id"] for i in sorted(
      (i for i in d["data"] if not i.get("is_public") and str(i.get("id", "")).startswith("private/")
       and re.fullmatch(r"fealty-[0-9]{8}-[0-9]{6}", i.get("label") or "")),
      key=lambda i: i["label"], reverse=True)[2:] if i["id"] != sys.argv[2]]' "$image_id")"
  for old in $old_images; do
    say "deleting the old image $old"
    curl -fsS --max-time 30 -X DELETE -H "Authorization: Bearer $LINODE_TOKEN" "$api/images/$old" >/dev/null ||
      echo "deploy: warning: could not delete the image $old; delete it in Cloud Manager (Images)" >&2
  done
fi

# The setup link is printed once, at the first start with an empty database.
link="$(remote "$ipv4" \
  "journalctl -u fealty -o cat --no-pager | grep '^setup link: ' | tail -n 1" 2>/dev/null || true)"
if [ -n "$link" ]; then
  echo "${link/setup link: /Open this one-time setup link to create the owner account: }"
else
  echo "No setup link found: either the owner account already exists (an upgrade), or read it with:"
  echo "  ssh root@$ipv4 \"journalctl -u fealty -o cat | grep 'setup link'\""
fi
echo "Backups go to $(terraform -chdir=terraform output -raw bucket); keep the passphrase somewhere safe:"
echo "  terraform -chdir=terraform output -raw backup_passphrase"
