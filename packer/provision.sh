#!/usr/bin/env bash
# Installs FealTY on a Debian or Ubuntu system: the binary, the fealty system user (with a
# pinned UID/GID), the hardened fealty.service, the data volume's unit and mount script,
# /etc/fealty and the data directory, and unattended security upgrades.
#
#   packer/provision.sh [--root DIR] [BINARY]
#
# BINARY (or FEALTY_BINARY) is the fealty executable to install (default: ./fealty).
# --root DIR (or FEALTY_ROOT) installs into a directory tree instead of / (for tests);
# apt is then skipped and the units are enabled by their symlinks.
# FEALTY_DATA_DIR changes the data directory (default /var/lib/fealty).
# FEALTY_SKIP_APT=1 skips installing unattended-upgrades.
# --print NAME prints one of the files it writes (fealty.service, fealty-volume.service,
# fealty-mount-volume) and exits; --print-unit is --print fealty.service.
# Run it as root. Running it again changes nothing. It needs nothing beside itself
# (packer/ keeps the same files, for `systemd-analyze verify` and shellcheck).
set -euo pipefail

root="${FEALTY_ROOT:-}"
binary="${FEALTY_BINARY:-}"
data_dir="${FEALTY_DATA_DIR:-/var/lib/fealty}"
print=""

# The fealty user's UID and GID, the same in every image, so the data on the volume keeps its
# owner when a redeploy starts a new server from a newer image. Debian leaves 100-999 to the
# system users packages make: adduser --system takes them from 100 upwards, useradd --system
# and systemd-sysusers from 999 downwards, and a Debian server uses a few dozen at each end.
# 600, in the middle, is the number least likely to be taken; if it is, this script stops.
fealty_id=600

while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --root=*) root="${1#--root=}"; shift ;;
    --print) print="${2:?--print needs a file name}"; shift 2 ;;
    --print-unit) print=fealty.service; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "provision.sh: unknown option $1" >&2; exit 2 ;;
    *) binary="$1"; shift ;;
  esac
done
binary="${binary:-./fealty}"
root="${root%/}"

say() { echo "provision: $*"; }
die() { echo "provision: error: $*" >&2; exit 1; }

# The files it installs beside the binary (the same text as packer/<name>), with the data
# directory given filled in.
embedded() {
  case "$1" in
    fealty.service)
      sed "s|/var/lib/fealty|$data_dir|g" <<'EMBEDDED'
# FealTY: a loyalty scheme in a box. Installed by packer/provision.sh.
# Settings (FEALTY_DOMAIN, FEALTY_ACME_EMAIL, FEALTY_BACKUP_TO, S3 keys, ...) live in
# /etc/fealty/fealty.env; the service starts once that file exists.
[Unit]
Description=FealTY loyalty scheme
Wants=network-online.target
After=network-online.target
# The data volume first, so nothing is ever written to the root disk under it. Not
# RequiresMountsFor=: the fstab line's mount gives up after 90s and would fail this unit for
# good; fealty-volume.service keeps trying, and starts this unit once the volume is mounted.
Requires=fealty-volume.service
After=fealty-volume.service
ConditionPathExists=/etc/fealty/fealty.env

[Service]
Type=simple
User=fealty
Group=fealty
EnvironmentFile=-/etc/fealty/fealty.env
# As root ("+"): the data may belong to another id (a restore run as root, a volume from an
# image whose fealty user had another number).
ExecStartPre=+/usr/local/sbin/fealty-mount-volume --fix-ownership
# [::] takes IPv4 too (IPV6_V6ONLY off), so the A and the AAAA record both reach it.
ExecStart=/usr/local/bin/fealty serve --data /var/lib/fealty --https-listen [::]:443 --http-listen [::]:80
Restart=on-failure
RestartSec=5s
# On SIGTERM the server finishes requests, ships its last backup segment and closes the
# database; give that time before SIGKILL (a redeploy stops it this way first).
TimeoutStopSec=90s
UMask=0077
# Above the connection cap (fealty serve --max-connections, 2048 by default) with room for the
# database, the control socket, backups and outgoing connections.
LimitNOFILE=8192
# A Nanode has 1 GB (about 960 MiB usable) and FealTY peaks near 300 MiB under the heaviest
# mix. Above MemoryHigh the kernel reclaims FealTY's own page cache first and slows it down;
# MemoryMax is the hard wall, past which the kernel's OOM killer ends FealTY (and systemd
# restarts it) instead of sshd or apt. That leaves about 320 MiB for the kernel, journald,
# sshd and unattended-upgrades (its Python runs near 100 MiB), so an upgrade never starves it.
MemoryHigh=512M
MemoryMax=640M

# Only the data directory (the Linode volume is mounted there) is writable.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=/var/lib/fealty
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
# The cloud's metadata service gives the user data (S3 keys, the backup passphrase) to any local
# process that asks (Linode and DigitalOcean: 169.254.169.254, Linode also over IPv6); FealTY
# never needs it, so a flaw in it cannot read them there.
IPAddressDeny=169.254.169.254 fd00:a9fe:a9fe::1

# Ports 80 and 443 without root, and no other privilege.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE

[Install]
WantedBy=multi-user.target
EMBEDDED
      ;;
    fealty-volume.service)
      sed "s|/var/lib/fealty|$data_dir|g" <<'EMBEDDED'
# The FealTY data volume, mounted at /var/lib/fealty before FealTY starts. Installed by
# packer/provision.sh. The device is named in /etc/fealty/volume-device (cloud-init writes
# it); without that file there is no volume and the data stays on the root disk.
[Unit]
Description=FealTY data volume at /var/lib/fealty
# cloud-init writes /etc/fealty/volume-device; the condition is read when this starts.
After=cloud-init.service local-fs.target
ConditionPathExists=/etc/fealty/volume-device
# The volume may be attached minutes after boot: never stop trying.
StartLimitIntervalSec=0

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/fealty-mount-volume
# A start of fealty.service that waited for a try that failed has itself failed ("dependency"),
# and systemd does not start it again when a later try succeeds: this unit starts it instead.
# (A stop of fealty.service by hand is left alone: this runs only when the volume is mounted.)
ExecStartPost=-/usr/bin/systemctl --no-block start fealty.service
Restart=on-failure
RestartSec=15s
# The script waits up to 120s for the device; mkfs on a new volume takes seconds more.
TimeoutStartSec=10min

[Install]
WantedBy=multi-user.target
EMBEDDED
      ;;
    fealty-mount-volume)
      sed "s|/var/lib/fealty|$data_dir|g" <<'EMBEDDED'
#!/bin/sh
# Mounts the FealTY data volume at /var/lib/fealty. Installed by packer/provision.sh and run
# by fealty-volume.service, which runs it again until it succeeds (the volume may be attached
# after the server has booted), so every step here may be repeated.
#
#   fealty-mount-volume                  wait for the device, format it if blank, mount it
#   fealty-mount-volume --fix-ownership  only give the data back to the fealty user
#
# The device is the one line of /etc/fealty/volume-device (written by cloud-init). The volume
# is formatted only when blkid finds nothing on it and its first MiB is all zeros: a volume
# with data on it is never touched. The data is chowned to the fealty user whenever another
# owner is found (a volume from an image whose fealty user had another id, or a restore run
# as root). Exits non-zero when the device does not appear or cannot be used.
#
# Environment (for tests): FEALTY_VOLUME_DEVICE_FILE, FEALTY_DATA_DIR, FEALTY_FSTAB,
# FEALTY_VOLUME_WAIT (seconds to wait for the device, default 120).
set -eu

conf="${FEALTY_VOLUME_DEVICE_FILE:-/etc/fealty/volume-device}"
dir="${FEALTY_DATA_DIR:-/var/lib/fealty}"
fstab="${FEALTY_FSTAB:-/etc/fstab}"
wait="${FEALTY_VOLUME_WAIT:-120}"

say() { echo "fealty-volume: $*"; }
die() {
  echo "fealty-volume: error: $*" >&2
  exit 1
}

# Only the entries with another owner are changed (lost+found stays root's, as e2fsck wants).
fix_ownership() {
  uid="$(id -u fealty)" || die "there is no fealty user"
  gid="$(id -g fealty)"
  mkdir -p "$dir"
  wrong="$(find "$dir" -xdev -path "$dir/lost+found" -prune -o \( ! -uid "$uid" -o ! -gid "$gid" \) -print | wc -l)"
  if [ "$wrong" -gt 0 ]; then
    find "$dir" -xdev -path "$dir/lost+found" -prune -o \( ! -uid "$uid" -o ! -gid "$gid" \) \
      -exec chown -h "$uid:$gid" {} +
    say "gave $wrong entries under $dir to fealty ($uid:$gid)"
  fi
  chmod 0700 "$dir"
}

case "${1:-}" in
  --fix-ownership)
    fix_ownership
    exit 0
    ;;
  "") ;;
  *) die "unknown argument $1 (use no argument, or --fix-ownership)" ;;
esac

[ -r "$conf" ] || die "$conf is missing: no volume to mount"
dev="$(head -n 1 "$conf")"
case "$dev" in
  /dev/*) ;;
  *) die "$conf does not name a device under /dev (it says: $dev)" ;;
esac

i=0
while [ ! -b "$dev" ]; do
  if [ "$i" -ge "$wait" ]; then
    die "the volume $dev has not appeared after ${wait}s (systemd tries again)"
  fi
  [ "$i" -gt 0 ] || say "waiting for the volume $dev"
  i=$((i + 1))
  sleep 1
done

if mountpoint -q "$dir"; then
  # Something is mounted already (by the fstab line at boot, or an earlier run): ours?
  mounted="$(findmnt -n -o SOURCE --mountpoint "$dir")"
  if [ "$(readlink -f "$mounted")" != "$(readlink -f "$dev")" ]; then
    die "$dir holds $mounted, not $dev; not mounting over it"
  fi
else
  rc=0
  blkid -p "$dev" >/dev/null 2>&1 || rc=$?
  if [ "$rc" -eq 2 ]; then
    # blkid found no signature. A new volume reads as zeros; anything else is left alone.
    if [ "$(head -c 1048576 "$dev" | tr -d '\000' | wc -c)" -ne 0 ]; then
      die "$dev has no filesystem blkid knows but is not blank; not formatting it"
    fi
    say "$dev is blank: making a filesystem on it"
    mkfs.ext4 -q -L fealty-data "$dev"
  elif [ "$rc" -ne 0 ]; then
    die "blkid could not read $dev (exit $rc); not touching it"
  fi
  mkdir -p "$dir"
  mount -o noatime "$dev" "$dir"
  say "mounted $dev at $dir"
fi

# For the next boot and for `mount` by hand; nofail so a missing volume never stops a boot.
if ! grep -q "^$dev " "$fstab" 2>/dev/null; then
  echo "$dev $dir ext4 defaults,noatime,nofail 0 2" >>"$fstab"
fi
fix_ownership
say "the data is on $dev at $dir"
EMBEDDED
      ;;
    *) die "no file $1 here (there are: fealty.service fealty-volume.service fealty-mount-volume)" ;;
  esac
}
if [ -n "$print" ]; then
  embedded "$print"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 ...)"
[ -f "$binary" ] || die "no fealty binary at $binary (give its path as an argument or in FEALTY_BINARY)"
[ -z "$root" ] || [ -d "$root" ] || die "--root $root is not a directory"
case "$data_dir" in
  /*) ;;
  *) die "FEALTY_DATA_DIR must be an absolute path, not $data_dir" ;;
esac

changed=0
# install_file MODE SRC DEST: copy only when the content or mode differs.
install_file() {
  local mode="$1" src="$2" dest="$root$3"
  if [ -f "$dest" ] && cmp -s "$src" "$dest" &&
    [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  install -m "$mode" -o root -g root "$src" "$dest"
  say "wrote $3"
  changed=1
}
# write_file MODE DEST: the content comes from stdin.
write_file() {
  local mode="$1" dest="$2" tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  install_file "$mode" "$tmp" "$dest"
  rm -f "$tmp"
}
# ensure_dir MODE OWNER GROUP PATH with numeric ids (they are read from the target's files).
ensure_dir() {
  local mode="$1" owner="$2" group="$3" dir="$root$4"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    say "created $4"
    changed=1
  fi
  if [ "$(stat -c '%a %u %g' "$dir")" != "${mode#0} $owner $group" ]; then
    chown "$owner:$group" "$dir"
    chmod "$mode" "$dir"
    say "set $4 to $mode $owner:$group"
    changed=1
  fi
}
id_of() { # id_of passwd|group NAME
  awk -F: -v n="$2" '$1 == n { print $3; exit }' "$root/etc/$1"
}
name_of() { # name_of passwd|group ID
  awk -F: -v i="$2" '$3 == i { print $1; exit }' "$root/etc/$1"
}
# pin_free passwd|group KIND: no other name holds the pinned id.
pin_free() {
  local taker
  taker="$(name_of "$1" "$fealty_id")"
  if [ -n "$taker" ] && [ "$taker" != fealty ]; then
    die "id $fealty_id, which FealTY pins for its $2 so the data on a volume keeps its owner, is taken by the $2 $taker here"
  fi
}

# 1. The binary.
install_file 0755 "$binary" /usr/local/bin/fealty

# 2. The system user with the pinned ids: no login shell, no home to log in to. An install from
# before the pin is moved to it; the data is given back at FealTY's next start (ExecStartPre).
nologin=/usr/sbin/nologin
[ -x "$root$nologin" ] || nologin=/sbin/nologin
root_args=()
[ -z "$root" ] || root_args=(--root "$root")
pin_free group group
pin_free passwd user
gid="$(id_of group fealty)"
if [ -z "$gid" ]; then
  groupadd "${root_args[@]}" --system --gid "$fealty_id" fealty
  say "created group fealty ($fealty_id)"
  changed=1
elif [ "$gid" != "$fealty_id" ]; then
  groupmod "${root_args[@]}" --gid "$fealty_id" fealty
  # groupmod leaves files with the old number: the settings must stay readable to the group.
  find "$root/etc/fealty" -xdev -gid "$gid" -exec chgrp -h "$fealty_id" {} + 2>/dev/null || true
  say "moved group fealty from $gid to $fealty_id"
  changed=1
fi
uid="$(id_of passwd fealty)"
if [ -z "$uid" ]; then
  useradd "${root_args[@]}" --system --uid "$fealty_id" --gid "$fealty_id" --no-create-home \
    --home-dir /nonexistent --shell "$nologin" --comment "FealTY loyalty scheme" fealty
  say "created user fealty ($fealty_id)"
  changed=1
elif [ "$uid" != "$fealty_id" ] || [ "$(awk -F: '$1 == "fealty" { print $4 }' "$root/etc/passwd")" != "$fealty_id" ]; then
  usermod "${root_args[@]}" --uid "$fealty_id" --gid "$fealty_id" fealty ||
    die "could not move the user fealty to id $fealty_id (if FealTY runs: systemctl stop fealty, then run this again)"
  say "moved user fealty from $uid to $fealty_id"
  changed=1
fi
uid="$(id_of passwd fealty)"
gid="$(id_of group fealty)"
if [ "$uid" != "$fealty_id" ] || [ "$gid" != "$fealty_id" ]; then
  die "could not give the fealty user and group the id $fealty_id"
fi

# 3. Settings and data directories.
ensure_dir 0750 0 "$gid" /etc/fealty
ensure_dir 0700 "$uid" "$gid" "$data_dir"

# 4. The units and the volume's mount script, with the data directory filled in.
embedded fealty-mount-volume | write_file 0755 /usr/local/sbin/fealty-mount-volume
embedded fealty-volume.service | write_file 0644 /etc/systemd/system/fealty-volume.service
embedded fealty.service | write_file 0644 /etc/systemd/system/fealty.service

# 5. Unattended security upgrades.
if [ "${FEALTY_SKIP_APT:-0}" != 1 ]; then
  if [ -n "$root" ]; then
    say "--root given: not running apt; install unattended-upgrades in the target yourself"
  elif ! dpkg-query -W -f '${Status}' unattended-upgrades 2>/dev/null | grep -q 'ok installed'; then
    say "installing unattended-upgrades"
    export DEBIAN_FRONTEND=noninteractive
    # Wait for a lock held by apt's daily timers rather than fail.
    apt-get -o DPkg::Lock::Timeout=300 update -q
    apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends unattended-upgrades
    changed=1
  fi
  write_file 0644 /etc/apt/apt.conf.d/20auto-upgrades <<'CONF'
// Written by FealTY's provision.sh: refresh package lists and install security updates daily.
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT::Periodic::AutocleanInterval "7";
CONF
  write_file 0644 /etc/apt/apt.conf.d/52fealty-unattended-upgrades <<'CONF'
// Written by FealTY's provision.sh: security updates only, reboot at night when one needs it.
Unattended-Upgrade::Origins-Pattern {
        "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";
        "origin=Ubuntu,archive=${distro_codename}-security";
};
Unattended-Upgrade::Remove-Unused-Dependencies "true";
Unattended-Upgrade::Automatic-Reboot "true";
Unattended-Upgrade::Automatic-Reboot-Time "04:00";
CONF
fi

# 6. Enable the units (FealTY starts once /etc/fealty/fealty.env exists, after the volume).
units=(fealty-volume.service fealty.service)
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  if [ "$changed" = 1 ]; then
    systemctl daemon-reload
  fi
  for u in "${units[@]}"; do
    if ! systemctl is-enabled --quiet "$u" 2>/dev/null; then
      systemctl enable "$u"
      changed=1
    fi
  done
else
  # No running systemd (a chroot or --root): make the links `systemctl enable` would make.
  for u in "${units[@]}"; do
    link="$root/etc/systemd/system/multi-user.target.wants/$u"
    if [ "$(readlink "$link" 2>/dev/null || true)" != "/etc/systemd/system/$u" ]; then
      mkdir -p "$(dirname "$link")"
      ln -sfn "/etc/systemd/system/$u" "$link"
      say "enabled $u"
      changed=1
    fi
  done
fi

if [ "$changed" = 1 ]; then
  say "done: FealTY installed; put its settings in /etc/fealty/fealty.env and run: systemctl restart fealty"
else
  say "nothing to change"
fi
