//! Prometheus metrics: what is counted as it happens, and what is read at scrape time.
//!
//! Counters and histograms live as long as the server; the gauges are made afresh for each
//! scrape from [`Readings`], so a figure that is unknown (no backups, no TLS) is left out
//! rather than shown as zero.

pub mod process;
pub mod readings;
pub mod token;
pub mod writes;

pub use readings::Readings;
pub use token::MetricsToken;
pub use writes::WriteStats;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Methods counted by name; any other is counted as `other`, so a client cannot add labels.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// One request's labels: the route's pattern (never the path, which holds tokens and ids).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The method, or `other`.
    pub method: &'static str,
    /// The matched route, such as `/api/v1/members/{id}`, or `unmatched`.
    pub route: String,
    /// The status code.
    pub code: u16,
}

impl RequestLabels {
    /// Labels for a request; `route` is `None` when no route matched.
    pub fn new(method: &str, route: Option<&str>, code: u16) -> Self {
        Self {
            method: METHODS
                .into_iter()
                .find(|m| *m == method)
                .unwrap_or("other"),
            route: route.unwrap_or("unmatched").to_owned(),
            code,
        }
    }
}

/// What the server counts while it runs; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    writes: WriteStats,
}

impl Metrics {
    /// Counts into `writes` what the storage writer records.
    pub fn new(writes: WriteStats) -> Self {
        Self {
            requests: Family::default(),
            writes,
        }
    }

    /// Counts one answered request.
    pub fn request(&self, labels: &RequestLabels) {
        self.requests.get_or_create(labels).inc();
    }

    /// The OpenMetrics text for these counts and `now`'s readings.
    pub fn render(&self, now: &Readings) -> Result<String, std::fmt::Error> {
        let mut r = Registry::with_prefix("fealty");
        r.register(
            "http_requests",
            "HTTP requests answered, by route pattern and status code",
            self.requests.clone(),
        );
        r.register_with_unit(
            "write_duration",
            "Time from a kept database write's submission to its durable answer",
            Unit::Seconds,
            self.writes.latency.clone(),
        );
        r.register(
            "write_batch_size",
            "Writes made durable by one commit",
            self.writes.batch_size.clone(),
        );
        r.register(
            "write_queue_depth",
            "Writes waiting for the database writer",
            self.writes.queue_depth.clone(),
        );
        gauge(&mut r, "members", "Members", None, now.members);
        gauge(
            &mut r,
            "ledger_entries",
            "Ledger entries",
            None,
            now.entries,
        );
        gauge(
            &mut r,
            "database_size",
            "Size of the database file",
            Some(Unit::Bytes),
            now.database_bytes,
        );
        gauge(
            &mut r,
            "backup_last_success_age",
            "Time since the last good backup",
            Some(Unit::Seconds),
            now.backup_age_seconds,
        );
        gauge(
            &mut r,
            "backup_shipped_lag_entries",
            "Ledger entries written but not yet safe in the backup target",
            None,
            now.shipped_lag,
        );
        gauge(
            &mut r,
            "tls_certificate_deployed_timestamp",
            "When the certificate in use was put in use (Unix time)",
            Some(Unit::Seconds),
            now.tls_deployed_at,
        );
        gauge(
            &mut r,
            "tls_renewal_failing",
            "1 while the last certificate order or cache read failed",
            None,
            now.tls_renewal_failing.map(u64::from),
        );
        gauge(
            &mut r,
            "tls_certificate_expiry_timestamp",
            "When the certificate in use expires (Unix time)",
            Some(Unit::Seconds),
            now.tls_expires_at,
        );
        gauge(
            &mut r,
            "data_disk_free",
            "Free space on the data directory's filesystem",
            Some(Unit::Bytes),
            now.disk_free_bytes,
        );
        gauge(
            &mut r,
            "data_disk_size",
            "Size of the data directory's filesystem",
            Some(Unit::Bytes),
            now.disk_size_bytes,
        );
        // Named as every Prometheus client names it, so stock dashboards find it.
        let mut process = Registry::with_prefix("process");
        gauge(
            &mut process,
            "resident_memory",
            "Resident memory of the process",
            Some(Unit::Bytes),
            now.resident_bytes,
        );
        let mut text = String::new();
        encode_registry(&mut text, &process)?;
        encode_registry(&mut text, &r)?;
        encode_eof(&mut text)?;
        Ok(text)
    }
}

/// Registers a gauge holding `value`, unless it is unknown.
fn gauge(r: &mut Registry, name: &str, help: &str, unit: Option<Unit>, value: Option<u64>) {
    let Some(value) = value else { return };
    let g = Gauge::<f64, AtomicU64>::default();
    // Exact for every count, size and age this server can reach.
    g.set(value as f64);
    match unit {
        Some(unit) => r.register_with_unit(name, help, unit, g),
        None => r.register(name, help, g),
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::{Metrics, Readings, RequestLabels, WriteStats};

    #[test]
    fn labels_keep_methods_and_routes_bounded() {
        let odd = RequestLabels::new("BREW", None, 404);
        assert_eq!((odd.method, odd.route.as_str()), ("other", "unmatched"));
        let known = RequestLabels::new("PATCH", Some("/api/v1/members/{id}"), 200);
        assert_eq!(known.method, "PATCH");
    }

    #[test]
    fn unknown_figures_are_left_out() {
        let m = Metrics::new(WriteStats::default());
        let text = m.render(&Readings::default()).unwrap();
        assert!(!text.contains("fealty_members"), "{text}");
        assert!(!text.contains("fealty_backup_"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        let text = m
            .render(&Readings {
                members: Some(3),
                shipped_lag: Some(0),
                ..Readings::default()
            })
            .unwrap();
        assert!(text.contains("\nfealty_members 3"), "{text}");
        assert!(
            text.contains("\nfealty_backup_shipped_lag_entries 0"),
            "{text}"
        );
    }
}
