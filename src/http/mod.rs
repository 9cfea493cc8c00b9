//! Everything HTTP: routes, extractors, the error mapping, and the areas (API, setup, health).

pub mod access_log;
pub mod admin;
pub mod api;
pub mod customer;
pub mod error;
pub mod extract;
pub mod health;
pub mod hooks;
pub mod metrics;
pub mod origin;
pub mod router;
pub mod setup;
pub mod stream;

pub use router::AppState;
