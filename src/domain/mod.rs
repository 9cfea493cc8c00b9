//! Pure rules and newtypes: no HTTP, no storage, no async.

pub mod actor;
pub mod alerts;
pub mod api_key;
pub mod card;
pub mod card_mail;
pub mod contrast;
pub mod dashboard;
pub mod disk;
pub mod earning;
pub mod email;
pub mod error;
pub mod etsy;
pub mod events;
pub mod getting_started;
pub mod idempotency;
pub mod interval;
pub mod ledger;
pub mod ledger_check;
pub mod ledger_hash;
pub mod member;
pub mod money;
pub mod retention;
pub mod reward;
pub mod session;
pub mod settings;
pub mod shop;
pub mod size;
pub mod staff;
pub mod stats;
pub mod status;
pub mod text;
pub mod throttle;
pub mod tiers;
pub mod words;

pub use error::DomainError;
