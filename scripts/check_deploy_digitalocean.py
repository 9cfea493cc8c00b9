#!/usr/bin/env python3
"""Static checks of the DigitalOcean deploy files (digitalocean/), offline and fast.

Parses every .tf and .pkr.hcl file there with python-hcl2 and checks the resources,
variables, outputs, provider and plugin pins, the references, and that the droplet's
user data is the shared cloud-init template (terraform/cloud-init.yaml.tftpl) given
exactly the variables every target passes it. Run by scripts/check-deploy.sh.
"""
import re

from deploy_hcl import (ROOT, Terraform, as_list, blocks2, call_args, check, check_packer_references, load, one,
                        parse_expr, report, text)

DO_DIR = ROOT / "digitalocean"
# The regions with Spaces, as the provider (2.61.0 and later) checks bucket regions.
SPACES_REGIONS = {"ams3", "atl1", "blr1", "fra1", "lon1", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1"}
# digitalocean_spaces_key (with per-bucket grants) first shipped in provider 2.50.0.
PROVIDER_FLOOR = (2, 50, 0)
# What every target passes the shared cloud-init template, and what goes in the env file.
TEMPLATE = "terraform/cloud-init.yaml.tftpl"
TEMPLATE_VARS = {"volume_device", "env", "passphrase"}
ENV = {"FEALTY_DOMAIN", "FEALTY_ACME_EMAIL", "FEALTY_BACKUP_TO", "FEALTY_BACKUP_EVERY", "FEALTY_S3_ENDPOINT",
       "FEALTY_S3_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
EVERYONE = ("0.0.0.0/0", "::/0")
# The schemas of the types used (arguments and attributes together), as the providers'
# sources have them (digitalocean 2.61.0, random 3.x), so that a misspelt name fails here
# rather than at the first plan against the real API.
SCHEMA = {
    "digitalocean_droplet": {
        "image", "name", "region", "size", "graceful_shutdown", "created_at", "urn", "disk", "vcpus", "memory",
        "price_hourly", "price_monthly", "resize_disk", "status", "locked", "backups", "backup_policy", "ipv6",
        "ipv6_address", "private_networking", "ipv4_address", "ipv4_address_private", "ssh_keys", "user_data",
        "volume_ids", "monitoring", "droplet_agent", "vpc_uuid", "tags", "id", "timeouts"},
    "digitalocean_volume": {
        "region", "name", "urn", "size", "description", "snapshot_id", "initial_filesystem_type",
        "initial_filesystem_label", "droplet_ids", "filesystem_type", "filesystem_label", "tags", "id"},
    "digitalocean_ssh_key": {"name", "public_key", "fingerprint", "id"},
    "digitalocean_firewall": {"name", "droplet_ids", "inbound_rule", "outbound_rule", "status", "created_at",
                              "pending_changes", "tags", "id"},
    "digitalocean_domain": {"name", "ip_address", "urn", "ttl", "id"},
    "digitalocean_record": {"type", "domain", "name", "port", "priority", "weight", "ttl", "value", "fqdn", "flags",
                            "tag", "id"},
    "digitalocean_spaces_bucket": {"name", "urn", "region", "acl", "cors_rule", "versioning", "bucket_domain_name",
                                   "endpoint", "lifecycle_rule", "force_destroy", "id"},
    "digitalocean_spaces_key": {"name", "grant", "access_key", "secret_key", "created_at", "id"},
    "data.digitalocean_domain": {"name", "urn", "ttl", "zone_file", "id"},
    "random_id": {"byte_length", "prefix", "keepers", "b64_url", "b64_std", "hex", "dec", "id"},
    "random_password": {"length", "special", "upper", "lower", "number", "numeric", "min_special", "min_upper", "min_lower",
                        "min_numeric", "override_special", "keepers", "result", "bcrypt_hash", "id"},
}
NESTED = {
    ("digitalocean_firewall", "inbound_rule"): {"protocol", "port_range", "source_addresses", "source_droplet_ids",
                                                "source_load_balancer_uids", "source_kubernetes_ids", "source_tags"},
    ("digitalocean_firewall", "outbound_rule"): {"protocol", "port_range", "destination_addresses",
                                                 "destination_droplet_ids", "destination_load_balancer_uids",
                                                 "destination_kubernetes_ids", "destination_tags"},
    ("digitalocean_spaces_key", "grant"): {"bucket", "permission"},
    ("digitalocean_droplet", "timeouts"): {"create", "update", "delete"},
}
META = {"count", "for_each", "depends_on", "lifecycle", "provider"}
# The digitalocean builder's own settings in plugin 1.4.0; the communicator adds ssh_*.
BUILDER = {"api_token", "api_url", "http_retry_max", "http_retry_wait_max", "http_retry_wait_min", "region", "size",
           "image", "private_networking", "monitoring", "droplet_agent", "snapshot_name", "snapshot_regions",
           "wait_snapshot_transfer", "transfer_timeout", "state_timeout", "snapshot_timeout", "droplet_name",
           "user_data", "user_data_file", "tags", "snapshot_tags", "vpc_uuid", "connect_with_private_ip", "ssh_key_id",
           "communicator"}


def version(s):
    return tuple(int(p) for p in s.split("."))


def bounds(constraint):
    """(lowest allowed, first excluded) versions of a constraint like '>= 2.61.0, < 3.0.0'."""
    low = re.search(r">=\s*([0-9]+(?:\.[0-9]+)*)", constraint)
    high = re.search(r"<\s*([0-9]+(?:\.[0-9]+)*)", constraint)
    return (version(low.group(1)) if low else None), (version(high.group(1)) if high else None)


def pad(v):
    return v + (0,) * (3 - len(v))


# ------------------------------------------------------------------ terraform
tf_dir = DO_DIR / "terraform"
tf = Terraform(tf_dir)
for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
    check((tf_dir / name).is_file(), f"digitalocean/terraform/{name} is missing")
variables, outputs, locals_ = tf.variables, tf.outputs, tf.locals

# Pins: the floor must have digitalocean_spaces_key, the ceiling keeps out 3.x.
providers = tf.providers()
do = providers.get("digitalocean", {})
check(do.get("source") == "digitalocean/digitalocean",
      "digitalocean/terraform/versions.tf: required_providers.digitalocean.source is not digitalocean/digitalocean")
low, high = bounds(str(do.get("version", "")))
check(low is not None and pad(low) >= PROVIDER_FLOOR,
      f"digitalocean/terraform/versions.tf: the digitalocean provider must be pinned >= {'.'.join(map(str, PROVIDER_FLOOR))} "
      f"(digitalocean_spaces_key), found {do.get('version')!r}")
check(high is not None and pad(high) <= (3, 0, 0),
      f"digitalocean/terraform/versions.tf: the digitalocean provider must be pinned < 3.0, found {do.get('version')!r}")
check(re.search(r"\d", str(providers.get("random", {}).get("version", ""))),
      "digitalocean/terraform/versions.tf: the random provider has no version constraint")
versions_text = (tf_dir / "versions.tf").read_text() if (tf_dir / "versions.tf").is_file() else ""
check(re.search(r"^\s*#\s*backend \"s3\"", versions_text, re.M),
      "digitalocean/terraform/versions.tf: no commented-out backend \"s3\" block documenting remote state")

# Variables: described, typed; validated unless a plain switch.
for name, body in variables.items():
    check(str(body.get("description", "")).strip(), f"variable {name} has no description")
    check("type" in body, f"variable {name} has no type")
    if body.get("type") != "bool":
        check("validation" in body, f"variable {name} has no validation")
for name in ("domain", "hostname", "create_domain", "acme_email", "image_id", "region", "size", "server", "admin_cidr",
             "ssh_keys", "ssh_key_fingerprints", "volume_name", "backup_to", "s3_endpoint", "s3_region",
             "s3_access_key_id", "s3_secret_access_key", "backup_passphrase"):
    check(name in variables, f"variable {name} is not declared")
defaults = {"size": "s-1vcpu-1gb", "hostname": "rewards", "create_domain": False, "server": True, "backup_to": ""}
for name, want in defaults.items():
    check(variables.get(name, {}).get("default") == want, f"variable {name} does not default to {want!r}")
for name in ("s3_secret_access_key", "backup_passphrase"):
    check(variables.get(name, {}).get("sensitive") is True, f"variable {name} is not sensitive")
region = variables.get("region", {})
named = set(re.findall(r"\"([a-z]+[0-9])\"", text(region.get("validation"))))
check(named == SPACES_REGIONS,
      f"variable region: its validation must allow exactly the regions with Spaces {sorted(SPACES_REGIONS)}, found {sorted(named)}")
check(region.get("default") in SPACES_REGIONS, "variable region: the default is not a region with Spaces")

for name in ("url", "ipv4", "ipv6", "bucket", "backup_passphrase"):
    check(name in outputs, f"output {name} is not declared")
    check(str(outputs.get(name, {}).get("description", "")).strip(), f"output {name} has no description")
check(outputs.get("backup_passphrase", {}).get("sensitive") is True, "output backup_passphrase is not sensitive")

droplets = tf.need("digitalocean_droplet")
volumes = tf.need("digitalocean_volume")
firewalls = tf.need("digitalocean_firewall")
domains = tf.need("digitalocean_domain")
records = tf.need("digitalocean_record", 2)
buckets = tf.need("digitalocean_spaces_bucket")
keys = tf.need("digitalocean_spaces_key")
tf.need("digitalocean_ssh_key")
check(tf.of_type("random_password") or "backup_passphrase" in variables,
      "no random_password resource and no backup_passphrase variable")
check(("digitalocean_domain", "this") in tf.datas, "no data \"digitalocean_domain\" for a domain that exists already")
# The provider's own warning: volume_ids on the droplet and attachment resources do not mix.
check(not tf.of_type("digitalocean_volume_attachment"),
      "digitalocean_volume_attachment: the volume is attached by the droplet's volume_ids (so the droplet is shut "
      "down before the volume is detached); the two cannot be mixed")

for name, d in droplets:
    where = f"digitalocean_droplet.{name}"
    check("var.image_id" in text(d.get("image")), f"{where}: image is not var.image_id")
    check("var.size" in text(d.get("size")), f"{where}: size is not var.size")
    check("var.region" in text(d.get("region")), f"{where}: region is not var.region")
    check(d.get("ipv6") is True, f"{where}: ipv6 is not true (the AAAA record needs an address)")
    check(re.search(r"digitalocean_ssh_key\.|var\.ssh_key", tf.expand(d.get("ssh_keys"))),
          f"{where}: ssh_keys does not come from the SSH key variables")
    check("var.server" in tf.expand(d.get("count")), f"{where}: count does not follow var.server")
    check(re.search(r"digitalocean_volume\.\w+\.id", text(d.get("volume_ids"))),
          f"{where}: the data volume is not attached through volume_ids")
    check(d.get("graceful_shutdown") is True,
          f"{where}: graceful_shutdown is not true (FealTY must stop cleanly before the volume is detached)")
    conditions = text([p.get("condition") for lc in as_list(d.get("lifecycle")) for p in as_list(lc.get("precondition"))])
    check("var.ssh_keys" in conditions and "var.ssh_key_fingerprints" in conditions,
          f"{where}: no precondition that at least one SSH key is given (the setup link is read over SSH)")

    # The user data: the shared template, with exactly the contract's variables.
    args = call_args(d.get("user_data"), "templatefile")
    if not check(args and len(args) == 2, f"{where}: user_data is not templatefile(<template>, {{...}})"):
        continue
    check(args[0] == f'"${{path.module}}/../../{TEMPLATE}"',
          f"{where}: user_data does not use the shared template \"${{path.module}}/../../{TEMPLATE}\" (found {args[0]})")
    check((ROOT / TEMPLATE).is_file(), f"{TEMPLATE} (the shared cloud-init template) is missing")
    given = parse_expr(args[1])
    if not check(isinstance(given, dict), f"{where}: the template variables are not an object literal"):
        continue
    check(set(given) == TEMPLATE_VARS,
          f"{where}: the template gets {sorted(given)}, want exactly {sorted(TEMPLATE_VARS)}")
    device = str(given.get("volume_device", ""))
    check(re.fullmatch(r"\"?/dev/disk/by-id/scsi-0DO_Volume_\$\{(digitalocean_volume\.\w+\.name|var\.volume_name)\}\"?", device),
          f"{where}: volume_device is not /dev/disk/by-id/scsi-0DO_Volume_<the volume's name> (found {device})")
    env = given.get("env")
    if check(isinstance(env, dict), f"{where}: env is not an object literal"):
        check(set(env) == ENV, f"{where}: env sets {sorted(env)}, want exactly {sorted(ENV)}")
        endpoint = tf.expand(env.get("FEALTY_S3_ENDPOINT"))
        check(re.search(r"digitalocean_spaces_bucket\.\w+(\[0\])?\.endpoint", endpoint) and "var.s3_endpoint" in endpoint,
              "FEALTY_S3_ENDPOINT does not come from the Spaces bucket's endpoint (or var.s3_endpoint for an outside bucket)")
        check("var.region" not in endpoint, "FEALTY_S3_ENDPOINT is built from var.region (use the bucket's endpoint)")
        backup_to = tf.expand(env.get("FEALTY_BACKUP_TO"))
        check(re.search(r"s3://\$\{digitalocean_spaces_bucket\.\w+(\[0\])?\.name\}/fealty", backup_to) and "var.backup_to" in backup_to,
              "FEALTY_BACKUP_TO is not s3://<Spaces bucket>/fealty (or var.backup_to)")
        for name_, var in (("AWS_ACCESS_KEY_ID", "access_key"), ("AWS_SECRET_ACCESS_KEY", "secret_key")):
            check(re.search(rf"digitalocean_spaces_key\.\w+(\[0\])?\.{var}", tf.expand(env.get(name_))),
                  f"{name_} does not come from the bucket's digitalocean_spaces_key")
    check("passphrase" in tf.expand(given.get("passphrase")) and "random_password." in tf.expand(given.get("passphrase")),
          f"{where}: passphrase is not the generated (or given) backup passphrase")
check("digitaloceanspaces.com" not in "".join(text(d) for d in tf.docs),
      "digitalocean/terraform: a Spaces hostname is written out by hand (take it from the bucket)")

for name, vol in volumes:
    lc = one(vol, "lifecycle") or {}
    check(isinstance(lc, dict) and lc.get("prevent_destroy") is True,
          f"digitalocean_volume.{name}: lifecycle prevent_destroy is not true")
    check("var.volume_name" in text(vol.get("name")), f"digitalocean_volume.{name}: name is not var.volume_name")
    check("count" not in vol, f"digitalocean_volume.{name}: has a count (the data must outlive server = false)")

for name, fw in firewalls:
    where = f"digitalocean_firewall.{name}"
    check("digitalocean_droplet." in text(fw.get("droplet_ids")), f"{where}: not applied to the droplet (droplet_ids)")
    check("tags" not in fw, f"{where}: has tags (it would cover every droplet with those tags too)")
    rules = {}
    for rule in as_list(fw.get("inbound_rule")):
        check(rule.get("protocol") == "tcp", f"{where}: an inbound rule is not tcp")
        rules.setdefault(str(rule.get("port_range")), []).append(rule)
    check(set(rules) == {"22", "80", "443"}, f"{where}: inbound ports are {sorted(rules)}, want 22, 80, 443")
    for rule in rules.get("22", []):
        t = text(rule.get("source_addresses"))
        check("var.admin_cidr" in t and not any(a in t for a in EVERYONE), f"{where}: port 22 must be open to var.admin_cidr only")
    for port in ("80", "443"):
        for rule in rules.get(port, []):
            src = rule.get("source_addresses") or []
            check(all(a in src for a in EVERYONE), f"{where}: port {port} is not open to everyone (0.0.0.0/0 and ::/0)")
    out = {r.get("protocol"): r for r in as_list(fw.get("outbound_rule"))}
    for proto in ("tcp", "udp"):
        r = out.get(proto, {})
        check(r.get("port_range") == "1-65535" and all(a in (r.get("destination_addresses") or []) for a in EVERYONE),
              f"{where}: outbound {proto} is not open (a cloud firewall drops what it does not allow: apt, ACME, DNS)")

for name, dom in domains:
    check("var.create_domain" in text(dom.get("count")), f"digitalocean_domain.{name}: not made only when var.create_domain")
    lc = one(dom, "lifecycle") or {}
    check(isinstance(lc, dict) and lc.get("prevent_destroy") is True,
          f"digitalocean_domain.{name}: lifecycle prevent_destroy is not true (deleting a zone deletes all its records)")
for (typ, name), body in tf.datas.items():
    if typ == "digitalocean_domain":
        check("var.create_domain" in text(body.get("count")), f"data.digitalocean_domain.{name}: not read only when the domain exists")
kinds = {str(r.get("type")): r for _, r in records}
check({"A", "AAAA"} <= set(kinds), f"digitalocean_record: want A and AAAA, found {sorted(kinds)}")
for kind, attr in (("A", "ipv4_address"), ("AAAA", "ipv6_address")):
    rec = kinds.get(kind, {})
    check("var.hostname" in text(rec.get("name")), f"digitalocean_record {kind}: name is not var.hostname")
    check(re.search(rf"digitalocean_droplet\.\w+\[0\]\.{attr}", text(rec.get("value"))),
          f"digitalocean_record {kind}: value is not the droplet's {attr}")

for name, b in buckets + keys:
    check("var.backup_to" in tf.expand(b.get("count")),
          f"digitalocean_spaces_*.{name}: count does not depend on var.backup_to (no Spaces bucket with an outside one)")
for name, b in buckets:
    check("var.region" in text(b.get("region")), f"digitalocean_spaces_bucket.{name}: region is not var.region")
    check(b.get("acl", "private") == "private", f"digitalocean_spaces_bucket.{name}: acl is not private")
for name, key in keys:
    grants = as_list(key.get("grant"))
    check(grants, f"digitalocean_spaces_key.{name}: no grant (the key would reach every bucket)")
    for g in grants:
        check(re.search(r"digitalocean_spaces_bucket\.\w+(\[0\])?\.name", text(g.get("bucket"))),
              f"digitalocean_spaces_key.{name}: grant.bucket is not the backup bucket")
        check(g.get("permission") in ("readwrite", "read"), f"digitalocean_spaces_key.{name}: grant.permission is not readwrite")

tf.check_references(("digitalocean", "random"))

# Every argument set and every attribute read is in the provider's schema.
bodies = [(t, n, b) for (t, n), b in tf.resources.items()] + [(f"data.{t}", n, b) for (t, n), b in tf.datas.items()]
for typ, name, body in bodies:
    known = SCHEMA.get(typ)
    if not check(known is not None, f"{typ}.{name}: a type this check does not know (add its schema to SCHEMA)"):
        continue
    for arg in set(body) - META:
        check(arg in known, f"{typ}.{name}: {arg} is not an argument of {typ}")
    for (ntyp, block), args in NESTED.items():
        if ntyp == typ:
            for nested in as_list(body.get(block)):
                for arg in set(nested) - args:
                    check(False, f"{typ}.{name}: {block} has no argument {arg}")
for doc in tf.docs:
    for m in re.finditer(r"(?<![\w.])(data\.)?((?:digitalocean|random)_[a-z_]+)\.[A-Za-z_][\w-]*(?:\[[^\]]*\])?\.([a-z_0-9]+)", text(doc)):
        typ = (m.group(1) or "") + m.group(2)
        if typ in SCHEMA:
            check(m.group(3) in SCHEMA[typ], f"terraform: {typ} has no attribute {m.group(3)}")

# ------------------------------------------------------------------ packer
pk_dir = DO_DIR / "packer"
plugins = load(pk_dir / "plugins.pkr.hcl") if (pk_dir / "plugins.pkr.hcl").is_file() else {}
check(plugins, "digitalocean/packer/plugins.pkr.hcl is missing or empty")
check(set(plugins) <= {"packer"}, f"digitalocean/packer/plugins.pkr.hcl holds more than the packer block: {sorted(plugins)}")
req = {}
for pb in plugins.get("packer", []):
    for rp in pb.get("required_plugins", []):
        req.update(rp)
plugin = req.get("digitalocean", {})
check(plugin.get("source") == "github.com/digitalocean/digitalocean",
      "digitalocean/packer/plugins.pkr.hcl: required_plugins.digitalocean.source is not github.com/digitalocean/digitalocean")
plow, _ = bounds(str(plugin.get("version", "")))
check(plow is not None and pad(plow) >= (1, 4, 0),
      "digitalocean/packer/plugins.pkr.hcl: the digitalocean plugin must be pinned >= 1.4.0 (snapshot_tags)")

tpl = load(pk_dir / "fealty.pkr.hcl") if (pk_dir / "fealty.pkr.hcl").is_file() else {}
check(tpl, "digitalocean/packer/fealty.pkr.hcl is missing or empty")
check("packer" not in tpl, "digitalocean/packer/fealty.pkr.hcl has a packer block (keep it in plugins.pkr.hcl)")
srcs = [(t, n, b) for t, n, b in blocks2(tpl, "source") if t == "digitalocean"]
if check(srcs, "digitalocean/packer/fealty.pkr.hcl: no source \"digitalocean\""):
    _, sname, src = srcs[0]
    check(src.get("image") == "debian-12-x64", "packer source digitalocean: image is not debian-12-x64")
    check(src.get("ssh_username") == "root", "packer source digitalocean: ssh_username is not root")
    for key in ("region", "size", "snapshot_name"):
        check(src.get(key), f"packer source digitalocean: no {key}")
    for key in src:
        check(key in BUILDER or key.startswith("ssh_"), f"packer source digitalocean: {key} is not a setting of the builder")
check(not (pk_dir / "provision.sh").exists(), "digitalocean/packer/provision.sh: use packer/provision.sh, do not copy it")
builds = tpl.get("build", [])
if check(builds, "digitalocean/packer/fealty.pkr.hcl: no build block"):
    b = builds[0]
    check(all(f"source.digitalocean.{n}" in text(b.get("sources")) for _, n, _ in srcs),
          "packer build: does not use the digitalocean source")
    provs = [(kind, body) for p in b.get("provisioner", []) for kind, body in p.items()]
    shells = [" && ".join(as_list(body.get("inline"))) for kind, body in provs if kind == "shell"]
    first = as_list(provs[0][1].get("inline")) if provs and provs[0][0] == "shell" else []
    check(first and str(first[0]).startswith("cloud-init status --wait"),
          "packer build: the first provisioner does not start with cloud-init status --wait")
    files = [body for kind, body in provs if kind == "file"]
    shared = '"${path.root}/../../packer/provision.sh"'
    check(any(shared.strip('"') in as_list(f.get("sources")) + [f.get("source")] for f in files),
          f"packer build: the file provisioner does not upload the shared {shared}")
    check((pk_dir / "../../packer/provision.sh").resolve().is_file(), "packer/provision.sh (the shared provisioning) is missing")
    check(any("var.binary" in text(f) for f in files), "packer build: the file provisioner does not upload var.binary")
    ran = next((i for i, s in enumerate(shells) if "provision.sh /tmp/" in s), None)
    if check(ran is not None, "packer build: provision.sh is not run"):
        after = " && ".join(shells[ran:])
        after = after[after.index("provision.sh /tmp/"):]
        check("cloud-init clean" in after, "packer build: no cloud-init clean after provision.sh")
        check(re.search(r"(truncate -s ?0|rm -f) /etc/machine-id", after), "packer build: the machine-id is not reset at the end")
    pps = [body for pp in b.get("post-processor", []) for kind, body in pp.items() if kind == "manifest"]
    check(pps and "manifest.json" in text(pps), "packer build: no manifest post-processor writing manifest.json")
check_packer_references(tpl, "digitalocean/packer")

report("check_deploy_digitalocean",
       f"{len(tf.files)} .tf files, {len(tf.resources)} resources, {len(variables)} variables, {len(outputs)} outputs; "
       "packer template and plugins")
