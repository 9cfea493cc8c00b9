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

for name in ("url", "ipv4", "bucket"):
    check(name in outputs, f"output {name} is not declared")
    check(str(outputs.get(name, {}).get("description", "")).strip(), f"output {name} has no description")


of_type, need = tf.of_type, tf.need


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


expand = tf.expand

env_want = ["FEALTY_DOMAIN", "FEALTY_ACME_EMAIL", "FEALTY_BACKUP_TO", "FEALTY_S3_ENDPOINT", "FEALTY_S3_REGION",
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FEALTY_BACKUP_PASSPHRASE"]
inst_text = text(instances)
for name in env_want:
    check(name in inst_text, f"linode_instance: the user data does not set {name}")
m = re.search(r"FEALTY_S3_ENDPOINT'?\s*[:=]\s*'?([^,}'\s]+)", inst_text)
if check(m, "linode_instance: FEALTY_S3_ENDPOINT not found in the user data"):
    full = expand(m.group(1))
    check(re.search(r"linode_object_storage_bucket\.\w+\.(s3_endpoint|hostname|endpoint)", full),
          "FEALTY_S3_ENDPOINT does not come from the bucket's s3_endpoint/hostname/endpoint attribute")
    check("var.region" not in full, "FEALTY_S3_ENDPOINT is built from var.region (use the bucket's endpoint)")
m = re.search(r"FEALTY_BACKUP_TO'?\s*[:=]\s*'?([^,}'\s]+)", inst_text)
if m:
    check(re.search(r"s3://\$\{linode_object_storage_bucket\.\w+\.label\}/fealty", expand(m.group(1))),
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
check_packer_references(tpl, "packer")

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

report("check_deploy", f"{len(tf_files)} .tf files, {len(resources)} resources, {len(variables)} variables, "
       f"{len(outputs)} outputs; packer template and plugins; unit")
