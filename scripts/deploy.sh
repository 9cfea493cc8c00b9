#!/usr/bin/env bash
# Deploys FealTY to Linode: builds the release binary, bakes a Packer image, applies
# terraform/ (server, data volume, firewall, DNS, backup bucket), waits for
# https://<hostname>.<domain>/healthz and prints the one-time owner setup link.
# Run it again to upgrade: the server is replaced, the volume and bucket stay.
#
# Required: LINODE_TOKEN, FEALTY_DOMAIN (example.com), FEALTY_ACME_EMAIL.
# Optional: FEALTY_REGION (nl-ams), FEALTY_TYPE (g6-nanode-1), FEALTY_ADMIN_CIDR
#   (SSH allowed from; default: this machine's public IPv4/32), FEALTY_SSH_KEY (a public
#   key file; default ~/.ssh/id_ed25519.pub or ~/.ssh/id_rsa.pub), FEALTY_HOSTNAME
#   (rewards), FEALTY_CREATE_DOMAIN=1 (create the domain in Linode's DNS manager).
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "deploy: error: $*" >&2
  exit 1
}
say() { echo "== $*"; }

for tool in packer terraform cargo curl ssh; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool is not installed (needed: packer, terraform, cargo, curl, ssh; see the README's Deploy to Linode)"
done
if command -v jq >/dev/null 2>&1; then
  json_get() { jq -r "$1" "$2"; }
elif command -v python3 >/dev/null 2>&1; then
  json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); print(eval(sys.argv[1], {"d": d}))' "$3" "$2"; }
else
  die "jq or python3 is needed to read packer/manifest.json"
fi

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
export LINODE_TOKEN

region="${FEALTY_REGION:-nl-ams}"
instance_type="${FEALTY_TYPE:-g6-nanode-1}"
hostname="${FEALTY_HOSTNAME:-rewards}"
fqdn="$hostname.$FEALTY_DOMAIN"
create_domain=false
[ "${FEALTY_CREATE_DOMAIN:-0}" != 1 ] || create_domain=true

admin_cidr="${FEALTY_ADMIN_CIDR:-}"
if [ -z "$admin_cidr" ]; then
  ip="$(curl -fsS4 --max-time 10 https://ifconfig.me 2>/dev/null || true)"
  [ -n "$ip" ] || die "FEALTY_ADMIN_CIDR is not set and this machine's public address could not be found; set e.g. FEALTY_ADMIN_CIDR=203.0.113.7/32"
  admin_cidr="$ip/32"
fi

ssh_key_file="${FEALTY_SSH_KEY:-}"
if [ -z "$ssh_key_file" ]; then
  for f in "$HOME/.ssh/id_ed25519.pub" "$HOME/.ssh/id_ecdsa.pub" "$HOME/.ssh/id_rsa.pub"; do
    if [ -f "$f" ]; then
      ssh_key_file="$f"
      break
    fi
  done
fi
ssh_keys_json="[]"
if [ -n "$ssh_key_file" ]; then
  [ -f "$ssh_key_file" ] || die "FEALTY_SSH_KEY=$ssh_key_file is not a file (give the public key, e.g. ~/.ssh/id_ed25519.pub)"
  key="$(head -n 1 "$ssh_key_file")"
  case "$key" in
    ssh-* | ecdsa-* | sk-*) ;;
    *) die "$ssh_key_file is not an SSH public key (a line starting ssh-ed25519, ssh-rsa, ...)" ;;
  esac
  ssh_keys_json="[\"$key\"]"
else
  echo "deploy: note: no SSH public key found (FEALTY_SSH_KEY): the setup link cannot be read over SSH" >&2
fi

say "cargo build --release"
cargo build --release --locked

say "packer build (a private Debian 12 image with fealty; a few minutes)"
version="$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
rm -f packer/manifest.json
packer init packer/
packer build -var "region=$region" -var "version=$version" -var "binary=target/release/fealty" packer/
[ -f packer/manifest.json ] || die "packer did not write packer/manifest.json"
image_id="$(json_get '.builds[-1].artifact_id' packer/manifest.json 'd["builds"][-1]["artifact_id"]')"
case "$image_id" in
  private/*) ;;
  [0-9]*) image_id="private/$image_id" ;;
  *) die "unexpected image id '$image_id' in packer/manifest.json" ;;
esac
say "image $image_id"

# The inputs stay in a file beside the state, so scripts/destroy.sh needs none of them.
cat >terraform/fealty.auto.tfvars.json <<JSON
{
  "domain": "$FEALTY_DOMAIN",
  "hostname": "$hostname",
  "create_domain": $create_domain,
  "acme_email": "$FEALTY_ACME_EMAIL",
  "region": "$region",
  "instance_type": "$instance_type",
  "admin_cidr": "$admin_cidr",
  "ssh_keys": $ssh_keys_json
}
JSON

say "terraform apply"
terraform -chdir=terraform init -input=false
terraform -chdir=terraform apply -input=false -auto-approve -var "image_id=$image_id" -var server=true
ipv4="$(terraform -chdir=terraform output -raw ipv4)"

say "waiting for https://$fqdn/healthz (DNS, boot, volume and certificate; up to 15 minutes)"
ok=0
for _ in $(seq 1 90); do
  # --resolve: do not wait for DNS caches; the certificate is still checked for the name.
  if [ "$(curl -fsS --max-time 10 --resolve "$fqdn:443:$ipv4" "https://$fqdn/healthz" 2>/dev/null || true)" = ok ]; then
    ok=1
    break
  fi
  sleep 10
done
[ "$ok" = 1 ] || die "https://$fqdn/healthz did not answer within 15 minutes; look with: ssh root@$ipv4 journalctl -u fealty -u cloud-final"
say "FealTY answers at https://$fqdn"

# The setup link is printed once, at the first start with an empty database.
link=""
if [ -n "$ssh_key_file" ]; then
  link="$(ssh -o StrictHostKeyChecking=accept-new -o ConnectTimeout=15 -o BatchMode=yes "root@$ipv4" \
    "journalctl -u fealty -o cat --no-pager | grep '^setup link: ' | tail -n 1" 2>/dev/null || true)"
fi
if [ -n "$link" ]; then
  echo "${link/setup link: /Open this one-time setup link to create the owner account: }"
else
  echo "No setup link found: either the owner account already exists (an upgrade), or read it with:"
  echo "  ssh root@$ipv4 \"journalctl -u fealty -o cat | grep 'setup link'\""
fi
echo "Backups go to $(terraform -chdir=terraform output -raw bucket); keep the passphrase somewhere safe:"
echo "  terraform -chdir=terraform output -raw backup_passphrase"
