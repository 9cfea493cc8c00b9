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
  description = "Create the domain in Linode's DNS manager. Leave false if it already exists there."
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
  description = "The private Linode image made by Packer, e.g. private/12345678 (packer/manifest.json)."
  type        = string

  validation {
    condition     = can(regex("^private/[0-9]+$", var.image_id))
    error_message = "The image id must look like private/12345678."
  }
}

variable "region" {
  description = "Linode region for the server, the volume and the bucket, e.g. nl-ams or us-mia. It must offer Metadata (cloud-init) and, unless backup_to is set, Object Storage."
  type        = string
  default     = "nl-ams"

  validation {
    condition     = can(regex("^[a-z]{2}-[a-z]+(-[0-9]+)?$", var.region))
    error_message = "The region must be a Linode region id such as nl-ams or us-east."
  }
}

variable "instance_type" {
  description = "Linode plan; g6-nanode-1 (1 GB, $5 a month) is plenty for a shop."
  type        = string
  default     = "g6-nanode-1"

  validation {
    condition     = can(regex("^g[0-9]+-[a-z0-9-]+$", var.instance_type))
    error_message = "The instance type must be a Linode plan id such as g6-nanode-1."
  }
}

variable "server" {
  description = "Run the server. scripts/destroy.sh sets it to false: the instance, firewall and DNS records go, the volume and bucket stay."
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
  description = "Public SSH keys for root on the server: at least one (deploy.sh reads the setup link and stops FealTY over SSH; the server has no root password anyone knows)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for k in var.ssh_keys : can(regex("^(ssh-|ecdsa-|sk-)", k))])
    error_message = "Each SSH key must be a public key line such as ssh-ed25519 AAAA... ."
  }
}

variable "volume_label" {
  description = "Label of the data volume; the server finds it at /dev/disk/by-id/scsi-0Linode_Volume_<label>."
  type        = string
  default     = "fealty-data"

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}$", var.volume_label))
    error_message = "The volume label must be 1 to 32 letters, digits, dashes or underscores."
  }
}

variable "volume_size" {
  description = "Size of the data volume in GB (10 is the smallest Linode sells)."
  type        = number
  default     = 10

  validation {
    condition     = var.volume_size >= 10
    error_message = "A Linode volume is at least 10 GB."
  }
}

variable "bucket_label" {
  description = "Name of the backup bucket; empty picks fealty-<domain>-<random>. Bucket names are global."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_label == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_label))
    error_message = "A bucket name is 3 to 63 lower-case letters, digits, dots and dashes."
  }
}

variable "backup_passphrase" {
  description = "Passphrase that encrypts the backups; empty generates one (terraform output -raw backup_passphrase). Keep a copy somewhere else."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.backup_passphrase == "" || length(var.backup_passphrase) >= 16
    error_message = "The backup passphrase must be at least 16 characters long."
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

# ---------------------------------------------------------------- an external backup bucket
# Any S3-compatible bucket without a monthly minimum (Backblaze B2, Cloudflare R2) instead
# of Linode Object Storage ($5 a month): set backup_to, and Terraform makes no Linode bucket
# and no key. These values go into a systemd environment file: no quotes, backslashes,
# dollar signs or line breaks.

variable "backup_to" {
  description = "An external backup target s3://bucket/prefix; empty makes a Linode Object Storage bucket and key for the backups."
  type        = string
  default     = ""

  validation {
    condition     = var.backup_to == "" || can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?$", var.backup_to))
    error_message = "The backup target must look like s3://bucket/prefix (bucket: lower-case letters, digits, dots and dashes; prefix: letters, digits, dots, dashes, underscores and slashes)."
  }
}

variable "s3_endpoint" {
  description = "The external bucket's S3 endpoint, e.g. https://s3.us-west-004.backblazeb2.com or https://<account>.r2.cloudflarestorage.com (with backup_to)."
  type        = string
  default     = ""

  validation {
    condition     = var.s3_endpoint == "" || can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?/?$", var.s3_endpoint))
    error_message = "The S3 endpoint must be an https:// URL with a host name only, e.g. https://s3.us-west-004.backblazeb2.com."
  }
}

variable "s3_region" {
  description = "The external bucket's region for request signing, e.g. us-west-004 (B2) or auto (R2); empty lets FealTY use us-east-1."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9-]*$", var.s3_region))
    error_message = "The S3 region must be letters, digits and dashes, e.g. us-west-004 or auto."
  }
}

variable "s3_access_key_id" {
  description = "Access key id for the external bucket (with backup_to)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9+/=._-]*$", var.s3_access_key_id))
    error_message = "The access key id may hold letters, digits and + / = . _ - only."
  }
}

variable "s3_secret_access_key" {
  description = "Secret access key for the external bucket (with backup_to)."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z0-9+/=._-]*$", var.s3_secret_access_key))
    error_message = "The secret access key may hold letters, digits and + / = . _ - only."
  }
}
