#!/usr/bin/env bash
# Builds the fealty binary for the server image (Debian 12, x86_64, glibc 2.36) whatever
# machine runs it (macOS, ARM, a Linux with a newer glibc), checks it with
# scripts/check_binary.py and prints its path on the last line of stdout.
#
#   scripts/build-release.sh           release build (what scripts/deploy.sh ships)
#   scripts/build-release.sh --debug   unoptimised, quicker: to try the toolchain
#
# cargo-zigbuild links against glibc 2.36 with zig as the C compiler and linker (ring
# builds C). Installs what is missing: zig from the ziglang Python package (pip),
# cargo-zigbuild (cargo install) and the Rust target (rustup).
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "build-release: error: $*" >&2
  exit 1
}
say() { echo "== $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1; }

target=x86_64-unknown-linux-gnu
glibc=2.36
profile=release
case "${1:-}" in
  "") ;;
  --debug) profile=debug ;;
  -h | --help)
    sed -n '2,11p' "$0"
    exit 0
    ;;
  *) die "unknown argument $1 (use --debug or nothing)" ;;
esac

need cargo || die "cargo is not installed; install Rust (https://rustup.rs)"
need python3 || die "python3 is needed (for zig, from the ziglang package, and scripts/check_binary.py)"

# zig: on PATH, or the ziglang package, which cargo-zigbuild runs as `python3 -m ziglang`.
if ! need zig && ! python3 -m ziglang version >/dev/null 2>&1; then
  say "python3 -m pip install ziglang"
  python3 -m pip install --quiet ziglang ||
    python3 -m pip install --quiet --break-system-packages ziglang ||
    python3 -m pip install --quiet --user ziglang ||
    die "zig is missing and pip could not install the ziglang package (python3 -m pip install ziglang)"
  python3 -m ziglang version >/dev/null 2>&1 || die "the ziglang package is installed but python3 -m ziglang does not run"
fi

if ! cargo zigbuild --help >/dev/null 2>&1; then
  say "cargo install --locked cargo-zigbuild"
  cargo install --locked cargo-zigbuild >&2 || die "cargo install cargo-zigbuild failed"
fi

if need rustup && ! rustup target list --installed | grep -qx "$target"; then
  say "rustup target add $target"
  rustup target add "$target" >&2 || die "rustup target add $target failed"
fi

flags=(--locked --target "$target.$glibc")
[ "$profile" = debug ] || flags+=(--release)
say "cargo zigbuild ${flags[*]}"
cargo zigbuild "${flags[@]}" >&2 || die "cargo zigbuild ${flags[*]} failed"

# cargo-zigbuild drops the glibc suffix from the output directory.
binary="target/$target/$profile/fealty"
[ -f "$binary" ] || die "the build said it succeeded but $binary is not there"
python3 scripts/check_binary.py "$binary" >&2 || die "$binary does not run on the server (see above)"
echo "$binary"
