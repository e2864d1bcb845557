//! The zero-copy cases (zero_copy/cases.rs) as on a kernel without
//! cachestat(2) (before Linux 6.5): the broker cannot tell which pages are
//! cached, so fetched records are read with RWF_NOWAIT (or on the blocking
//! pool) into the connection's buffer and written from there; the answers
//! must still be the in-memory path's, byte for byte. The probe is switched
//! off for this whole test process.

#[path = "zero_copy/cases.rs"]
mod cases;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendfile_answers_are_the_in_memory_answers_byte_for_byte() {
    fjord_storage::records::disable_page_cache_probe();
    cases::sendfile_answers_are_the_in_memory_answers_byte_for_byte().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_gets_the_same_bytes_in_order() {
    fjord_storage::records::disable_page_cache_probe();
    cases::a_slow_reader_gets_the_same_bytes_in_order().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_racing_segment_deletion_gets_whole_batches_or_an_error() {
    fjord_storage::records::disable_page_cache_probe();
    cases::a_fetch_racing_segment_deletion_gets_whole_batches_or_an_error().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_answers_are_the_plaintext_answers_byte_for_byte() {
    fjord_storage::records::disable_page_cache_probe();
    cases::tls_answers_are_the_plaintext_answers_byte_for_byte().await;
}
