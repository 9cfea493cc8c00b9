variable "domain" {
  description = "Your domain, e.g. example.com. FealTY is served at <hostname>.<domain>."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "The domain must be a lower-case DNS name such as example.com."
  }
}

variable "hostname" {
  description = "The name in front of the domain: rewards gives rewards.example.com."
  type        = string
  default     = "rewards"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", var.hostname))
    error_message = "The hostname must be one DNS label: letters, digits and dashes."
  }
}

variable "create_domain" {
  description = "Add the domain to DigitalOcean's DNS (then point the registrar at ns1-ns3.digitalocean.com). Leave false if it is there already."
  type        = bool
  default     = false
}

variable "acme_email" {
  description = "Contact email for Let's Encrypt (certificate expiry warnings)."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.acme_email))
    error_message = "The ACME email must be an email address."
  }
}

variable "image_id" {
  description = "The snapshot made by Packer: the number after the colon of artifact_id in digitalocean/packer/manifest.json."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.image_id))
    error_message = "The image id must be the snapshot's number, e.g. 123456789 (not ams3:123456789)."
  }
}

variable "region" {
  description = "Region of the droplet, the volume and the Spaces bucket. It must offer Spaces: ams3, atl1, blr1, fra1, lon1, nyc3, sfo2, sfo3, sgp1, syd1 or tor1."
  type        = string
  default     = "ams3"

  # The regions with Spaces (the list the provider itself checks bucket regions against).
  validation {
    condition     = contains(["ams3", "atl1", "blr1", "fra1", "lon1", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1"], var.region)
    error_message = "The region must be one with Spaces: ams3, atl1, blr1, fra1, lon1, nyc3, sfo2, sfo3, sgp1, syd1 or tor1 (e.g. ams3 or nyc3)."
  }
}

variable "size" {
  description = "Droplet size; s-1vcpu-1gb (1 GB, $6 a month) is plenty for a shop."
  type        = string
  default     = "s-1vcpu-1gb"

  validation {
    condition     = can(regex("^[a-z0-9]+-[a-z0-9-]+$", var.size))
    error_message = "The size must be a droplet size slug such as s-1vcpu-1gb."
  }
}

variable "server" {
  description = "Run the server. false shuts the droplet down cleanly and removes it, its firewall and DNS records; the volume and the bucket stay."
  type        = bool
  default     = true
}

variable "admin_cidr" {
  description = "Address range allowed to reach SSH (port 22), e.g. 203.0.113.7/32."
  type        = string

  validation {
    condition     = can(cidrhost(var.admin_cidr, 0))
    error_message = "The admin range must be a CIDR such as 203.0.113.7/32."
  }
}

variable "ssh_keys" {
  description = "Public SSH keys for root, uploaded to the account (the setup link is read over SSH). A key already in the account goes in ssh_key_fingerprints instead: DigitalOcean refuses the same key twice."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for k in var.ssh_keys : can(regex("^(ssh-|ecdsa-|sk-)", k))])
    error_message = "Each SSH key must be a public key line such as ssh-ed25519 AAAA... ."
  }
}

variable "ssh_key_fingerprints" {
  description = "Fingerprints (or ids) of SSH keys already in the DigitalOcean account, for root on the server."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for k in var.ssh_key_fingerprints : can(regex("^([0-9a-f]{2}(:[0-9a-f]{2}){15}|[0-9]+)$", k))])
    error_message = "Each entry must be an MD5 fingerprint such as 3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa, or a key id."
  }
}

variable "volume_name" {
  description = "Name of the data volume; the server finds it at /dev/disk/by-id/scsi-0DO_Volume_<name>."
  type        = string
  default     = "fealty-data"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,63}$", var.volume_name))
    error_message = "The volume name must start with a letter and be up to 64 lower-case letters, digits and dashes."
  }
}

variable "volume_size" {
  description = "Size of the data volume in GB ($0.10 per GB a month)."
  type        = number
  default     = 10

  validation {
    condition     = var.volume_size >= 1 && floor(var.volume_size) == var.volume_size
    error_message = "The volume size must be a whole number of GB, at least 1."
  }
}

variable "bucket_name" {
  description = "Name of the Spaces bucket for backups; empty picks fealty-<domain>-<random>. Unused with backup_to."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "A bucket name is 3 to 63 lower-case letters, digits and dashes."
  }
}

variable "backup_to" {
  description = "An S3-compatible bucket of your own for the backups, s3://bucket/prefix (e.g. Backblaze B2 or Cloudflare R2, without Spaces' $5 monthly minimum). Empty makes a Spaces bucket here."
  type        = string
  default     = ""

  validation {
    condition     = var.backup_to == "" || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\\s]*)?$", var.backup_to))
    error_message = "backup_to must be s3://bucket or s3://bucket/prefix."
  }
}

variable "s3_endpoint" {
  description = "With backup_to: the bucket's S3 endpoint, e.g. https://s3.eu-central-003.backblazeb2.com."
  type        = string
  default     = ""

  validation {
    condition     = var.s3_endpoint == "" || can(regex("^https://[a-z0-9.-]+(:[0-9]+)?/?$", var.s3_endpoint))
    error_message = "The S3 endpoint must be an https:// URL with a host name and nothing after it."
  }
}

variable "s3_region" {
  description = "With backup_to: the region the bucket's signatures name (us-east-1 unless the provider says otherwise; R2 takes auto)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z0-9-]+$", var.s3_region))
    error_message = "The S3 region must be letters, digits and dashes, e.g. us-east-1."
  }
}

variable "s3_access_key_id" {
  description = "With backup_to: the access key id of a key that reaches that bucket (and, ideally, nothing else)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]*$", var.s3_access_key_id))
    error_message = "The access key id must be letters, digits, dashes and underscores."
  }
}

variable "s3_secret_access_key" {
  description = "With backup_to: that key's secret."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = !can(regex("\\s", var.s3_secret_access_key))
    error_message = "The secret access key must not contain spaces or line breaks."
  }
}

variable "backup_passphrase" {
  description = "Passphrase that encrypts the backups; empty generates one (terraform output -raw backup_passphrase). Keep a copy somewhere else."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.backup_passphrase == "" || (length(var.backup_passphrase) >= 16 && !can(regex("[\\r\\n]", var.backup_passphrase)))
    error_message = "The backup passphrase must be one line of at least 16 characters."
  }
}

variable "backup_every" {
  description = "How often FealTY takes a full backup, e.g. 1h or 24h."
  type        = string
  default     = "1h"

  validation {
    condition     = can(regex("^[0-9]+[smh]$", var.backup_every))
    error_message = "Use a number and s, m or h, e.g. 1h."
  }
}
