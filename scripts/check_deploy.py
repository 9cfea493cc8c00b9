#!/usr/bin/env python3
"""Static checks of the deploy files (packer/, terraform/), offline and fast.

Parses every .tf and .pkr.hcl file with python-hcl2 and checks that the resources,
variables, outputs and settings the deployment relies on are there, and that every
var.X, local.X, resource and data reference is declared. Run by scripts/check-deploy.sh.
"""
import re
import subprocess
import sys
from pathlib import Path

import hcl2

ROOT = Path(__file__).resolve().parent.parent
errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond


def unq(s):
    """python-hcl2 keeps the quotes of strings and block labels: drop them."""
    if isinstance(s, str) and len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1]
    return s


def clean(x):
    """The parsed tree without comments, markers and label quotes."""
    if isinstance(x, dict):
        return {unq(k): clean(v) for k, v in x.items() if k not in ("__comments__", "__is_block__")}
    if isinstance(x, list):
        return [clean(v) for v in x]
    return unq(x)


def load(path):
    try:
        with open(path) as f:
            return clean(hcl2.load(f))
    except Exception as e:  # noqa: BLE001 - any parse error is a failure to report
        errors.append(f"{path.relative_to(ROOT)}: does not parse: {e}")
        return {}


def blocks(doc, kind):
    """[(label, body)] for one-label blocks (variable, output, locals as ('', body))."""
    out = []
    for item in doc.get(kind, []):
        if kind == "locals":
            out.append(("", item))
        else:
            for label, body in item.items():
                out.append((label, body))
    return out


def blocks2(doc, kind):
    """[(type, name, body)] for two-label blocks (resource, data, source)."""
    out = []
    for item in doc.get(kind, []):
        for typ, named in item.items():
            for name, body in named.items():
                out.append((typ, name, body))
    return out


def text(x):
    return repr(x)


def one(body, key):
    v = body.get(key)
    if isinstance(v, list) and len(v) == 1 and isinstance(v[0], dict):
        return v[0]
    return v


# ------------------------------------------------------------------ terraform
tf_dir = ROOT / "terraform"
tf_files = sorted(tf_dir.glob("*.tf"))
check(tf_files, "terraform/: no .tf files")
for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
    check((tf_dir / name).is_file(), f"terraform/{name} is missing")

variables, outputs, locals_, resources, datas, tf_blocks, everything = {}, {}, {}, {}, {}, [], []
for path in tf_files:
    doc = load(path)
    everything.append(doc)
    for label, body in blocks(doc, "variable"):
        check(label not in variables, f"variable {label} is declared twice")
        variables[label] = body
    for label, body in blocks(doc, "output"):
        outputs[label] = body
    for _, body in blocks(doc, "locals"):
        locals_.update(body)
    for typ, name, body in blocks2(doc, "resource"):
        resources[(typ, name)] = body
    for typ, name, body in blocks2(doc, "data"):
        datas[(typ, name)] = body
    tf_blocks += doc.get("terraform", [])

# Provider pinned.
providers = {}
for tb in tf_blocks:
    for rp in tb.get("required_providers", []):
        providers.update(rp)
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


def expand(expr, seen=()):
    """An expression with local.X replaced by its value, transitively."""
    out = str(expr)
    for m in set(re.findall(r"\blocal\.([A-Za-z_]\w*)", out)):
        if m in locals_ and m not in seen:
            out += " " + expand(locals_[m], seen + (m,))
    return out


def of_type(typ):
    return [(n, b) for (t, n), b in resources.items() if t == typ]


def need(typ, count=1):
    found = of_type(typ)
    check(len(found) >= count, f"resource {typ}: want {count}, found {len(found)}")
    return found


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


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


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
resource_types = {t for t, _ in resources}
for doc in everything:
    t = text(doc)
    for m in re.finditer(r"\bvar\.([A-Za-z_][\w-]*)", t):
        check(m.group(1) in variables, f"terraform: var.{m.group(1)} is not declared")
    for m in re.finditer(r"\blocal\.([A-Za-z_][\w-]*)", t):
        check(m.group(1) in locals_, f"terraform: local.{m.group(1)} is not declared")
    for m in re.finditer(r"\bdata\.([a-z][\w]*)\.([A-Za-z_][\w-]*)", t):
        check((m.group(1), m.group(2)) in datas, f"terraform: data.{m.group(1)}.{m.group(2)} is not declared")
    for m in re.finditer(r"(?<![\w.])((?:linode|random)_[a-z_]+)\.([A-Za-z_][\w-]*)", t):
        typ, name = m.group(1), m.group(2)
        if typ in resource_types or (typ, name) in resources:
            check((typ, name) in resources, f"terraform: {typ}.{name} is not declared")
        elif not any(typ == d for d, _ in datas):
            check(False, f"terraform: {typ}.{name} refers to a resource type that is not declared")

# The cloud-init user data and its environment.
tpl_calls = re.findall(r'templatefile\(\\*"\$\{path\.module\}/([^"\\]+)', text(instances))
check(tpl_calls, "linode_instance: user_data is not made with templatefile(\"${path.module}/...\")")


env_want = ["FEALTY_DOMAIN", "FEALTY_ACME_EMAIL", "FEALTY_BACKUP_TO", "FEALTY_S3_ENDPOINT", "FEALTY_S3_REGION",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FEALTY_BACKUP_PASSPHRASE"]
# The backup settings come through locals (local.backup_env): read them expanded.
inst_text = expand(text(instances))
for name in env_want:
    check(name in inst_text, f"linode_instance: the user data does not set {name}")
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
    check("/dev/disk/by-id/scsi-0Linode_Volume_${volume_label}" in s, f"terraform/{tpl}: the volume is not found by its by-id path")
    check("blkid" in s and "mkfs" in s, f"terraform/{tpl}: no blkid check before mkfs")
    check(s.find("blkid") < s.find("mkfs"), f"terraform/{tpl}: mkfs comes before the blkid check")
    check("/etc/fealty/fealty.env" in s, f"terraform/{tpl}: /etc/fealty/fealty.env is not written")
    check("systemctl restart fealty" in s, f"terraform/{tpl}: fealty is not restarted")
    check("/var/lib/fealty" in s, f"terraform/{tpl}: the volume is not mounted at /var/lib/fealty")
    given = set(re.findall(r'\\*"?(\w+)\\*"?\s*[:=]', text(instances))) | {"name", "value"}
    for ref in re.findall(r"\$\{\s*(?:jsonencode\()?([A-Za-z_]\w*)", s):
        check(ref in given, f"terraform/{tpl}: ${{{ref}}} is not passed by templatefile()")

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
    pps = [body for pp in b.get("post-processor", []) for kind, body in pp.items() if kind == "manifest"]
    check(pps and "manifest.json" in text(pps), "packer build: no manifest post-processor writing manifest.json")
    check(all(f"source.linode.{n}" in text(b.get("sources")) for _, n, _ in srcs), "packer build: does not use the linode source")
pvars = {label for label, _ in blocks(tpl, "variable")}
plocals = {}
for _, body in blocks(tpl, "locals"):
    plocals.update(body)
for label, body in blocks(tpl, "variable"):
    check(str(body.get("description", "")).strip(), f"packer variable {label} has no description")
for m in re.finditer(r"\bvar\.([A-Za-z_]\w*)", text(tpl)):
    check(m.group(1) in pvars, f"packer: var.{m.group(1)} is not declared")
for m in re.finditer(r"\blocal\.([A-Za-z_]\w*)", text(tpl)):
    check(m.group(1) in plocals, f"packer: local.{m.group(1)} is not declared")

# ------------------------------------------------------------------ the unit
unit_path = pk_dir / "fealty.service"
if check(unit_path.is_file(), "packer/fealty.service is missing"):
    unit = unit_path.read_text()
    for line in ("User=fealty", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                 "ReadWritePaths=/var/lib/fealty", "EnvironmentFile=-/etc/fealty/fealty.env", "Restart=on-failure"):
        check(re.search(rf"^{re.escape(line)}\s*$", unit, re.M), f"packer/fealty.service: no line {line}")
    check(re.search(r"^ExecStart=/usr/local/bin/fealty serve --data /var/lib/fealty\b", unit, re.M),
          "packer/fealty.service: ExecStart is not /usr/local/bin/fealty serve --data /var/lib/fealty")
    nofile = re.findall(r"^LimitNOFILE=(\d+)\s*$", unit, re.M)
    check(len(nofile) == 1 and int(nofile[0]) > 2048,
          "packer/fealty.service: LimitNOFILE must be set above the default connection cap (2048)")
    rw = re.findall(r"^ReadWritePaths=(.*)$", unit, re.M)
    check(rw == ["/var/lib/fealty"], f"packer/fealty.service: writable paths are {rw}, want only /var/lib/fealty")
    printed = subprocess.run(["bash", str(pk_dir / "provision.sh"), "--print-unit"], capture_output=True, text=True)
    check(printed.returncode == 0 and printed.stdout == unit,
          "packer/fealty.service differs from the unit provision.sh writes (provision.sh --print-unit)")

if errors:
    for e in errors:
        print(f"FAIL {e}")
    print(f"check_deploy: {len(errors)} problem(s)")
    sys.exit(1)
print(f"check_deploy: ok ({len(tf_files)} .tf files, {len(resources)} resources, {len(variables)} variables, "
      f"{len(outputs)} outputs; packer template and plugins; unit)")
