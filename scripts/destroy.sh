#!/usr/bin/env bash
# Takes FealTY off Linode.
#
#   scripts/destroy.sh               removes the server, its firewall and DNS records;
#                                    keeps the data volume and the backup bucket, so
#                                    scripts/deploy.sh brings it back with every point
#   scripts/destroy.sh --everything  also deletes the volume and the bucket, after you
#                                    type the domain to confirm. There is no undo.
#
# Needs LINODE_TOKEN and the Terraform state that scripts/deploy.sh left in terraform/.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "destroy: error: $*" >&2
  exit 1
}

everything=0
case "${1:-}" in
  "") ;;
  --everything) everything=1 ;;
  -h | --help)
    sed -n '2,10p' "$0"
    exit 0
    ;;
  *) die "unknown argument $1 (use --everything or nothing)" ;;
esac

for tool in terraform curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done
[ -n "${LINODE_TOKEN:-}" ] || die "LINODE_TOKEN is not set: make a personal access token at https://cloud.linode.com/profile/tokens"
export LINODE_TOKEN
[ -f terraform/fealty.auto.tfvars.json ] ||
  die "terraform/fealty.auto.tfvars.json is missing: run this from the checkout that deployed"
terraform -chdir=terraform init -input=false >/dev/null

# The image id of the current server (any valid id will do once the server is going away).
image_id="$(terraform -chdir=terraform state show -no-color 'linode_instance.fealty[0]' 2>/dev/null |
  sed -n 's/^ *image *= *"\(private\/[0-9]*\)".*/\1/p' | head -n 1)"
image_id="${image_id:-private/0}"

if [ "$everything" = 0 ]; then
  # Not `terraform destroy -target=...`: a destroy target takes its dependents with it,
  # and the volume (attached to the server) is one of them. server=false removes the
  # server, the firewall and the DNS records and detaches the volume.
  echo "== removing the server and its firewall; the data volume and the backup bucket stay"
  terraform -chdir=terraform apply -input=false -auto-approve -var "image_id=$image_id" -var server=false
  echo "Done. scripts/deploy.sh brings FealTY back with the same data."
  exit 0
fi

domain="$(sed -n 's/^ *"domain": *"\([^"]*\)".*/\1/p' terraform/fealty.auto.tfvars.json)"
echo "This deletes the FealTY server, its data volume and the backup bucket for $domain."
echo "Every member and point is lost unless you have a copy elsewhere. There is no undo."
read -r -p "Type the domain ($domain) to confirm: " answer
[ "$answer" = "$domain" ] || die "not confirmed; nothing was deleted"

echo "== removing the server, firewall and DNS records"
terraform -chdir=terraform apply -input=false -auto-approve -var "image_id=$image_id" -var server=false

# The volume has prevent_destroy in Terraform, so it is deleted through the API.
volume_id="$(terraform -chdir=terraform state show -no-color linode_volume.data 2>/dev/null |
  sed -n 's/^ *id *= *"\{0,1\}\([0-9]*\)"\{0,1\}$/\1/p' | head -n 1)"
if [ -n "$volume_id" ]; then
  echo "== deleting volume $volume_id"
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

echo "== deleting the backup bucket and its key (Linode refuses a bucket that still holds backups:"
echo "   empty it first, e.g. in Cloud Manager or with s3cmd, and run this again)"
terraform -chdir=terraform destroy -input=false -auto-approve -var "image_id=$image_id" -var server=false
rm -f terraform/fealty.auto.tfvars.json
echo "Done: everything is gone."
