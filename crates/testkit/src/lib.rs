//! What Fjord's tests build over and over, written once: magic-v2 record
//! batches as producers send them (`batches`) and request frames, well- or
//! ill-formed (`frames`), signed JWTs and their keys (`jwt`), test
//! certificates (`tls`), an rdkafka group member's context
//! (`group_member`). Used by tests and the benchmark's soak, never by the
//! broker itself.

pub mod batches;
pub mod frames;
pub mod group_member;
pub mod jwt;
pub mod tls;
