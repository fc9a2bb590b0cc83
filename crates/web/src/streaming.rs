//! Downloads written while they are read: the work runs on the blocking pool with its own
//! database connection and hands each batch to the response through a short channel, so a
//! file of any size is never held whole in memory and a reader who goes away stops the work.
//! A failure after the first batch cuts the response short (the download shows as failed)
//! rather than ending it as if complete.

use crate::{AppState, WebError};
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use store::PooledDb;

/// Batches waiting to be sent, at most: the work waits when the reader is slower.
const IN_FLIGHT: usize = 2;

/// A CSV download named `filename`, written by `work` batch by batch into its sink.
pub(crate) fn csv<F>(state: &web::Data<AppState>, filename: &str, work: F) -> HttpResponse
where
    F: FnOnce(&mut PooledDb, &mut audit::Sink<'_>) -> Result<(), WebError> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, WebError>>(IN_FLIGHT);
    let state = state.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let mut sink = |batch: Vec<u8>| sender.blocking_send(Ok(Bytes::from(batch))).is_ok();
        let outcome = state
            .pool
            .get()
            .map_err(|e| WebError::from(store::StoreError::Pool(e)))
            .and_then(|mut conn| work(&mut conn, &mut sink));
        if let Err(error) = outcome {
            tracing::error!(%error, "export interrupted");
            let _ = sender.blocking_send(Err(error));
        }
    });
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body)
}
