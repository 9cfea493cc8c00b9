# FealTY on Linode: one server from the Packer image, its data on a volume that
# outlives the server, a firewall, DNS records, and a bucket for backups.
# scripts/deploy.sh runs this; see the README's "Deploy to Linode".

locals {
  fqdn         = "${var.hostname}.${var.domain}"
  server_count = var.server ? 1 : 0
  label        = substr("fealty-${replace(local.fqdn, ".", "-")}", 0, 64)
  bucket_label = var.bucket_label != "" ? var.bucket_label : substr("fealty-${replace(var.domain, ".", "-")}-${random_id.bucket.hex}", 0, 63)
  domain_id    = var.create_domain ? linode_domain.this[0].id : data.linode_domain.this[0].id
  passphrase   = var.backup_passphrase != "" ? var.backup_passphrase : random_password.backup.result

  # Backups go to a Linode bucket made here, or to an external S3-compatible bucket
  # (var.backup_to), which saves Linode Object Storage's $5 monthly minimum.
  linode_bucket = var.backup_to == ""
  bucket_count  = local.linode_bucket ? 1 : 0
  # The Linode S3 endpoint comes from the bucket itself (never built from the region name).
  s3_host     = local.linode_bucket ? trimsuffix(replace(linode_object_storage_bucket.backups[0].s3_endpoint, "/^https?:\\/\\//", ""), "/") : ""
  s3_endpoint = local.linode_bucket ? "https://${local.s3_host}" : trimsuffix(var.s3_endpoint, "/")
  s3_region   = local.linode_bucket ? split(".", local.s3_host)[0] : var.s3_region
  backup_to   = local.linode_bucket ? "s3://${linode_object_storage_bucket.backups[0].label}/fealty" : var.backup_to
  # The server's settings for reaching the backups; an empty region is left out (FealTY
  # then signs for us-east-1, which B2 and R2 accept).
  backup_env = merge({
    FEALTY_BACKUP_TO      = local.backup_to
    FEALTY_S3_ENDPOINT    = local.s3_endpoint
    AWS_ACCESS_KEY_ID     = local.linode_bucket ? linode_object_storage_key.backups[0].access_key : var.s3_access_key_id
    AWS_SECRET_ACCESS_KEY = local.linode_bucket ? linode_object_storage_key.backups[0].secret_key : var.s3_secret_access_key
  }, { for name, value in { FEALTY_S3_REGION = local.s3_region } : name => value if value != "" })
}

# What the region offers: the server needs Metadata (its cloud-init user data), the
# Linode bucket needs Object Storage. Checked before anything is made.
data "linode_region" "this" {
  id = var.region
}

resource "random_id" "bucket" {
  byte_length = 3
}

resource "random_password" "backup" {
  length  = 40
  special = false
}

# ---------------------------------------------------------------- the server

resource "linode_instance" "fealty" {
  count = local.server_count

  label           = local.label
  region          = var.region
  type            = var.instance_type
  image           = var.image_id
  authorized_keys = var.ssh_keys
  firewall_id     = linode_firewall.fealty[0].id
  booted          = true
  tags            = ["fealty"]

  # cloud-init (enabled in the image) names the volume's device, writes the settings and the
  # backup passphrase under /etc/fealty; the image's units mount the volume and start FealTY.
  metadata {
    user_data = base64encode(templatefile("${path.module}/cloud-init.yaml.tftpl", {
      volume_device = "/dev/disk/by-id/scsi-0Linode_Volume_${var.volume_label}"
      env = merge({
        FEALTY_DOMAIN       = local.fqdn
        FEALTY_ACME_EMAIL   = var.acme_email
        FEALTY_BACKUP_EVERY = var.backup_every
      }, local.backup_env)
      passphrase = local.passphrase
    }))
  }

  lifecycle {
    # Without a key nobody can log in: Linode sets a root password that nobody keeps,
    # and the setup link is read over SSH. (A precondition, not a variable validation,
    # so that scripts/destroy.sh still runs with the inputs of an older deploy.)
    precondition {
      condition     = length(var.ssh_keys) > 0
      error_message = "ssh_keys is empty: give at least one public SSH key (scripts/deploy.sh takes FEALTY_SSH_KEY)."
    }
    precondition {
      condition     = contains(data.linode_region.this.capabilities, "Metadata")
      error_message = "The region ${var.region} does not offer Metadata (cloud-init user data), which the server needs: pick another region."
    }
    precondition {
      condition     = local.linode_bucket || (var.s3_endpoint != "" && var.s3_access_key_id != "" && nonsensitive(var.s3_secret_access_key != ""))
      error_message = "backup_to is an external bucket: s3_endpoint, s3_access_key_id and s3_secret_access_key must be set too."
    }
  }
}

# The data directory /var/lib/fealty. It is attached to whichever server is current;
# a redeploy replaces the server and moves the volume, with every point on it.
resource "linode_volume" "data" {
  label     = var.volume_label
  region    = var.region
  size      = var.volume_size
  linode_id = one(linode_instance.fealty[*].id)
  tags      = ["fealty"]

  lifecycle {
    prevent_destroy = true
  }
}

resource "linode_firewall" "fealty" {
  count = local.server_count

  label           = substr("${local.label}-fw", 0, 32)
  inbound_policy  = "DROP"
  outbound_policy = "ACCEPT"
  tags            = ["fealty"]

  inbound {
    label    = "ssh-admin"
    action   = "ACCEPT"
    protocol = "TCP"
    ports    = "22"
    ipv4     = can(cidrnetmask(var.admin_cidr)) ? [var.admin_cidr] : null
    ipv6     = can(cidrnetmask(var.admin_cidr)) ? null : [var.admin_cidr]
  }

  inbound {
    label    = "http"
    action   = "ACCEPT"
    protocol = "TCP"
    ports    = "80"
    ipv4     = ["0.0.0.0/0"]
    ipv6     = ["::/0"]
  }

  inbound {
    label    = "https"
    action   = "ACCEPT"
    protocol = "TCP"
    ports    = "443"
    ipv4     = ["0.0.0.0/0"]
    ipv6     = ["::/0"]
  }
}

# ---------------------------------------------------------------- DNS

resource "linode_domain" "this" {
  count = var.create_domain ? 1 : 0

  domain    = var.domain
  type      = "master"
  soa_email = var.acme_email
  tags      = ["fealty"]
}

data "linode_domain" "this" {
  count = var.create_domain ? 0 : 1

  domain = var.domain
}

resource "linode_domain_record" "a" {
  count = local.server_count

  domain_id   = local.domain_id
  name        = var.hostname
  record_type = "A"
  target      = linode_instance.fealty[0].ip_address
  ttl_sec     = 300
}

resource "linode_domain_record" "aaaa" {
  count = local.server_count

  domain_id   = local.domain_id
  name        = var.hostname
  record_type = "AAAA"
  target      = split("/", linode_instance.fealty[0].ipv6)[0]
  ttl_sec     = 300
}

# ---------------------------------------------------------------- backups

resource "linode_object_storage_bucket" "backups" {
  count = local.bucket_count

  region = var.region
  label  = local.bucket_label

  lifecycle {
    precondition {
      condition     = contains(data.linode_region.this.capabilities, "Object Storage")
      error_message = "The region ${var.region} does not offer Object Storage: pick another region, or an external bucket (backup_to)."
    }
  }
}

# A key that reaches this bucket and nothing else.
resource "linode_object_storage_key" "backups" {
  count = local.bucket_count

  label = substr("${local.label}-backups", 0, 50)

  bucket_access {
    bucket_name = linode_object_storage_bucket.backups[0].label
    region      = linode_object_storage_bucket.backups[0].region
    permissions = "read_write"
  }
}
