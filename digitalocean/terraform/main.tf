# FealTY on DigitalOcean: one droplet from the Packer snapshot, its data on a volume that
# outlives the droplet, a cloud firewall, DNS records, and a bucket for backups (a Spaces
# bucket made here, or any S3-compatible bucket named by backup_to). See
# digitalocean/README.md.

locals {
  fqdn         = "${var.hostname}.${var.domain}"
  server_count = var.server ? 1 : 0
  name         = substr("fealty-${replace(local.fqdn, ".", "-")}", 0, 63)
  ssh_keys     = concat([for k in digitalocean_ssh_key.admin : k.fingerprint], var.ssh_key_fingerprints)
  domain_name  = var.create_domain ? digitalocean_domain.this[0].id : data.digitalocean_domain.this[0].name

  # Spaces has a $5 monthly minimum: with backup_to set, no Spaces bucket or key is made.
  spaces_count = var.backup_to == "" ? 1 : 0
  bucket_name  = var.bucket_name != "" ? var.bucket_name : "fealty-${substr(replace(var.domain, ".", "-"), 0, 48)}-${random_id.bucket.hex}"
  # The Spaces endpoint comes from the bucket itself (never built from the region name).
  backup_to   = local.spaces_count == 1 ? "s3://${digitalocean_spaces_bucket.backups[0].name}/fealty" : var.backup_to
  s3_endpoint = local.spaces_count == 1 ? "https://${digitalocean_spaces_bucket.backups[0].endpoint}" : trimsuffix(var.s3_endpoint, "/")
  s3_region   = local.spaces_count == 1 ? digitalocean_spaces_bucket.backups[0].region : var.s3_region
  s3_key_id   = local.spaces_count == 1 ? digitalocean_spaces_key.backups[0].access_key : var.s3_access_key_id
  s3_secret   = local.spaces_count == 1 ? digitalocean_spaces_key.backups[0].secret_key : var.s3_secret_access_key
  passphrase  = var.backup_passphrase != "" ? var.backup_passphrase : random_password.backup.result
}

resource "random_id" "bucket" {
  byte_length = 3
}

resource "random_password" "backup" {
  length  = 40
  special = false
}

# ---------------------------------------------------------------- the server

resource "digitalocean_ssh_key" "admin" {
  for_each = toset(var.ssh_keys)

  name       = "${local.name}-${substr(sha256(each.value), 0, 8)}"
  public_key = each.value
}

resource "digitalocean_droplet" "fealty" {
  count = local.server_count

  # A droplet named by a full DNS name gets it as its reverse DNS (PTR) record too.
  name     = local.fqdn
  region   = var.region
  size     = var.size
  image    = var.image_id
  ipv6     = true
  ssh_keys = local.ssh_keys
  tags     = ["fealty"]

  # The volume is attached here rather than by a digitalocean_volume_attachment: on a
  # redeploy or with server = false the droplet is shut down first (FealTY stops on
  # SIGTERM, ships its last backup segment and closes the database), and only then is
  # the volume detached. An attachment resource would be destroyed, detaching the
  # volume from the running server, before the droplet. The two cannot be mixed.
  volume_ids        = [digitalocean_volume.data.id]
  graceful_shutdown = true

  # cloud-init (enabled in the image) records the volume's device, writes
  # /etc/fealty/fealty.env and the passphrase file, and starts FealTY.
  user_data = templatefile("${path.module}/../../terraform/cloud-init.yaml.tftpl", {
    volume_device = "/dev/disk/by-id/scsi-0DO_Volume_${digitalocean_volume.data.name}"
    env = {
      FEALTY_DOMAIN         = local.fqdn
      FEALTY_ACME_EMAIL     = var.acme_email
      FEALTY_BACKUP_TO      = local.backup_to
      FEALTY_BACKUP_EVERY   = var.backup_every
      FEALTY_S3_ENDPOINT    = local.s3_endpoint
      FEALTY_S3_REGION      = local.s3_region
      AWS_ACCESS_KEY_ID     = local.s3_key_id
      AWS_SECRET_ACCESS_KEY = local.s3_secret
    }
    passphrase = local.passphrase
  })

  timeouts {
    # Long enough for the graceful shutdown above (the provider's default is 60 s).
    delete = "5m"
  }

  lifecycle {
    precondition {
      condition     = length(var.ssh_keys) + length(var.ssh_key_fingerprints) > 0
      error_message = "Give ssh_keys (public key lines) or ssh_key_fingerprints (keys already in the account): the setup link is read over SSH."
    }
    precondition {
      condition     = var.backup_to == "" || (var.s3_endpoint != "" && var.s3_access_key_id != "" && var.s3_secret_access_key != "")
      error_message = "backup_to needs s3_endpoint, s3_access_key_id and s3_secret_access_key for that bucket."
    }
  }
}

# The data directory /var/lib/fealty. It is attached to whichever droplet is current;
# a redeploy replaces the droplet and moves the volume, with every point on it. Left
# unformatted here: the image formats it only when it is blank.
resource "digitalocean_volume" "data" {
  name        = var.volume_name
  region      = var.region
  size        = var.volume_size
  description = "FealTY data (/var/lib/fealty)" # constant: a new description replaces the volume
  tags        = ["fealty"]

  lifecycle {
    prevent_destroy = true
  }
}

# Anything not opened here is dropped; outbound is open (apt, ACME, DNS, the bucket).
resource "digitalocean_firewall" "fealty" {
  count = local.server_count

  # By id, not by tag: a firewall with tags also covers every other droplet so tagged.
  name        = "${local.name}-fw"
  droplet_ids = [digitalocean_droplet.fealty[0].id]

  inbound_rule {
    protocol         = "tcp"
    port_range       = "22"
    source_addresses = [var.admin_cidr]
  }

  inbound_rule {
    protocol         = "tcp"
    port_range       = "80"
    source_addresses = ["0.0.0.0/0", "::/0"]
  }

  inbound_rule {
    protocol         = "tcp"
    port_range       = "443"
    source_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "tcp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "udp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "icmp"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }
}

# ---------------------------------------------------------------- DNS

# Kept when everything else goes: deleting a zone deletes every record in it (MX too).
resource "digitalocean_domain" "this" {
  count = var.create_domain ? 1 : 0

  name = var.domain

  lifecycle {
    prevent_destroy = true
  }
}

data "digitalocean_domain" "this" {
  count = var.create_domain ? 0 : 1

  name = var.domain
}

resource "digitalocean_record" "a" {
  count = local.server_count

  domain = local.domain_name
  type   = "A"
  name   = var.hostname
  value  = digitalocean_droplet.fealty[0].ipv4_address
  ttl    = 300
}

resource "digitalocean_record" "aaaa" {
  count = local.server_count

  domain = local.domain_name
  type   = "AAAA"
  name   = var.hostname
  value  = digitalocean_droplet.fealty[0].ipv6_address
  ttl    = 300
}

# ---------------------------------------------------------------- backups

resource "digitalocean_spaces_bucket" "backups" {
  count = local.spaces_count

  name   = local.bucket_name
  region = var.region
  acl    = "private"
}

# A key that reaches this bucket and nothing else.
resource "digitalocean_spaces_key" "backups" {
  count = local.spaces_count

  name = "${local.name}-backups"

  grant {
    bucket     = digitalocean_spaces_bucket.backups[0].name
    permission = "readwrite"
  }
}
