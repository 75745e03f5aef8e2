//! What the pool's own memory buys (issue 23, build 3), measured: `with_capacity`
//! allocates up front, in one chunk; round trips allocate nothing; and the last handle
//! gives every byte back, where the future pool's blocks stay thread-global. Run with
//! `--nocapture` to see the figures.

mod support;

use support::counting_alloc::{CountingAlloc, counted};
use valuetask::SourcePool;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

#[test]
fn the_pools_memory_is_allocated_up_front_and_given_back_by_the_last_handle() {
    for capacity in [16, 1024] {
        // On a thread of its own, so no thread cache holds slots of another pool.
        std::thread::spawn(move || {
            let (made, pool) = counted(|| SourcePool::<u64>::with_capacity(capacity));
            let (used, ()) = counted(|| {
                for round in 0..capacity as u64 {
                    let (task, completer) = pool.rent();
                    completer.succeed(round).unwrap();
                    assert_eq!(task.into_ready().ok(), Some(Ok(round)));
                }
            });
            assert_eq!(pool.stats().capacity, capacity);
            let (dropped, ()) = counted(|| drop(pool));
            println!(
                "SourcePool<u64>::with_capacity({capacity}): {} allocations, {} bytes up \
                 front ({} bytes a slot); {capacity} round trips: {} allocations; the last \
                 handle's drop: {} deallocations, {} bytes given back",
                made.allocs,
                made.bytes,
                made.bytes / capacity,
                used.allocs,
                dropped.deallocs,
                dropped.freed_bytes,
            );
            assert!(made.allocs <= 2, "the storage and one chunk");
            assert_eq!(used.allocs, 0, "{}", used.explain());
            assert_eq!(dropped.freed_bytes, made.bytes, "every byte comes back");
        })
        .join()
        .unwrap();
    }
}
