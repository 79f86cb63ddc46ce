//! Publishing: a signed manifest is checked against the node's policy and the index, its
//! missing blobs are awaited (the manifest is *pending*), and once every blob is stored it
//! becomes a published version in one transaction.

use std::io::Read;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::tables::{self, BlobRecord, FunctionRecord, PendingRecord, VersionRecord};
use super::{Store, StoreError, unix_now};
use crate::Sha256Digest;
use crate::blobs::Written;
use crate::keys::PublicKey;
use crate::manifest::{BlobRef, SignedManifest};

/// What posting a signed manifest did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publish {
    /// The version is published; `created` is false when it already was.
    Published {
        /// Whether this call published it.
        created: bool,
    },
    /// These blobs must be uploaded first; the manifest is pending until they are.
    Missing(Vec<BlobRef>),
}

impl Store {
    /// Publishes `signed` (already parsed, so its signature verified): checks the policy,
    /// the name's owner and the version; if blobs are missing the manifest becomes pending
    /// (see [`Store::put_blob`]) and they are returned; otherwise the version is published.
    ///
    /// # Errors
    /// Policy, ownership, version or size conflicts, or index failures; nothing changes.
    pub fn publish(&self, signed: &SignedManifest) -> Result<Publish, StoreError> {
        let manifest = signed.manifest();
        self.check_publisher(&manifest.publisher)?;
        for blob in manifest.blobs() {
            if blob.size > self.policy.max_blob_bytes {
                return Err(StoreError::BlobTooLarge {
                    digest: blob.digest,
                    size: blob.size,
                    max: self.policy.max_blob_bytes,
                });
            }
        }
        let txn = self.db.begin_write().map_err(StoreError::index)?;
        if let Some(done) = check_name_and_version(&txn, signed)? {
            return Ok(done);
        }
        let missing = missing_blobs(&txn, &manifest.blobs())?;
        if missing.is_empty() {
            commit_version(&txn, signed)?;
            txn.commit().map_err(StoreError::index)?;
            tracing::info!(name = %manifest.name, version = %manifest.version, digest = %signed.digest().prefixed(), "published");
            return Ok(Publish::Published { created: true });
        }
        let usage = txn.open_table(tables::USAGE).map_err(StoreError::index)?;
        self.check_quota(&usage, &manifest.publisher, missing.iter().map(|b| b.size).sum())?;
        drop(usage);
        record_pending(&txn, signed, &missing)?;
        txn.commit().map_err(StoreError::index)?;
        Ok(Publish::Missing(missing))
    }

    /// Stores a blob that a pending manifest declares with exactly `size` bytes (or a
    /// quarantined blob's good copy), streaming `reader` through the digest check. The
    /// blob is charged to that manifest's publisher.
    ///
    /// # Errors
    /// Nobody declared the blob, the quota is exceeded, the bytes are wrong, or storage
    /// fails; nothing is kept.
    pub fn put_blob(&self, digest: &Sha256Digest, size: u64, reader: impl Read) -> Result<Written, StoreError> {
        let payer = self.expected_payer(digest, size)?;
        let Some(payer) = payer else { return Ok(Written::AlreadyPresent) };
        self.check_quota_now(&payer, size)?;
        let written = self.files.write(digest, size, reader)?;
        let txn = self.db.begin_write().map_err(StoreError::index)?;
        {
            let mut blobs = txn.open_table(tables::BLOBS).map_err(StoreError::index)?;
            let hex = digest.to_hex();
            match tables::get::<BlobRecord>(&blobs, &hex)? {
                Some(mut record) if record.quarantined => {
                    record.quarantined = false;
                    tables::put(&mut blobs, &hex, &record)?;
                    tracing::info!(digest = %digest.prefixed(), "a quarantined blob was restored");
                }
                Some(_) => return Ok(Written::AlreadyPresent),
                None => {
                    let record =
                        BlobRecord { size, refs: 0, charged_to: payer, stored_at: unix_now(), quarantined: false };
                    tables::put(&mut blobs, &hex, &record)?;
                    let mut usage = txn.open_table(tables::USAGE).map_err(StoreError::index)?;
                    let key = payer.to_string();
                    let used = usage.get(key.as_str()).map_err(StoreError::index)?.map_or(0, |g| g.value());
                    usage.insert(key.as_str(), used + size).map_err(StoreError::index)?;
                }
            }
        }
        txn.commit().map_err(StoreError::index)?;
        Ok(written)
    }

    /// Who pays for storing `digest` with `size` bytes: the publisher of a pending
    /// manifest declaring it so, or the current payer of a quarantined copy. `None` when
    /// a good copy is already stored.
    fn expected_payer(&self, digest: &Sha256Digest, size: u64) -> Result<Option<PublicKey>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let hex = digest.to_hex();
        let blobs = txn.open_table(tables::BLOBS).map_err(StoreError::index)?;
        if let Some(record) = tables::get::<BlobRecord>(&blobs, &hex)? {
            return match record.quarantined {
                false => Ok(None),
                true if record.size == size => Ok(Some(record.charged_to)),
                true => Err(StoreError::BlobNotExpected { digest: *digest, size }),
            };
        }
        let expected = txn.open_multimap_table(tables::EXPECTED).map_err(StoreError::index)?;
        let pending = txn.open_table(tables::PENDING).map_err(StoreError::index)?;
        for manifest_hex in expected.get(hex.as_str()).map_err(StoreError::index)? {
            let manifest_hex = manifest_hex.map_err(StoreError::index)?;
            let Some(record) = tables::get::<PendingRecord>(&pending, manifest_hex.value())? else { continue };
            let signed = SignedManifest::from_json(record.signed.as_bytes())?;
            let declares = signed.manifest().blobs().iter().any(|b| b.digest == *digest && b.size == size);
            if declares {
                return Ok(Some(signed.manifest().publisher));
            }
        }
        Err(StoreError::BlobNotExpected { digest: *digest, size })
    }

    fn check_publisher(&self, publisher: &PublicKey) -> Result<(), StoreError> {
        match &self.policy.allowed_publishers {
            Some(allowed) if !allowed.contains(publisher) => Err(StoreError::NotAllowed(*publisher)),
            _ => Ok(()),
        }
    }

    fn check_quota_now(&self, publisher: &PublicKey, extra: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        self.check_quota(&txn.open_table(tables::USAGE).map_err(StoreError::index)?, publisher, extra)
    }

    /// Refuses `extra` more bytes for `publisher` if they would exceed the quota.
    fn check_quota(
        &self,
        usage: &impl ReadableTable<&'static str, u64>,
        publisher: &PublicKey,
        extra: u64,
    ) -> Result<(), StoreError> {
        let Some(quota) = self.policy.quota_bytes else { return Ok(()) };
        let used = usage.get(publisher.to_string().as_str()).map_err(StoreError::index)?.map_or(0, |g| g.value());
        let needed = used.saturating_add(extra);
        if needed > quota {
            return Err(StoreError::QuotaExceeded { publisher: *publisher, needed, quota });
        }
        Ok(())
    }
}

/// Checks that the name is free or the publisher's and the version free or this very
/// manifest; `Some` when it is already published (nothing to do).
fn check_name_and_version(txn: &WriteTransaction, signed: &SignedManifest) -> Result<Option<Publish>, StoreError> {
    let manifest = signed.manifest();
    let functions = txn.open_table(tables::FUNCTIONS).map_err(StoreError::index)?;
    let Some(record) = tables::get::<FunctionRecord>(&functions, &manifest.name)? else { return Ok(None) };
    if record.owner != manifest.publisher {
        return Err(StoreError::NameTaken { name: manifest.name.clone(), owner: record.owner });
    }
    match record.versions.get(&manifest.version.to_string()) {
        None => Ok(None),
        Some(version) if version.digest == signed.digest() => Ok(Some(Publish::Published { created: false })),
        Some(version) => Err(StoreError::VersionExists {
            name: manifest.name.clone(),
            version: manifest.version.to_string(),
            existing: version.digest,
        }),
    }
}

/// The declared blobs the node lacks (absent or quarantined); a stored blob whose size
/// differs from the declaration is an error.
fn missing_blobs(txn: &WriteTransaction, declared: &[BlobRef]) -> Result<Vec<BlobRef>, StoreError> {
    let blobs = txn.open_table(tables::BLOBS).map_err(StoreError::index)?;
    let mut missing = Vec::new();
    for blob in declared {
        match tables::get::<BlobRecord>(&blobs, &blob.digest.to_hex())? {
            Some(record) if record.size != blob.size => {
                return Err(StoreError::DeclaredSize { digest: blob.digest, declared: blob.size, actual: record.size });
            }
            Some(record) if !record.quarantined => {}
            _ => missing.push(*blob),
        }
    }
    Ok(missing)
}

/// Remembers `signed` as pending and which blobs it waits for.
fn record_pending(txn: &WriteTransaction, signed: &SignedManifest, missing: &[BlobRef]) -> Result<(), StoreError> {
    let manifest_hex = signed.digest().to_hex();
    let mut pending = txn.open_table(tables::PENDING).map_err(StoreError::index)?;
    let json = String::from_utf8(signed.to_json()).map_err(|e| StoreError::Index(e.to_string()))?;
    tables::put(&mut pending, &manifest_hex, &PendingRecord { posted_at: unix_now(), signed: json })?;
    let mut expected = txn.open_multimap_table(tables::EXPECTED).map_err(StoreError::index)?;
    for blob in missing {
        expected.insert(blob.digest.to_hex().as_str(), manifest_hex.as_str()).map_err(StoreError::index)?;
    }
    Ok(())
}

/// Publishes `signed`, all of whose blobs are stored: the manifest, the version (claiming
/// the name for a first publisher), blob reference counts; the pending entry goes.
fn commit_version(txn: &WriteTransaction, signed: &SignedManifest) -> Result<(), StoreError> {
    let manifest = signed.manifest();
    let manifest_hex = signed.digest().to_hex();
    let json = String::from_utf8(signed.to_json()).map_err(|e| StoreError::Index(e.to_string()))?;
    txn.open_table(tables::MANIFESTS)
        .map_err(StoreError::index)?
        .insert(manifest_hex.as_str(), json.as_str())
        .map_err(StoreError::index)?;

    let mut functions = txn.open_table(tables::FUNCTIONS).map_err(StoreError::index)?;
    let mut record = tables::get::<FunctionRecord>(&functions, &manifest.name)?
        .unwrap_or(FunctionRecord { owner: manifest.publisher, versions: Default::default() });
    record.versions.insert(
        manifest.version.to_string(),
        VersionRecord { digest: signed.digest(), yanked: false, published_at: unix_now(), yank_timestamp: None },
    );
    tables::put(&mut functions, &manifest.name, &record)?;

    let mut blobs = txn.open_table(tables::BLOBS).map_err(StoreError::index)?;
    for blob in manifest.blobs() {
        let hex = blob.digest.to_hex();
        let mut record = tables::get::<BlobRecord>(&blobs, &hex)?
            .ok_or_else(|| StoreError::Index(format!("blob {hex} vanished while publishing")))?;
        record.refs += 1;
        tables::put(&mut blobs, &hex, &record)?;
    }

    let mut expected = txn.open_multimap_table(tables::EXPECTED).map_err(StoreError::index)?;
    for blob in manifest.blobs() {
        expected.remove(blob.digest.to_hex().as_str(), manifest_hex.as_str()).map_err(StoreError::index)?;
    }
    txn.open_table(tables::PENDING)
        .map_err(StoreError::index)?
        .remove(manifest_hex.as_str())
        .map_err(StoreError::index)?;
    Ok(())
}
