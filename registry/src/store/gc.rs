//! Upkeep: yanking versions and collecting garbage (expired pending manifests and the
//! blobs nothing references).

use redb::{ReadableMultimapTable, ReadableTable};
use serde::Serialize;

use super::tables::{self, BlobRecord, FunctionRecord, PendingRecord};
use super::{Store, StoreError, unix_now};
use crate::Sha256Digest;
use crate::blobs::BlobError;
use crate::manifest::{SignedManifest, SignedYank};

/// How far a yank statement's timestamp may be from the node's clock, in seconds.
const STATEMENT_WINDOW_SECS: u64 = 600;

/// What `gc` removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Pending manifests dropped because they waited longer than the policy allows.
    pub expired_pending: Vec<Sha256Digest>,
    /// Blobs removed, with their sizes.
    pub removed_blobs: Vec<(Sha256Digest, u64)>,
}

impl GcReport {
    /// Bytes freed.
    pub fn freed_bytes(&self) -> u64 {
        self.removed_blobs.iter().map(|(_, size)| size).sum()
    }
}

impl Store {
    /// Applies a signed yank statement from the name's owner: hides (or, with `yanked:
    /// false`, restores) a version for resolution by name. Its manifest and blobs stay.
    ///
    /// # Errors
    /// Unknown function or version, a signer other than the owner, a bad signature, or a
    /// statement outside the time window or not newer than the last one applied.
    pub fn yank(&self, signed: &SignedYank) -> Result<(), StoreError> {
        let statement = &signed.statement;
        let txn = self.db.begin_write().map_err(StoreError::index)?;
        {
            let mut functions = txn.open_table(tables::FUNCTIONS).map_err(StoreError::index)?;
            let mut record = tables::get::<FunctionRecord>(&functions, &statement.name)?
                .ok_or_else(|| StoreError::UnknownFunction(statement.name.clone()))?;
            signed
                .verify(&record.owner)
                .map_err(|_| StoreError::NotOwner { name: statement.name.clone(), owner: record.owner })?;
            let now = unix_now();
            if statement.timestamp.abs_diff(now) > STATEMENT_WINDOW_SECS {
                return Err(StoreError::StaleStatement(format!(
                    "timestamp {} is more than {STATEMENT_WINDOW_SECS} s from the node's clock ({now})",
                    statement.timestamp
                )));
            }
            let version =
                record.versions.get_mut(&statement.version.to_string()).ok_or_else(|| StoreError::UnknownVersion {
                    name: statement.name.clone(),
                    what: format!("version {}", statement.version),
                })?;
            if version.yank_timestamp.is_some_and(|last| statement.timestamp <= last) {
                return Err(StoreError::StaleStatement(
                    "a statement with this or a later timestamp was already applied (replay?)".to_owned(),
                ));
            }
            version.yanked = statement.yanked;
            version.yank_timestamp = Some(statement.timestamp);
            tables::put(&mut functions, &statement.name, &record)?;
        }
        txn.commit().map_err(StoreError::index)?;
        tracing::info!(name = %statement.name, version = %statement.version, yanked = statement.yanked, "yank statement applied");
        Ok(())
    }

    /// Drops pending manifests older than the policy's `pending_ttl`, then every blob that
    /// no published manifest and no remaining pending manifest references, refunding its
    /// publisher's quota. The index is committed before files are deleted, so a crash in
    /// between leaves only stray files, which [`Store::open`] removes. With `dry_run`
    /// nothing changes and the report says what would go.
    ///
    /// # Errors
    /// The index or the file system fails.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        let txn = self.db.begin_write().map_err(StoreError::index)?;
        let mut report = GcReport::default();
        {
            let cutoff = unix_now().saturating_sub(self.policy.pending_ttl.as_secs());
            let mut pending = txn.open_table(tables::PENDING).map_err(StoreError::index)?;
            let mut expected = txn.open_multimap_table(tables::EXPECTED).map_err(StoreError::index)?;
            for (hex, record) in tables::all::<PendingRecord>(&pending)? {
                if record.posted_at > cutoff {
                    continue;
                }
                let signed = SignedManifest::from_json(record.signed.as_bytes())?;
                for blob in signed.manifest().blobs() {
                    expected.remove(blob.digest.to_hex().as_str(), hex.as_str()).map_err(StoreError::index)?;
                }
                pending.remove(hex.as_str()).map_err(StoreError::index)?;
                report.expired_pending.push(signed.digest());
            }

            let mut blobs = txn.open_table(tables::BLOBS).map_err(StoreError::index)?;
            let mut usage = txn.open_table(tables::USAGE).map_err(StoreError::index)?;
            for (hex, record) in tables::all::<BlobRecord>(&blobs)? {
                let awaited = expected.get(hex.as_str()).map_err(StoreError::index)?.next().is_some();
                if record.refs > 0 || awaited {
                    continue;
                }
                let digest = Sha256Digest::from_hex(&hex).map_err(|e| StoreError::Index(e.to_string()))?;
                blobs.remove(hex.as_str()).map_err(StoreError::index)?;
                let key = record.charged_to.to_string();
                let used = usage.get(key.as_str()).map_err(StoreError::index)?.map_or(0, |g| g.value());
                usage.insert(key.as_str(), used.saturating_sub(record.size)).map_err(StoreError::index)?;
                report.removed_blobs.push((digest, record.size));
            }
        }
        if dry_run {
            txn.abort().map_err(StoreError::index)?;
            return Ok(report);
        }
        txn.commit().map_err(StoreError::index)?;
        for (digest, _) in &report.removed_blobs {
            self.files.remove(digest).map_err(BlobError::Io)?;
        }
        tracing::info!(
            expired = report.expired_pending.len(),
            blobs = report.removed_blobs.len(),
            bytes = report.freed_bytes(),
            "garbage collected"
        );
        Ok(report)
    }
}
