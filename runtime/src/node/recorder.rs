//! Group commit of call records. A call is recorded non-durably
//! ([`Store::record_call`]); its answer waits until a flush has made it durable. One
//! thread flushes whenever calls are waiting, so calls that finish together share one
//! sync of their files and one durable commit instead of paying for their own.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use tokio::sync::watch;
use wasmnn_registry::store::Store;

use super::error::ApiError;

/// How long the flusher waits before retrying a failed flush.
const RETRY_AFTER: Duration = Duration::from_millis(100);

/// The flusher thread's handle: ask for a flush, wait for a generation to be durable.
pub struct Recorder {
    requests: Sender<()>,
    flushed: watch::Receiver<u64>,
}

impl Recorder {
    /// Starts the flusher thread for `store`; it ends when the recorder is dropped.
    pub fn start(store: Arc<Store>) -> Self {
        let (requests, pending) = mpsc::channel();
        let (published, flushed) = watch::channel(0);
        let spawned = std::thread::Builder::new()
            .name("wasmnn-recorder".to_owned())
            .spawn(move || flush_when_asked(&store, &pending, &published));
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the call recorder; calls will not be answered");
        }
        Recorder { requests, flushed }
    }

    /// Waits until the call recorded as `generation` is durable.
    ///
    /// # Errors
    /// The flusher thread is gone.
    pub async fn durable(&self, generation: u64) -> Result<(), ApiError> {
        let mut flushed = self.flushed.clone();
        if *flushed.borrow() >= generation {
            return Ok(());
        }
        self.requests.send(()).map_err(|_| ApiError::internal("the call recorder stopped"))?;
        flushed
            .wait_for(|done| *done >= generation)
            .await
            .map_err(|_| ApiError::internal("the call recorder stopped"))?;
        Ok(())
    }
}

/// The flusher loop: on each request (and all requests queued behind it), one flush;
/// a failed flush is logged and retried, so waiting calls are answered once it works.
fn flush_when_asked(store: &Store, pending: &Receiver<()>, published: &watch::Sender<u64>) {
    while pending.recv().is_ok() {
        while pending.try_recv().is_ok() {}
        loop {
            match store.flush_calls() {
                Ok(generation) => {
                    published.send_if_modified(|done| {
                        let newer = generation > *done;
                        if newer {
                            *done = generation;
                        }
                        newer
                    });
                    break;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot make call records durable; retrying");
                    std::thread::sleep(RETRY_AFTER);
                }
            }
        }
    }
}
