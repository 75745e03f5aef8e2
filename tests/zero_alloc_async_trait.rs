//! A `dyn` trait expanded by `#[valuetask::async_trait]` allocates nothing per call in
//! steady state, whether the body returns at once or suspends, counted with a
//! process-wide allocator (every thread's allocations count). The same trait under
//! `#[async_trait::async_trait]` allocates once per call, which shows the counter works.
//!
//! One `#[test]` runs every case one after another, so other tests do not allocate into
//! the counter meanwhile, and it waits for the harness to settle before it counts.

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use valuetask::{ResetCore, Token, ValueTask};

mod support;

use support::counting_alloc::{
    CountingAlloc, Counts, counted_after_warm_up, wait_until_the_harness_waits,
};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

const WARM_UP: u64 = 1_000;
const ITERATIONS: u64 = 10_000;

/// Runs `op` `WARM_UP` times, then `ITERATIONS` times while counting the allocations of
/// all threads.
fn allocations_of(op: impl FnMut(u64)) -> Counts {
    counted_after_warm_up(WARM_UP, ITERATIONS, op)
}

fn poll_noop<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

mod ours {
    use super::*;
    use valuetask::async_trait;

    #[async_trait]
    pub(crate) trait Service: Send + Sync {
        async fn ready(&self, key: u64) -> u64;
        async fn suspend(&self, core: &ResetCore<u64>, token: Token) -> u64;
        /// A default body, calling another method.
        async fn twice(&self, key: u64) -> u64 {
            self.ready(key).await + self.ready(key).await
        }
    }

    pub(crate) struct Offset(pub(crate) u64);

    #[async_trait]
    impl Service for Offset {
        async fn ready(&self, key: u64) -> u64 {
            key ^ self.0
        }

        async fn suspend(&self, core: &ResetCore<u64>, token: Token) -> u64 {
            ValueTask::from_source(core, token).await ^ self.0
        }
    }

    #[async_trait(?Send)]
    pub(crate) trait LocalService {
        async fn suspend(&self, core: &ResetCore<u64>, token: Token) -> u64;
    }

    pub(crate) struct Shared(pub(crate) Rc<Cell<u64>>);

    #[async_trait(?Send)]
    impl LocalService for Shared {
        async fn suspend(&self, core: &ResetCore<u64>, token: Token) -> u64 {
            let held = Rc::clone(&self.0);
            let value = ValueTask::from_source(core, token).await;
            held.set(held.get() + 1);
            value ^ held.get()
        }
    }
}

mod theirs {
    use async_trait::async_trait;

    #[async_trait]
    pub(crate) trait Service: Send + Sync {
        async fn ready(&self, key: u64) -> u64;
    }

    #[async_trait]
    impl Service for super::ours::Offset {
        async fn ready(&self, key: u64) -> u64 {
            key ^ self.0
        }
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "counts allocations with a global allocator, slow under Miri"
)]
fn dyn_calls_through_the_attribute_allocate_nothing_after_warm_up() {
    // The harness's main thread allocates about four times (its table of running
    // tests) after it starts this test's thread; on a loaded machine that came after
    // this thread opened its first window, which saw them.
    wait_until_the_harness_waits();
    let offset = ours::Offset(0x9e37);
    let service: &dyn ours::Service = &offset;
    let async_trait_service: &dyn theirs::Service = &offset;
    let core = ResetCore::new();
    let mut failures = Vec::new();
    let mut check = |name: &str, counts: Counts| {
        if counts.allocs != 0 {
            failures.push(format!("{name}, {ITERATIONS} calls: {}", counts.explain()));
        }
    };

    // Sanity: the counter sees async-trait's box.
    let boxed = allocations_of(|i| {
        let mut task = black_box(async_trait_service).ready(i);
        assert_eq!(poll_noop(&mut task), Poll::Ready(i ^ 0x9e37));
    });
    assert_eq!(
        boxed.allocs, ITERATIONS as usize,
        "async-trait boxes every call"
    );

    check(
        "body returns at once",
        allocations_of(|i| {
            let mut task = black_box(service).ready(i);
            assert_eq!(poll_noop(&mut task), Poll::Ready(i ^ 0x9e37));
        }),
    );

    check(
        "default body awaiting two calls",
        allocations_of(|i| {
            let mut task = black_box(service).twice(i);
            assert_eq!(poll_noop(&mut task), Poll::Ready((i ^ 0x9e37) * 2));
        }),
    );

    check(
        "body suspends once on a source",
        allocations_of(|i| {
            let token = core.reset();
            let mut task = black_box(service).suspend(&core, token);
            assert!(poll_noop(&mut task).is_pending());
            core.complete(token, i).unwrap();
            assert_eq!(poll_noop(&mut task), Poll::Ready(i ^ 0x9e37));
        }),
    );

    check(
        "body suspends, then the call is dropped",
        allocations_of(|_| {
            let token = core.reset();
            let mut task = black_box(service).suspend(&core, token);
            assert!(poll_noop(&mut task).is_pending());
            drop(task);
        }),
    );

    let shared = ours::Shared(Rc::new(Cell::new(0)));
    let local: &dyn ours::LocalService = &shared;
    check(
        "?Send body holding an Rc suspends once",
        allocations_of(|i| {
            let token = core.reset();
            let mut task = black_box(local).suspend(&core, token);
            assert!(poll_noop(&mut task).is_pending());
            core.complete(token, i).unwrap();
            assert!(poll_noop(&mut task).is_ready());
        }),
    );

    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
