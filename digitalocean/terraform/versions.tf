terraform {
  # 1.3: optional preconditions on resources (the SSH key and backup checks in main.tf).
  required_version = ">= 1.3"

  required_providers {
    digitalocean = {
      source = "digitalocean/digitalocean"
      # digitalocean_spaces_key with per-bucket grants arrived in 2.50.0; the Spaces
      # region list the provider checks bucket regions against gained atl1 in 2.61.0.
      version = ">= 2.61.0, < 3.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Remote state (optional): keep terraform.tfstate in a Spaces bucket made by hand
  # beforehand (not the backup bucket below), so that more than one machine can deploy.
  # Uncomment, fill in, export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for a key to
  # that bucket, and run `terraform init -migrate-state`.
  #
  # backend "s3" {
  #   bucket                      = "my-fealty-tfstate"
  #   key                         = "fealty/terraform.tfstate"
  #   region                      = "us-east-1"
  #   endpoints                   = { s3 = "https://ams3.digitaloceanspaces.com" }
  #   skip_credentials_validation = true
  #   skip_region_validation      = true
  #   skip_requesting_account_id  = true
  #   skip_metadata_api_check     = true
  #   skip_s3_checksum            = true
  #   use_path_style              = true
  # }
}

# The provider reads the API token from DIGITALOCEAN_TOKEN, and the Spaces key that may
# create buckets from SPACES_ACCESS_KEY_ID and SPACES_SECRET_ACCESS_KEY (only needed
# when the backups go to a Spaces bucket made here, i.e. backup_to is empty).
provider "digitalocean" {}
