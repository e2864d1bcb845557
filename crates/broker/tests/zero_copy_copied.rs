//! The zero-copy cases (zero_copy/cases.rs) with small answers copied: every
//! answer up to the reused buffer's size (64 KiB) whose records are cached
//! is read into memory and written at once instead of sent with sendfile,
//! as answers with few records normally are; the answers must still be the
//! in-memory path's, byte for byte. The limit is set for this whole test
//! process.

#[path = "zero_copy/cases.rs"]
mod cases;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copied_answers_are_the_in_memory_answers_byte_for_byte() {
    fjord_broker::connection::set_copied_records_limit(usize::MAX);
    cases::sendfile_answers_are_the_in_memory_answers_byte_for_byte().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_racing_segment_deletion_gets_whole_batches_or_an_error() {
    fjord_broker::connection::set_copied_records_limit(usize::MAX);
    cases::a_fetch_racing_segment_deletion_gets_whole_batches_or_an_error().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_answers_are_the_plaintext_answers_byte_for_byte() {
    fjord_broker::connection::set_copied_records_limit(usize::MAX);
    cases::tls_answers_are_the_plaintext_answers_byte_for_byte().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_gets_the_same_bytes_in_order() {
    fjord_broker::connection::set_copied_records_limit(usize::MAX);
    cases::a_slow_reader_gets_the_same_bytes_in_order().await;
}
