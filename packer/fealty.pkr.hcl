# Builds a private Linode image: Debian 12, the fealty release binary, the fealty user,
# its hardened systemd unit and the data volume's unit, and unattended security upgrades
# (see provision.sh). Used by
# scripts/deploy.sh; by hand:
#
#   cargo build --release
#   packer init packer/ && packer build packer/
#
# The image id lands in packer/manifest.json (the last build's artifact_id).

variable "linode_token" {
  type        = string
  description = "Linode API token (defaults to the LINODE_TOKEN environment variable)."
  default     = env("LINODE_TOKEN")
  sensitive   = true
}

variable "region" {
  type        = string
  description = "Linode region to build in, e.g. nl-ams or us-mia."
  default     = "nl-ams"
}

variable "binary" {
  type        = string
  description = "Path of the fealty release binary to put in the image."
  default     = "target/release/fealty"
}

variable "version" {
  type        = string
  description = "A version label for the image (deploy.sh passes the git commit)."
  default     = "dev"
}

locals {
  stamp = formatdate("YYYYMMDD-hhmmss", timestamp())
}

source "linode" "fealty" {
  linode_token      = var.linode_token
  image             = "linode/debian12"
  region            = var.region
  instance_type     = "g6-nanode-1"
  instance_label    = "fealty-packer-${local.stamp}"
  image_label       = "fealty-${local.stamp}"
  image_description = "FealTY ${var.version} on Debian 12"
  ssh_username      = "root"
  cloud_init        = true
}

build {
  sources = ["source.linode.fealty"]

  # The build server runs cloud-init at its first boot (apt among it): wait until it is done,
  # or provision.sh's apt meets the dpkg lock. A non-zero status ("done, with warnings" in
  # newer versions) is shown in the build output and the build goes on.
  provisioner "shell" {
    inline = [
      "cloud-init status --wait --long || echo \"cloud-init finished with status $?; going on\"",
      "mkdir -p /tmp/fealty-install",
    ]
  }

  provisioner "file" {
    sources     = [var.binary, "${path.root}/provision.sh"]
    destination = "/tmp/fealty-install/"
  }

  provisioner "shell" {
    inline = [
      "chmod 0755 /tmp/fealty-install/provision.sh",
      "/tmp/fealty-install/provision.sh /tmp/fealty-install/fealty",
      "rm -rf /tmp/fealty-install",
      # Every instance made from this image makes its own machine id at first boot (systemd
      # fills an empty /etc/machine-id; D-Bus then reads that one), so none share it.
      "truncate -s 0 /etc/machine-id",
      "rm -f /var/lib/dbus/machine-id",
      # Let cloud-init run again on every instance made from this image.
      "cloud-init clean --logs || true",
    ]
  }

  post-processor "manifest" {
    output     = "${path.root}/manifest.json"
    strip_path = true
  }
}
