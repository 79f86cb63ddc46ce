//! Group commit of call records. A finished call hands its record to the recorder thread
//! and waits; the thread takes every record waiting at that moment and records them all
//! durably at once ([`Store::record_calls`]: one sync and one commit shared by the
//! batch), then answers each. While it works, the next batch gathers, so the busier the
//! node, the more calls share a commit.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};

use axum::body::Bytes;
use tokio::sync::oneshot;
use wasmnn_registry::Sha256Digest;
use wasmnn_registry::store::{NewCall, Store};

use super::error::ApiError;

/// A call to record: receipt id, signed receipt JSON, input and output.
pub struct CallToRecord {
    /// The receipt id.
    pub id: Sha256Digest,
    /// The signed receipt JSON.
    pub receipt_json: String,
    /// The input bytes.
    pub input: Bytes,
    /// The output bytes.
    pub output: Bytes,
}

/// A record waiting for the thread, and where its outcome goes.
type Waiting = (CallToRecord, oneshot::Sender<Result<(), String>>);

/// The recorder thread's handle.
pub struct Recorder {
    waiting: Sender<Waiting>,
}

impl Recorder {
    /// Starts the recorder thread for `store`; it ends when the recorder is dropped.
    pub fn start(store: Arc<Store>) -> Self {
        let (waiting, batches) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("wasmnn-recorder".to_owned())
            .spawn(move || record_batches(&store, &batches));
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the call recorder; calls will not be answered");
        }
        Recorder { waiting }
    }

    /// Records `call` durably, together with the other calls waiting at the same time.
    ///
    /// # Errors
    /// Storage fails (the call is then not recorded), or the recorder thread is gone.
    pub async fn record(&self, call: CallToRecord) -> Result<(), ApiError> {
        let stopped = || ApiError::internal("the call recorder stopped");
        let (done, outcome) = oneshot::channel();
        self.waiting.send((call, done)).map_err(|_| stopped())?;
        outcome
            .await
            .map_err(|_| stopped())?
            .map_err(|error| ApiError::internal(format!("cannot record the call: {error}")))
    }
}

/// The recorder loop: each batch is every record waiting when the previous one ended.
fn record_batches(store: &Store, waiting: &Receiver<Waiting>) {
    while let Ok(first) = waiting.recv() {
        let batch: Vec<Waiting> = std::iter::once(first).chain(waiting.try_iter()).collect();
        let calls: Vec<NewCall<'_>> = batch
            .iter()
            .map(|(call, _)| NewCall {
                id: &call.id,
                receipt_json: &call.receipt_json,
                input: &call.input,
                output: &call.output,
            })
            .collect();
        let started = std::time::Instant::now();
        let outcome = store.record_calls(&calls).map_err(|error| {
            tracing::error!(%error, calls = calls.len(), "cannot record calls");
            error.to_string()
        });
        tracing::debug!(calls = calls.len(), took_us = started.elapsed().as_micros() as u64, "recorded a batch");
        drop(calls);
        for (_, done) in batch {
            // A caller that went away no longer needs the answer.
            let _ = done.send(outcome.clone());
        }
    }
}
