//! `#[valuetask::async_trait]` accepts what `#[async_trait::async_trait]` accepts and
//! behaves the same: one file of shapes (tests/async_trait_shapes/shapes.rs) is compiled
//! under each attribute, only the import differing, and both runs log the same results.

#![deny(unused_qualifications, rust_2021_compatibility)]

// A local `core` module: the expansions must name `::core`, not `core`.
#[allow(dead_code)]
mod core {}

#[allow(
    dead_code,
    unreachable_pub,
    clippy::needless_lifetimes,
    clippy::unused_async
)]
mod with_async_trait {
    use async_trait::async_trait;

    include!("async_trait_shapes/shapes.rs");
}

#[allow(
    dead_code,
    unreachable_pub,
    clippy::needless_lifetimes,
    clippy::unused_async
)]
mod with_valuetask {
    use valuetask::async_trait;

    include!("async_trait_shapes/shapes.rs");
}

use std::future::Future;

fn log_of<F: Future<Output = ()>>(run: impl FnOnce(with_valuetask::Log) -> F) -> Vec<String> {
    let log = with_valuetask::Log::default();
    futures::executor::block_on(run(log.clone()));
    log.lock().unwrap().clone()
}

#[test]
fn both_attributes_log_the_same() {
    let theirs = log_of(with_async_trait::run);
    let ours = log_of(with_valuetask::run);
    assert_eq!(theirs.len(), 66, "{theirs:?}");
    assert_eq!(ours, theirs);
}

#[test]
fn both_attributes_log_the_same_without_send() {
    let theirs = log_of(with_async_trait::run_local);
    let ours = log_of(with_valuetask::run_local);
    assert_eq!(ours, theirs);
    assert_eq!(ours, ["A", "A", "hits 2", "Some(\"A\")", "6"]);
}

#[test]
fn futures_are_send() {
    with_async_trait::assert_send();
    with_valuetask::assert_send();
}
