# After the first `terraform init`, commit terraform/.terraform.lock.hcl: it records the
# exact provider versions and their checksums, so every later deploy (from any machine)
# runs the same providers. `terraform init -upgrade` moves within the pins below.
terraform {
  required_version = ">= 1.3"

  required_providers {
    # 2.34 brought the bucket's s3_endpoint, which main.tf reads; 3.x may rename things.
    linode = {
      source  = "linode/linode"
      version = ">= 2.34, < 3.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Remote state (optional): keep terraform.tfstate in a Linode Object Storage bucket
  # made by hand beforehand (not the backup bucket below), so that more than one
  # machine can deploy. Uncomment, fill in, export AWS_ACCESS_KEY_ID and
  # AWS_SECRET_ACCESS_KEY for a key to that bucket, and run `terraform init -migrate-state`.
  #
  # backend "s3" {
  #   bucket                      = "my-fealty-tfstate"
  #   key                         = "fealty/terraform.tfstate"
  #   region                      = "nl-ams-1"
  #   endpoints                   = { s3 = "https://nl-ams-1.linodeobjects.com" }
  #   skip_credentials_validation = true
  #   skip_region_validation      = true
  #   skip_requesting_account_id  = true
  #   skip_metadata_api_check     = true
  #   skip_s3_checksum            = true
  #   use_path_style              = true
  # }
}

# The provider reads the API token from the LINODE_TOKEN environment variable.
provider "linode" {}
