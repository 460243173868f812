//! Test support for crates that implement [`crate::Backend`] (feature `testing`): the
//! backend contract suite ([`contract`]), run by every backend's tests. Like the rest of this
//! crate it does no file I/O; what a backend needs from files, its test provides.

pub mod contract;
