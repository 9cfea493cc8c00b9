#!/usr/bin/env bash
# Installs FealTY on a Debian or Ubuntu system: the binary, a system user, a hardened
# systemd unit, /etc/fealty and the data directory, and unattended security upgrades.
#
#   packer/provision.sh [--root DIR] [BINARY]
#
# BINARY (or FEALTY_BINARY) is the fealty executable to install (default: ./fealty).
# --root DIR (or FEALTY_ROOT) installs into a directory tree instead of / (for tests);
# apt is then skipped and the service is enabled by its symlink.
# FEALTY_DATA_DIR changes the data directory (default /var/lib/fealty).
# FEALTY_SKIP_APT=1 skips installing unattended-upgrades.
# --print-unit prints the systemd unit it writes and exits.
# Run it as root. Running it again changes nothing. It needs nothing beside itself
# (packer/fealty.service is the same unit, kept for `systemd-analyze verify`).
set -euo pipefail

root="${FEALTY_ROOT:-}"
binary="${FEALTY_BINARY:-}"
data_dir="${FEALTY_DATA_DIR:-/var/lib/fealty}"
print_unit=0

while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --root=*) root="${1#--root=}"; shift ;;
    --print-unit) print_unit=1; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "provision.sh: unknown option $1" >&2; exit 2 ;;
    *) binary="$1"; shift ;;
  esac
done
binary="${binary:-./fealty}"
root="${root%/}"

# The systemd unit (the same text as packer/fealty.service), for the data directory given.
unit() {
  sed "s|/var/lib/fealty|$data_dir|g" <<'UNIT'
# FealTY: a loyalty scheme in a box. Installed by packer/provision.sh.
# Settings (FEALTY_DOMAIN, FEALTY_ACME_EMAIL, FEALTY_BACKUP_TO, S3 keys, ...) live in
# /etc/fealty/fealty.env; the service starts once that file exists.
[Unit]
Description=FealTY loyalty scheme
Wants=network-online.target
After=network-online.target
RequiresMountsFor=/var/lib/fealty
ConditionPathExists=/etc/fealty/fealty.env

[Service]
Type=simple
User=fealty
Group=fealty
EnvironmentFile=-/etc/fealty/fealty.env
ExecStart=/usr/local/bin/fealty serve --data /var/lib/fealty --https-listen 0.0.0.0:443 --http-listen 0.0.0.0:80
Restart=on-failure
RestartSec=5s
UMask=0077
# Above the connection cap (fealty serve --max-connections, 2048 by default) with room for the
# database, the control socket, backups and outgoing connections.
LimitNOFILE=8192

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

# Ports 80 and 443 without root, and no other privilege.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE

[Install]
WantedBy=multi-user.target
UNIT
}
if [ "$print_unit" = 1 ]; then
  unit
  exit 0
fi

say() { echo "provision: $*"; }
die() { echo "provision: error: $*" >&2; exit 1; }

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

# 1. The binary.
install_file 0755 "$binary" /usr/local/bin/fealty

# 2. The system user: no login shell, no home to log in to.
nologin=/usr/sbin/nologin
[ -x "$root$nologin" ] || nologin=/sbin/nologin
root_args=()
[ -z "$root" ] || root_args=(--root "$root")
if [ -z "$(id_of group fealty)" ]; then
  groupadd "${root_args[@]}" --system fealty
  say "created group fealty"
  changed=1
fi
if [ -z "$(id_of passwd fealty)" ]; then
  useradd "${root_args[@]}" --system --gid fealty --no-create-home \
    --home-dir /nonexistent --shell "$nologin" --comment "FealTY loyalty scheme" fealty
  say "created user fealty"
  changed=1
fi
uid="$(id_of passwd fealty)"
gid="$(id_of group fealty)"
if [ -z "$uid" ] || [ -z "$gid" ]; then die "could not create the fealty user"; fi

# 3. Settings and data directories.
ensure_dir 0750 0 "$gid" /etc/fealty
ensure_dir 0700 "$uid" "$gid" "$data_dir"

# 4. The systemd unit, with the data directory filled in.
unit | write_file 0644 /etc/systemd/system/fealty.service

# 5. Unattended security upgrades.
if [ "${FEALTY_SKIP_APT:-0}" != 1 ]; then
  if [ -n "$root" ]; then
    say "--root given: not running apt; install unattended-upgrades in the target yourself"
  elif ! dpkg-query -W -f '${Status}' unattended-upgrades 2>/dev/null | grep -q 'ok installed'; then
    say "installing unattended-upgrades"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends unattended-upgrades
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

# 6. Enable the service (it starts once /etc/fealty/fealty.env exists).
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  if [ "$changed" = 1 ]; then
    systemctl daemon-reload
  fi
  if ! systemctl is-enabled --quiet fealty 2>/dev/null; then
    systemctl enable fealty
    changed=1
  fi
else
  # No running systemd (a chroot or --root): make the link `systemctl enable` would make.
  link="$root/etc/systemd/system/multi-user.target.wants/fealty.service"
  if [ "$(readlink "$link" 2>/dev/null || true)" != /etc/systemd/system/fealty.service ]; then
    mkdir -p "$(dirname "$link")"
    ln -sfn /etc/systemd/system/fealty.service "$link"
    say "enabled fealty.service"
    changed=1
  fi
fi

if [ "$changed" = 1 ]; then
  say "done: FealTY installed; put its settings in /etc/fealty/fealty.env and run: systemctl restart fealty"
else
  say "nothing to change"
fi
