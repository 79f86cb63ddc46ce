use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::blobs::Written;
use crate::handler::LimitDefaults;
use crate::keys::SecretKey;
use crate::manifest::{BlobRef, Manifest, SignedManifest, YankStatement};

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

fn blob(bytes: &[u8]) -> BlobRef {
    BlobRef { digest: Sha256Digest::of_bytes(bytes), size: bytes.len() as u64 }
}

fn signed(name: &str, version: &str, component: &[u8], key: &SecretKey) -> SignedManifest {
    Manifest {
        schema: 1,
        spec_version: 2,
        name: name.to_owned(),
        version: version.parse().unwrap(),
        description: String::new(),
        input: "application/octet-stream".to_owned(),
        output: "application/octet-stream".to_owned(),
        component: blob(component),
        models: Vec::new(),
        limits: LimitDefaults::default(),
        publisher: key.public(),
    }
    .sign(key)
    .unwrap()
}

fn open(dir: &Path, policy: Policy) -> Store {
    Store::open(dir, policy).unwrap()
}

/// Publishes `manifest` the way a client does: post, upload what is missing, post again.
fn publish_fully(store: &Store, manifest: &SignedManifest, component: &[u8]) {
    if let Publish::Missing(missing) = store.publish(manifest).unwrap() {
        assert_eq!(missing, vec![blob(component)]);
        let b = blob(component);
        assert_eq!(store.put_blob(&b.digest, b.size, component).unwrap(), Written::Stored);
        assert_eq!(store.publish(manifest).unwrap(), Publish::Published { created: true });
    }
}

#[test]
fn publish_protocol_round_trip_and_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let alice = key(1);
    let manifest = signed("echo", "0.1.0", b"component bytes", &alice);
    {
        let store = open(dir.path(), Policy::default());
        assert!(matches!(store.publish(&manifest).unwrap(), Publish::Missing(_)));
        assert!(matches!(store.resolve("echo", None), Err(StoreError::UnknownFunction(_))), "pending is not published");
        publish_fully(&store, &manifest, b"component bytes");
        assert_eq!(store.publish(&manifest).unwrap(), Publish::Published { created: false });
    }
    let store = open(dir.path(), Policy::default());
    let resolved = store.resolve("echo", None).unwrap();
    assert_eq!(resolved.digest, manifest.digest());
    assert_eq!(store.manifest(&resolved.digest).unwrap(), manifest);
    assert_eq!(store.manifest_json(&resolved.digest).unwrap().as_bytes(), manifest.to_json());
    let (mut file, size) = store.open_blob(&blob(b"component bytes").digest).unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
    assert_eq!((bytes.as_slice(), size), (&b"component bytes"[..], 15));
    assert_eq!(store.usage(&alice.public()).unwrap(), 15);
    let functions = store.functions().unwrap();
    assert_eq!(functions.len(), 1);
    assert_eq!(functions[0].owner, alice.public());
    assert_eq!(store.health().unwrap(), Health { functions: 1, blobs: 1, quarantined: 0, calls: 0 });
}

#[test]
fn ownership_versions_and_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, mallory) = (key(1), key(2));
    let store = open(
        dir.path(),
        Policy { allowed_publishers: Some([alice.public(), mallory.public()].into()), ..Policy::default() },
    );
    publish_fully(&store, &signed("echo", "0.1.0", b"v1", &alice), b"v1");

    let err = store.publish(&signed("echo", "0.2.0", b"evil", &mallory)).unwrap_err();
    assert!(matches!(err, StoreError::NameTaken { .. }), "{err}");
    let err = store.publish(&signed("echo", "0.1.0", b"v1 changed", &alice)).unwrap_err();
    assert!(matches!(err, StoreError::VersionExists { .. }), "{err}");
    assert_eq!(err.http_status(), 409);

    let outsider = key(3);
    let err = store.publish(&signed("other", "1.0.0", b"x", &outsider)).unwrap_err();
    assert_eq!((err.code(), err.http_status()), ("not_allowed", 403));
    assert_eq!(store.functions().unwrap().len(), 1, "nothing changed");
}

#[test]
fn blobs_are_accepted_only_as_declared() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Policy::default());
    let b = blob(b"undeclared");
    let err = store.put_blob(&b.digest, b.size, &b"undeclared"[..]).unwrap_err();
    assert_eq!(err.code(), "blob_not_expected");

    let manifest = signed("echo", "0.1.0", b"declared", &key(1));
    store.publish(&manifest).unwrap();
    let b = blob(b"declared");
    let err = store.put_blob(&b.digest, b.size + 1, &b"declared!"[..]).unwrap_err();
    assert_eq!(err.code(), "blob_not_expected", "the size is part of the declaration");
    let err = store.put_blob(&b.digest, b.size, &b"DECLARED"[..]).unwrap_err();
    assert_eq!((err.code(), err.http_status()), ("digest_mismatch", 400));
    assert_eq!(store.blob_size(&b.digest).unwrap(), None);
    assert_eq!(store.usage(&key(1).public()).unwrap(), 0, "nothing charged for refused bytes");
    assert_eq!(store.put_blob(&b.digest, b.size, &b"declared"[..]).unwrap(), Written::Stored);
    assert_eq!(store.put_blob(&b.digest, b.size, &b"declared"[..]).unwrap(), Written::AlreadyPresent);
    assert_eq!(store.usage(&key(1).public()).unwrap(), b.size, "charged once");
}

#[test]
fn quota_and_blob_size_limits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Policy { quota_bytes: Some(10), max_blob_bytes: 20, ..Policy::default() });
    let err = store.publish(&signed("big", "1.0.0", &[0u8; 21], &key(1))).unwrap_err();
    assert_eq!((err.code(), err.http_status()), ("blob_too_large", 413));
    let err = store.publish(&signed("big", "1.0.0", &[0u8; 11], &key(1))).unwrap_err();
    assert_eq!((err.code(), err.http_status()), ("quota_exceeded", 403));
    publish_fully(&store, &signed("small", "1.0.0", &[1u8; 6], &key(1)), &[1u8; 6]);
    let err = store.publish(&signed("small", "1.1.0", &[2u8; 6], &key(1))).unwrap_err();
    assert_eq!(err.code(), "quota_exceeded", "6 + 6 > 10");
    publish_fully(&store, &signed("small", "1.2.0", &[1u8; 6], &key(1)), &[1u8; 6]);
}

#[test]
fn a_manifest_must_declare_stored_blobs_with_their_real_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Policy::default());
    publish_fully(&store, &signed("a", "1.0.0", b"shared", &key(1)), b"shared");
    let mut lying = signed("b", "1.0.0", b"shared", &key(1)).manifest().clone();
    lying.component.size = 99;
    let err = store.publish(&lying.sign(&key(1)).unwrap()).unwrap_err();
    assert_eq!(err.code(), "size_mismatch");
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn yank(name: &str, version: &str, yanked: bool, timestamp: u64, key: &SecretKey) -> crate::manifest::SignedYank {
    YankStatement { name: name.to_owned(), version: version.parse().unwrap(), yanked, timestamp }.sign(key).unwrap()
}

#[test]
fn yanked_versions_resolve_no_more_but_stay_fetchable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Policy::default());
    let alice = key(1);
    let v1 = signed("echo", "0.1.0", b"one", &alice);
    let v2 = signed("echo", "0.2.0", b"two", &alice);
    publish_fully(&store, &v1, b"one");
    publish_fully(&store, &v2, b"two");
    assert_eq!(store.resolve("echo", None).unwrap().digest, v2.digest());

    let err = store.yank(&yank("echo", "0.2.0", true, now(), &key(2))).unwrap_err();
    assert_eq!(err.code(), "not_owner");
    let statement = yank("echo", "0.2.0", true, now(), &alice);
    store.yank(&statement).unwrap();
    assert_eq!(store.resolve("echo", None).unwrap().digest, v1.digest());
    let err = store.resolve("echo", Some(&"0.2.0".parse().unwrap())).unwrap_err();
    assert_eq!((err.code(), err.http_status()), ("version_yanked", 410));
    assert_eq!(store.manifest(&v2.digest()).unwrap(), v2, "still fetchable by digest");
    assert!(store.open_blob(&blob(b"two").digest).is_ok());
    assert_eq!(store.yank(&statement).unwrap_err().code(), "stale_statement", "replay refused");
    let err = store.yank(&yank("echo", "0.1.0", true, now() - 3600, &alice)).unwrap_err();
    assert_eq!(err.code(), "stale_statement");
    store.yank(&yank("echo", "0.2.0", false, now() + 1, &alice)).unwrap();
    assert_eq!(store.resolve("echo", None).unwrap().digest, v2.digest());
    assert!(store.gc(false).unwrap().removed_blobs.is_empty(), "yanked blobs are kept");
}

#[test]
fn gc_drops_expired_pending_and_unreferenced_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let alice = key(1);
    {
        let store = open(dir.path(), Policy::default());
        let half = signed("half", "1.0.0", b"uploaded", &alice);
        store.publish(&half).unwrap();
        let b = blob(b"uploaded");
        store.put_blob(&b.digest, b.size, &b"uploaded"[..]).unwrap();
        assert!(store.gc(false).unwrap().removed_blobs.is_empty(), "a live pending manifest keeps its blobs");
    }
    let store = open(dir.path(), Policy { pending_ttl: Duration::ZERO, ..Policy::default() });
    let dry = store.gc(true).unwrap();
    assert_eq!((dry.expired_pending.len(), dry.freed_bytes()), (1, 8));
    assert_eq!(store.health().unwrap().blobs, 1, "a dry run changes nothing");
    assert_eq!(store.gc(false).unwrap(), dry);
    assert_eq!(store.health().unwrap().blobs, 0);
    assert_eq!(store.usage(&alice.public()).unwrap(), 0, "quota refunded");
    assert!(fs::read_dir(dir.path().join("blobs/sha256")).unwrap().next().is_none());
}

#[test]
fn corrupt_blobs_are_quarantined_and_can_be_restored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Policy::default());
    publish_fully(&store, &signed("echo", "0.1.0", b"good bytes", &key(1)), b"good bytes");
    let b = blob(b"good bytes");
    let path = dir.path().join("blobs/sha256").join(b.digest.to_hex());
    fs::remove_file(&path).unwrap();
    fs::write(&path, b"evil bytes").unwrap();
    assert_eq!(store.open_blob(&b.digest).unwrap_err().code(), "blob_corrupt");
    assert_eq!(store.open_blob(&b.digest).unwrap_err().code(), "unknown_blob", "never served");
    assert_eq!(store.health().unwrap().quarantined, 1);
    assert_eq!(store.put_blob(&b.digest, b.size, &b"good bytes"[..]).unwrap(), Written::Stored);
    assert!(store.open_blob(&b.digest).is_ok());
    assert_eq!(store.health().unwrap().quarantined, 0);
}

#[test]
fn opening_removes_stray_files_and_flags_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let b = blob(b"indexed");
    {
        let store = open(dir.path(), Policy::default());
        publish_fully(&store, &signed("echo", "0.1.0", b"indexed", &key(1)), b"indexed");
    }
    let stray = Sha256Digest::of_bytes(b"stray");
    fs::write(dir.path().join("blobs/sha256").join(stray.to_hex()), b"stray").unwrap();
    fs::write(dir.path().join("tmp/upload-xyz"), b"half").unwrap();
    fs::remove_file(dir.path().join("blobs/sha256").join(b.digest.to_hex())).unwrap();
    let store = open(dir.path(), Policy::default());
    assert!(!dir.path().join("blobs/sha256").join(stray.to_hex()).exists());
    assert!(fs::read_dir(dir.path().join("tmp")).unwrap().next().is_none());
    assert_eq!(store.health().unwrap().quarantined, 1);
    assert_eq!(store.blob_size(&b.digest).unwrap(), None);
}

#[test]
fn a_second_process_cannot_open_a_data_dir_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _store = open(dir.path(), Policy::default());
    let err = Store::open(dir.path(), Policy::default()).err().unwrap();
    assert!(err.to_string().contains("in use"), "{err}");
}
