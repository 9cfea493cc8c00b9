//! FealTY: a loyalty scheme in one binary.

pub mod acme;
pub mod app;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod control;
pub mod crypto;
pub mod domain;
pub mod export;
pub mod http;
pub mod ledger_schedule;
pub mod logging;
pub mod member_csv;
pub mod metrics;
pub mod net;
pub mod password;
pub mod pipe;
pub mod private_files;
pub mod progress;
pub mod redact;
pub mod service;
pub mod storage;
pub mod sweep;
pub mod tls;
pub mod version;
pub mod views;
