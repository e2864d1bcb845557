//! Zero-copy fetch through a real listener, on this kernel (cachestat(2)
//! tells which pages are cached, and cached ones go out with sendfile):
//! the cases are in zero_copy/cases.rs. Small answers are normally copied
//! (see tests/zero_copy_copied.rs); here every answer's records go out with
//! sendfile.

#[path = "zero_copy/cases.rs"]
mod cases;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendfile_answers_are_the_in_memory_answers_byte_for_byte() {
    fjord_broker::connection::set_copied_records_limit(0);
    cases::sendfile_answers_are_the_in_memory_answers_byte_for_byte().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_gets_the_same_bytes_in_order() {
    fjord_broker::connection::set_copied_records_limit(0);
    cases::a_slow_reader_gets_the_same_bytes_in_order().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_racing_segment_deletion_gets_whole_batches_or_an_error() {
    fjord_broker::connection::set_copied_records_limit(0);
    cases::a_fetch_racing_segment_deletion_gets_whole_batches_or_an_error().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_answers_are_the_plaintext_answers_byte_for_byte() {
    fjord_broker::connection::set_copied_records_limit(0);
    cases::tls_answers_are_the_plaintext_answers_byte_for_byte().await;
}
