output "url" {
  description = "Where FealTY answers."
  value       = "https://${local.fqdn}"
}

output "hostname" {
  description = "The server's DNS name."
  value       = local.fqdn
}

output "ipv4" {
  description = "The droplet's public IPv4 address (null while the server is off)."
  value       = one(digitalocean_droplet.fealty[*].ipv4_address)
}

output "ipv6" {
  description = "The droplet's public IPv6 address (null while the server is off)."
  value       = one(digitalocean_droplet.fealty[*].ipv6_address)
}

output "volume_id" {
  description = "The data volume's id (to delete it by hand: it is protected from terraform destroy)."
  value       = digitalocean_volume.data.id
}

output "bucket" {
  description = "The backup target FealTY writes to."
  value       = local.backup_to
}

output "s3_endpoint" {
  description = "The bucket's S3 endpoint (for fealty backup list / restore elsewhere)."
  value       = local.s3_endpoint
}

output "backup_passphrase" {
  description = "The passphrase that encrypts the backups: keep a copy away from DigitalOcean."
  value       = local.passphrase
  sensitive   = true
}
