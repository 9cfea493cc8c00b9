# Kept in a file of its own, as in packer/: Debian's packer 1.6.6 (used for the offline
# syntax check) does not know the required_plugins block. 1.4.0 added snapshot_tags.
packer {
  required_plugins {
    digitalocean = {
      source  = "github.com/digitalocean/digitalocean"
      version = ">= 1.4.0, < 2.0.0"
    }
  }
}
