//! Reading the registry: functions and versions, resolution of a name to a manifest,
//! manifests and blobs by digest, health counts.

use std::fs::File;

use redb::{ReadableDatabase, ReadableTableMetadata};
use serde::Serialize;

use super::tables::{self, BlobRecord, FunctionRecord};
use super::{Store, StoreError};
use crate::Sha256Digest;
use crate::api::{FunctionSummary, VersionSummary};
use crate::blobs::BlobError;
use crate::keys::PublicKey;
use crate::manifest::SignedManifest;

/// A name resolved to one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The version.
    pub version: semver::Version,
    /// Its manifest digest.
    pub digest: Sha256Digest,
}

/// Counts for `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Function names.
    pub functions: u64,
    /// Stored blobs (quarantined ones included).
    pub blobs: u64,
    /// Blobs that failed their digest and wait for a good copy.
    pub quarantined: u64,
    /// Call records retained (see [`Store::record_calls`]).
    pub calls: u64,
}

impl Store {
    /// Every function, by name.
    ///
    /// # Errors
    /// The index cannot be read.
    pub fn functions(&self) -> Result<Vec<FunctionSummary>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let table = txn.open_table(tables::FUNCTIONS).map_err(StoreError::index)?;
        tables::all::<FunctionRecord>(&table)?.into_iter().map(|(name, record)| entry(name, record)).collect()
    }

    /// One function, if it exists.
    ///
    /// # Errors
    /// The index cannot be read.
    pub fn function(&self, name: &str) -> Result<Option<FunctionSummary>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let table = txn.open_table(tables::FUNCTIONS).map_err(StoreError::index)?;
        tables::get::<FunctionRecord>(&table, name)?.map(|record| entry(name.to_owned(), record)).transpose()
    }

    /// Resolves `name` to a manifest: the given version (refused if yanked), or the highest
    /// version that is not yanked.
    ///
    /// # Errors
    /// No such function or version, the version is yanked, or every version is.
    pub fn resolve(&self, name: &str, version: Option<&semver::Version>) -> Result<Resolved, StoreError> {
        let function = self.function(name)?.ok_or_else(|| StoreError::UnknownFunction(name.to_owned()))?;
        let Some(wanted) = version else {
            let latest = function.versions.iter().rev().find(|v| !v.yanked);
            return latest.map(|v| Resolved { version: v.version.clone(), digest: v.digest }).ok_or_else(|| {
                StoreError::UnknownVersion { name: name.to_owned(), what: "version that is not yanked".to_owned() }
            });
        };
        let found = function
            .versions
            .iter()
            .find(|v| v.version == *wanted)
            .ok_or_else(|| StoreError::UnknownVersion { name: name.to_owned(), what: format!("version {wanted}") })?;
        if found.yanked {
            return Err(StoreError::VersionYanked {
                name: name.to_owned(),
                version: wanted.to_string(),
                digest: found.digest,
            });
        }
        Ok(Resolved { version: found.version.clone(), digest: found.digest })
    }

    /// The canonical JSON of the published signed manifest `digest` (yanked or not).
    ///
    /// # Errors
    /// No such manifest, or the index cannot be read.
    pub fn manifest_json(&self, digest: &Sha256Digest) -> Result<String, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let table = txn.open_table(tables::MANIFESTS).map_err(StoreError::index)?;
        let json = table.get(digest.to_hex().as_str()).map_err(StoreError::index)?;
        json.map(|g| g.value().to_owned()).ok_or(StoreError::UnknownManifest(*digest))
    }

    /// The published signed manifest `digest`, parsed (and so its signature checked again).
    ///
    /// # Errors
    /// No such manifest, or the index cannot be read.
    pub fn manifest(&self, digest: &Sha256Digest) -> Result<SignedManifest, StoreError> {
        Ok(SignedManifest::from_json(self.manifest_json(digest)?.as_bytes())?)
    }

    /// The size of the stored blob `digest`, if a good copy is indexed.
    ///
    /// # Errors
    /// The index cannot be read.
    pub fn blob_size(&self, digest: &Sha256Digest) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let table = txn.open_table(tables::BLOBS).map_err(StoreError::index)?;
        let record = tables::get::<BlobRecord>(&table, &digest.to_hex())?;
        Ok(record.filter(|r| !r.quarantined).map(|r| r.size))
    }

    /// Opens the blob `digest` for reading, after checking all of its bytes against the
    /// digest. A copy that fails is quarantined (file moved, index marked) and refused.
    ///
    /// # Errors
    /// No good copy, or storage fails.
    pub fn open_blob(&self, digest: &Sha256Digest) -> Result<(File, u64), StoreError> {
        if self.blob_size(digest)?.is_none() {
            return Err(StoreError::UnknownBlob(*digest));
        }
        match self.files.open_verified(digest) {
            Ok(opened) => Ok(opened),
            Err(error @ (BlobError::Corrupt { .. } | BlobError::NotFound(_))) => {
                self.mark_quarantined(digest)?;
                Err(error.into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The file of the stored blob `digest`, for readers that check the digest themselves
    /// (the graph cache does, when it loads a model).
    ///
    /// # Errors
    /// No good copy is indexed, or the index cannot be read.
    pub fn blob_file(&self, digest: &Sha256Digest) -> Result<std::path::PathBuf, StoreError> {
        match self.blob_size(digest)? {
            Some(_) => Ok(self.files.path(digest)),
            None => Err(StoreError::UnknownBlob(*digest)),
        }
    }

    /// Counts for `/healthz`.
    ///
    /// # Errors
    /// The index cannot be read.
    pub fn health(&self) -> Result<Health, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let functions =
            txn.open_table(tables::FUNCTIONS).map_err(StoreError::index)?.len().map_err(StoreError::index)?;
        let blobs_table = txn.open_table(tables::BLOBS).map_err(StoreError::index)?;
        let blobs = tables::all::<BlobRecord>(&blobs_table)?;
        let quarantined = blobs.iter().filter(|(_, r)| r.quarantined).count() as u64;
        let calls = txn.open_table(tables::CALLS).map_err(StoreError::index)?.len().map_err(StoreError::index)?;
        Ok(Health { functions, blobs: blobs.len() as u64, quarantined, calls })
    }

    /// Bytes of blobs charged to `publisher`.
    ///
    /// # Errors
    /// The index cannot be read.
    pub fn usage(&self, publisher: &PublicKey) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::index)?;
        let table = txn.open_table(tables::USAGE).map_err(StoreError::index)?;
        Ok(table.get(publisher.to_string().as_str()).map_err(StoreError::index)?.map_or(0, |g| g.value()))
    }

    fn mark_quarantined(&self, digest: &Sha256Digest) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(StoreError::index)?;
        {
            let mut table = txn.open_table(tables::BLOBS).map_err(StoreError::index)?;
            let hex = digest.to_hex();
            if let Some(mut record) = tables::get::<BlobRecord>(&table, &hex)? {
                record.quarantined = true;
                tables::put(&mut table, &hex, &record)?;
            }
        }
        txn.commit().map_err(StoreError::index)
    }
}

/// A function record as listed: versions parsed and sorted.
fn entry(name: String, record: FunctionRecord) -> Result<FunctionSummary, StoreError> {
    let mut versions = record
        .versions
        .into_iter()
        .map(|(text, v)| {
            let version = text.parse().map_err(|e| StoreError::Index(format!("version {text:?} of {name}: {e}")))?;
            Ok(VersionSummary { version, digest: v.digest, yanked: v.yanked })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    versions.sort_by(|a, b| a.version.cmp(&b.version));
    let latest = versions.iter().rev().find(|v| !v.yanked).map(|v| v.version.clone());
    Ok(FunctionSummary { name, owner: record.owner, latest, versions })
}
