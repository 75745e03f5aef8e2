//! `Receiver::blocking_recv` allocates nothing after a thread's first call, counted
//! process-wide, with the `tokio` feature's runtime check on (as under `cargo test`):
//! the check's mutex holds no heap memory, and tokio makes its thread parker once per
//! thread, as this crate makes its waker.
//!
//! One `#[test]`, so no other test allocates into the same counter.

use valuetask::oneshot;

mod support;

use support::counting_alloc::{CountingAlloc, counted, wait_until_the_harness_waits};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

const WARM_UP: usize = 200;
const ROUNDS: usize = 10_000;

fn round_trip(value: u64) -> u64 {
    let (tx, rx) = oneshot::channel();
    tx.send(value).unwrap();
    rx.blocking_recv().unwrap()
}

#[test]
#[cfg_attr(
    miri,
    ignore = "an allocation count of a release build (.ci/zero_alloc.sh); tokio's check is not what Miri is here for"
)]
fn blocking_recv_allocates_nothing_after_a_threads_first_call() {
    wait_until_the_harness_waits();
    for value in 0..WARM_UP as u64 {
        assert_eq!(round_trip(value), value);
    }
    let (counts, sum) = counted(|| (0..ROUNDS as u64).map(round_trip).sum::<u64>());
    assert_eq!(sum, (0..ROUNDS as u64).sum::<u64>());
    assert_eq!(counts.allocs, 0, "{}", counts.explain());
}
