//! A response body written by a blocking producer (an export from one read transaction) and
//! sent as it is written, through a bounded pipe: memory stays flat whatever the size.

use crate::pipe::{PipeWriter, pipe};
use crate::service::ServiceError;
use axum::body::{Body, Bytes};
use std::future::Future;

/// A body fed by `produce`, which gets the writer to fill. Should it fail part way, the body
/// ends in an error, so the client sees a broken transfer rather than a short file.
pub fn body<F, Fut>(produce: F) -> Body
where
    F: FnOnce(Box<dyn std::io::Write + Send>) -> Fut,
    Fut: Future<Output = Result<(), ServiceError>> + Send + 'static,
{
    let (writer, chunks): (PipeWriter, _) = pipe();
    let done = tokio::spawn(produce(Box::new(writer)));
    let stream =
        futures_util::stream::unfold((chunks, Some(done)), |(mut chunks, done)| async move {
            if let Some(chunk) = chunks.recv().await {
                return Some((Ok(Bytes::from(chunk)), (chunks, done)));
            }
            // The writer is gone: the producer has ended; tell a failure once, then end.
            let failure = match done?.await {
                Ok(Ok(())) => return None,
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            tracing::error!(error = %failure, "a streamed response failed part way");
            Some((Err(std::io::Error::other(failure)), (chunks, None)))
        });
    Body::from_stream(stream)
}
