//! What Fjord's tests build over and over, written once: magic-v2 record
//! batches as producers send them (`batches`) and request frames, well- or
//! ill-formed (`frames`), signed JWTs and their keys (`jwt`), test certificates (`tls`). Used only as a dev-dependency, never by the
//! broker itself.

pub mod batches;
pub mod frames;
pub mod jwt;
pub mod tls;
