//! When the certificate in use expires, read from the certificate itself: rustls-acme keeps it
//! to itself, so the cache in front of it notes the expiry of each certificate that passes
//! (loaded at start, or stored after an order) and the ACME driver copies it into the status
//! when that certificate is put in use.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use std::sync::{Arc, Mutex, PoisonError};
use time::OffsetDateTime;

/// The expiry (notAfter) of the first certificate in `pem` (rustls-acme's cache file: the
/// private key, then the chain, leaf first); `None` when there is no readable certificate.
pub fn not_after(pem: &[u8]) -> Option<OffsetDateTime> {
    let leaf = CertificateDer::pem_slice_iter(pem).next()?.ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).ok()?;
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).ok()
}

/// The expiry of the certificate that last went through the cache; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Seen(Arc<Mutex<Option<OffsetDateTime>>>);

impl Seen {
    /// Notes the expiry of the certificate in `pem` (unknown if it cannot be read).
    pub fn note(&self, pem: &[u8]) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = not_after(pem);
    }

    /// The expiry noted last.
    pub fn get(&self) -> Option<OffsetDateTime> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed P-256 certificate valid from 2026-01-01 to 2026-01-02.
    const CERT: &str = include_str!("expiry_test.pem");
    /// A key block as rustls-acme writes one before the chain (its content is never read).
    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";

    fn cached() -> String {
        format!("{KEY}{CERT}")
    }

    #[test]
    fn the_leaf_certificate_s_expiry_is_read_after_the_key() {
        let at = not_after(cached().as_bytes());
        assert_eq!(at, Some(time::macros::datetime!(2026-01-02 00:00 UTC)));
    }

    #[test]
    fn anything_else_has_no_expiry() {
        assert_eq!(not_after(b""), None);
        assert_eq!(not_after(b"not pem at all"), None);
        assert_eq!(not_after(KEY.as_bytes()), None);
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(not_after(broken.as_bytes()), None);
    }

    #[test]
    fn seen_keeps_the_last_certificate_s_expiry() {
        let seen = Seen::default();
        seen.note(cached().as_bytes());
        assert!(seen.get().is_some());
        seen.note(b"garbage");
        assert_eq!(
            seen.get(),
            None,
            "an unreadable certificate's expiry is unknown"
        );
    }
}
