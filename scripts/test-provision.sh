#!/usr/bin/env bash
# Tests packer/provision.sh in a throw-away Debian root: builds one with debootstrap (cached under
# target/debootstrap-cache/ as a tarball of the finished root, so later runs only unpack it), runs
# the script in it with chroot, checks what it made, runs it again and checks nothing changed.
#
# Needs root (debootstrap, chroot, mount) and the Debian package mirror apt on this machine uses.
# Prints one line per check and stops at the first failure.
#
# Environment:
#   FEALTY_BINARY              binary to install (default target/debug/fealty, built when missing)
#   FEALTY_SKIP_APT            1: pass FEALTY_SKIP_APT=1 to the script; 0: never; unset: pass it
#                              only when apt in the root cannot reach the mirror
#   FEALTY_DEBIAN_MIRROR       mirror to debootstrap from (default: read from apt's sources)
#   FEALTY_DEBIAN_SUITE        suite (default: this machine's codename, else the one in apt's sources)
#   FEALTY_DEBOOTSTRAP_INCLUDE packages added to minbase (default adduser,systemd: what every
#                              Debian server image has, and the home of /etc/systemd/system)
#   FEALTY_KEEP_ROOT=1         keep the temporary root for inspection instead of deleting it
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

fail() {
  echo "FAIL - $*" >&2
  exit 1
}
pass() { echo "ok   - $*"; }
note() { echo "#      $*"; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (debootstrap, chroot and mount need it)"
[ -f packer/provision.sh ] || fail "packer/provision.sh does not exist"

# --- tools -----------------------------------------------------------------------------------
if ! command -v debootstrap >/dev/null 2>&1; then
  note "installing debootstrap"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi

# --- mirror and suite, from the sources apt uses here -----------------------------------------
# Prints "URI SUITE" for every enabled deb source, one-line (.list) and deb822 (.sources) alike.
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no")
          for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print uris[i], suites[j]
        types = ""; enabled = ""; nu = 0; ns = 0
      }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      {
        key = tolower($1); sub(/:$/, "", key)
        if (key == "types") { types = ""; for (i = 2; i <= NF; i++) types = types " " $i; types = types " " }
        else if (key == "uris") { for (i = 2; i <= NF; i++) uris[++nu] = $i }
        else if (key == "suites") { for (i = 2; i <= NF; i++) suites[++ns] = $i }
        else if (key == "enabled") { enabled = tolower($2) }
      }
      END { flush() }
    ' "$f"
  done
}
host_codename="$(
  if [ -r /etc/os-release ]; then
    # shellcheck source=/dev/null
    . /etc/os-release
    if [ "${ID:-}" = debian ]; then echo "${VERSION_CODENAME:-}"; fi
  fi
)"
# The main archive: a suite without "-updates"/"-security", this machine's codename first.
main_source="$(apt_sources | awk -v c="$host_codename" '
  $2 !~ /-/ && $1 !~ /security/ { if ($2 == c) { print; found = 1; exit } if (!first) first = $0 }
  END { if (!found && first) print first }')"
mirror="${FEALTY_DEBIAN_MIRROR:-${main_source%% *}}"
suite="${FEALTY_DEBIAN_SUITE:-${host_codename:-${main_source#* }}}"
if [ -z "$mirror" ] || [ -z "$suite" ]; then
  fail "no Debian mirror found in /etc/apt/sources.list{,.d}; set FEALTY_DEBIAN_MIRROR and FEALTY_DEBIAN_SUITE"
fi
include="${FEALTY_DEBOOTSTRAP_INCLUDE-adduser,systemd}"
arch="$(dpkg --print-architecture)"
pass "mirror $mirror, suite $suite, arch $arch, minbase + ${include:-nothing}"

# --- the binary --------------------------------------------------------------------------------
binary="${FEALTY_BINARY:-target/debug/fealty}"
if [ ! -x "$binary" ]; then
  [ -z "${FEALTY_BINARY:-}" ] || fail "FEALTY_BINARY=$FEALTY_BINARY is not an executable file"
  note "building $binary"
  cargo build --quiet
fi
[ -x "$binary" ] || fail "$binary is missing after cargo build"
pass "binary $binary"

# --- temporary root and its clean-up -----------------------------------------------------------
root=""
cleanup() {
  local status=$? m
  [ -n "$root" ] || exit "$status"
  # Innermost first; a lazy unmount as a last resort so the rm below never crosses into the host.
  for m in "$root/proc" "$root/dev/pts" "$root/sys"; do
    if mountpoint -q "$m" 2>/dev/null; then umount "$m" 2>/dev/null || umount -l "$m" || true; fi
  done
  if grep -q " ${root}[/ ]" /proc/mounts; then
    echo "warning: something is still mounted under $root; leaving it in place" >&2
  elif [ "${FEALTY_KEEP_ROOT:-0}" = 1 ]; then
    echo "# kept the root at $root" >&2
  else
    rm -rf --one-file-system "$root"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cache_dir="$repo/target/debootstrap-cache"
key="$(printf '%s\n' "$mirror" "$suite" "$arch" "$include" | sha256sum | cut -c1-12)"
tarball="$cache_dir/$suite-$arch-minbase-$key.tar"
mkdir -p "$cache_dir"
root="$(mktemp -d "${TMPDIR:-/tmp}/fealty-provision-root.XXXXXX")"
chmod 755 "$root" # as / is; apt's _apt user must get in

if [ ! -f "$tarball" ]; then
  note "debootstrap $suite from $mirror (once; cached in ${tarball#"$repo"/})"
  log="$cache_dir/debootstrap.log"
  if ! debootstrap --variant=minbase ${include:+--include="$include"} --arch="$arch" \
    "$suite" "$root" "$mirror" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    fail "debootstrap failed (log: $log)"
  fi
  # Keep the finished root as a tarball: unpacking it takes seconds, a second stage minutes.
  rm -rf "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" --numeric-owner --xattrs -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  pass "debootstrap --variant=minbase"
else
  tar -C "$root" --numeric-owner --xattrs -xpf "$tarball"
  chmod 755 "$root"
  pass "unpacked the cached root ${tarball#"$repo"/}"
fi

# This machine's resolver, for apt in the root (a cached root's copy may be stale).
rm -f "$root/etc/resolv.conf"
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$root/proc"

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 "$@" </dev/null; }

# --- apt reachable from the root? ----------------------------------------------------------------
skip_apt="${FEALTY_SKIP_APT:-}"
if [ -z "$skip_apt" ]; then
  if in_root timeout 180 apt-get update -q >"$root/tmp/apt-update.log" 2>&1 &&
    ! grep -qE '^(E:|Err:|W: (Failed to fetch|Some index files))' "$root/tmp/apt-update.log"; then
    skip_apt=0
    pass "apt in the root reaches $mirror: provision.sh installs packages for real"
  else
    skip_apt=1
    note "apt in the root cannot reach $mirror"
  fi
fi
if [ "$skip_apt" = 1 ]; then
  pass "FEALTY_SKIP_APT=1: provision.sh does not use apt"
elif [ "$skip_apt" != 0 ]; then
  fail "FEALTY_SKIP_APT must be 0 or 1, not $skip_apt"
fi

# --- first run -----------------------------------------------------------------------------------
stage=/root/fealty-provision
mkdir -p "$root$stage"
cp "$binary" "$root$stage/fealty"
cp packer/provision.sh "$root$stage/provision.sh"

provision() { # $1: log file on the host
  in_root FEALTY_SKIP_APT="$skip_apt" bash "$stage/provision.sh" "$stage/fealty" >"$1" 2>&1
}
run1_log="$root$stage/run1.log"
if ! provision "$run1_log"; then
  tail -n 30 "$run1_log" >&2
  fail "first run of provision.sh exited non-zero (output above)"
fi
pass "first run of provision.sh"

# --- what it made --------------------------------------------------------------------------------
passwd_line="$(in_root getent passwd fealty || true)"
[ -n "$passwd_line" ] || fail "user fealty exists"
shell="${passwd_line##*:}"
case "$shell" in
*/nologin | */false) pass "user fealty exists with shell $shell" ;;
*) fail "user fealty has a nologin shell (it has '$shell')" ;;
esac
uid="$(cut -d: -f3 <<<"$passwd_line")"
if [ "$uid" -lt 1000 ]; then pass "user fealty is a system user (uid $uid)"; else fail "user fealty is a system user (uid $uid)"; fi

if [ ! -f "$root/usr/local/bin/fealty" ] || [ ! -x "$root/usr/local/bin/fealty" ]; then
  fail "/usr/local/bin/fealty is an executable file"
fi
pass "/usr/local/bin/fealty is an executable file"
cmp -s "$binary" "$root/usr/local/bin/fealty" || fail "/usr/local/bin/fealty is the binary given"
pass "/usr/local/bin/fealty is the binary given"
version="$(in_root /usr/local/bin/fealty --version 2>&1)" ||
  fail "chroot ROOT /usr/local/bin/fealty --version works (got: $version)"
pass "chroot ROOT /usr/local/bin/fealty --version: $version"

unit="$root/etc/systemd/system/fealty.service"
[ -f "$unit" ] || fail "/etc/systemd/system/fealty.service exists"
pass "/etc/systemd/system/fealty.service exists"
# Each option as a directive at the start of a line, its value checked where it matters.
for option in '^NoNewPrivileges=(yes|true|on|1)[[:space:]]*$' '^ProtectSystem=strict[[:space:]]*$' \
  '^ProtectHome=(yes|true|on|1|read-only|tmpfs)[[:space:]]*$' '^PrivateTmp=(yes|true|on|1)[[:space:]]*$' \
  '^AmbientCapabilities=.*CAP_NET_BIND_SERVICE' '^ReadWritePaths=.*/var/lib/fealty' \
  '^User=fealty[[:space:]]*$' '^ExecStart=/usr/local/bin/fealty'; do
  name="${option#^}"
  name="${name%%=*}"
  grep -Eq "$option" "$unit" || fail "unit has $name (want /$option/; unit follows)$(printf '\n%s' "$(cat "$unit")")"
  pass "unit has $(grep -E "$option" "$unit" | head -n 1)"
done

if [ -x "$root/usr/bin/systemd-analyze" ]; then
  verify="$(in_root systemd-analyze verify /etc/systemd/system/fealty.service 2>&1)" ||
    fail "systemd-analyze verify accepts the unit: $verify"
  [ -z "$verify" ] || fail "systemd-analyze verify has no complaint about the unit: $verify"
  pass "systemd-analyze verify accepts the unit"
  exposure="$(in_root systemd-analyze security --offline=true /etc/systemd/system/fealty.service 2>&1 |
    sed -n 's/.*Overall exposure level for fealty.service: //p')" || true
  note "systemd-analyze security: exposure ${exposure:-unknown}"
fi

stat_in_root() { in_root stat -c "$1" "$2"; }
[ -d "$root/var/lib/fealty" ] || fail "/var/lib/fealty is a directory"
got="$(stat_in_root '%U %a' /var/lib/fealty)"
[ "$got" = "fealty 700" ] || fail "/var/lib/fealty is owned by fealty with mode 700 (it is: $got)"
pass "/var/lib/fealty is owned by fealty with mode 700"
[ -d "$root/etc/fealty" ] || fail "/etc/fealty is a directory"
got="$(stat_in_root '%U:%G %a' /etc/fealty)"
[ "${got##* }" = 750 ] || fail "/etc/fealty has mode 750 (it is: $got)"
pass "/etc/fealty has mode 750 ($got)"

if [ "$skip_apt" = 0 ]; then
  # shellcheck disable=SC2016 # a dpkg-query format, not shell
  in_root dpkg-query -W -f '${Status}' unattended-upgrades 2>/dev/null | grep -q 'install ok installed' ||
    fail "unattended-upgrades is installed"
  pass "unattended-upgrades is installed"
fi

# --- second run changes nothing -----------------------------------------------------------------
# Every entry's type, mode, numeric owner, link target and, for a file, sha256.
listing() {
  (
    cd "$root"
    find etc usr/local/bin var/lib/fealty -printf '%p\t%y %m %U:%G %l\n' | LC_ALL=C sort |
      while IFS=$'\t' read -r path attributes; do
        if [ "${attributes:0:1}" = f ]; then
          printf '%s %s %s\n' "$path" "$attributes" "$(sha256sum <"$path" | cut -d' ' -f1)"
        else
          printf '%s %s\n' "$path" "$attributes"
        fi
      done
  )
}
before="$root$stage/before.txt"
after="$root$stage/after.txt"
listing >"$before"
run2_log="$root$stage/run2.log"
if ! provision "$run2_log"; then
  tail -n 30 "$run2_log" >&2
  fail "second run of provision.sh exited non-zero (output above)"
fi
pass "second run of provision.sh"
listing >"$after"
if ! diff -u "$before" "$after" >"$root$stage/listing.diff"; then
  head -n 40 "$root$stage/listing.diff" >&2
  fail "second run changed nothing under /etc /usr/local/bin /var/lib/fealty (diff above)"
fi
pass "second run changed nothing under /etc /usr/local/bin /var/lib/fealty ($(wc -l <"$before") entries)"
echo "all provisioning checks passed"
