//! `LocalLogStore`: the partitions under one data directory.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::RwLock;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::config::LogConfig;
use crate::engine::PartitionEngine;
use crate::error::{Result, StorageError};
use crate::local::blocking::{run_blocking, IoClass};
use crate::local::partition::{LocalPartitionLog, PartitionState};
use crate::local::partition_metadata::{claim_partition_dir, make_partition_dir, move_aside};
use crate::local::recovery::{load_partition, Shutdown};
use crate::local::{
    io_context, is_valid_topic_name, parse_partition_dir_name, partition_dir_name, sync_dir,
    DELETE_DIR_SUFFIX, STRAY_DIR_SUFFIX,
};
use crate::log::Log;
use crate::{LogStore, PartitionLog, TopicIdPartition};

/// `(topic name, partition)`: a directory's name.
type DirKey = (String, i32);

/// A partition's engine, and the `Log` over it that appends go through
/// (one per partition: it holds the append order).
#[derive(Clone)]
struct Held {
    engine: Arc<LocalPartitionLog>,
    log: Arc<Log>,
}

/// The logs, keyed by topic id, and the directories found at start-up that
/// no log has claimed yet.
#[derive(Default)]
struct Partitions {
    by_id: HashMap<(Uuid, i32), Held>,
    /// Which topic id's log uses each directory name now.
    by_dir: HashMap<DirKey, Uuid>,
    /// Directories found at start-up, by name: `open_partition` claims one
    /// for the topic id the metadata gives (checked against the directory's
    /// own id file when it is loaded).
    found: HashMap<DirKey, PathBuf>,
}

impl Partitions {
    /// Registers the engine and returns the `Log` over it.
    fn insert(&mut self, engine: Arc<LocalPartitionLog>) -> Arc<Log> {
        let dir_key = (engine.topic().to_string(), engine.partition_id());
        self.found.remove(&dir_key);
        self.by_dir.insert(dir_key, engine.topic_id());
        let log = Arc::new(Log::new(Arc::clone(&engine) as Arc<dyn PartitionEngine>));
        let key = (engine.topic_id(), engine.partition_id());
        self.by_id.insert(
            key,
            Held {
                engine,
                log: Arc::clone(&log),
            },
        );
        log
    }

    fn remove(&mut self, topic_id: Uuid, partition: i32) -> Option<Arc<LocalPartitionLog>> {
        let log = self.by_id.remove(&(topic_id, partition))?.engine;
        let dir_key = (log.topic().to_string(), partition);
        if self.by_dir.get(&dir_key) == Some(&topic_id) {
            self.by_dir.remove(&dir_key);
        }
        Some(log)
    }
}

/// Present in the data dir only between a clean shutdown (written after every
/// log is fsynced) and the next start-up's loading of the logs: Kafka's name.
const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

pub struct LocalLogStore {
    data_dir: PathBuf,
    partitions: RwLock<Partitions>,
    /// How the broker stopped before this start-up.
    last_shutdown: Shutdown,
    /// Serialise creating and deleting a partition (directory changes); one
    /// of these per partition (striped), so different partitions are created
    /// in parallel and their fsyncs share journal commits.
    directory_locks: [tokio::sync::Mutex<()>; DIRECTORY_LOCK_STRIPES],
}

const DIRECTORY_LOCK_STRIPES: usize = 64;
/// Partitions flushed or loaded at once: concurrent fsyncs share the
/// filesystem journal's commits (64 at once cost about what 3 in a row do
/// on the 2026 development machine).
const PARALLEL_PARTITION_IO: usize = 64;

impl LocalLogStore {
    /// Opens the store, creating `data_dir` if needed, and notes every
    /// partition directory found in it; `open_partition` claims one for its
    /// topic id, and it is loaded and recovered on first use.
    /// How much recovery checks depends on whether the last shutdown was
    /// clean (see `recovery`); the marker saying so is removed here, so a
    /// crash from now on is unclean, also for partitions not loaded yet
    /// (their recovery point, at their log end, keeps that cheap).
    pub fn open(data_dir: PathBuf) -> Result<LocalLogStore> {
        Self::open_known(data_dir, |_, _| true)
    }

    /// As `open`, registering only the partitions `is_known` (the metadata
    /// lists). Directories of other partitions (a topic the metadata does
    /// not list, a creation cut short) are left as they are and reported:
    /// never loaded, so they cannot stop the broker or its housekeeping, and
    /// never adopted (see `create_partition`).
    pub fn open_known(
        data_dir: PathBuf,
        is_known: impl Fn(&str, i32) -> bool,
    ) -> Result<LocalLogStore> {
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| io_context("create data dir", &data_dir, e))?;
        let marker = data_dir.join(CLEAN_SHUTDOWN_FILE);
        let shutdown = match marker.try_exists() {
            Ok(true) => Shutdown::Clean,
            Ok(false) => Shutdown::Unclean,
            Err(e) => return Err(io_context("look for", &marker, e)),
        };
        info!(data_dir = %data_dir.display(), ?shutdown, "loading logs");
        let mut found = HashMap::new();
        let mut unknown = Vec::new();
        let mut stray = Vec::new();
        let entries = std::fs::read_dir(&data_dir).map_err(|e| io_context("list", &data_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_context("list", &data_dir, e))?;
            let path = entry.path();
            // The entry's type comes with the listing: no stat per directory
            // (100,000 partitions at start-up).
            let is_dir = entry
                .file_type()
                .map(|t| t.is_dir())
                .map_err(|e| io_context("stat", &path, e))?;
            if !is_dir {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name == crate::local_offsets::OFFSETS_DIR
                || name == crate::local_transactions::TRANSACTIONS_DIR
            {
                // The offset and transaction stores' own directories, beside the partitions.
                continue;
            }
            if name.ends_with(DELETE_DIR_SUFFIX) {
                // A deletion interrupted by a crash: finish it.
                std::fs::remove_dir_all(&path).map_err(|e| io_context("remove", &path, e))?;
                continue;
            }
            if name.ends_with(STRAY_DIR_SUFFIX) {
                stray.push(name);
                continue;
            }
            let Some((topic, partition)) = parse_partition_dir_name(&name) else {
                warn!(dir = %path.display(), "not a partition directory, ignored");
                continue;
            };
            if !is_known(&topic, partition) {
                unknown.push(name);
                continue;
            }
            // Claimed by `open_partition` and loaded (and recovered) on first
            // use, so start-up does not read every partition directory.
            found.insert((topic, partition), path);
        }
        report_ignored(
            &data_dir,
            &mut unknown,
            "partition directories of topics or partitions the metadata does not list \
             (a creation cut short, or data from elsewhere), ignored and left in place",
        );
        report_ignored(
            &data_dir,
            &mut stray,
            "directories moved aside when a new partition needed their place, kept for \
             you to inspect or remove",
        );
        if shutdown == Shutdown::Clean {
            // From here on a crash is an unclean shutdown.
            std::fs::remove_file(&marker).map_err(|e| io_context("remove", &marker, e))?;
            sync_dir(&data_dir)?;
        }
        Ok(LocalLogStore {
            data_dir,
            partitions: RwLock::new(Partitions {
                found,
                ..Partitions::default()
            }),
            last_shutdown: shutdown,
            directory_locks: std::array::from_fn(|_| tokio::sync::Mutex::new(())),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn held(&self, topic_id: Uuid, partition: i32) -> Option<Held> {
        self.partitions
            .read()
            .by_id
            .get(&(topic_id, partition))
            .cloned()
    }

    /// The engine under a partition's log (for engine-specific calls).
    pub fn local_partition(
        &self,
        topic_id: Uuid,
        partition: i32,
    ) -> Option<Arc<LocalPartitionLog>> {
        self.held(topic_id, partition).map(|held| held.engine)
    }

    /// Makes a partition's state with `make(data_dir, partition_dir)` off
    /// the async workers and registers its log. The caller holds the
    /// directory lock.
    async fn add_partition(
        &self,
        id: &TopicIdPartition,
        what: &'static str,
        make: impl FnOnce(&Path, &Path) -> Result<PartitionState> + Send + 'static,
    ) -> Result<Arc<dyn PartitionLog>> {
        let dir = self
            .data_dir
            .join(partition_dir_name(&id.topic, id.partition));
        let data_dir = self.data_dir.clone();
        let task_dir = dir.clone();
        let state = run_blocking(IoClass::Background, what, move || {
            make(&data_dir, &task_dir)
        })
        .await?;
        let engine = LocalPartitionLog::from_state(id, dir, state);
        Ok(self.partitions.write().insert(engine))
    }

    fn all_partitions(&self) -> Vec<Arc<LocalPartitionLog>> {
        self.partitions
            .read()
            .by_id
            .values()
            .map(|held| Arc::clone(&held.engine))
            .collect()
    }

    /// A directory is one topic id's at a time: another id's live log there
    /// must be deleted first.
    fn refuse_dir_in_use(&self, id: &TopicIdPartition) -> Result<()> {
        let dir_key = (id.topic.clone(), id.partition);
        match self.partitions.read().by_dir.get(&dir_key) {
            Some(other) if *other != id.topic_id => Err(StorageError::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "partition directory {} is in use by topic id {}",
                    partition_dir_name(&id.topic, id.partition),
                    crate::kafka_uuid::to_kafka_string(*other)
                ),
            ))),
            _ => Ok(()),
        }
    }

    /// Directory changes are serialised per directory name (striped), since
    /// the name is what a deleted topic and its successor share.
    fn directory_lock(&self, topic: &str, partition: i32) -> &tokio::sync::Mutex<()> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (topic, partition).hash(&mut hasher);
        let stripe = usize::try_from(hasher.finish() % DIRECTORY_LOCK_STRIPES as u64).unwrap_or(0);
        &self.directory_locks[stripe]
    }
}

/// Runs `work` on every log, `PARALLEL_PARTITION_IO` at a time, and returns
/// the logs it failed for with their errors.
async fn on_each_in_parallel<F, Fut>(
    logs: Vec<Arc<LocalPartitionLog>>,
    work: F,
) -> Vec<(Arc<LocalPartitionLog>, StorageError)>
where
    F: Fn(Arc<LocalPartitionLog>) -> Fut,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let mut running = tokio::task::JoinSet::new();
    let mut failed = Vec::new();
    let mut collect = |joined: Option<std::result::Result<_, tokio::task::JoinError>>| match joined
    {
        Some(Ok((_, Ok(())))) | None => {}
        Some(Ok((log, Err(err)))) => failed.push((log, err)),
        Some(Err(join)) => warn!(error = %join, "partition task failed"),
    };
    // Each task holds a few descriptors beyond the cache (the files it fsyncs,
    // the directory): under a small open-file limit, fewer at once.
    let parallel = PARALLEL_PARTITION_IO
        .min(crate::local::file_cache::max_open_segment_files() / 8)
        .max(1);
    for log in logs {
        if running.len() >= parallel {
            collect(running.join_next().await);
        }
        let done = work(Arc::clone(&log));
        running.spawn(async move { (log, done.await) });
    }
    while let Some(joined) = running.join_next().await {
        collect(Some(joined));
    }
    failed
}

/// One warning for a list of directories start-up leaves alone, naming
/// them (the first hundred: a data dir can hold many thousands).
fn report_ignored(data_dir: &Path, names: &mut [String], what: &str) {
    const SHOWN: usize = 100;
    if names.is_empty() {
        return;
    }
    names.sort();
    let shown = names[..names.len().min(SHOWN)].join(", ");
    let more = names.len().saturating_sub(SHOWN);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    warn!(
        data_dir = %data_dir.display(),
        count = names.len(),
        "{what}: {shown}{more}"
    );
}

/// Makes the directory of a new partition (with its topic id) and its
/// first segment. Whatever is already at that place is moved aside to
/// `<name>.<id>-stray`, and if making the partition fails (out of file
/// handles, disk full) its directory is removed again.
fn create_empty_partition(
    data_dir: &Path,
    dir: &Path,
    topic_id: Uuid,
    config: &LogConfig,
) -> Result<PartitionState> {
    if std::fs::symlink_metadata(dir).is_ok() {
        let aside = move_aside(data_dir, dir)?;
        warn!(
            dir = %dir.display(),
            moved_to = %aside.display(),
            "a directory the metadata does not know was where a new partition goes; \
             moved aside, not used"
        );
    }
    let made = make_partition_dir(data_dir, dir, topic_id)
        .and_then(|()| load_partition(dir, config, Shutdown::Unclean))
        .and_then(|state| {
            sync_dir(data_dir)?;
            Ok(state)
        });
    if made.is_err() {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                error!(dir = %dir.display(), error = %e, "cannot remove a partition directory whose creation failed");
            }
        }
    }
    made
}

fn unknown(topic: &str, partition: i32) -> StorageError {
    StorageError::UnknownPartition {
        topic: topic.to_string(),
        partition,
    }
}

#[async_trait]
impl LogStore for LocalLogStore {
    /// Returns the loaded log if there is one (applying `config` to it),
    /// otherwise creates the partition directory and an empty log.
    async fn open_partition(
        &self,
        id: &TopicIdPartition,
        config: LogConfig,
    ) -> Result<Arc<dyn PartitionLog>> {
        let (topic, partition) = (id.topic.as_str(), id.partition);
        if !is_valid_topic_name(topic) || partition < 0 {
            return Err(unknown(topic, partition));
        }
        let _directory = self.directory_lock(topic, partition).lock().await;
        if let Some(existing) = self.held(id.topic_id, partition) {
            existing.engine.set_config(config);
            return Ok(existing.log);
        }
        self.refuse_dir_in_use(id)?;
        let found = self
            .partitions
            .write()
            .found
            .remove(&(topic.to_string(), partition));
        if let Some(dir) = found {
            // Found at start-up: loaded on first use, which checks its id.
            let engine = LocalPartitionLog::unloaded(id, dir, self.last_shutdown);
            engine.set_config(config);
            return Ok(self.partitions.write().insert(engine));
        }
        let topic_id = id.topic_id;
        self.add_partition(id, "open", move |data_dir, dir| {
            claim_partition_dir(data_dir, dir, topic_id)?;
            // A directory not found at start-up: check it in full.
            let state = load_partition(dir, &config, Shutdown::Unclean)?;
            sync_dir(data_dir)?;
            Ok(state)
        })
        .await
    }

    async fn create_partition(
        &self,
        id: &TopicIdPartition,
        config: LogConfig,
    ) -> Result<Arc<dyn PartitionLog>> {
        let (topic, partition) = (id.topic.as_str(), id.partition);
        if !is_valid_topic_name(topic) || partition < 0 {
            return Err(unknown(topic, partition));
        }
        let _directory = self.directory_lock(topic, partition).lock().await;
        if self.local_partition(id.topic_id, partition).is_some() {
            return Err(StorageError::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("partition {topic}-{partition} already has a log"),
            )));
        }
        self.refuse_dir_in_use(id)?;
        // Whatever was found under this name is moved aside below.
        self.partitions
            .write()
            .found
            .remove(&(topic.to_string(), partition));
        let topic_id = id.topic_id;
        self.add_partition(id, "create", move |data_dir, dir| {
            create_empty_partition(data_dir, dir, topic_id, &config)
        })
        .await
    }

    fn partition(&self, topic_id: Uuid, partition: i32) -> Option<Arc<dyn PartitionLog>> {
        self.held(topic_id, partition)
            .map(|held| held.log as Arc<dyn PartitionLog>)
    }

    /// Renames the directory out of the way (so a crash midway cannot leave a
    /// half-deleted partition that looks live), then removes it.
    async fn delete_partition(&self, topic_id: Uuid, partition: i32) -> Result<()> {
        let Some(topic) = self
            .local_partition(topic_id, partition)
            .map(|log| log.topic().to_string())
        else {
            // Already gone: deleting is idempotent, so a topic delete
            // interrupted by a crash can simply be repeated.
            return Ok(());
        };
        let topic = topic.as_str();
        let _directory = self.directory_lock(topic, partition).lock().await;
        let Some(log) = self.partitions.write().remove(topic_id, partition) else {
            return Ok(());
        };
        log.mark_deleted();
        let dir = log.dir().to_path_buf();
        let doomed = self.data_dir.join(format!(
            "{}.{}{DELETE_DIR_SUFFIX}",
            partition_dir_name(topic, partition),
            uuid::Uuid::new_v4().simple()
        ));
        let data_dir = self.data_dir.clone();
        run_blocking(IoClass::Background, "partition delete", move || {
            std::fs::rename(&dir, &doomed).map_err(|e| io_context("rename", &dir, e))?;
            sync_dir(&data_dir)?;
            std::fs::remove_dir_all(&doomed).map_err(|e| io_context("remove", &doomed, e))
        })
        .await
    }

    async fn run_housekeeping(&self) -> Result<()> {
        // Retention applies to partitions nobody has used since start-up
        // too: load them first (off the async workers, since it reads files).
        let unloaded: Vec<_> = self
            .all_partitions()
            .into_iter()
            .filter(|log| !log.is_loaded())
            .collect();
        // A failed load is logged by the load; the partition stays offline.
        on_each_in_parallel(unloaded, |log| async move {
            log.loaded_off_runtime(IoClass::Background).await
        })
        .await;
        let mut first_error = None;
        for log in self.all_partitions() {
            if !log.is_loaded() {
                continue;
            }
            // One partition's failure must not stop retention on the others.
            // Rolls and deletions create and remove files: off the runtime.
            let done = match log
                .off_runtime(IoClass::Background, "housekeeping", |log| {
                    log.housekeeping()
                })
                .await
            {
                Ok(()) => log.flush_after_roll().await,
                Err(err) => Err(err),
            };
            if let Err(err) = done {
                warn!(topic = log.topic(), partition = log.partition_id(), error = %err, "housekeeping failed");
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Closes every log (fsynced, recovery point at the log end), then marks
    /// the shutdown clean, unless a log was offline: that one must be
    /// recovered in full next time.
    async fn flush_all(&self) -> Result<()> {
        // Directories found after an unclean shutdown and never opened were
        // not recovered: nothing may vouch for them.
        let unrecovered =
            self.last_shutdown == Shutdown::Unclean && !self.partitions.read().found.is_empty();
        let clean = Arc::new(AtomicBool::new(!unrecovered));
        let all_clean = Arc::clone(&clean);
        let failed = on_each_in_parallel(self.all_partitions(), move |log| {
            let clean = Arc::clone(&all_clean);
            async move {
                if !log.close().await? {
                    warn!(
                        topic = log.topic(),
                        partition = log.partition_id(),
                        "partition offline or not recovered at shutdown: no clean-shutdown marker"
                    );
                    clean.store(false, Ordering::Relaxed);
                }
                Ok(())
            }
        })
        .await;
        let mut first_error = None;
        for (log, err) in failed {
            warn!(topic = log.topic(), partition = log.partition_id(), error = %err, "flush failed");
            first_error.get_or_insert(err);
        }
        if let Some(err) = first_error {
            return Err(err);
        }
        if clean.load(Ordering::Relaxed) {
            let marker = self.data_dir.join(CLEAN_SHUTDOWN_FILE);
            let file =
                std::fs::File::create(&marker).map_err(|e| io_context("create", &marker, e))?;
            file.sync_all()
                .map_err(|e| io_context("fsync", &marker, e))?;
            sync_dir(&self.data_dir)?;
        }
        Ok(())
    }
}
