//! The metadata file (`fjord-metadata.json`) from arbitrary bytes, opened
//! through `FileMetadataStore`'s public API: refused with an error or
//! loaded; once loaded, a change and a reopen keep everything else as it was.
#![no_main]

use std::sync::OnceLock;

use fjord_fuzz::{runtime, scratch_dir, write_file};
use fjord_storage::meta::{FileMetadataStore, MetadataStore, TopicMeta, METADATA_FILE};
use libfuzzer_sys::fuzz_target;

fn sorted(mut topics: Vec<TopicMeta>) -> Vec<TopicMeta> {
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    topics
}

fuzz_target!(|data: &[u8]| {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RUNTIME.get_or_init(runtime);
    let scratch = scratch_dir();
    write_file(&scratch.path().join(METADATA_FILE), data);
    let Ok(store) = FileMetadataStore::open(scratch.path(), Some("ignored")) else {
        return;
    };
    let cluster_id = store.cluster_id();
    let mut topics = sorted(store.topics());
    for topic in &topics {
        assert_eq!(store.topic(&topic.name).as_ref(), Some(topic));
        // Ids are unique per topic in Kafka; a file may still repeat one, and
        // then either topic is an answer, but there must be one.
        assert!(store.topic_by_id(topic.id).is_some());
    }
    let added = TopicMeta {
        name: "fuzz-added".into(),
        id: uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
        partitions: 1,
        configs: Default::default(),
        version: 0,
    };
    // Refused when the file already names a topic so; stored with the
    // version the store gives it otherwise.
    let Ok(added) = rt.block_on(store.create_topic(added)) else {
        return;
    };
    topics.push(added);
    let topics = sorted(topics);
    drop(store);
    let reopened = FileMetadataStore::open(scratch.path(), Some("other"))
        .expect("a file this store just wrote must reopen");
    assert_eq!(reopened.cluster_id(), cluster_id);
    assert_eq!(sorted(reopened.topics()), topics);
});
