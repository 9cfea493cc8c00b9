#!/usr/bin/env bash
# Tests packer/provision.sh in a throw-away Debian root: builds one with debootstrap (cached under
# target/debootstrap-cache/ as a tarball of the finished root, so later runs only unpack it), runs
# the script in it with chroot, checks what it made (the pinned fealty user, both units: listen
# addresses, limits, the volume unit and its ordering), runs it again and checks nothing changed.
# Then it starts the installed binary in the root as the fealty user and sees it answer on [::1]
# and 127.0.0.1 and stop cleanly on SIGTERM, and runs the installed volume mount script against
# loop devices (blank: formatted and mounted; again: left alone; not blank: refused).
#
# Needs root (debootstrap, chroot, mount, losetup), curl, and the Debian package mirror apt on this
# machine uses. Without loop devices the mount script checks are skipped with a note.
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
fits="$(python3 scripts/check_binary.py "$binary" 2>&1)" || fail "the binary runs on the server image: $fits"
pass "scripts/check_binary.py: $fits"
command -v curl >/dev/null 2>&1 || fail "curl is needed to talk to the server started in the root"

# --- temporary root and its clean-up -----------------------------------------------------------
root=""
server_pid=""
loops=()
cleanup() {
  local status=$? m l
  [ -n "$root" ] || exit "$status"
  if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  # Innermost first (the test volumes, then proc); a lazy unmount as a last resort so the rm
  # below never crosses into the host.
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done < <(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | LC_ALL=C sort -r)
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
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
# The same ids in every image, so the data on a volume keeps its owner from one server to the next.
pinned="$(sed -n 's/^fealty_id=\([0-9][0-9]*\)$/\1/p' packer/provision.sh)"
[ -n "$pinned" ] || fail "packer/provision.sh pins the fealty user's id (a line fealty_id=N)"
gid="$(cut -d: -f4 <<<"$passwd_line")"
group_line="$(in_root getent group fealty || true)"
if [ "$uid" != "$pinned" ] || [ "$gid" != "$pinned" ] || [ "$(cut -d: -f3 <<<"$group_line")" != "$pinned" ]; then
  fail "user and group fealty have the pinned id $pinned (user: $passwd_line; group: $group_line)"
fi
pass "user and group fealty have the pinned UID/GID $pinned"

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

# Dual-stack (the AAAA record), the limits, and never a start before the volume is mounted.
execstart="$(grep -E '^ExecStart=' "$unit" || true)"
for want in '--https-listen [::]:443' '--http-listen [::]:80'; do
  case " $execstart " in
  *" $want "*) pass "unit's ExecStart has $want" ;;
  *) fail "unit's ExecStart has $want (it is: $execstart)" ;;
  esac
done
case "$execstart" in *0.0.0.0*) fail "unit's ExecStart listens on 0.0.0.0 (IPv4 only): $execstart" ;; esac
for option in '^LimitNOFILE=[0-9]+[[:space:]]*$' '^MemoryHigh=[0-9]+[KMG]?[[:space:]]*$' \
  '^MemoryMax=[0-9]+[KMG]?[[:space:]]*$' '^TimeoutStopSec=[0-9]+s?[[:space:]]*$' \
  '^Requires=fealty-volume\.service[[:space:]]*$' '^After=fealty-volume\.service[[:space:]]*$'; do
  grep -Eq "$option" "$unit" || fail "unit has a line /$option/ (unit follows)$(printf '\n%s' "$(cat "$unit")")"
  pass "unit has $(grep -E "$option" "$unit" | head -n 1)"
done

volume_unit="$root/etc/systemd/system/fealty-volume.service"
[ -f "$volume_unit" ] || fail "/etc/systemd/system/fealty-volume.service exists"
for option in '^Type=oneshot[[:space:]]*$' '^RemainAfterExit=yes[[:space:]]*$' \
  '^ExecStart=/usr/local/sbin/fealty-mount-volume[[:space:]]*$' '^Restart=on-failure[[:space:]]*$' \
  '^RestartSec=[0-9]+' '^StartLimitIntervalSec=0[[:space:]]*$' '^ConditionPathExists=/etc/fealty/volume-device[[:space:]]*$' \
  '^ExecStartPost=-?/usr/bin/systemctl --no-block start fealty\.service[[:space:]]*$'; do
  grep -Eq "$option" "$volume_unit" || fail "volume unit has a line /$option/ (unit follows)$(printf '\n%s' "$(cat "$volume_unit")")"
  pass "volume unit has $(grep -E "$option" "$volume_unit" | head -n 1)"
done
[ -x "$root/usr/local/sbin/fealty-mount-volume" ] || fail "/usr/local/sbin/fealty-mount-volume is an executable file"
pass "/usr/local/sbin/fealty-mount-volume is an executable file"
for u in fealty.service fealty-volume.service; do
  [ "$(readlink "$root/etc/systemd/system/multi-user.target.wants/$u" || true)" = "/etc/systemd/system/$u" ] ||
    fail "$u is enabled (multi-user.target.wants/$u links to it)"
  pass "$u is enabled"
done

if [ -x "$root/usr/bin/systemd-analyze" ]; then
  verify="$(in_root systemd-analyze verify /etc/systemd/system/fealty.service /etc/systemd/system/fealty-volume.service 2>&1)" ||
    fail "systemd-analyze verify accepts both units: $verify"
  [ -z "$verify" ] || fail "systemd-analyze verify has no complaint about the units: $verify"
  pass "systemd-analyze verify accepts fealty.service and fealty-volume.service"
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
    find etc usr/local/bin usr/local/sbin var/lib/fealty -printf '%p\t%y %m %U:%G %l\n' | LC_ALL=C sort |
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
  fail "second run changed nothing under /etc /usr/local /var/lib/fealty (diff above)"
fi
pass "second run changed nothing under /etc /usr/local /var/lib/fealty ($(wc -l <"$before") entries)"

# --- an install from before the pin; the pinned id taken by another name ------------------------
# A server provisioned before the ids were pinned: its fealty user and group have another number,
# and so do its data and settings. Another group holding the pinned id stops the script, by name.
old_id=4321
in_root groupmod -g "$old_id" fealty
in_root usermod -u "$old_id" -g "$old_id" fealty
chown "$old_id:$old_id" "$root/var/lib/fealty"
install -m 0640 -o 0 -g "$old_id" /dev/null "$root/etc/fealty/backup-passphrase"
in_root groupadd -g "$pinned" intruder
if provision "$root$stage/run3.log"; then fail "provision.sh stops when the pinned id is another group's"; fi
grep -q "$pinned.*taken by the group intruder" "$root$stage/run3.log" ||
  fail "provision.sh names the group holding the pinned id: $(tail -n 3 "$root$stage/run3.log")"
pass "provision.sh stops when another group holds the pinned id: $(grep -o 'taken by the group intruder.*' "$root$stage/run3.log")"
in_root groupdel intruder
provision "$root$stage/run4.log" || fail "provision.sh moves an install from before the pin: $(tail -n 5 "$root$stage/run4.log")"
got="$(in_root getent passwd fealty | cut -d: -f3,4):$(in_root getent group fealty | cut -d: -f3)"
[ "$got" = "$pinned:$pinned:$pinned" ] || fail "the fealty user and group are moved to $pinned (uid:gid:group id is $got)"
got="$(stat -c '%u:%g' "$root/var/lib/fealty") $(stat -c '%g' "$root/etc/fealty/backup-passphrase")"
[ "$got" = "$pinned:$pinned $pinned" ] || fail "the data directory and the settings follow the move (they are: $got)"
rm -f "$root/etc/fealty/backup-passphrase"
pass "provision.sh moves an install from before the pin to $pinned, with its data directory and settings"

# --- the installed binary answers on [::1] and 127.0.0.1 -----------------------------------------
# As the unit runs it: the fealty user, the data in a directory of its own, listening on [::]
# (a free port, so nothing on this machine is in the way), and a clean exit on SIGTERM.
serve_data=/tmp/fealty-serve-test
mkdir -p "$root$serve_data"
chown "$pinned:$pinned" "$root$serve_data"
chmod 0700 "$root$serve_data"
serve_log="$root$stage/serve.log"
chroot --userspec="$pinned:$pinned" "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
  /usr/local/bin/fealty serve --data "$serve_data" --listen '[::]:0' </dev/null >"$serve_log" 2>&1 &
server_pid=$!
port=""
for _ in $(seq 1 300); do
  port="$(sed -n 's|.*listening on http://\[::\]:\([0-9][0-9]*\).*|\1|p' "$serve_log" | head -n 1)"
  [ -z "$port" ] || break
  kill -0 "$server_pid" 2>/dev/null || fail "fealty serve in the root exited before listening: $(tail -n 20 "$serve_log")"
  sleep 0.2
done
[ -n "$port" ] || fail "fealty serve in the root says it listens on http://[::]:PORT within 60s: $(tail -n 20 "$serve_log")"
server_user="$(ps -o user= -p "$server_pid" 2>/dev/null | tr -d ' ')"
case "$server_user" in
"$pinned" | fealty) pass "fealty serve runs in the root as the fealty user, on [::]:$port" ;;
*) fail "fealty serve runs in the root as the fealty user (it runs as '$server_user')" ;;
esac
for host in '[::1]' 127.0.0.1; do
  body="$(curl -fsS --max-time 10 "http://$host:$port/healthz" 2>&1)" ||
    fail "GET http://$host:$port/healthz answers: $body"
  pass "GET http://$host:$port/healthz answers ($(head -c 40 <<<"$body"))"
done
kill -TERM "$server_pid"
for _ in $(seq 1 300); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.2
done
if kill -0 "$server_pid" 2>/dev/null; then
  fail "fealty serve stops within 60s of SIGTERM: $(tail -n 20 "$serve_log")"
fi
serve_status=0
wait "$server_pid" || serve_status=$?
server_pid=""
[ "$serve_status" -eq 0 ] || fail "fealty serve exits 0 on SIGTERM (it exited $serve_status): $(tail -n 20 "$serve_log")"
pass "fealty serve stops on SIGTERM with status 0"

# --- the volume's mount script, against loop devices ------------------------------------------------
# The installed script, run in the root as fealty-volume.service runs it, with its paths moved to a
# scratch directory: a blank volume is formatted and mounted, a second run leaves the filesystem and
# its data alone (and gives misowned files back to fealty), a volume with unknown data is refused.
vol=/tmp/fealty-volume-test
# attach FILE: sets dev to a loop device for FILE (detached by cleanup), its node also in the root.
attach() {
  dev="$(losetup --find --show "$1")" || return 1
  loops+=("$dev")
  [ -e "$root$dev" ] || cp -a "$dev" "$root$dev"
}
# mount_volume DEVICE LOG: runs the installed script for DEVICE; its status is the script's.
mount_volume() {
  echo "$1" >"$root$vol/device"
  in_root env FEALTY_VOLUME_DEVICE_FILE="$vol/device" FEALTY_DATA_DIR="$vol/data" FEALTY_FSTAB="$vol/fstab" \
    FEALTY_VOLUME_WAIT=2 timeout 120 /usr/local/sbin/fealty-mount-volume >"$2" 2>&1
}
if ! command -v losetup >/dev/null 2>&1 || [ ! -e /dev/loop-control ] || ! losetup --find >/dev/null 2>&1; then
  note "no loop devices here: the volume mount script is not exercised"
else
  mkdir -p "$root$vol"
  truncate -s 64M "$root$vol/blank.img"
  attach "$root$vol/blank.img" || fail "losetup attaches a blank file"
  mount_volume "$dev" "$root$vol/run1.log" || fail "mount script on a blank volume exits 0: $(cat "$root$vol/run1.log")"
  in_root mountpoint -q "$vol/data" || fail "a blank volume is mounted at the data directory"
  fs="$(in_root blkid -p -s TYPE -o value "$dev")"
  [ "$fs" = ext4 ] || fail "a blank volume gets an ext4 filesystem (blkid: $fs)"
  got="$(stat -c '%u:%g %a' "$root$vol/data")"
  [ "$got" = "$pinned:$pinned 700" ] || fail "the mounted data directory is $pinned:$pinned 700 (it is $got)"
  grep -qx "$dev $vol/data ext4 defaults,noatime,nofail 0 2" "$root$vol/fstab" ||
    fail "the fstab line mounts it with nofail (fstab: $(cat "$root$vol/fstab"))"
  pass "mount script: a blank volume is formatted (ext4), mounted, given to fealty, in fstab with nofail"

  uuid="$(in_root blkid -p -s UUID -o value "$dev")"
  echo kept >"$root$vol/data/marker"
  chown 0:0 "$root$vol/data/marker" # as a restore run by root leaves it
  umount "$root$vol/data"
  mount_volume "$dev" "$root$vol/run2.log" || fail "mount script on a formatted volume exits 0: $(cat "$root$vol/run2.log")"
  in_root mountpoint -q "$vol/data" || fail "a formatted volume is mounted again"
  [ "$(in_root blkid -p -s UUID -o value "$dev")" = "$uuid" ] || fail "a formatted volume is not formatted again"
  [ "$(cat "$root$vol/data/marker" 2>/dev/null)" = kept ] || fail "the data on a formatted volume is kept"
  [ "$(stat -c '%u:%g' "$root$vol/data/marker")" = "$pinned:$pinned" ] ||
    fail "a file owned by root on the volume is given back to fealty ($(stat -c '%u:%g' "$root$vol/data/marker"))"
  [ "$(stat -c '%u' "$root$vol/data/lost+found")" = 0 ] || fail "lost+found stays root's"
  mount_volume "$dev" "$root$vol/run3.log" || fail "mount script on a mounted volume exits 0: $(cat "$root$vol/run3.log")"
  [ "$(grep -c "^$dev " "$root$vol/fstab")" = 1 ] || fail "the fstab line is written once (fstab: $(cat "$root$vol/fstab"))"
  pass "mount script: run again, the volume keeps its filesystem and data, misowned files go back to fealty, one fstab line"
  umount "$root$vol/data"

  # Data no filesystem signature matches (another tool's, or a wiped superblock): never formatted.
  head -c 1048576 /dev/urandom >"$root$vol/unknown.img"
  truncate -s 64M "$root$vol/unknown.img"
  unknown_sum="$(sha256sum <"$root$vol/unknown.img")"
  attach "$root$vol/unknown.img" || fail "losetup attaches a file holding data"
  if mount_volume "$dev" "$root$vol/run4.log"; then
    fail "mount script refuses a volume that holds data but no filesystem: $(cat "$root$vol/run4.log")"
  fi
  grep -q "not blank" "$root$vol/run4.log" || fail "mount script says why it refuses: $(cat "$root$vol/run4.log")"
  if in_root mountpoint -q "$vol/data"; then fail "a refused volume is not mounted"; fi
  [ "$(sha256sum <"$root$vol/unknown.img")" = "$unknown_sum" ] || fail "a refused volume is not written to"
  pass "mount script: a volume holding data but no filesystem is refused and left alone"

  if mount_volume /dev/fealty-no-such-volume "$root$vol/run5.log"; then
    fail "mount script exits non-zero when the device does not appear"
  fi
  pass "mount script: exits non-zero when the device does not appear ($(tail -n 1 "$root$vol/run5.log"))"
fi

echo "all provisioning checks passed"
