//! The transaction coordinator as a state machine, without sockets: a real
//! transaction store on a temp dir, markers recorded, time passed in.

mod init;
mod lifecycle;
mod states;
mod support;
mod timers;
