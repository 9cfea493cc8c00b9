#!/usr/bin/env bash
# Takes FealTY off Linode.
#
#   scripts/destroy.sh               removes the server, its firewall and DNS records;
#                                    keeps the data volume and the backup bucket, so
#                                    scripts/deploy.sh brings it back with every point
#   scripts/destroy.sh --everything  also deletes the volume and the backup bucket, after
#                                    you type the domain to confirm. There is no undo.
#                                    A DNS zone deploy.sh created (FEALTY_CREATE_DOMAIN=1)
#                                    stays, with its other records (MX...), unless you
#                                    add --delete-zone.
#
# Safe to run again: what is already gone is skipped. Needs LINODE_TOKEN and the
# Terraform state that scripts/deploy.sh left in terraform/.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "destroy: error: $*" >&2
  exit 1
}
say() { echo "== $*"; }

everything=0
delete_zone=0
for arg in "$@"; do
  case "$arg" in
    --everything) everything=1 ;;
    --delete-zone) delete_zone=1 ;;
    -h | --help)
      sed -n '2,14p' "$0"
      exit 0
      ;;
    *) die "unknown argument $arg (use nothing, --everything, or --everything --delete-zone)" ;;
  esac
done
[ "$delete_zone" = 0 ] || [ "$everything" = 1 ] || die "--delete-zone goes with --everything"

for tool in terraform curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done
[ -n "${LINODE_TOKEN:-}" ] || die "LINODE_TOKEN is not set: make a personal access token at https://cloud.linode.com/profile/tokens"
export LINODE_TOKEN
terraform -chdir=terraform init -input=false >/dev/null

# What is left: `state show` fails on an address that is not there, so ask `state list`.
state="$(terraform -chdir=terraform state list 2>/dev/null || true)"
in_state() { grep -qxF "$1" <<<"$state"; }
server_parts="$(grep -E '^(linode_instance\.fealty|linode_firewall\.fealty|linode_domain_record\.)' <<<"$state" || true)"

if [ ! -f terraform/fealty.auto.tfvars.json ]; then
  [ -n "$state" ] || {
    echo "Nothing to remove: the Terraform state in terraform/ holds no FealTY resources."
    exit 0
  }
  die "terraform/fealty.auto.tfvars.json is missing: run this from the checkout that deployed"
fi
input() { sed -n "s/^ *\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" terraform/fealty.auto.tfvars.json | head -n 1; }
domain="$(input domain)"

# Terraform wants an image id; any valid one will do once the server is going away.
image_id="private/0"
if in_state 'linode_instance.fealty[0]'; then
  shown="$(terraform -chdir=terraform state show -no-color 'linode_instance.fealty[0]' || true)"
  found="$(sed -n 's/^ *image *= *"\(private\/[0-9]*\)".*/\1/p' <<<"$shown" | head -n 1)"
  image_id="${found:-$image_id}"
fi

# Not `terraform destroy -target=...`: a destroy target takes its dependents with it,
# and the volume (attached to the server) is one of them. server=false removes the
# server, the firewall and the DNS records and detaches the volume.
remove_server() {
  if [ -z "$server_parts" ]; then
    echo "No FealTY server in the Terraform state: it is already gone."
    return
  fi
  say "removing the server, its firewall and DNS records"
  terraform -chdir=terraform apply -input=false -auto-approve -var "image_id=$image_id" -var server=false
}

if [ "$everything" = 0 ]; then
  remove_server
  echo "Done: the data volume and the backup bucket stay; scripts/deploy.sh brings FealTY back with the same data."
  exit 0
fi

# --everything: say what goes and what stays, then ask.
external="$(input backup_to)"
zone_ours=0
! in_state 'linode_domain.this[0]' || zone_ours=1
echo "This deletes, for $domain:"
[ -z "$server_parts" ] || echo "  - the FealTY server, its firewall and its DNS records (A, AAAA)"
! in_state linode_volume.data || echo "  - the data volume: every member and point on it"
if in_state 'linode_object_storage_bucket.backups[0]' || in_state linode_object_storage_bucket.backups; then
  echo "  - the backup bucket and its key (empty the bucket first: Linode refuses a bucket that holds backups)"
fi
[ "$zone_ours" = 0 ] || [ "$delete_zone" = 0 ] || echo "  - the DNS zone $domain with every record in it (MX too)"
echo "It keeps:"
if [ "$zone_ours" = 1 ] && [ "$delete_zone" = 0 ]; then
  echo "  - the DNS zone $domain in Linode's DNS manager and its other records (MX...); add --delete-zone to delete it too"
elif [ "$zone_ours" = 0 ]; then
  echo "  - the DNS zone $domain (not in this Terraform state; not touched)"
fi
[ -z "$external" ] || echo "  - the external bucket $external and the backups in it (delete them there)"
echo "  - your Linode Object Storage subscription, once enabled: it bills \$5 a month even with no bucket"
echo "    left, until you cancel it in Cloud Manager (Account > Settings > Object Storage)"
echo "Every member and point is lost unless you have a copy elsewhere. There is no undo."
read -r -p "Type the domain ($domain) to confirm: " answer
[ "$answer" = "$domain" ] || die "not confirmed; nothing was deleted"

remove_server

# The volume has prevent_destroy in Terraform, so it is deleted through the API.
if in_state linode_volume.data; then
  shown="$(terraform -chdir=terraform state show -no-color linode_volume.data || true)"
  volume_id="$(sed -n 's/^ *id *= *"\{0,1\}\([0-9]*\)"\{0,1\}$/\1/p' <<<"$shown" | head -n 1)"
  [ -n "$volume_id" ] || die "could not read the volume's id from the Terraform state"
  say "deleting volume $volume_id"
  deleted=0
  for _ in $(seq 1 30); do
    if curl -fsS -X DELETE -H "Authorization: Bearer $LINODE_TOKEN" \
      "https://api.linode.com/v4/volumes/$volume_id" >/dev/null 2>&1; then
      deleted=1
      break
    fi
    sleep 10 # still detaching
  done
  [ "$deleted" = 1 ] || die "could not delete volume $volume_id; delete it in Cloud Manager and run this again"
  terraform -chdir=terraform state rm linode_volume.data
fi

# Terraform forgets the zone instead of deleting it.
if [ "$zone_ours" = 1 ] && [ "$delete_zone" = 0 ]; then
  say "keeping the DNS zone $domain (Terraform forgets it)"
  terraform -chdir=terraform state rm 'linode_domain.this[0]'
fi

say "deleting what is left (the backup bucket and its key$([ "$delete_zone" = 0 ] || echo ', the DNS zone'))"
terraform -chdir=terraform destroy -input=false -auto-approve -var "image_id=$image_id" -var server=false
rm -f terraform/fealty.auto.tfvars.json
echo "Done: everything is gone."
[ "$zone_ours" = 0 ] || [ "$delete_zone" = 1 ] ||
  echo "The DNS zone $domain stays in Linode's DNS manager: deploy again without FEALTY_CREATE_DOMAIN."
echo "Linode Object Storage, once enabled, bills \$5 a month until you cancel it in Cloud Manager (Account > Settings > Object Storage)."
