//! The redb tables of the index and the records they hold. Keys are text (names, hex
//! digests, publisher keys) and records are JSON, so the index reads well in a debugger
//! and stays readable when a record gains a field.

use std::collections::BTreeMap;

use redb::{MultimapTableDefinition, ReadableTable, Table, TableDefinition};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::StoreError;
use crate::Sha256Digest;
use crate::keys::PublicKey;

/// Function name → [`FunctionRecord`].
pub(super) const FUNCTIONS: TableDefinition<&str, &str> = TableDefinition::new("functions");
/// Published manifest digest (hex) → the signed manifest's canonical JSON.
pub(super) const MANIFESTS: TableDefinition<&str, &str> = TableDefinition::new("manifests");
/// Pending manifest digest (hex) → [`PendingRecord`].
pub(super) const PENDING: TableDefinition<&str, &str> = TableDefinition::new("pending");
/// Blob digest (hex) → the digests (hex) of the pending manifests that declare it.
pub(super) const EXPECTED: MultimapTableDefinition<&str, &str> = MultimapTableDefinition::new("expected");
/// Blob digest (hex) → [`BlobRecord`].
pub(super) const BLOBS: TableDefinition<&str, &str> = TableDefinition::new("blobs");
/// Publisher key (`ed25519:…`) → bytes of blobs charged to it.
pub(super) const USAGE: TableDefinition<&str, u64> = TableDefinition::new("usage");
/// Receipt id (hex) → [`CallRecord`].
pub(super) const CALLS: TableDefinition<&str, &str> = TableDefinition::new("calls");
/// (Unix seconds recorded, receipt id hex) → nothing: the call records in time order, for
/// pruning the oldest first.
pub(super) const CALLS_BY_TIME: TableDefinition<(u64, &str), ()> = TableDefinition::new("calls_by_time");
/// Call data digest (hex) → how many references call records hold to it (a call whose
/// input and output are the same bytes holds two).
pub(super) const CALL_DATA: TableDefinition<&str, u64> = TableDefinition::new("call_data");
/// Call data digest (hex) → the bytes, for data of at most
/// [`INLINE_CALL_DATA`](super::calls::INLINE_CALL_DATA) bytes: kept in the index, so a
/// flush makes many calls durable with one commit instead of one file sync each. Larger
/// data is a file under `DATA/calls`.
pub(super) const CALL_INLINE: TableDefinition<&str, &[u8]> = TableDefinition::new("call_inline");
/// Running totals of the call records; [`CALL_BYTES`] is the only key.
pub(super) const CALL_TOTALS: TableDefinition<&str, u64> = TableDefinition::new("call_totals");
/// The key in [`CALL_TOTALS`] of the sum of every retained record's `bytes`.
pub(super) const CALL_BYTES: &str = "bytes";

/// Who owns a name and which versions it has.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FunctionRecord {
    /// The first publisher of the name; only it may publish or yank versions.
    pub owner: PublicKey,
    /// Version text → its record.
    pub versions: BTreeMap<String, VersionRecord>,
}

/// One published version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct VersionRecord {
    /// The manifest digest.
    pub digest: Sha256Digest,
    /// Hidden from resolution by name (still fetchable by digest).
    pub yanked: bool,
    /// Unix seconds of publication.
    pub published_at: u64,
    /// The timestamp of the last yank statement applied, to refuse replays.
    pub yank_timestamp: Option<u64>,
}

/// A manifest accepted for upload but still missing blobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PendingRecord {
    /// Unix seconds when it was (last) posted.
    pub posted_at: u64,
    /// The signed manifest's canonical JSON.
    pub signed: String,
}

/// A stored blob.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct BlobRecord {
    /// Its size in bytes.
    pub size: u64,
    /// How many published manifests reference it.
    pub refs: u64,
    /// The publisher whose quota pays for it.
    pub charged_to: PublicKey,
    /// Unix seconds when it was stored.
    pub stored_at: u64,
    /// It failed its digest on a read and waits for a good copy.
    pub quarantined: bool,
}

/// One invocation kept for whoever holds its receipt id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CallRecord {
    /// The signed receipt, as JSON text (its type lives in the runtime crate).
    pub receipt: String,
    /// The digest of the call's input bytes (a file under `calls/`).
    pub input: Sha256Digest,
    /// The digest of the call's output bytes (a file under `calls/`).
    pub output: Sha256Digest,
    /// Unix seconds when the node recorded it.
    pub recorded_at: u64,
    /// The input's size plus the output's, what the record counts against the retention.
    pub bytes: u64,
}

/// Reads and decodes a JSON record.
pub(super) fn get<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static str>,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match table.get(key).map_err(StoreError::index)? {
        None => Ok(None),
        Some(guard) => serde_json::from_str(guard.value())
            .map(Some)
            .map_err(|e| StoreError::Index(format!("record {key:?} does not decode: {e}"))),
    }
}

/// Encodes and writes a JSON record.
pub(super) fn put<T: Serialize>(
    table: &mut Table<'_, &'static str, &'static str>,
    key: &str,
    record: &T,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(record).map_err(|e| StoreError::Index(format!("cannot encode {key:?}: {e}")))?;
    table.insert(key, json.as_str()).map_err(StoreError::index)?;
    Ok(())
}

/// Every record of a table, decoded.
pub(super) fn all<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static str>,
) -> Result<Vec<(String, T)>, StoreError> {
    let mut records = Vec::new();
    for entry in table.iter().map_err(StoreError::index)? {
        let (key, value) = entry.map_err(StoreError::index)?;
        let record = serde_json::from_str(value.value())
            .map_err(|e| StoreError::Index(format!("record {:?} does not decode: {e}", key.value())))?;
        records.push((key.value().to_owned(), record));
    }
    Ok(records)
}
