//! Open `.log` files, bounded: one least-recently-used cache for the process.
//!
//! A partition holds no file descriptor of its own. Each segment has a
//! [`SegmentFile`] (a path and an id); appends, reads and fsyncs ask the cache
//! for the open file, which reopens it on a miss and closes the least recently
//! used one beyond its capacity. So the number of open segment files is the
//! capacity plus the files that in-flight reads and writes still hold, however
//! many partitions and segments exist.
//!
//! The cache is per process, not per store, because the limit it guards
//! (RLIMIT_NOFILE) is per process. Its capacity is half the soft limit at first
//! use, leaving the other half for sockets, the metadata and offset files and
//! the short-lived handles of index writes and directory fsyncs.
//!
//! Durability across reopening. An fsync through a descriptor reports the
//! writeback errors that happened while that descriptor was open; Linux also
//! reports an error nobody has seen yet to a descriptor opened after it, but
//! not once the inode has left memory. So a descriptor is never closed while
//! writes through it still wait for an fsync (acks=all appends between their
//! write and the group commit that covers them): closing it fsyncs first (see
//! [`OpenFile`]'s `Drop`), and a failure there is kept in the segment's
//! [`SegmentFile`], so the group commit's own fsync fails too and the writes
//! it covers are refused. Writes nobody waits for (acks=0/1) are closed
//! without an fsync: an fsync per eviction would cost every such append an
//! fsync once partitions outnumber the cache, and their durability was never
//! promised (Kafka does not fsync them either); a later fsync of the segment
//! still reports their writeback error unless the inode left memory.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use tracing::error;

/// Fewest files the cache keeps open (a tiny limit still needs a working set).
const MIN_CAPACITY: usize = 16;

static CACHE: LazyLock<FileCache> = LazyLock::new(|| FileCache::new(default_capacity()));
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Half the soft open-file limit; the other half is left for sockets and the
/// broker's other files.
fn default_capacity() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and has no other effect.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    };
    (soft / 2).max(MIN_CAPACITY)
}

/// Sets how many segment files the process keeps open at most (the default
/// is half the open-file limit). Files beyond it are closed at their next use.
pub fn set_max_open_segment_files(capacity: usize) {
    CACHE.inner.lock().capacity = capacity.max(MIN_CAPACITY);
}

/// How many segment files the cache keeps open at most.
pub(crate) fn max_open_segment_files() -> usize {
    CACHE.inner.lock().capacity
}

/// Segment files the cache holds open now (files held by in-flight reads or
/// writes after their eviction are not counted).
pub fn open_segment_files() -> usize {
    CACHE.inner.lock().entries.len()
}

/// What a segment and its open descriptors share.
#[derive(Default)]
struct FileShared {
    /// Writes that wait for an fsync, counted before each such write.
    awaited_writes: AtomicU64,
    /// `awaited_writes` as it was before the last successful fsync.
    synced_writes: AtomicU64,
    /// Held across an fsync and the recording of its outcome, so a later
    /// fsync of the same segment sees an earlier one's failure.
    sync_error: Mutex<Option<String>>,
    /// The segment was deleted: closing needs no fsync.
    discarded: AtomicBool,
}

impl FileShared {
    fn has_awaited_writes(&self) -> bool {
        self.awaited_writes.load(Ordering::Acquire) > self.synced_writes.load(Ordering::Acquire)
    }

    /// fdatasync through `file`, recording the outcome for later fsyncs.
    fn sync(&self, file: &File, path: &Path) -> io::Result<()> {
        let covered = self.awaited_writes.load(Ordering::Acquire);
        let mut sync_error = self.sync_error.lock();
        let synced = file.sync_data();
        match &synced {
            Ok(()) => {
                self.synced_writes.fetch_max(covered, Ordering::AcqRel);
            }
            Err(err) => {
                sync_error.get_or_insert(format!("fdatasync {}: {err}", path.display()));
            }
        }
        match sync_error.as_ref() {
            Some(earlier) => Err(io::Error::other(earlier.clone())),
            None => synced,
        }
    }
}

/// An open segment file. Closing it while writes wait for an fsync fsyncs
/// first.
pub(crate) struct OpenFile {
    file: File,
    shared: Arc<FileShared>,
    path: PathBuf,
}

impl OpenFile {
    /// fdatasync that fails also if an earlier fsync of the segment (done
    /// when the cache closed a descriptor) failed. Shadows `File::sync_data`.
    pub(crate) fn sync_data(&self) -> io::Result<()> {
        self.shared.sync(&self.file, &self.path)
    }
}

impl Deref for OpenFile {
    type Target = File;
    fn deref(&self) -> &File {
        &self.file
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        if !self.shared.has_awaited_writes() || self.shared.discarded.load(Ordering::Acquire) {
            return;
        }
        if let Err(err) = self.shared.sync(&self.file, &self.path) {
            error!(segment = %self.path.display(), error = %err, "fdatasync before closing failed");
        }
    }
}

/// A segment's `.log` file, opened on demand through the process's cache.
pub(crate) struct SegmentFile {
    id: u64,
    path: PathBuf,
    shared: Arc<FileShared>,
}

impl SegmentFile {
    /// A file that exists and is not opened yet.
    pub(crate) fn closed(path: PathBuf) -> SegmentFile {
        SegmentFile {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            path,
            shared: Arc::new(FileShared::default()),
        }
    }

    /// Hands an already-open descriptor of `path` to the cache.
    pub(crate) fn adopt(path: PathBuf, file: File) -> SegmentFile {
        let segment_file = SegmentFile::closed(path);
        let open = Arc::new(segment_file.wrap(file));
        CACHE.insert(segment_file.id, open);
        segment_file
    }

    fn wrap(&self, file: File) -> OpenFile {
        OpenFile {
            file,
            shared: Arc::clone(&self.shared),
            path: self.path.clone(),
        }
    }

    /// The open file, reopened (read + append) if the cache had closed it.
    pub(crate) fn open(&self) -> io::Result<Arc<OpenFile>> {
        if let Some(open) = CACHE.get(self.id) {
            return Ok(open);
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", self.path.display())))?;
        Ok(CACHE.insert_or_get(self.id, Arc::new(self.wrap(file))))
    }

    /// Call before a write that will wait for an fsync, so that closing the
    /// file before that fsync fsyncs first.
    pub(crate) fn note_awaited_write(&self) {
        self.shared.awaited_writes.fetch_add(1, Ordering::AcqRel);
    }

    /// fdatasync, failing also if an fsync done when the cache closed this
    /// file failed earlier.
    pub(crate) fn sync_data(&self) -> io::Result<()> {
        self.open()?.sync_data()
    }

    /// A failure recorded when the cache closed this file, if any.
    pub(crate) fn deferred_error(&self) -> Option<String> {
        self.shared.sync_error.lock().clone()
    }

    pub(crate) fn set_len(&self, len: u64) -> io::Result<()> {
        self.open()?.file.set_len(len)
    }

    pub(crate) fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.open()?.file, buf, position)
    }

    /// The segment is being deleted: closing it needs no fsync.
    pub(crate) fn discard(&self) {
        self.shared.discarded.store(true, Ordering::Release);
    }
}

impl Drop for SegmentFile {
    fn drop(&mut self) {
        // Outside the cache lock: closing may fsync.
        let removed = CACHE.remove(self.id);
        drop(removed);
    }
}

struct Entry {
    file: Arc<OpenFile>,
    last_use: u64,
}

struct Inner {
    entries: HashMap<u64, Entry>,
    /// last_use -> id, oldest first.
    by_use: BTreeMap<u64, u64>,
    clock: u64,
    capacity: usize,
}

impl Inner {
    fn touch(&mut self, id: u64) -> Option<Arc<OpenFile>> {
        self.clock += 1;
        let now = self.clock;
        let entry = self.entries.get_mut(&id)?;
        self.by_use.remove(&entry.last_use);
        entry.last_use = now;
        self.by_use.insert(now, id);
        Some(Arc::clone(&entry.file))
    }

    /// Removes least recently used entries beyond capacity; the caller drops
    /// them after releasing the lock (dropping may fsync).
    fn evict(&mut self) -> Vec<Arc<OpenFile>> {
        let mut evicted = Vec::new();
        while self.entries.len() > self.capacity {
            let Some((_, id)) = self.by_use.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&id) {
                evicted.push(entry.file);
            }
        }
        evicted
    }
}

struct FileCache {
    inner: Mutex<Inner>,
}

impl FileCache {
    fn new(capacity: usize) -> FileCache {
        FileCache {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                by_use: BTreeMap::new(),
                clock: 0,
                capacity,
            }),
        }
    }

    fn get(&self, id: u64) -> Option<Arc<OpenFile>> {
        self.inner.lock().touch(id)
    }

    fn insert(&self, id: u64, file: Arc<OpenFile>) {
        let replaced = self.insert_or_get(id, file);
        drop(replaced);
    }

    /// Inserts `file` unless another thread reopened the same segment first;
    /// returns the one that is cached.
    fn insert_or_get(&self, id: u64, file: Arc<OpenFile>) -> Arc<OpenFile> {
        let (cached, evicted) = {
            let mut inner = self.inner.lock();
            let cached = match inner.touch(id) {
                Some(existing) => existing,
                None => {
                    let now = inner.clock;
                    inner.by_use.insert(now, id);
                    inner.entries.insert(
                        id,
                        Entry {
                            file: Arc::clone(&file),
                            last_use: now,
                        },
                    );
                    file
                }
            };
            (cached, inner.evict())
        };
        drop(evicted);
        cached
    }

    fn remove(&self, id: u64) -> Option<Arc<OpenFile>> {
        let mut inner = self.inner.lock();
        let entry = inner.entries.remove(&id)?;
        inner.by_use.remove(&entry.last_use);
        Some(entry.file)
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;

    use super::*;

    /// A descriptor whose fsync fails (EINVAL): the write end of a pipe.
    fn unsyncable() -> File {
        let (_reader, writer) = std::io::pipe().expect("pipe");
        File::from(OwnedFd::from(writer))
    }

    fn empty_segment(dir: &Path) -> PathBuf {
        let path = dir.join("00000000000000000000.log");
        std::fs::write(&path, b"").expect("create segment");
        path
    }

    #[test]
    fn a_failed_fsync_at_eviction_fails_the_next_fsync_of_the_segment() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = empty_segment(dir.path());
        let segment = SegmentFile::adopt(path.clone(), unsyncable());
        segment.note_awaited_write();
        // The cache closes the descriptor (as an eviction does): it must
        // fsync first, and that fsync fails.
        drop(CACHE.remove(segment.id));
        let recorded = segment.deferred_error().expect("failure recorded");
        assert!(recorded.contains("fdatasync"), "{recorded}");
        // The group commit's fsync reopens the real file, which syncs fine,
        // and still fails: the writes it covers were not made durable.
        let err = segment.sync_data().expect_err("earlier failure reported");
        assert!(err.to_string().contains("fdatasync"), "{err}");
    }

    #[test]
    fn closing_without_awaited_writes_or_after_discard_does_not_fsync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = empty_segment(dir.path());
        // No awaited write: closing needs no fsync, so nothing fails.
        let quiet = SegmentFile::adopt(path.clone(), unsyncable());
        drop(CACHE.remove(quiet.id));
        assert_eq!(quiet.deferred_error(), None);
        // A deleted segment is not fsynced either.
        let deleted = SegmentFile::adopt(path, unsyncable());
        deleted.note_awaited_write();
        deleted.discard();
        drop(CACHE.remove(deleted.id));
        assert_eq!(deleted.deferred_error(), None);
    }

    #[test]
    fn the_least_recently_used_file_is_closed_beyond_capacity() {
        let cache = FileCache::new(MIN_CAPACITY);
        let dir = tempfile::tempdir().expect("temp dir");
        let files: Vec<SegmentFile> = (0..MIN_CAPACITY as u64 + 1)
            .map(|i| {
                let path = dir.path().join(format!("{i:020}.log"));
                std::fs::write(&path, b"x").expect("create segment");
                SegmentFile::closed(path)
            })
            .collect();
        for file in &files {
            let open = File::open(&file.path).expect("open");
            cache.insert(file.id, Arc::new(file.wrap(open)));
            // Keep the first one recently used.
            cache.get(files[0].id);
        }
        let inner = cache.inner.lock();
        assert_eq!(inner.entries.len(), MIN_CAPACITY);
        assert!(inner.entries.contains_key(&files[0].id));
        assert!(!inner.entries.contains_key(&files[1].id));
    }
}
