//! Call records: for every invocation the node keeps the signed receipt and the call's
//! input and output bytes, so that anyone holding the receipt id can fetch them and re-run
//! the call (docs/REGISTRY.md "Call records"). Retention is bounded by age and by bytes
//! ([`Policy::call_retention`](super::Policy::call_retention),
//! [`Policy::call_retention_bytes`](super::Policy::call_retention_bytes)), oldest first.
//!
//! Call data is content-addressed and shared between calls by reference count. Data of at
//! most [`INLINE_CALL_DATA`] bytes (most calls) lives in the index itself, so one durable
//! commit makes a whole group of calls durable; larger data is a file under `DATA/calls`.
//! The order of changes for files is the blob store's: files are written before the index
//! names them, and deleted only after the commit that dropped their last reference, so a
//! crash leaves at most stray files, which [`Store::open`] removes.

use std::fs::File;
use std::sync::PoisonError;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

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

/// Call data up to this many bytes is kept in the index rather than in a file of its own.
pub const INLINE_CALL_DATA: usize = 256 << 10;

/// The recorded bytes of a call's input or output.
#[derive(Debug)]
pub enum CallBytes {
    /// Small data, kept in the index (checked against its digest when read).
    Inline(Vec<u8>),
    /// A data file, checked against its digest and positioned at its start, and its size.
    File(File, u64),
}

/// A place in the order calls were recorded: a recording second and, within it, a receipt
/// id (hex). Written `<seconds>` (the start of that second) or `<seconds>-<hex>` (just
/// after that call), as `GET /v1/receipts?after=` takes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct CallCursor {
    /// Unix seconds the call was recorded.
    pub recorded_at: u64,
    /// The receipt id (64 lowercase hex digits) within that second; `None` is the start of
    /// the second.
    pub receipt: Option<String>,
}

impl CallCursor {
    /// The cursor at the start of second `recorded_at`.
    pub fn at(recorded_at: u64) -> Self {
        CallCursor { recorded_at, receipt: None }
    }

    fn receipt_hex(&self) -> &str {
        self.receipt.as_deref().unwrap_or("")
    }
}

impl std::fmt::Display for CallCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.receipt {
            Some(hex) => write!(f, "{}-{hex}", self.recorded_at),
            None => write!(f, "{}", self.recorded_at),
        }
    }
}

impl std::str::FromStr for CallCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{text:?} is not a cursor: expected <unix seconds> or <unix seconds>-<receipt id hex>");
        let (seconds, receipt) = match text.split_once('-') {
            Some((seconds, hex)) => {
                let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                if !valid {
                    return Err(bad());
                }
                (seconds, Some(hex.to_owned()))
            }
            None => (text, None),
        };
        let recorded_at = seconds.parse().map_err(|_| bad())?;
        Ok(CallCursor { recorded_at, receipt })
    }
}

/// What one pruning pass dropped.
#[derive(Debug, Default)]
struct Pruned {
    /// Call records dropped.
    calls: usize,
    /// Digests of data files whose last reference went, deleted after the commit.
    unreferenced: Vec<Sha256Digest>,
}

/// One call to record: its receipt id, its signed receipt (kept as the text given) and its
/// input and output bytes.
#[derive(Debug, Clone, Copy)]
pub struct NewCall<'a> {
    /// The receipt id.
    pub id: &'a Sha256Digest,
    /// The signed receipt JSON.
    pub receipt_json: &'a str,
    /// The input bytes.
    pub input: &'a [u8],
    /// The output bytes.
    pub output: &'a [u8],
}

impl Store {
    /// Records `calls` durably, all or none (group commit: a node records the calls that
    /// finished together in one batch, so they share one sync). Data over
    /// [`INLINE_CALL_DATA`] bytes is written to files and synced first (content-addressed,
    /// so bytes another retained call has are stored once); then one transaction adds the
    /// records, their smaller data and references, and drops whatever the retention policy
    /// says must go ([`Store::prune_calls`]); files that lost their last reference are
    /// deleted after it commits. A call already recorded is left as it is. A call whose
    /// input and output together exceed [`Policy::call_retention_bytes`] is not kept (it
    /// would have to push out every other call and then itself).
    ///
    /// # Errors
    /// Storage or the index fails; none of the calls is then recorded (files written for
    /// them are removed at the next start).
    pub fn record_calls(&self, calls: &[NewCall<'_>]) -> Result<(), StoreError> {
        self.record_calls_at(calls, unix_now())
    }

    /// [`Store::record_calls`] with the clock at `now` (unix seconds).
    fn record_calls_at(&self, calls: &[NewCall<'_>], now: u64) -> Result<(), StoreError> {
        let mut records = Vec::with_capacity(calls.len());
        let read = self.db.begin_read().map_err(StoreError::index)?;
        let recorded = read.open_table(tables::CALLS).map_err(StoreError::index)?;
        for call in calls {
            let hex = call.id.to_hex();
            // Identical calls make identical receipts: nothing to write, nor to sync.
            if recorded.get(hex.as_str()).map_err(StoreError::index)?.is_some() {
                continue;
            }
            let bytes = (call.input.len() as u64).saturating_add(call.output.len() as u64);
            if bytes > self.policy.call_retention_bytes {
                tracing::warn!(receipt = %call.id.prefixed(), bytes, limit = self.policy.call_retention_bytes,
                    "a call's input and output exceed the node's call retention; not kept");
                continue;
            }
            let record = CallRecord {
                receipt: call.receipt_json.to_owned(),
                input: Sha256Digest::of_bytes(call.input),
                output: Sha256Digest::of_bytes(call.output),
                recorded_at: now,
                bytes,
            };
            let data = [(record.input, call.input), (record.output, call.output)];
            records.push((hex, record, data));
        }
        drop(recorded);
        drop(read);
        if records.is_empty() {
            return Ok(());
        }
        let shared = self.call_files_lock.read().unwrap_or_else(PoisonError::into_inner);
        let mut files = Vec::new();
        for (digest, bytes) in records.iter().flat_map(|(_, _, data)| data) {
            if bytes.len() > INLINE_CALL_DATA && !files.contains(digest) {
                self.call_files.write_unsynced(digest, bytes.len() as u64, *bytes)?;
                files.push(*digest);
            }
        }
        if !files.is_empty() {
            self.call_files.sync(&files).map_err(BlobError::Io)?;
        }
        let txn = self.db.begin_write().map_err(StoreError::index)?;
        for (hex, record, data) in &records {
            insert_call(&txn, hex, record, *data)?;
        }
        let pruned = prune(&txn, &self.policy, now)?;
        txn.commit().map_err(StoreError::index)?;
        drop(shared);
        if pruned.calls > 0 {
            tracing::debug!(calls = pruned.calls, files = pruned.unreferenced.len(), "call records pruned");
        }
        self.delete_unreferenced(&pruned.unreferenced)
    }

    /// The signed receipt JSON of the recorded call `id`, as it was recorded.
    ///
    /// # Errors
    /// [`StoreError::UnknownReceipt`] when no call `id` is retained; index failures.
    pub fn call_receipt(&self, id: &Sha256Digest) -> Result<String, StoreError> {
        self.find_call(id)?.map(|record| record.receipt).ok_or(StoreError::UnknownReceipt(*id))
    }

    /// Up to `limit` recorded calls after `cursor` in the order they were recorded (by
    /// recording second, then receipt id): each with its place and its signed receipt
    /// JSON. This is how a peer walks a node's receipts to spot-check them
    /// (`GET /v1/receipts?after=`); a call recorded later in a second already walked can
    /// sort before the cursor, so walkers re-read the last second and skip what they saw.
    ///
    /// # Errors
    /// The index fails.
    pub fn calls_after(&self, cursor: &CallCursor, limit: usize) -> Result<Vec<(CallCursor, String)>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let by_time = txn.open_table(tables::CALLS_BY_TIME).map_err(StoreError::index)?;
        let calls = txn.open_table(tables::CALLS).map_err(StoreError::index)?;
        let start = (cursor.recorded_at, cursor.receipt_hex());
        let mut found = Vec::new();
        for entry in by_time.range(start..).map_err(StoreError::index)? {
            if found.len() >= limit {
                break;
            }
            let (key, _) = entry.map_err(StoreError::index)?;
            let (recorded_at, hex) = key.value();
            let place = CallCursor { recorded_at, receipt: Some(hex.to_owned()) };
            if place == *cursor {
                continue;
            }
            // A call pruned between the two reads of this transaction cannot happen (one
            // snapshot); a record missing here is an index fault, logged and skipped.
            match tables::get::<CallRecord>(&calls, hex)? {
                Some(record) => found.push((place, record.receipt)),
                None => tracing::error!(receipt = %hex, "the call time index names a call with no record"),
            }
        }
        Ok(found)
    }

    /// The input or output bytes of the recorded call `id`, after checking all of them
    /// against their digest: the bytes themselves when kept in the index, else their file.
    /// A file that fails is moved to `DATA/calls/quarantine/` and refused (reads of it
    /// fail from then on; the receipt stays).
    ///
    /// # Errors
    /// [`StoreError::UnknownReceipt`] when no call `id` is retained (or it was pruned
    /// meanwhile); a corrupt (`blob_corrupt`) or missing (`unknown_blob`) file; storage or
    /// index failures.
    pub fn call_data(&self, id: &Sha256Digest, which: CallData) -> Result<CallBytes, StoreError> {
        let record = self.find_call(id)?.ok_or(StoreError::UnknownReceipt(*id))?;
        let digest = match which {
            CallData::Input => record.input,
            CallData::Output => record.output,
        };
        if let Some(bytes) = self.inline_call_data(&digest)? {
            let actual = Sha256Digest::of_bytes(&bytes);
            if actual != digest {
                tracing::error!(receipt = %id.prefixed(), data = %digest.prefixed(), "a call's data in the index does not match its digest");
                return Err(BlobError::DigestMismatch { expected: digest, actual }.into());
            }
            return Ok(CallBytes::Inline(bytes));
        }
        match self.call_files.open_verified(&digest) {
            Ok((file, size)) => Ok(CallBytes::File(file, size)),
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
    /// call references them, after the commit. [`Store::record_calls`] runs this; a node may
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

    /// The call data `digest` if the index holds it.
    fn inline_call_data(&self, digest: &Sha256Digest) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let inline = txn.open_table(tables::CALL_INLINE).map_err(StoreError::index)?;
        Ok(inline.get(digest.to_hex().as_str()).map_err(StoreError::index)?.map(|g| g.value().to_vec()))
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
        let inline = txn.open_table(tables::CALL_INLINE).map_err(StoreError::index)?;
        for entry in data.iter().map_err(StoreError::index)? {
            let (hex, _) = entry.map_err(StoreError::index)?;
            if inline.get(hex.value()).map_err(StoreError::index)?.is_some() {
                continue;
            }
            let digest = Sha256Digest::from_hex(hex.value()).map_err(|e| StoreError::Index(e.to_string()))?;
            if self.call_files.size(&digest).is_none() {
                tracing::error!(digest = %digest.prefixed(), "a retained call's data file is missing; reads of it will fail");
            }
        }
        Ok(())
    }
}

/// Indexes `record` under the receipt id `hex`: the record, its place in time order, its
/// data references (with the bytes of new data of at most [`INLINE_CALL_DATA`] bytes, from
/// `data`: digest and bytes of the input and the output) and the byte total. Nothing
/// changes when `hex` is already recorded.
fn insert_call(
    txn: &WriteTransaction,
    hex: &str,
    record: &CallRecord,
    data: [(Sha256Digest, &[u8]); 2],
) -> Result<(), StoreError> {
    let mut calls = txn.open_table(tables::CALLS).map_err(StoreError::index)?;
    if calls.get(hex).map_err(StoreError::index)?.is_some() {
        return Ok(());
    }
    tables::put(&mut calls, hex, record)?;
    let mut by_time = txn.open_table(tables::CALLS_BY_TIME).map_err(StoreError::index)?;
    by_time.insert((record.recorded_at, hex), ()).map_err(StoreError::index)?;
    let mut references = txn.open_table(tables::CALL_DATA).map_err(StoreError::index)?;
    let mut inline = txn.open_table(tables::CALL_INLINE).map_err(StoreError::index)?;
    for (digest, bytes) in data {
        let key = digest.to_hex();
        let refs = references.get(key.as_str()).map_err(StoreError::index)?.map_or(0, |g| g.value());
        if refs == 0 && bytes.len() <= INLINE_CALL_DATA {
            inline.insert(key.as_str(), bytes).map_err(StoreError::index)?;
        }
        references.insert(key.as_str(), refs + 1).map_err(StoreError::index)?;
    }
    let mut totals = txn.open_table(tables::CALL_TOTALS).map_err(StoreError::index)?;
    let total = totals.get(tables::CALL_BYTES).map_err(StoreError::index)?.map_or(0, |g| g.value());
    totals.insert(tables::CALL_BYTES, total.saturating_add(record.bytes)).map_err(StoreError::index)?;
    Ok(())
}

/// Drops, oldest first, the call records past the policy's age, then more until the byte
/// total is within the policy; returns what went. The caller commits, then deletes the
/// unreferenced files.
fn prune(txn: &WriteTransaction, policy: &Policy, now: u64) -> Result<Pruned, StoreError> {
    let cutoff = now.saturating_sub(policy.call_retention.as_secs());
    let mut by_time = txn.open_table(tables::CALLS_BY_TIME).map_err(StoreError::index)?;
    let mut calls = txn.open_table(tables::CALLS).map_err(StoreError::index)?;
    let mut data = txn.open_table(tables::CALL_DATA).map_err(StoreError::index)?;
    let mut inline = txn.open_table(tables::CALL_INLINE).map_err(StoreError::index)?;
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
                let was_referenced = data.remove(key.as_str()).map_err(StoreError::index)?.is_some();
                let was_inline = inline.remove(key.as_str()).map_err(StoreError::index)?.is_some();
                if was_referenced && !was_inline {
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
        match store.call_data(id, which).unwrap() {
            CallBytes::Inline(bytes) => bytes,
            CallBytes::File(mut file, size) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).unwrap();
                assert_eq!(size, bytes.len() as u64);
                bytes
            }
        }
    }

    /// Data too large to be kept in the index: it gets a file.
    fn large(byte: u8) -> Vec<u8> {
        vec![byte; INLINE_CALL_DATA + 1]
    }

    fn record_at(store: &Store, n: u32, input: &[u8], output: &[u8], now: u64) {
        let (id, receipt_json) = (id(n), receipt(n));
        store.record_calls_at(&[NewCall { id: &id, receipt_json: &receipt_json, input, output }], now).unwrap();
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

    fn inline(store: &Store) -> usize {
        let txn = store.db.begin_read().unwrap();
        txn.open_table(tables::CALL_INLINE).unwrap().iter().unwrap().count()
    }

    /// Whether `bytes` are kept, in the index or in a file.
    fn kept(store: &Store, dir: &Path, bytes: &[u8]) -> bool {
        has_file(dir, bytes) || store.inline_call_data(&Sha256Digest::of_bytes(bytes)).unwrap().is_some()
    }

    /// How many distinct data the calls keep, in the index and in files.
    fn kept_count(store: &Store, dir: &Path) -> usize {
        inline(store) + files(dir)
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
    fn calls_are_walked_in_recording_order_from_a_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        let now = unix_now();
        for (n, at) in [(0, now - 2), (1, now - 1), (2, now - 1), (3, now)] {
            record_at(&store, n, format!("in {n}").as_bytes(), b"out", at);
        }
        let all = store.calls_after(&CallCursor::default(), 100).unwrap();
        let receipts: Vec<&str> = all.iter().map(|(_, json)| json.as_str()).collect();
        assert_eq!(receipts.len(), 4);
        assert_eq!(receipts[0], receipt(0));
        assert_eq!(receipts[3], receipt(3));
        let mut second = receipts[1..3].to_vec();
        second.sort_unstable();
        assert_eq!(second, [receipt(1), receipt(2)]);
        // Paging with the last place returned walks the rest exactly once.
        let first_two = store.calls_after(&CallCursor::default(), 2).unwrap();
        let rest = store.calls_after(&first_two[1].0, 100).unwrap();
        let paged: Vec<_> = first_two.iter().chain(&rest).cloned().collect();
        assert_eq!(paged, all);
        // The start of a second includes every call of that second.
        let from_second = store.calls_after(&CallCursor::at(now - 1), 100).unwrap();
        assert_eq!(from_second, all[1..]);
        assert!(store.calls_after(&all[3].0, 100).unwrap().is_empty());
        // Cursors print and parse back; malformed ones are refused.
        for (place, _) in &all {
            assert_eq!(place.to_string().parse::<CallCursor>().unwrap(), *place);
        }
        assert_eq!("17".parse::<CallCursor>().unwrap(), CallCursor::at(17));
        for bad in ["", "x", "-1", "17-", "17-abc", &format!("17-{}", "A".repeat(64))] {
            assert!(bad.parse::<CallCursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn calls_are_read_back_after_reopening_and_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), Policy::default()).unwrap();
            record_at(&store, 1, b"the input", b"the output", unix_now());
            record_at(&store, 1, b"the input", b"the output", unix_now());
            assert_eq!(store.health().unwrap().calls, 1);
            assert_eq!((refs(&store, b"the input"), total_bytes(&store)), (1, 19), "the second record is a no-op");
        }
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        assert_eq!(store.call_receipt(&id(1)).unwrap(), receipt(1));
        assert_eq!(read(&store, &id(1), CallData::Input), b"the input");
        assert_eq!(read(&store, &id(1), CallData::Output), b"the output");
        assert_eq!(store.health().unwrap().calls, 1);
        assert_eq!((inline(&store), files(dir.path())), (2, 0), "small data lives in the index");
        assert!(fs::read_dir(dir.path().join("blobs/sha256")).unwrap().next().is_none(), "apart from blobs");

        let store = {
            drop(store);
            Store::open(dir.path(), Policy { call_retention: Duration::ZERO, ..Policy::default() }).unwrap()
        };
        assert_eq!(store.prune_calls().unwrap(), 1);
        assert_eq!((kept_count(&store, dir.path()), total_bytes(&store), store.health().unwrap().calls), (0, 0, 0));
    }

    #[test]
    fn large_data_gets_a_file_that_goes_with_its_last_call() {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (large(1), b"small output".to_vec());
        {
            let store = Store::open(dir.path(), Policy::default()).unwrap();
            record_at(&store, 1, &input, &output, unix_now());
            assert_eq!((inline(&store), files(dir.path())), (1, 1));
        }
        let store = Store::open(dir.path(), Policy { call_retention: Duration::ZERO, ..Policy::default() }).unwrap();
        assert!(has_file(dir.path(), &input), "kept across reopening");
        assert_eq!(read(&store, &id(1), CallData::Input), input);
        assert_eq!(read(&store, &id(1), CallData::Output), output);
        assert_eq!(store.prune_calls().unwrap(), 1);
        assert_eq!((inline(&store), files(dir.path())), (0, 0));
    }

    #[test]
    fn a_batch_shares_data_and_records_a_repeated_call_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        let (shared, ids, receipts) = (large(5), [id(1), id(2)], [receipt(1), receipt(2)]);
        let call = |i: usize, output: &'static [u8]| NewCall {
            id: &ids[i],
            receipt_json: &receipts[i],
            input: &shared,
            output,
        };
        store.record_calls(&[call(0, b"one"), call(1, b"two"), call(0, b"one")]).unwrap();
        assert_eq!(store.health().unwrap().calls, 2);
        assert_eq!((refs(&store, &shared), files(dir.path()), inline(&store)), (2, 1, 2));
        assert_eq!(read(&store, &id(2), CallData::Input), shared);
        assert_eq!(read(&store, &id(2), CallData::Output), b"two");
    }

    #[test]
    fn identical_data_is_stored_once_and_kept_while_referenced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        let now = unix_now();
        record_at(&store, 1, b"same input", b"output one", now - 3 * DAY);
        record_at(&store, 2, b"same input", b"output two", now - DAY);
        record_at(&store, 3, b"echo", b"echo", now);
        assert_eq!(kept_count(&store, dir.path()), 4, "the shared input is kept once, and input = output once");
        assert_eq!((refs(&store, b"same input"), refs(&store, b"echo")), (2, 2));
        assert_eq!(read(&store, &id(3), CallData::Output), b"echo");

        let store = {
            drop(store);
            let policy = Policy { call_retention: Duration::from_secs(2 * DAY), ..Policy::default() };
            Store::open(dir.path(), policy).unwrap()
        };
        assert_eq!(store.prune_calls().unwrap(), 1, "the call of three days ago");
        assert_eq!(store.call_receipt(&id(1)).unwrap_err().code(), "unknown_receipt");
        assert!(!kept(&store, dir.path(), b"output one"));
        assert!(kept(&store, dir.path(), b"same input"), "still referenced by call 2");
        assert_eq!(read(&store, &id(2), CallData::Input), b"same input");
        assert_eq!(refs(&store, b"same input"), 1);
        assert_eq!(store.prune_calls().unwrap(), 0);
    }

    #[test]
    fn recording_drops_calls_past_their_age() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        let now = unix_now();
        record_at(&store, 1, b"old in", b"old out", now - 8 * DAY);
        record_at(&store, 2, b"kept in", b"kept out", now - 6 * DAY);
        assert_eq!(store.health().unwrap().calls, 2, "the clock said it was 8 days ago");
        record_at(&store, 3, b"new in", b"new out", unix_now());
        assert_eq!(store.call_receipt(&id(1)).unwrap_err().code(), "unknown_receipt");
        assert!(store.call_receipt(&id(2)).is_ok() && store.call_receipt(&id(3)).is_ok());
        assert!(!kept(&store, dir.path(), b"old in") && !kept(&store, dir.path(), b"old out"));
        assert_eq!((kept_count(&store, dir.path()), total_bytes(&store)), (4, 28));
    }

    #[test]
    fn the_oldest_calls_go_first_when_over_the_byte_limit() {
        // Every datum is over the inline limit, so each is a file. Sizes in units of `u`; the limit is 5u.
        let u = INLINE_CALL_DATA + 1;
        let bytes = |fill: u8, len: usize| vec![fill; len];
        let dir = tempfile::tempdir().unwrap();
        let store =
            Store::open(dir.path(), Policy { call_retention_bytes: 5 * u as u64, ..Policy::default() }).unwrap();
        let total_units = |store: &Store| total_bytes(store) as f64 / u as f64;
        let now = unix_now();
        let shared = bytes(7, u);
        record_at(&store, 1, &shared, &bytes(1, u), now - 30);
        record_at(&store, 2, &bytes(2, u), &bytes(3, u), now - 20);
        assert_eq!((store.health().unwrap().calls, total_units(&store)), (2, 4.0));
        record_at(&store, 3, &shared, &bytes(4, u), now - 10);
        assert_eq!((store.health().unwrap().calls, total_units(&store)), (2, 4.0), "6u > 5u: the oldest went");
        assert_eq!(store.call_data(&id(1), CallData::Input).unwrap_err().code(), "unknown_receipt");
        assert!(!has_file(dir.path(), &bytes(1, u)), "its own output was deleted");
        assert!(has_file(dir.path(), &shared), "the input it shares with call 3 was kept");
        assert_eq!(read(&store, &id(3), CallData::Input), shared);

        record_at(&store, 4, &bytes(9, 3 * u), &bytes(8, 2 * u + 1), now);
        assert!(store.call_receipt(&id(4)).is_err(), "a call over the limit by itself is not kept");
        assert!(store.call_receipt(&id(2)).is_ok() && store.call_receipt(&id(3)).is_ok(), "and pushes nothing out");
        assert!(!has_file(dir.path(), &bytes(9, 3 * u)));

        record_at(&store, 5, &bytes(5, 2 * u + u / 2), &bytes(6, u), now);
        assert_eq!(store.health().unwrap().calls, 1, "4u + 3.5u > 5u, then 2u + 3.5u > 5u");
        assert!(store.call_receipt(&id(5)).is_ok());
        let kept = (3 * u + u / 2) as u64;
        assert_eq!((files(dir.path()), total_bytes(&store)), (2, kept), "the shared input went with its last call");
    }

    #[test]
    fn small_data_in_the_index_goes_with_its_last_call() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy { call_retention_bytes: 100, ..Policy::default() }).unwrap();
        let now = unix_now();
        let shared = [7u8; 20];
        record_at(&store, 1, &shared, &[1u8; 20], now - 30);
        record_at(&store, 2, &[2u8; 20], &[3u8; 20], now - 20);
        record_at(&store, 3, &shared, &[4u8; 20], now - 10);
        assert_eq!((store.health().unwrap().calls, total_bytes(&store)), (2, 80), "120 > 100: the oldest went");
        assert!(!kept(&store, dir.path(), &[1u8; 20]));
        assert!(kept(&store, dir.path(), &shared));
        assert_eq!(read(&store, &id(3), CallData::Input), shared);
        assert_eq!((inline(&store), files(dir.path())), (4, 0));
    }

    #[test]
    fn corrupt_call_data_is_quarantined_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        let input = large(1);
        record_at(&store, 1, &input, b"good output", unix_now());
        let path = data_dir(dir.path()).join(Sha256Digest::of_bytes(&input).to_hex());
        fs::remove_file(&path).unwrap();
        fs::write(&path, large(2)).unwrap();
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
                        record_at(store, call, &input, &output, unix_now());
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
        let txn = store.db.begin_read().unwrap();
        let data = txn.open_table(tables::CALL_DATA).unwrap();
        assert_eq!(data.iter().unwrap().count(), kept_count(&store, dir.path()), "each referenced digest kept once");
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
            record_at(&store, 1, b"in", &large(3), unix_now());
        }
        let stray = Sha256Digest::of_bytes(b"stray");
        fs::write(data_dir(dir.path()).join(stray.to_hex()), b"stray").unwrap();
        fs::write(dir.path().join("calls/tmp/upload-xyz"), b"half").unwrap();
        fs::remove_file(data_dir(dir.path()).join(Sha256Digest::of_bytes(&large(3)).to_hex())).unwrap();
        let store = Store::open(dir.path(), Policy::default()).unwrap();
        assert!(!data_dir(dir.path()).join(stray.to_hex()).exists());
        assert!(fs::read_dir(dir.path().join("calls/tmp")).unwrap().next().is_none());
        assert_eq!(read(&store, &id(1), CallData::Input), b"in");
        assert_eq!(store.call_data(&id(1), CallData::Output).unwrap_err().code(), "unknown_blob");
        assert_eq!(store.health().unwrap().calls, 1);
    }
}
