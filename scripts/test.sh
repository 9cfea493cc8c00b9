#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, unit and integration tests.
# Installs what the tests need when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }

if ! need cargo; then
  echo "error: cargo is not installed; install Rust (https://rustup.rs) and run again" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    if need rustup; then
      rustup component add "$component"
    else
      echo "error: cargo $component is missing and rustup is not there to add it" >&2
      exit 1
    fi
  fi
done

# The browser tests (tests/browser.rs, tests/customer_browser.rs, tests/tables_browser.rs) drive headless Chromium through
# chromedriver, read QR codes and barcodes with zbarimg, and PDFs with pdfinfo and pdftoppm;
# the TLS test (tests/tls.rs) runs Let's Encrypt's test CA, Pebble, and makes its CA with openssl;
# the backup tests (tests/backup.rs) run docs/backup-format.md's recipe with zstd (and age), and
# draw progress on a pseudo-terminal made by util-linux's script; npm fetches axe-core for the
# accessibility test (tests/a11y_browser.rs).
browser_tools=(chromium:chromium chromedriver:chromium-driver zbarimg:zbar-tools
  pdfinfo:poppler-utils pdftoppm:poppler-utils pebble:pebble pebble-challtestsrv:pebble
  openssl:openssl zstd:zstd age:age script:bsdutils npm:npm)
missing_packages() {
  for tool in "${browser_tools[@]}"; do
    need "${tool%%:*}" || echo "${tool#*:}"
  done | sort -u | tr '\n' ' '
}
missing="$(missing_packages)"
if [ -n "$missing" ]; then
  as_root=()
  if [ "$(id -u)" -ne 0 ] && need sudo; then
    as_root=(sudo)
  fi
  if need apt-get && { [ "$(id -u)" -eq 0 ] || [ ${#as_root[@]} -gt 0 ]; }; then
    echo "== apt-get install $missing"
    # shellcheck disable=SC2086,SC2015 # one word per package; a failed install is reported below
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing ||
      true
  fi
  missing="$(missing_packages)"
  if [ -n "$missing" ]; then
    echo "error: the tests need chromium, chromedriver, zbarimg, pdfinfo, pdftoppm, pebble, openssl, zstd, age, script and npm, and the Debian packages $missing could not be installed" >&2
    exit 1
  fi
fi

# The backup tests (tests/backup.rs) run moto's S3 server on loopback.
if ! need moto_server; then
  if need python3; then
    echo "== python3 -m pip install 'moto[server]'"
    python3 -m pip install --quiet 'moto[server]' ||
      python3 -m pip install --quiet --break-system-packages 'moto[server]' || true
    # pip may put the command where PATH does not look yet (pyenv shims, a --user install).
    if need pyenv; then pyenv rehash || true; fi
    PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$(python3 -m site --user-base)/bin"
    export PATH
    hash -r
  fi
  if ! need moto_server; then
    echo "error: the backup tests need moto_server, and python3 -m pip install 'moto[server]' could not provide it" >&2
    exit 1
  fi
fi

# A Python module a test needs, installed with pip when missing: need_module MODULE WHAT-FOR.
need_module() {
  if need python3 && ! python3 -c "import $1" >/dev/null 2>&1; then
    echo "== python3 -m pip install $1"
    python3 -m pip install --quiet "$1" ||
      python3 -m pip install --quiet --break-system-packages "$1" || true
  fi
  if ! python3 -c "import $1" >/dev/null 2>&1; then
    echo "error: $2 needs python3 with $1, and python3 -m pip install $1 could not provide it" >&2
    exit 1
  fi
}
# The metrics test (tests/metrics.rs) reads /metrics with the Prometheus Python client's parser.
need_module prometheus_client "the metrics test"
# The alerts test (tests/alerts.rs) receives alert emails with aiosmtpd's SMTP server.
need_module aiosmtpd "the alerts test"

# The accessibility test (tests/a11y_browser.rs) injects axe-core 4.x into every page: fetched
# from the npm registry into target/ (never committed) and named by FEALTY_AXE_JS.
axe_dir=target/axe-core
if [ ! -f "$axe_dir/package/axe.min.js" ]; then
  echo "== npm pack axe-core@4.14.1"
  mkdir -p "$axe_dir"
  (cd "$axe_dir" && npm pack --silent axe-core@4.14.1 >/dev/null &&
    tar xzf axe-core-4.*.tgz package/axe.min.js package/LICENSE && rm -f axe-core-4.*.tgz) || true
  if [ ! -f "$axe_dir/package/axe.min.js" ]; then
    echo "error: the accessibility test needs axe-core, and npm pack axe-core@4.14.1 could not provide it" >&2
    exit 1
  fi
fi
FEALTY_AXE_JS="$PWD/$axe_dir/package/axe.min.js"
export FEALTY_AXE_JS

# The supply-chain check (deny.toml) and the API fuzzing against the OpenAPI document
# (scripts/api-fuzz.sh) need cargo-deny and schemathesis.
if ! cargo deny --version >/dev/null 2>&1; then
  echo "== cargo install --locked cargo-deny"
  cargo install --locked cargo-deny
fi
if ! need schemathesis; then
  if need python3; then
    echo "== python3 -m pip install schemathesis"
    python3 -m pip install --quiet schemathesis ||
      python3 -m pip install --quiet --break-system-packages schemathesis || true
    if need pyenv; then pyenv rehash || true; fi
    PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$(python3 -m site --user-base)/bin"
    export PATH
    hash -r
  fi
  if ! need schemathesis; then
    echo "error: the API fuzzing needs schemathesis, and python3 -m pip install schemathesis could not provide it" >&2
    exit 1
  fi
fi

echo "== cargo deny (bans, licences, sources; advisories are a manual step, see deny.toml)"
cargo deny --locked check bans licenses sources

echo "== scripts/check-deploy.sh"
scripts/check-deploy.sh

echo "== scripts/test-deploy-scripts.sh (deploy.sh and destroy.sh against fakes)"
scripts/test-deploy-scripts.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo test"
cargo test --locked --lib --bins --tests

echo "== scripts/api-fuzz.sh"
scripts/api-fuzz.sh

# The provisioning script, run for real in a throw-away Debian root (needs root and the Debian mirror).
echo "== scripts/test-provision.sh"
if [ "$(id -u)" -eq 0 ]; then
  scripts/test-provision.sh
elif need sudo; then
  sudo --preserve-env=PATH scripts/test-provision.sh
else
  echo "error: scripts/test-provision.sh needs root (or sudo) to build and chroot into a Debian root" >&2
  exit 1
fi
