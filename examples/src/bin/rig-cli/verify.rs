//! `rig-cli verify`: check a file log directory or an S3 prefix without changing it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::ObjectStore;
use rig_core::{Error, Log, Rig};
use rig_examples::metadata::backend::{s3_options, s3_place, BackendArgs, BackendError, S3Place};
use rig_examples::metadata::MetadataService;
use rig_log_file::{FileLog, FileLogOptions, LOCK_FILE};
use rig_log_s3::{LocalDirStore, S3Log};
use serde::Serialize;

use crate::progress::Progress;

/// Versions read per call while scanning the log.
const READ_BATCH: usize = 4096;

/// One file of the directory.
#[derive(Debug, Serialize)]
pub(crate) struct FileEntry {
    name: String,
    bytes: u64,
}

/// What `verify` found.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    /// The directory, `s3://bucket/prefix`, or `DIR/prefix` for the s3 backend's local mode.
    dir: String,
    /// The place holds the S3 layout (batches, not segments).
    #[serde(skip)]
    s3_layout: bool,
    /// File segments, or S3 log batches (`LOG/...`).
    segments: Vec<FileEntry>,
    snapshots: Vec<FileEntry>,
    other_files: Vec<String>,
    /// Whether the file log opened (its recovery verified every record).
    opened: bool,
    /// The lowest version still in the log (older ones live only in the snapshot).
    first_version: u64,
    /// The highest committed version.
    committed: u64,
    /// Entries read back, per method.
    methods: BTreeMap<String, u64>,
    /// The newest intact snapshot's version.
    snapshot_version: Option<u64>,
    /// Users in the state rebuilt from snapshot + log.
    users: Option<usize>,
    /// Damage found: the error, which names the file and offset.
    errors: Vec<String>,
}

impl Report {
    /// True when no damage was found.
    pub(crate) fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The report as text for a terminal.
    pub(crate) fn text(&self) -> String {
        let (place, parts) = if self.s3_layout {
            ("prefix", "batches")
        } else {
            ("directory", "segments")
        };
        let mut out = format!("{place}: {}\n", self.dir);
        out.push_str(&format!("{parts}: {}\n", self.segments.len()));
        for f in &self.segments {
            out.push_str(&format!("  {} ({} bytes)\n", f.name, f.bytes));
        }
        out.push_str(&format!("snapshots: {}\n", self.snapshots.len()));
        for f in &self.snapshots {
            out.push_str(&format!("  {} ({} bytes)\n", f.name, f.bytes));
        }
        if !self.other_files.is_empty() {
            out.push_str(&format!("other files: {}\n", self.other_files.join(", ")));
        }
        let entries: u64 = self.methods.values().sum();
        if self.opened {
            out.push_str(&format!(
                "log: versions {}..={} ({entries} entries read back, checksums verified)\n",
                self.first_version, self.committed
            ));
        } else {
            out.push_str("log: recovery refused to open it (see below)\n");
        }
        for (method, n) in &self.methods {
            out.push_str(&format!("  {method}: {n}\n"));
        }
        match self.snapshot_version {
            Some(v) => out.push_str(&format!("newest snapshot: version {v}\n")),
            None => out.push_str("newest snapshot: none\n"),
        }
        if let Some(users) = self.users {
            out.push_str(&format!(
                "state rebuilt: {users} users at version {}\n",
                self.committed
            ));
        }
        if self.ok() {
            out.push_str("ok: no damage found\n");
        } else {
            for e in &self.errors {
                out.push_str(&format!("DAMAGED: {e}\n"));
            }
        }
        out
    }
}

/// Verifies `dir`. `Err` means verification could not run at all (e.g. no such directory).
pub(crate) async fn run(dir: &Path) -> std::io::Result<Report> {
    let mut report = Report {
        dir: dir.display().to_string(),
        ..Default::default()
    };
    let copy = tempfile::tempdir()?;
    copy_files(dir, copy.path(), &mut report)?;
    // Errors name the copy's paths; show the original directory's instead.
    let rename = |e: Error| {
        e.to_string().replace(
            &copy.path().display().to_string(),
            &dir.display().to_string(),
        )
    };
    match FileLog::open(copy.path(), FileLogOptions::default()) {
        Ok(log) => check(log, &mut report, rename).await,
        Err(e) => report.errors.push(rename(e)),
    }
    Ok(report)
}

/// Verifies the S3 log under `--prefix`, in a bucket or in `--s3-dir`, through a read replica,
/// which never writes: a running writer is not fenced, and a local directory's lock is not
/// needed. `Err` means verification could not run at all (bad flags, no such directory).
pub(crate) async fn run_s3(args: &BackendArgs) -> Result<Report, BackendError> {
    let options = s3_options(args)?;
    let (dir, store): (String, Arc<dyn ObjectStore>) = match s3_place(args, None)? {
        S3Place::Bucket(config) => (
            format!(
                "s3://{}/{}",
                config.bucket.as_deref().unwrap_or_default(),
                options.prefix
            ),
            config.build()?,
        ),
        S3Place::LocalDir(dir) => (
            format!("{}/{}", dir.display(), options.prefix),
            Arc::new(LocalDirStore::open_reader(&dir)?),
        ),
    };
    let mut report = Report {
        dir,
        s3_layout: true,
        ..Default::default()
    };
    for (dir, list) in [
        ("LOG", &mut report.segments),
        ("SNAPSHOT", &mut report.snapshots),
    ] {
        let under = object_store::path::Path::from(format!("{}/{dir}", options.prefix));
        let listed: Result<Vec<_>, _> = store.list(Some(&under)).try_collect().await;
        match listed {
            Ok(mut objects) => {
                objects.sort_by(|a, b| a.location.cmp(&b.location));
                list.extend(objects.into_iter().map(|o| FileEntry {
                    name: o.location.to_string(),
                    bytes: o.size,
                }));
            }
            Err(e) => report.errors.push(format!("cannot list {under}: {e}")),
        }
    }
    match S3Log::open_follower(store, options).await {
        Ok(log) => check(log, &mut report, |e| e.to_string()).await,
        Err(e) => report.errors.push(e.to_string()),
    }
    Ok(report)
}

/// Reads `log` back in full, then rebuilds the service's state from its snapshot and log.
async fn check<L: Log>(log: L, report: &mut Report, rename: impl Fn(Error) -> String) {
    report.opened = true;
    report.first_version = log.first_version();
    report.committed = log.committed();
    if let Err(e) = scan(&log, report).await {
        report.errors.push(rename(e));
    }
    match log.load_snapshot().await {
        Ok(snap) => report.snapshot_version = snap.map(|s| s.version),
        Err(e) => report.errors.push(rename(e)),
    }
    if report.ok() {
        match Rig::open(MetadataService::default(), log).await {
            Ok(rig) => {
                report.users = Some(rig.state().await.len());
                if let Err(e) = rig.close().await {
                    report.errors.push(rename(e));
                }
            }
            Err(e) => report.errors.push(rename(e)),
        }
    } else {
        log.close().await.ok();
    }
}

/// Reads every committed version back, checking that they follow one another.
async fn scan<L: Log>(log: &L, report: &mut Report) -> Result<(), Error> {
    let mut next = report.first_version;
    let total = (report.committed + 1).saturating_sub(report.first_version);
    let mut progress = Progress::new("reading the log", total);
    while next <= report.committed {
        progress.set(next - report.first_version);
        let batch = log.read(next, READ_BATCH).await?;
        if batch.is_empty() {
            return Err(Error::corrupt(
                report.dir.clone(),
                format!("committed version {next} cannot be read"),
            ));
        }
        for p in batch {
            if p.version != next {
                return Err(Error::corrupt(
                    report.dir.clone(),
                    format!("expected version {next}, read {}", p.version),
                ));
            }
            *report.methods.entry(p.op.method).or_default() += 1;
            next += 1;
        }
    }
    progress.finish();
    Ok(())
}

/// Copies the log's files (not the lock) from `from` to `to` and lists them in `report`.
fn copy_files(from: &Path, to: &Path, report: &mut Report) -> std::io::Result<()> {
    // An operator tool reads the directory directly, outside rig's Fs seam, and only reads it.
    #[allow(clippy::disallowed_methods)]
    let entries = std::fs::read_dir(from)?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for e in entries {
        let e = e?;
        if e.file_type()?.is_file() {
            files.push((e.file_name().to_string_lossy().into_owned(), e.path()));
        }
    }
    files.sort();
    for (name, path) in files {
        if name == LOCK_FILE {
            continue;
        }
        let bytes = std::fs::copy(&path, to.join(&name))?;
        let entry = FileEntry {
            name: name.clone(),
            bytes,
        };
        if name.ends_with(".seg") {
            report.segments.push(entry);
        } else if name.ends_with(".snap") {
            report.snapshots.push(entry);
        } else {
            report.other_files.push(name);
        }
    }
    Ok(())
}
