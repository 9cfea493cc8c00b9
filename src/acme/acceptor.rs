//! The HTTPS acceptor of whichever ACME state is current. After a failed order the state is
//! replaced by a fresh one, because only that resets rustls-acme's own backoff (it doubles up
//! to 18 hours); connections accepted from then on get the new state's certificate and
//! challenge answers.

use axum_server::accept::Accept;
use rustls_acme::axum::AxumAcceptor;
use std::sync::{Arc, Mutex, PoisonError};

/// Accepts with the current state's acceptor.
#[derive(Clone)]
pub struct CurrentAcceptor(Arc<Mutex<AxumAcceptor>>);

impl CurrentAcceptor {
    /// Starts with `first`.
    pub fn new(first: AxumAcceptor) -> Self {
        Self(Arc::new(Mutex::new(first)))
    }

    /// New connections use `next`; those already accepted keep theirs.
    pub fn replace(&self, next: AxumAcceptor) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = next;
    }
}

impl<I, S> Accept<I, S> for CurrentAcceptor
where
    AxumAcceptor: Accept<I, S>,
{
    type Stream = <AxumAcceptor as Accept<I, S>>::Stream;
    type Service = <AxumAcceptor as Accept<I, S>>::Service;
    type Future = <AxumAcceptor as Accept<I, S>>::Future;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let current = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        current.accept(stream, service)
    }
}
