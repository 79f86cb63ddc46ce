//! Call records: for every invocation the node keeps the signed receipt and the call's
//! input and output bytes, so that anyone holding the receipt id can fetch them and re-run
//! the call (docs/REGISTRY.md "Call records"). Retention is bounded by age and by bytes
//! ([`Policy::call_retention`](super::Policy::call_retention),
//! [`Policy::call_retention_bytes`](super::Policy::call_retention_bytes)), oldest first.
//!
//! The data files are content-addressed under `DATA/calls` and shared between calls by
//! reference count. The order of changes is the blob store's: files are written before the
//! index names them, and deleted only after the commit that dropped their last reference,
//! so a crash leaves at most stray files, which [`Store::open`] removes.

use std::fs::File;
use std::sync::PoisonError;

use redb::{Durability, ReadableDatabase, ReadableTable, WriteTransaction};

use super::tables::{self, CallRecord};
use super::{Policy, Store, StoreError, unix_now};
use crate::Sha256Digest;
use crate::blobs::BlobError;

/// Which bytes of a recorded call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallData {
    /// The input the call was invoked with.
    Input,
    /// The output it returned.
    Output,
}

/// What one pruning pass dropped.
#[derive(Debug, Default)]
struct Pruned {
    /// Call records dropped.
    calls: usize,
    /// Data digests whose last reference went, whose files may be deleted after the commit.
    unreferenced: Vec<Sha256Digest>,
}

/// Calls recorded non-durably since the last [`Store::flush_calls`].
#[derive(Debug, Default)]
pub(super) struct Unflushed {
    /// Data files written unsynced.
    written: Vec<Sha256Digest>,
    /// Data files pruning left unreferenced, deleted once the prune is durable.
    unreferenced: Vec<Sha256Digest>,
    /// The generation of the last call recorded (counts every call this process recorded).
    generation: u64,
}

impl Store {
    /// Records the call whose receipt id is `id`: its signed receipt (`receipt_json`, kept
    /// as the text given) and its input and output bytes. The data files are written first
    /// (content-addressed, so bytes another retained call has are stored once), then the
    /// record, in one transaction that also drops whatever the retention policy says must
    /// go ([`Store::prune_calls`]). Recording an id that is already recorded changes
    /// nothing. A call whose input and output together exceed
    /// [`Policy::call_retention_bytes`] is not kept (it would have to push out every other
    /// call and then itself).
    ///
    /// The record is visible at once but **not yet durable**: the files are not synced and
    /// the transaction is committed non-durably, so that many calls share one sync. The
    /// returned generation is durable once [`Store::flush_calls`] has returned a
    /// generation at least as high (a node answers the call only then).
    ///
    /// # Errors
    /// Storage or the index fails; the call is then not recorded (files written for it are
    /// removed at the next start).
    pub fn record_call(
        &self,
        id: &Sha256Digest,
        receipt_json: &str,
        input: &[u8],
        output: &[u8],
    ) -> Result<u64, StoreError> {
        self.record_call_at(id, receipt_json, input, output, unix_now())
    }

    /// [`Store::record_call`] with the clock at `now` (unix seconds).
    fn record_call_at(
        &self,
        id: &Sha256Digest,
        receipt_json: &str,
        input: &[u8],
        output: &[u8],
        now: u64,
    ) -> Result<u64, StoreError> {
        if self.find_call(id)?.is_some() {
            return Ok(0);
        }
        let bytes = (input.len() as u64).saturating_add(output.len() as u64);
        if bytes > self.policy.call_retention_bytes {
            tracing::warn!(receipt = %id.prefixed(), bytes, limit = self.policy.call_retention_bytes,
                "a call's input and output exceed the node's call retention; not kept");
            self.prune_calls_at(now)?;
            return Ok(0);
        }
        let record = CallRecord {
            receipt: receipt_json.to_owned(),
            input: Sha256Digest::of_bytes(input),
            output: Sha256Digest::of_bytes(output),
            recorded_at: now,
            bytes,
        };
        let _shared = self.call_files_lock.read().unwrap_or_else(PoisonError::into_inner);
        self.call_files.write_unsynced(&record.input, input.len() as u64, input)?;
        self.call_files.write_unsynced(&record.output, output.len() as u64, output)?;
        let mut txn = self.db.begin_write().map_err(StoreError::index)?;
        txn.set_durability(Durability::None).map_err(|e| StoreError::Index(e.to_string()))?;
        if !insert_call(&txn, &id.to_hex(), &record)? {
            txn.abort().map_err(StoreError::index)?;
            return Ok(0);
        }
        let pruned = prune(&txn, &self.policy, now)?;
        txn.commit().map_err(StoreError::index)?;
        if pruned.calls > 0 {
            tracing::debug!(calls = pruned.calls, files = pruned.unreferenced.len(), "call records pruned");
        }
        let mut pending = self.unflushed_calls.lock().unwrap_or_else(PoisonError::into_inner);
        pending.written.extend([record.input, record.output]);
        pending.unreferenced.extend(pruned.unreferenced);
        pending.generation += 1;
        Ok(pending.generation)
    }

    /// Makes every call recorded so far durable: syncs the data files written since the
    /// last flush and the folder, then commits durably (which persists the earlier
    /// non-durable commits), then deletes the files that pruning left unreferenced.
    /// Returns the generation of the last call it covers (see [`Store::record_call`]).
    ///
    /// # Errors
    /// The file system or the index fails; the calls stay recorded but not durable, and
    /// the next flush tries again.
    pub fn flush_calls(&self) -> Result<u64, StoreError> {
        let (written, unreferenced, generation) = {
            let mut pending = self.unflushed_calls.lock().unwrap_or_else(PoisonError::into_inner);
            (std::mem::take(&mut pending.written), std::mem::take(&mut pending.unreferenced), pending.generation)
        };
        let synced = self.call_files.sync(&written).map_err(BlobError::Io).map_err(StoreError::from).and_then(|()| {
            let txn = self.db.begin_write().map_err(StoreError::index)?;
            txn.commit().map_err(StoreError::index)
        });
        if let Err(error) = synced {
            let mut pending = self.unflushed_calls.lock().unwrap_or_else(PoisonError::into_inner);
            pending.written.extend(written);
            pending.unreferenced.extend(unreferenced);
            return Err(error);
        }
        self.delete_unreferenced(&unreferenced)?;
        Ok(generation)
    }

    /// The signed receipt JSON of the recorded call `id`, as it was recorded.
    ///
    /// # Errors
    /// [`StoreError::UnknownReceipt`] when no call `id` is retained; index failures.
    pub fn call_receipt(&self, id: &Sha256Digest) -> Result<String, StoreError> {
        self.find_call(id)?.map(|record| record.receipt).ok_or(StoreError::UnknownReceipt(*id))
    }

    /// Opens the input or output bytes of the recorded call `id`, after checking all of
    /// them against their digest, positioned at the start, with their size. A file that
    /// fails is moved to `DATA/calls/quarantine/` and refused (reads of it fail from then
    /// on; the receipt stays).
    ///
    /// # Errors
    /// [`StoreError::UnknownReceipt`] when no call `id` is retained (or it was pruned
    /// meanwhile); a corrupt (`blob_corrupt`) or missing (`unknown_blob`) file; storage or
    /// index failures.
    pub fn call_data(&self, id: &Sha256Digest, which: CallData) -> Result<(File, u64), StoreError> {
        let record = self.find_call(id)?.ok_or(StoreError::UnknownReceipt(*id))?;
        let digest = match which {
            CallData::Input => record.input,
            CallData::Output => record.output,
        };
        match self.call_files.open_verified(&digest) {
            Ok(opened) => Ok(opened),
            Err(BlobError::NotFound(_)) if self.find_call(id)?.is_none() => Err(StoreError::UnknownReceipt(*id)),
            Err(error @ BlobError::NotFound(_)) => {
                tracing::error!(receipt = %id.prefixed(), data = %digest.prefixed(), ?which,
                    "a retained call's data file is missing (lost, or quarantined earlier)");
                Err(error.into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Drops the call records the retention policy says must go: those recorded
    /// [`Policy::call_retention`] ago or earlier, then the oldest until the calls kept hold
    /// at most [`Policy::call_retention_bytes`] of data. Data files are deleted once no
    /// call references them, after the commit. [`Store::record_call`] runs this; a node may
    /// also run it on a timer.
    ///
    /// # Errors
    /// The index or the file system fails.
    pub fn prune_calls(&self) -> Result<usize, StoreError> {
        self.prune_calls_at(unix_now())
    }

    /// [`Store::prune_calls`] with the clock at `now` (unix seconds).
    fn prune_calls_at(&self, now: u64) -> Result<usize, StoreError> {
        let txn = self.db.begin_write().map_err(StoreError::index)?;
        let pruned = prune(&txn, &self.policy, now)?;
        if pruned.calls == 0 {
            txn.abort().map_err(StoreError::index)?;
            return Ok(0);
        }
        txn.commit().map_err(StoreError::index)?;
        self.delete_unreferenced(&pruned.unreferenced)?;
        tracing::info!(calls = pruned.calls, files = pruned.unreferenced.len(), "call records pruned");
        Ok(pruned.calls)
    }

    /// The record of call `id`, if retained.
    fn find_call(&self, id: &Sha256Digest) -> Result<Option<CallRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let calls = txn.open_table(tables::CALLS).map_err(StoreError::index)?;
        tables::get::<CallRecord>(&calls, &id.to_hex())
    }

    /// Deletes the data files of `digests` that the committed index no longer references.
    /// Holding the lock exclusively means no call is between writing a file and indexing
    /// it, so a file that a call has just written again for a new reference is kept.
    fn delete_unreferenced(&self, digests: &[Sha256Digest]) -> Result<(), StoreError> {
        if digests.is_empty() {
            return Ok(());
        }
        let _exclusive = self.call_files_lock.write().unwrap_or_else(PoisonError::into_inner);
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let data = txn.open_table(tables::CALL_DATA).map_err(StoreError::index)?;
        for digest in digests {
            if data.get(digest.to_hex().as_str()).map_err(StoreError::index)?.is_none() {
                self.call_files.remove(digest).map_err(BlobError::Io)?;
            }
        }
        Ok(())
    }

    /// The call half of [`Store::open`]'s reconciliation: call data files that no record
    /// references (a call cut short by a crash, or a prune cut short before its deletes)
    /// are deleted; referenced files that are missing are logged (reads of them fail).
    pub(super) fn reconcile_calls(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let data = txn.open_table(tables::CALL_DATA).map_err(StoreError::index)?;
        for digest in self.call_files.list().map_err(BlobError::Io)? {
            if data.get(digest.to_hex().as_str()).map_err(StoreError::index)?.is_none() {
                tracing::warn!(digest = %digest.prefixed(), "removing a call data file no call record references");
                self.call_files.remove(&digest).map_err(BlobError::Io)?;
            }
        }
        for entry in data.iter().map_err(StoreError::index)? {
            let (hex, _) = entry.map_err(StoreError::index)?;
            let digest = Sha256Digest::from_hex(hex.value()).map_err(|e| StoreError::Index(e.to_string()))?;
            if self.call_files.size(&digest).is_none() {
                tracing::error!(digest = %digest.prefixed(), "a retained call's data file is missing; reads of it will fail");
            }
        }
        Ok(())
    }
}

/// Indexes `record` under the receipt id `hex`: the record, its place in time order, its
/// data references and the byte total. False (and nothing written) when `hex` is already
/// recorded.
fn insert_call(txn: &WriteTransaction, hex: &str, record: &CallRecord) -> Result<bool, StoreError> {
    let mut calls = txn.open_table(tables::CALLS).map_err(StoreError::index)?;
    if calls.get(hex).map_err(StoreError::index)?.is_some() {
        return Ok(false);
    }
    tables::put(&mut calls, hex, record)?;
    let mut by_time = txn.open_table(tables::CALLS_BY_TIME).map_err(StoreError::index)?;
    by_time.insert((record.recorded_at, hex), ()).map_err(StoreError::index)?;
    let mut data = txn.open_table(tables::CALL_DATA).map_err(StoreError::index)?;
    for digest in [record.input, record.output] {
        let key = digest.to_hex();
        let refs = data.get(key.as_str()).map_err(StoreError::index)?.map_or(0, |g| g.value());
        data.insert(key.as_str(), refs + 1).map_err(StoreError::index)?;
    }
    let mut totals = txn.open_table(tables::CALL_TOTALS).map_err(StoreError::index)?;
    let total = totals.get(tables::CALL_BYTES).map_err(StoreError::index)?.map_or(0, |g| g.value());
    totals.insert(tables::CALL_BYTES, total.saturating_add(record.bytes)).map_err(StoreError::index)?;
    Ok(true)
}

/// Drops, oldest first, the call records past the policy's age, then more until the byte
/// total is within the policy; returns what went. The caller commits, then deletes the
/// unreferenced files.
fn prune(txn: &WriteTransaction, policy: &Policy, now: u64) -> Result<Pruned, StoreError> {
    let cutoff = now.saturating_sub(policy.call_retention.as_secs());
    let mut by_time = txn.open_table(tables::CALLS_BY_TIME).map_err(StoreError::index)?;
    let mut calls = txn.open_table(tables::CALLS).map_err(StoreError::index)?;
    let mut data = txn.open_table(tables::CALL_DATA).map_err(StoreError::index)?;
    let mut totals = txn.open_table(tables::CALL_TOTALS).map_err(StoreError::index)?;
    let before = totals.get(tables::CALL_BYTES).map_err(StoreError::index)?.map_or(0, |g| g.value());
    let mut total = before;
    let mut pruned = Pruned::default();
    loop {
        let oldest = by_time.first().map_err(StoreError::index)?.map(|(key, _)| {
            let (recorded_at, hex) = key.value();
            (recorded_at, hex.to_owned())
        });
        let Some((recorded_at, hex)) = oldest else { break };
        if recorded_at > cutoff && total <= policy.call_retention_bytes {
            break;
        }
        by_time.remove((recorded_at, hex.as_str())).map_err(StoreError::index)?;
        let Some(record) = tables::get::<CallRecord>(&calls, &hex)? else {
            tracing::error!(receipt = %hex, "the call time index names a call with no record; entry dropped");
            continue;
        };
        calls.remove(hex.as_str()).map_err(StoreError::index)?;
        total = total.saturating_sub(record.bytes);
        for digest in [record.input, record.output] {
            let key = digest.to_hex();
            let refs = data.get(key.as_str()).map_err(StoreError::index)?.map_or(0, |g| g.value());
            if refs <= 1 {
                if data.remove(key.as_str()).map_err(StoreError::index)?.is_some() {
                    pruned.unreferenced.push(digest);
                }
            } else {
                data.insert(key.as_str(), refs - 1).map_err(StoreError::index)?;
            }
        }
        pruned.calls += 1;
    }
    if total != before {
        totals.insert(tables::CALL_BYTES, total).map_err(StoreError::index)?;
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Read;
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    const DAY: u64 = 24 * 3600;

    fn id(n: u32) -> Sha256Digest {
        Sha256Digest::of_bytes(format!("receipt {n}").as_bytes())
    }

    fn receipt(n: u32) -> String {
        format!(r#"{{"receipt":{{"n":{n}}},"signature":"sig"}}"#)
    }

    fn read(store: &Store, id: &Sha256Digest, which: CallData) -> Vec<u8> {
        let (mut file, size) = store.call_data(id, which).unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        assert_eq!(size, bytes.len() as u64);
        bytes
    }

    fn data_dir(dir: &Path) -> std::path::PathBuf {
        dir.join("calls/blobs/sha256")
    }

    fn files(dir: &Path) -> usize {
        fs::read_dir(data_dir(dir)).unwrap().count()
    }

    fn has_file(dir: &Path, bytes: &[u8]) -> bool {
        data_dir(dir).join(Sha256Digest::of_bytes(bytes).to_hex()).is_file()
    }

    fn refs(store: &Store, bytes: &[u8]) -> u64 {
        let txn = store.db.begin_read().unwrap();
        let data = txn.open_table(tables::CALL_DATA).unwrap();
        data.get(Sha256Digest::of_bytes(bytes).to_hex().as_str()).unwrap().map_or(0, |g| g.value())
    }

    fn total_bytes(store: &Store) -> u64 {
        let txn = store.db.begin_read().unwrap();
        let totals = txn.open_table(tables::CALL_TOTALS).unwrap();
        totals.get(tables::CALL_BYTES).unwrap().map_or(0, |g| g.value())
    }

    #[test]
    fn calls_are_read_back_after_reopening_and_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), Policy::default()).unwrap();
            store.record_call(&id(1), &receipt(1), b"the input", b"the output").unwrap();
            store.record_call(&id(1), &receipt(1), b"the input", b"the output").unwrap();
            assert_eq!(store.health().unwrap().calls, 1);
            assert_eq!((refs(&store, b"the input"), total_bytes(&store)), (1, 19), "the second record is a no-op");
        }
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        assert_eq!(store.call_receipt(&id(1)).unwrap(), receipt(1));
        assert_eq!(read(&store, &id(1), CallData::Input), b"the input");
        assert_eq!(read(&store, &id(1), CallData::Output), b"the output");
        assert_eq!(store.health().unwrap().calls, 1);
        assert_eq!(files(dir.path()), 2);
        assert!(fs::read_dir(dir.path().join("blobs/sha256")).unwrap().next().is_none(), "apart from blobs");

        let store = {
            drop(store);
            Store::open(dir.path(), Policy { call_retention: Duration::ZERO, ..Policy::default() }).unwrap()
        };
        assert_eq!(store.prune_calls().unwrap(), 1);
        assert_eq!((files(dir.path()), total_bytes(&store), store.health().unwrap().calls), (0, 0, 0));
    }

    #[test]
    fn identical_data_is_stored_once_and_kept_while_referenced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        let now = unix_now();
        store.record_call_at(&id(1), &receipt(1), b"same input", b"output one", now - 3 * DAY).unwrap();
        store.record_call_at(&id(2), &receipt(2), b"same input", b"output two", now - DAY).unwrap();
        store.record_call_at(&id(3), &receipt(3), b"echo", b"echo", now).unwrap();
        assert_eq!(files(dir.path()), 4, "one file for the shared input, one for input = output");
        assert_eq!((refs(&store, b"same input"), refs(&store, b"echo")), (2, 2));
        assert_eq!(read(&store, &id(3), CallData::Output), b"echo");

        let store = {
            drop(store);
            let policy = Policy { call_retention: Duration::from_secs(2 * DAY), ..Policy::default() };
            Store::open(dir.path(), policy).unwrap()
        };
        assert_eq!(store.prune_calls().unwrap(), 1, "the call of three days ago");
        assert_eq!(store.call_receipt(&id(1)).unwrap_err().code(), "unknown_receipt");
        assert!(!has_file(dir.path(), b"output one"));
        assert!(has_file(dir.path(), b"same input"), "still referenced by call 2");
        assert_eq!(read(&store, &id(2), CallData::Input), b"same input");
        assert_eq!(refs(&store, b"same input"), 1);
        assert_eq!(store.prune_calls().unwrap(), 0);
    }

    #[test]
    fn recording_drops_calls_past_their_age() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        let now = unix_now();
        store.record_call_at(&id(1), &receipt(1), b"old in", b"old out", now - 8 * DAY).unwrap();
        store.record_call_at(&id(2), &receipt(2), b"kept in", b"kept out", now - 6 * DAY).unwrap();
        assert_eq!(store.health().unwrap().calls, 2, "the clock said it was 8 days ago");
        store.record_call(&id(3), &receipt(3), b"new in", b"new out").unwrap();
        store.flush_calls().unwrap();
        assert_eq!(store.call_receipt(&id(1)).unwrap_err().code(), "unknown_receipt");
        assert!(store.call_receipt(&id(2)).is_ok() && store.call_receipt(&id(3)).is_ok());
        assert!(!has_file(dir.path(), b"old in") && !has_file(dir.path(), b"old out"));
        assert_eq!((files(dir.path()), total_bytes(&store)), (4, 28));
    }

    #[test]
    fn the_oldest_calls_go_first_when_over_the_byte_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy { call_retention_bytes: 100, ..Policy::default() }).unwrap();
        let now = unix_now();
        let shared = [7u8; 20];
        store.record_call_at(&id(1), &receipt(1), &shared, &[1u8; 20], now - 30).unwrap();
        store.record_call_at(&id(2), &receipt(2), &[2u8; 20], &[3u8; 20], now - 20).unwrap();
        assert_eq!((store.health().unwrap().calls, total_bytes(&store)), (2, 80));
        store.record_call_at(&id(3), &receipt(3), &shared, &[4u8; 20], now - 10).unwrap();
        assert!(has_file(dir.path(), &[1u8; 20]), "deleted only once the prune is durable");
        store.flush_calls().unwrap();
        assert_eq!((store.health().unwrap().calls, total_bytes(&store)), (2, 80), "120 > 100: the oldest went");
        assert_eq!(store.call_data(&id(1), CallData::Input).unwrap_err().code(), "unknown_receipt");
        assert!(!has_file(dir.path(), &[1u8; 20]), "its own output was deleted");
        assert!(has_file(dir.path(), &shared), "the input it shares with call 3 was kept");
        assert_eq!(read(&store, &id(3), CallData::Input), shared);

        store.record_call_at(&id(4), &receipt(4), &[9u8; 60], &[8u8; 41], now).unwrap();
        assert!(store.call_receipt(&id(4)).is_err(), "a call over the limit by itself is not kept");
        assert!(store.call_receipt(&id(2)).is_ok() && store.call_receipt(&id(3)).is_ok(), "and pushes nothing out");
        assert!(!has_file(dir.path(), &[9u8; 60]));

        store.record_call_at(&id(5), &receipt(5), &[5u8; 50], &[6u8; 20], now).unwrap();
        store.flush_calls().unwrap();
        assert_eq!(store.health().unwrap().calls, 1, "80 + 70 > 100, then 40 + 70 > 100");
        assert!(store.call_receipt(&id(5)).is_ok());
        assert_eq!((files(dir.path()), total_bytes(&store)), (2, 70), "the shared input went with its last call");
    }

    #[test]
    fn corrupt_call_data_is_quarantined_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        store.record_call(&id(1), &receipt(1), b"good input", b"good output").unwrap();
        let path = data_dir(dir.path()).join(Sha256Digest::of_bytes(b"good input").to_hex());
        fs::remove_file(&path).unwrap();
        fs::write(&path, b"evil input").unwrap();
        let err = store.call_data(&id(1), CallData::Input).unwrap_err();
        assert_eq!((err.code(), err.http_status()), ("blob_corrupt", 500));
        assert_eq!(store.call_data(&id(1), CallData::Input).unwrap_err().code(), "unknown_blob", "never served");
        let quarantined: Vec<_> = fs::read_dir(dir.path().join("calls/quarantine")).unwrap().collect();
        assert_eq!(quarantined.len(), 1);
        assert_eq!(read(&store, &id(1), CallData::Output), b"good output");
        assert_eq!(store.call_receipt(&id(1)).unwrap(), receipt(1), "the receipt stays");
    }

    #[test]
    fn concurrent_calls_never_lose_a_retained_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy { call_retention_bytes: 100, ..Policy::default() }).unwrap();
        std::thread::scope(|scope| {
            for thread in 0..4u32 {
                let store = &store;
                scope.spawn(move || {
                    for n in 0..40u32 {
                        let call = thread * 1000 + n;
                        let input = [(call % 2) as u8; 30];
                        let output = [10 + (call % 3) as u8; 30];
                        store.record_call(&id(call), &receipt(call), &input, &output).unwrap();
                        if n % 7 == 0 {
                            store.flush_calls().unwrap();
                        }
                        for which in [CallData::Input, CallData::Output] {
                            match store.call_data(&id(call), which) {
                                Ok(_) => {}
                                Err(e) => assert_eq!(e.code(), "unknown_receipt", "{e}"),
                            }
                        }
                    }
                });
            }
        });
        store.flush_calls().unwrap();
        let txn = store.db.begin_read().unwrap();
        let data = txn.open_table(tables::CALL_DATA).unwrap();
        assert_eq!(data.iter().unwrap().count(), files(dir.path()), "one file per referenced digest");
        assert_eq!((store.health().unwrap().calls, total_bytes(&store)), (1, 60));
    }

    #[test]
    fn unknown_receipts_are_404() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        let err = store.call_receipt(&id(9)).unwrap_err();
        assert_eq!((err.code(), err.http_status()), ("unknown_receipt", 404));
        assert!(matches!(err, StoreError::UnknownReceipt(d) if d == id(9)));
        assert!(err.to_string().contains(&id(9).to_hex()), "{err}");
        let err = store.call_data(&id(9), CallData::Output).unwrap_err();
        assert_eq!(err.code(), "unknown_receipt");
    }

    #[test]
    fn opening_removes_stray_call_files_and_keeps_records_of_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), Policy::default()).unwrap();
            store.record_call(&id(1), &receipt(1), b"in", b"out").unwrap();
        }
        let stray = Sha256Digest::of_bytes(b"stray");
        fs::write(data_dir(dir.path()).join(stray.to_hex()), b"stray").unwrap();
        fs::write(dir.path().join("calls/tmp/upload-xyz"), b"half").unwrap();
        fs::remove_file(data_dir(dir.path()).join(Sha256Digest::of_bytes(b"out").to_hex())).unwrap();
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        assert!(!data_dir(dir.path()).join(stray.to_hex()).exists());
        assert!(fs::read_dir(dir.path().join("calls/tmp")).unwrap().next().is_none());
        assert_eq!(read(&store, &id(1), CallData::Input), b"in");
        assert_eq!(store.call_data(&id(1), CallData::Output).unwrap_err().code(), "unknown_blob");
        assert_eq!(store.health().unwrap().calls, 1);
    }
}
