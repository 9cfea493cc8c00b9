#!/usr/bin/env python3
"""Renders terraform/cloud-init.yaml.tftpl with `terraform console` and checks what it writes.

    scripts/check_cloud_init.py

The values given are the awkward ones: a passphrase and a settings value holding & < > " \\ $ '
and a literal \\u0026 (jsonencode turns & < > into such escapes). Checks that the passphrase
file decodes to exactly the bytes given, that the settings file read back the way systemd's
EnvironmentFile= and a shell read it (double quotes, \\ " $ ` escaped) gives every value
exactly, that it names the passphrase file and holds no secret chosen by a person, and that
the volume's device is named. Needs terraform and PyYAML; run by scripts/check-deploy.sh.
"""
import base64
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "terraform" / "cloud-init.yaml.tftpl"
DEVICE = "/dev/disk/by-id/scsi-0Linode_Volume_fealty-data"
PASSPHRASE = "a&b<c>d\"e\\f$g'h \\u0026 `x` ${y}"
SETTINGS = {
    "FEALTY_DOMAIN": "rewards.example.com",
    # A provider's secret key may hold anything printable; this one holds the worst of it.
    "AWS_SECRET_ACCESS_KEY": "k&<>\"\\$'`\\u0026 $HOME ${x}",
}
PASSPHRASE_FILE = "/etc/fealty/backup-passphrase"

errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond


def render(work):
    """The template rendered by terraform itself; the awkward values go in through file()."""
    (work / "passphrase").write_text(PASSPHRASE)
    env = []
    for i, (name, value) in enumerate(SETTINGS.items()):
        (work / f"v{i}").write_text(value)
        env.append(f'{name} = file("v{i}")')
    expr = (f'templatefile("{TEMPLATE}", {{ volume_device = "{DEVICE}", '
            f'env = {{ {", ".join(env)} }}, passphrase = file("passphrase") }})')
    out = subprocess.run(["terraform", "console", "-no-color"], input=expr + "\n", cwd=work, capture_output=True, text=True,
                         env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull}, timeout=120)
    text = out.stdout
    if out.returncode != 0 or not text.startswith("<<EOT\n"):
        sys.exit(f"check_cloud_init: terraform console could not render {TEMPLATE.name} with volume_device, env "
                 f"and passphrase:\n{out.stderr.strip() or text.strip()}")
    return text[len("<<EOT\n"):].rsplit("EOT", 1)[0]


def read_back(env_text, names, work):
    """Each value as a shell reads the file (`set -a; . FILE`), which for these escapes is also
    how systemd's EnvironmentFile= reads it."""
    path = work / "fealty.env"
    path.write_bytes(env_text)
    script = 'set -a; . "$1"; shift; for n in "$@"; do printf "%s\\0" "${!n}"; done'
    out = subprocess.run(["bash", "-c", script, "read-back", str(path), *names], capture_output=True,
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, timeout=30)
    if not check(out.returncode == 0, f"fealty.env does not read back in a shell: {out.stderr.decode(errors='replace')}"):
        return {}
    return dict(zip(names, out.stdout.split(b"\0")))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        text = render(work)
        check(text.startswith("#cloud-config\n"), "the user data does not start with #cloud-config")
        doc = yaml.safe_load(text)
        files = {f["path"]: f for f in doc.get("write_files", [])}

        def content(path, owner, mode):
            f = files.get(path)
            if not check(f, f"{path} is not written"):
                return b""
            check(f.get("owner") == owner, f"{path}: owner is {f.get('owner')}, want {owner}")
            check(f.get("permissions") == mode, f"{path}: permissions are {f.get('permissions')}, want {mode}")
            if not check(f.get("encoding") == "b64", f"{path}: not written with encoding: b64 (bytes could change)"):
                return str(f.get("content", "")).encode()
            return base64.b64decode(f["content"], validate=True)

        check(content("/etc/fealty/volume-device", "root:root", "0644") == f"{DEVICE}\n".encode(),
              "/etc/fealty/volume-device is not the device given, on one line")
        got = content(PASSPHRASE_FILE, "root:fealty", "0640")
        check(got == PASSPHRASE.encode(), f"{PASSPHRASE_FILE} holds {got!r}, not the passphrase given byte for byte")

        env = content("/etc/fealty/fealty.env", "root:fealty", "0640")
        lines = env.decode(errors="replace").splitlines()
        names = [line.split("=", 1)[0] for line in lines]
        for line in lines:
            check(line.split("=", 1)[0].isidentifier() and "=" in line, f"fealty.env: not a NAME=value line: {line!r}")
        values = read_back(env, names, work)
        for name, value in {**SETTINGS, "FEALTY_BACKUP_PASSPHRASE_FILE": PASSPHRASE_FILE}.items():
            check(values.get(name) == value.encode(), f"fealty.env: {name} reads back as {values.get(name)!r}, want {value!r}")
        # Secrets chosen by a person go by file, never in the environment (nor in `ps e`, or a crash dump).
        check("FEALTY_BACKUP_PASSPHRASE" not in names, "fealty.env sets FEALTY_BACKUP_PASSPHRASE (the passphrase goes by file)")
        check(PASSPHRASE.encode() not in env and b"a&b<c>d" not in env, "fealty.env holds the backup passphrase")

        runcmd = [" ".join(c) if isinstance(c, list) else c for c in doc.get("runcmd", [])]
        check(any("systemctl" in c and "start" in c and "fealty.service" in c for c in runcmd),
              f"runcmd does not start fealty.service: {runcmd}")
        check("mkfs" not in text and "mount" not in " ".join(runcmd),
              "the user data formats or mounts the volume itself (fealty-volume.service in the image does, and retries)")

    if errors:
        for e in errors:
            print(f"FAIL {e}")
        sys.exit(f"check_cloud_init: {len(errors)} problem(s)")
    print("check_cloud_init: ok (the passphrase file and every setting survive byte for byte; no secret in the env file)")


if __name__ == "__main__":
    main()
