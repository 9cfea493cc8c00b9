output "url" {
  description = "Where FealTY answers."
  value       = "https://${local.fqdn}"
}

output "hostname" {
  description = "The server's DNS name."
  value       = local.fqdn
}

output "ipv4" {
  description = "The server's public IPv4 address (null while the server is off)."
  value       = one(linode_instance.fealty[*].ip_address)
}

output "ipv6" {
  description = "The server's public IPv6 address (null while the server is off)."
  value       = one([for i in linode_instance.fealty : split("/", i.ipv6)[0]])
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
  description = "The passphrase that encrypts the backups: keep a copy away from Linode."
  value       = local.passphrase
  sensitive   = true
}
