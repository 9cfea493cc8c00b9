# Builds a DigitalOcean snapshot: Debian 12, the fealty release binary and the same
# provisioning as the Linode image (packer/provision.sh: the fealty user, the volume
# and server units, unattended security upgrades). See digitalocean/README.md:
#
#   packer init digitalocean/packer/
#   packer build -var "binary=$(scripts/build-release.sh)" digitalocean/packer/
#
# The snapshot id is the number after the colon in the last artifact_id of
# digitalocean/packer/manifest.json (e.g. "ams3:123456789").

variable "api_token" {
  type        = string
  description = "DigitalOcean API token (defaults to the DIGITALOCEAN_TOKEN environment variable)."
  default     = env("DIGITALOCEAN_TOKEN")
  sensitive   = true
}

variable "region" {
  type        = string
  description = "Region to build in; the snapshot is made there, so use the region you deploy to (e.g. ams3)."
  default     = "ams3"
}

variable "binary" {
  type        = string
  description = "Path of the fealty release binary to put in the snapshot (a Debian 12 x86_64 build)."
  default     = "target/release/fealty"
}

variable "version" {
  type        = string
  description = "A version label for the snapshot, e.g. the git commit."
  default     = "dev"
}

locals {
  stamp = formatdate("YYYYMMDD-hhmmss", timestamp())
}

source "digitalocean" "fealty" {
  api_token     = var.api_token
  image         = "debian-12-x64"
  region        = var.region
  size          = "s-1vcpu-1gb"
  ssh_username  = "root"
  droplet_name  = "fealty-packer-${local.stamp}"
  snapshot_name = "fealty-${var.version}-${local.stamp}"
  tags          = ["fealty-packer"]
  snapshot_tags = ["fealty"]
}

build {
  sources = ["source.digitalocean.fealty"]

  # The base image runs cloud-init at first boot (apt among it): wait, so that
  # provision.sh does not meet a held dpkg lock.
  provisioner "shell" {
    inline = [
      "cloud-init status --wait || echo 'cloud-init reported errors; carrying on, it has finished'",
      "mkdir -p /tmp/fealty-install",
    ]
  }

  provisioner "file" {
    sources     = [var.binary, "${path.root}/../../packer/provision.sh"]
    destination = "/tmp/fealty-install/"
  }

  provisioner "shell" {
    inline = [
      "chmod 0755 /tmp/fealty-install/provision.sh",
      "/tmp/fealty-install/provision.sh /tmp/fealty-install/fealty",
      "rm -rf /tmp/fealty-install",
      # Every droplet made from the snapshot runs cloud-init afresh (its user data mounts
      # the volume and writes the settings) and gets a machine-id of its own.
      "cloud-init clean --logs",
      "truncate -s 0 /etc/machine-id",
      "if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then rm -f /var/lib/dbus/machine-id; fi",
    ]
  }

  post-processor "manifest" {
    output     = "${path.root}/manifest.json"
    strip_path = true
  }
}
