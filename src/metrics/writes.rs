//! What the storage writer records about itself: write latency, batch sizes, queue depth.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::time::Duration;

/// The writer's figures; clones share them (the writer records, a scrape reads).
#[derive(Debug, Clone)]
pub struct WriteStats {
    /// Seconds from a kept write's submission to its durable answer, queueing included.
    pub latency: Histogram,
    /// Jobs per durable commit.
    pub batch_size: Histogram,
    /// Writes submitted and not yet taken by the writer.
    pub queue_depth: Gauge,
}

impl Default for WriteStats {
    fn default() -> Self {
        Self {
            // 0.25 ms to about 4 s: an fsync on a fast disk up to a disk in trouble.
            latency: Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
            // 1 to 512, the writer's largest batch.
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            queue_depth: Gauge::default(),
        }
    }
}

impl WriteStats {
    /// Counts `n` writes into the queue.
    pub fn queued(&self, n: usize) {
        self.queue_depth
            .inc_by(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Counts `n` writes taken off the queue.
    pub fn taken(&self, n: usize) {
        self.queue_depth
            .dec_by(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Records one write kept and answered after `took`.
    pub fn answered(&self, took: Duration) {
        self.latency.observe(took.as_secs_f64());
    }

    /// Records a durable commit of `jobs` writes.
    pub fn committed(&self, jobs: usize) {
        // Exact as f64 for any batch the writer can make.
        self.batch_size.observe(jobs as f64);
    }
}
