#!/usr/bin/env python3
"""Static checks of the deploy files (packer/, terraform/), offline and fast.

Parses every .tf and .pkr.hcl file with python-hcl2 and checks that the resources,
variables, outputs and settings the deployment relies on are there, and that every
var.X, local.X, resource and data reference is declared. Run by scripts/check-deploy.sh.
"""
import re
import subprocess

from deploy_hcl import ROOT, Terraform, as_list, blocks2, check, check_packer_references, load, one, report, text


# ------------------------------------------------------------------ terraform
tf_dir = ROOT / "terraform"
tf = Terraform(tf_dir)
tf_files = tf.files
for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
    check((tf_dir / name).is_file(), f"terraform/{name} is missing")
variables, outputs, locals_, resources, datas = tf.variables, tf.outputs, tf.locals, tf.resources, tf.datas
everything = tf.docs

# Provider pinned.
providers = tf.providers()
linode = providers.get("linode", {})
check(linode.get("source") == "linode/linode", "versions.tf: required_providers.linode.source is not linode/linode")
check(bool(re.search(r"\d", str(linode.get("version", "")))), "versions.tf: the linode provider has no version constraint")
versions_text = (tf_dir / "versions.tf").read_text() if (tf_dir / "versions.tf").is_file() else ""


def pin_ok(constraint):
    """The linode pin must exclude versions before 2.34 (no bucket s3_endpoint) and 3.x."""
    low, high = None, None
    for part in str(constraint).split(","):
        m = re.fullmatch(r"\s*(~>|>=|>|<|<=|=)?\s*(\d+)(?:\.(\d+))?(?:\.\d+)?\s*", part)
        if not m:
            return False
        op, major, minor = m.group(1) or "=", int(m.group(2)), int(m.group(3) or 0)
        if op in (">=", "=") or (op == "~>" and m.group(3)):
            low = (major, minor)
        if op == "~>" and m.group(3):
            high = (major + 1, 0)
        elif op == "<":
            high = (major, minor)
        elif op == "=":
            high = (major, minor + 1)
    return low is not None and low >= (2, 34) and high is not None and high <= (3, 0)


check(pin_ok(linode.get("version", "")),
      f"versions.tf: the linode provider pin {linode.get('version')!r} must be >= 2.34 (bucket s3_endpoint) and < 3.0")
check(".terraform.lock.hcl" in versions_text, "versions.tf: no word that the owner commits .terraform.lock.hcl after the first init")
ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "terraform/.terraform.lock.hcl"], capture_output=True)
check(ignored.returncode != 0, "terraform/.terraform.lock.hcl is ignored by git: the owner must be able to commit it")
check(re.search(r'^\s*#\s*backend "s3"', versions_text, re.M), "versions.tf: no commented-out backend \"s3\" block documenting remote state")

# Variables: described, typed; validated unless a plain switch.
for name, body in variables.items():
    check(str(body.get("description", "")).strip(), f"variable {name} has no description")
    check("type" in body, f"variable {name} has no type")
    if body.get("type") != "bool":
        check("validation" in body, f"variable {name} has no validation")
for name in ("domain", "hostname", "create_domain", "acme_email", "image_id", "region", "instance_type", "admin_cidr"):
    check(name in variables, f"variable {name} is not declared")
check(variables.get("instance_type", {}).get("default") == "g6-nanode-1", "variable instance_type does not default to g6-nanode-1")
check(variables.get("hostname", {}).get("default") == "rewards", "variable hostname does not default to rewards")
check(variables.get("create_domain", {}).get("default") is False, "variable create_domain does not default to false")

# An external S3-compatible bucket. Its values end up in a systemd environment file: the
# validations must refuse quotes, backslashes, dollar signs and line breaks.
external = {
    "backup_to": "s3://my-bucket/shop",
    "s3_endpoint": "https://s3.us-west-004.backblazeb2.com",
    "s3_region": "us-west-004",
    "s3_access_key_id": "0040abcdef",
    "s3_secret_access_key": "K004abc/def+ghi",
}
for name, good in external.items():
    if not check(name in variables, f"variable {name} (an external backup bucket) is not declared"):
        continue
    body = variables[name]
    check(body.get("default") == "", f"variable {name} does not default to empty (the Linode bucket)")
    patterns = re.findall(r'regex\(\\*"((?:[^"\\]|\\.)*?)\\*",\s*var\.' + name, text(body.get("validation")))
    if not check(patterns, f"variable {name}: no regex validation"):
        continue
    try:
        pattern = re.compile(patterns[0].encode().decode("unicode_escape").replace("\\\\", "\\"))
    except re.error as e:
        check(False, f"variable {name}: its validation regex does not compile: {e}")
        continue
    check(pattern.search(good), f"variable {name}: its validation refuses {good!r}")
    for bad in ('"', "\\", "$", "\n", "'", "`"):
        check(not pattern.search(good[:-1] + bad + good[-1]), f"variable {name}: its validation lets {bad!r} through")
check(variables.get("s3_secret_access_key", {}).get("sensitive") is True, "variable s3_secret_access_key is not sensitive")
check(variables.get("backup_passphrase", {}).get("sensitive") is True, "variable backup_passphrase is not sensitive")

for name in ("url", "ipv4", "bucket"):
    check(name in outputs, f"output {name} is not declared")
    check(str(outputs.get(name, {}).get("description", "")).strip(), f"output {name} has no description")


of_type, need, expand = tf.of_type, tf.need, tf.expand


instances = need("linode_instance")
volumes = need("linode_volume")
firewalls = need("linode_firewall")
domains = need("linode_domain")
records = need("linode_domain_record", 2)
buckets = need("linode_object_storage_bucket")
keys = need("linode_object_storage_key")
passwords = of_type("random_password")
check(passwords or "backup_passphrase" in variables, "no random_password resource and no backup_passphrase variable")

for name, inst in instances:
    conditions = text(inst.get("lifecycle"))
    check(re.search(r"length\(var\.ssh_keys\)\s*>\s*0", conditions + text(variables.get("ssh_keys", {}).get("validation"))),
          f"linode_instance.{name}: nothing refuses an empty ssh_keys (nobody could log in to read the setup link)")
    check("data.linode_region." in conditions and "Metadata" in conditions,
          f"linode_instance.{name}: no precondition that the region offers Metadata (cloud-init user data)")
    check("var.image_id" in text(inst.get("image")), f"linode_instance.{name}: image is not var.image_id")
    check("var.instance_type" in text(inst.get("type")), f"linode_instance.{name}: type is not var.instance_type")
    md = one(inst, "metadata")
    check(isinstance(md, dict) and "user_data" in md, f"linode_instance.{name}: no metadata {{ user_data }} for cloud-init")
    check("linode_firewall." in text(inst) or any("linode_instance." in text(b) for _, b in firewalls),
          f"linode_instance.{name}: not attached to the firewall")

for name, vol in volumes:
    lc = one(vol, "lifecycle") or {}
    check(isinstance(lc, dict) and lc.get("prevent_destroy") is True, f"linode_volume.{name}: lifecycle prevent_destroy is not true")
    check("linode_instance." in text(vol.get("linode_id")), f"linode_volume.{name}: not attached to the instance (linode_id)")
    check("var.volume_label" in text(vol.get("label")) or isinstance(vol.get("label"), str), f"linode_volume.{name}: no label")


for name, fw in firewalls:
    check(fw.get("inbound_policy") == "DROP", f"linode_firewall.{name}: inbound_policy is not DROP")
    check(fw.get("outbound_policy") == "ACCEPT", f"linode_firewall.{name}: outbound_policy is not ACCEPT")
    rules = {}
    for rule in as_list(fw.get("inbound")):
        for port in str(rule.get("ports", "")).split(","):
            rules.setdefault(port.strip(), []).append(rule)
    check(set(rules) == {"22", "80", "443"}, f"linode_firewall.{name}: inbound ports are {sorted(rules)}, want 22, 80, 443")
    for rule in rules.get("22", []):
        t = text(rule.get("ipv4")) + text(rule.get("ipv6"))
        check("var.admin_cidr" in t and "0.0.0.0/0" not in t and "::/0" not in t,
              f"linode_firewall.{name}: port 22 must be open to var.admin_cidr only")
    for port in ("80", "443"):
        for rule in rules.get(port, []):
            check("0.0.0.0/0" in text(rule.get("ipv4")) and "::/0" in text(rule.get("ipv6")),
                  f"linode_firewall.{name}: port {port} is not open to everyone (IPv4 and IPv6)")
            check(rule.get("action") == "ACCEPT", f"linode_firewall.{name}: port {port} rule is not ACCEPT")

for name, dom in domains:
    check("var.create_domain" in text(dom.get("count")), f"linode_domain.{name}: not made only when var.create_domain")
kinds = sorted(str(r.get("record_type")) for _, r in records)
check("A" in kinds and "AAAA" in kinds, f"linode_domain_record: want A and AAAA, found {kinds}")
for name, rec in records:
    check("var.hostname" in text(rec.get("name")), f"linode_domain_record.{name}: name is not var.hostname")

check(any(t == "linode_region" for t, _ in datas), "no data \"linode_region\" to check the region's capabilities")
for name, body in [(f"linode_object_storage_bucket.{n}", b) for n, b in buckets] + [(f"linode_object_storage_key.{n}", b) for n, b in keys]:
    check("var.backup_to" in expand(text(body.get("count"))), f"{name}: no count that drops it when backup_to names an external bucket")
for name, body in buckets:
    conditions = text(body.get("lifecycle"))
    check("data.linode_region." in conditions and "Object Storage" in conditions,
          f"linode_object_storage_bucket.{name}: no precondition that the region offers Object Storage")

for name, key in keys:
    ba = as_list(key.get("bucket_access"))
    check(ba, f"linode_object_storage_key.{name}: no bucket_access (the key would reach every bucket)")
    for b in ba:
        check("linode_object_storage_bucket." in text(b.get("bucket_name")), f"linode_object_storage_key.{name}: bucket_access.bucket_name is not the bucket")
        check(b.get("permissions") in ("read_write", "read_only"), f"linode_object_storage_key.{name}: bucket_access.permissions missing")

# References resolve.
tf.check_references(("linode", "random"))

# The cloud-init user data and its environment.
tpl_calls = re.findall(r'templatefile\(\\*"\$\{path\.module\}/([^"\\]+)', text(instances))
check(tpl_calls, "linode_instance: user_data is not made with templatefile(\"${path.module}/...\")")


env_want = ["FEALTY_DOMAIN", "FEALTY_ACME_EMAIL", "FEALTY_BACKUP_TO", "FEALTY_S3_ENDPOINT", "FEALTY_S3_REGION",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
# The settings may come through locals (merge({...}, local.backup_env)).
inst_text = expand(text(instances))
for name in env_want:
    check(name in inst_text, f"linode_instance: the user data does not set {name}")
# The template's variables, as the shared contract fixes them.
for name in ("volume_device", "env", "passphrase"):
    check(re.search(rf"\b{name}\b'?\s*[:=]", text(instances)), f"linode_instance: templatefile() is not given {name}")
check("local.passphrase" in text(instances), "linode_instance: the template's passphrase is not local.passphrase")
check("scsi-0Linode_Volume_${var.volume_label}" in text(instances),
      "linode_instance: volume_device is not /dev/disk/by-id/scsi-0Linode_Volume_${var.volume_label}")
# The passphrase goes to a file of its own, byte for byte; never into the environment file.
check(not re.search(r"FEALTY_BACKUP_PASSPHRASE(?!_FILE)\b", inst_text),
      "linode_instance: FEALTY_BACKUP_PASSPHRASE is in the environment (pass it as the template's passphrase)")
m = re.search(r"FEALTY_S3_ENDPOINT'?\s*[:=]\s*'?([^,}'\s]+)", inst_text)
if check(m, "linode_instance: FEALTY_S3_ENDPOINT not found in the user data"):
    full = expand(m.group(1))
    check(re.search(r"linode_object_storage_bucket\.\w+(\[0\])?\.(s3_endpoint|hostname|endpoint)", full),
          "FEALTY_S3_ENDPOINT does not come from the bucket's s3_endpoint/hostname/endpoint attribute")
    check("var.region" not in full, "FEALTY_S3_ENDPOINT is built from var.region (use the bucket's endpoint)")
m = re.search(r"FEALTY_BACKUP_TO'?\s*[:=]\s*'?([^,}'\s]+)", inst_text)
if m:
    check(re.search(r"s3://\$\{linode_object_storage_bucket\.\w+(\[0\])?\.label\}/fealty", expand(m.group(1))),
          "FEALTY_BACKUP_TO is not s3://<bucket>/fealty")
check("linodeobjects.com" not in "".join(text(d) for d in everything),
      "terraform: an Object Storage hostname is written out by hand (take it from the bucket)")

for tpl in tpl_calls:
    p = tf_dir / tpl
    if not check(p.is_file(), f"terraform/{tpl} (the cloud-init template) is missing"):
        continue
    s = p.read_text()
    check(s.startswith("#cloud-config"), f"terraform/{tpl} does not start with #cloud-config")
    check("${volume_device}" in s and "/etc/fealty/volume-device" in s,
          f"terraform/{tpl}: the volume's device is not written to /etc/fealty/volume-device")
    check("mkfs" not in s, f"terraform/{tpl}: formats the volume itself (the image's fealty-volume.service does, and retries)")
    check("jsonencode" not in s, f"terraform/{tpl}: jsonencode turns & < > into \\u escapes that nothing decodes")
    for path in ("/etc/fealty/fealty.env", "/etc/fealty/backup-passphrase"):
        check(re.search(rf"- path: {re.escape(path)}\n(\s+\w+: .*\n)*?\s+encoding: b64\n", s),
              f"terraform/{tpl}: {path} is not written with encoding: b64")
    check("FEALTY_BACKUP_PASSPHRASE_FILE=/etc/fealty/backup-passphrase" in s,
          f"terraform/{tpl}: the env file does not name the passphrase file")
    check("fealty.service" in s, f"terraform/{tpl}: fealty.service is not started")
    # Every variable the template reads is given: scripts/check_cloud_init.py renders it with terraform.

# ------------------------------------------------------------------ packer
pk_dir = ROOT / "packer"
plugins = load(pk_dir / "plugins.pkr.hcl") if (pk_dir / "plugins.pkr.hcl").is_file() else {}
check(plugins, "packer/plugins.pkr.hcl is missing or empty")
check(set(plugins) <= {"packer"}, f"packer/plugins.pkr.hcl holds more than the packer block: {sorted(plugins)}")
req = {}
for pb in plugins.get("packer", []):
    for rp in pb.get("required_plugins", []):
        req.update(rp)
lin = req.get("linode", {})
check(lin.get("source") == "github.com/linode/linode", "packer/plugins.pkr.hcl: required_plugins.linode.source is not github.com/linode/linode")
check(re.search(r"\d", str(lin.get("version", ""))), "packer/plugins.pkr.hcl: the linode plugin has no version constraint")

tpl = load(pk_dir / "fealty.pkr.hcl") if (pk_dir / "fealty.pkr.hcl").is_file() else {}
check(tpl, "packer/fealty.pkr.hcl is missing or empty")
check("packer" not in tpl, "packer/fealty.pkr.hcl has a packer block (keep it in plugins.pkr.hcl for packer 1.6's syntax check)")
srcs = [(t, n, b) for t, n, b in blocks2(tpl, "source") if t == "linode"]
if check(srcs, "packer/fealty.pkr.hcl: no source \"linode\""):
    _, sname, src = srcs[0]
    check(src.get("cloud_init") is True, "packer source linode: cloud_init is not true")
    check(src.get("image") == "linode/debian12", "packer source linode: image is not linode/debian12")
    check(src.get("image_label"), "packer source linode: no image_label")
builds = tpl.get("build", [])
if check(builds, "packer/fealty.pkr.hcl: no build block"):
    b = builds[0]
    provs = {}
    for p in b.get("provisioner", []):
        for kind, body in p.items():
            provs.setdefault(kind, []).append(body)
    check("file" in provs, "packer build: no file provisioner")
    check("target/release/fealty" in text(provs.get("file")) + text(tpl.get("variable")),
          "packer build: the file provisioner does not upload target/release/fealty")
    check("provision.sh" in text(provs.get("file")) and "provision.sh" in text(provs.get("shell")),
          "packer build: provision.sh is not uploaded and run")
    order = [(kind, body) for p in b.get("provisioner", []) for kind, body in p.items()]
    first = order[0] if order else ("", {})
    check(first[0] == "shell" and "cloud-init status --wait" in str((first[1].get("inline") or [""])[0]),
          "packer build: the first provisioner does not wait for cloud-init (cloud-init status --wait), so apt may meet the dpkg lock")
    last_shell = text([body for kind, body in order if kind == "shell"][-1:])
    for cmd in ("truncate -s 0 /etc/machine-id", "rm -f /var/lib/dbus/machine-id", "cloud-init clean"):
        check(cmd in last_shell, f"packer build: the last shell provisioner does not run {cmd} (instances would share it)")
    pps = [body for pp in b.get("post-processor", []) for kind, body in pp.items() if kind == "manifest"]
    check(pps and "manifest.json" in text(pps), "packer build: no manifest post-processor writing manifest.json")
    check(all(f"source.linode.{n}" in text(b.get("sources")) for _, n, _ in srcs), "packer build: does not use the linode source")
check_packer_references(tpl, "packer")

# ------------------------------------------------------------------ the units
def unit_lines(path, want):
    """The unit's text, each line of want checked to be there as a whole line."""
    if not check(path.is_file(), f"packer/{path.name} is missing"):
        return ""
    unit = path.read_text()
    for line in want:
        check(re.search(rf"^{re.escape(line)}\s*$", unit, re.M), f"packer/{path.name}: no line {line}")
    return unit


def size_mib(raw):
    m = re.fullmatch(r"(\d+)([KMG]?)", raw.strip())
    return int(m.group(1)) * {"K": 1 / 1024, "M": 1, "G": 1024, "": 1 / 1048576}[m.group(2)] if m else None


unit = unit_lines(pk_dir / "fealty.service", (
    "User=fealty", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
    "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
    "ReadWritePaths=/var/lib/fealty", "EnvironmentFile=-/etc/fealty/fealty.env", "Restart=on-failure",
    "IPAddressDeny=169.254.169.254 fd00:a9fe:a9fe::1",
    # Never on the root disk: the volume's unit first, and it alone decides when the volume is there.
    "Requires=fealty-volume.service", "After=fealty-volume.service",
    "ExecStartPre=+/usr/local/sbin/fealty-mount-volume --fix-ownership"))
if unit:
    check(re.search(r"^ExecStart=/usr/local/bin/fealty serve --data /var/lib/fealty\b", unit, re.M),
          "packer/fealty.service: ExecStart is not /usr/local/bin/fealty serve --data /var/lib/fealty")
    # Dual-stack: Terraform publishes an AAAA record and the firewall opens ::/0.
    execstart = " ".join(re.findall(r"^ExecStart=(.*)$", unit, re.M))
    for flag, port in (("--https-listen", 443), ("--http-listen", 80)):
        check(f"{flag} [::]:{port}" in execstart,
              f"packer/fealty.service: ExecStart does not pass {flag} [::]:{port} (IPv6 visitors would be refused)")
    check("0.0.0.0" not in execstart, "packer/fealty.service: ExecStart listens on 0.0.0.0 (IPv4 only)")
    check(not re.search(r"^RequiresMountsFor=", unit, re.M),
          "packer/fealty.service: RequiresMountsFor= fails the unit for good when the volume is late")
    nofile = re.findall(r"^LimitNOFILE=(\d+)\s*$", unit, re.M)
    check(len(nofile) == 1 and int(nofile[0]) > 2048,
          "packer/fealty.service: LimitNOFILE must be set above the default connection cap (2048)")
    # A Nanode has 1 GiB; FealTY peaks near 300 MiB. Room above the peak, and room for the OS below the wall.
    high = size_mib((re.findall(r"^MemoryHigh=(\S+)\s*$", unit, re.M) or [""])[0])
    hard = size_mib((re.findall(r"^MemoryMax=(\S+)\s*$", unit, re.M) or [""])[0])
    check(high is not None and hard is not None and 400 <= high < hard <= 768,
          f"packer/fealty.service: want 400M <= MemoryHigh < MemoryMax <= 768M (a 1 GB Nanode), got {high} and {hard} MiB")
    stop = re.findall(r"^TimeoutStopSec=(\d+)s?\s*$", unit, re.M)
    check(len(stop) == 1 and int(stop[0]) >= 60,
          "packer/fealty.service: TimeoutStopSec must give the last backup segment time to ship (60s or more)")
    rw = re.findall(r"^ReadWritePaths=(.*)$", unit, re.M)
    check(rw == ["/var/lib/fealty"], f"packer/fealty.service: writable paths are {rw}, want only /var/lib/fealty")

unit_lines(pk_dir / "fealty-volume.service", (
    "Type=oneshot", "RemainAfterExit=yes", "ExecStart=/usr/local/sbin/fealty-mount-volume",
    "ConditionPathExists=/etc/fealty/volume-device", "Restart=on-failure", "StartLimitIntervalSec=0",
    "After=cloud-init.service local-fs.target",
    # systemd fails a waiting start of fealty.service for good when a try fails, and does not
    # start it again after a later success: the volume unit must.
    "ExecStartPost=-/usr/bin/systemctl --no-block start fealty.service"))
volume_unit = (pk_dir / "fealty-volume.service").read_text() if (pk_dir / "fealty-volume.service").is_file() else ""
check(re.search(r"^RestartSec=\d+", volume_unit, re.M), "packer/fealty-volume.service: no RestartSec")

mount_path = pk_dir / "fealty-mount-volume"
if check(mount_path.is_file(), "packer/fealty-mount-volume is missing"):
    script = mount_path.read_text()
    check("/etc/fealty/volume-device" in script, "packer/fealty-mount-volume: does not read /etc/fealty/volume-device")
    check("blkid" in script and "mkfs" in script and script.find("blkid -p") < script.find("mkfs"),
          "packer/fealty-mount-volume: no blkid -p check before mkfs")
    check("nofail" in script, "packer/fealty-mount-volume: the fstab line has no nofail (a missing volume would stop the boot)")

for name in ("fealty.service", "fealty-volume.service", "fealty-mount-volume"):
    printed = subprocess.run(["bash", str(pk_dir / "provision.sh"), "--print", name], capture_output=True, text=True)
    check((pk_dir / name).is_file() and printed.returncode == 0 and printed.stdout == (pk_dir / name).read_text(),
          f"packer/{name} differs from the one provision.sh writes (provision.sh --print {name})")

report("check_deploy", f"{len(tf_files)} .tf files, {len(resources)} resources, {len(variables)} variables, "
       f"{len(outputs)} outputs; packer template and plugins; units and the volume's mount script")
