# Kept in a file of its own: Debian's packer 1.6.6 (used for the offline syntax check)
# does not know the required_plugins block.
packer {
  required_plugins {
    linode = {
      source  = "github.com/linode/linode"
      version = ">= 1.5.0"
    }
  }
}
