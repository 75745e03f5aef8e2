//! An erased tower service cloned per request, `clone().oneshot(request)`: ours allocates
//! nothing once warm, tower's `BoxCloneSyncService` twice per request (a box for the
//! clone, one for the future), counted in the same run.

#[path = "../../tests/support/counting_alloc.rs"]
#[allow(unsafe_code)] // an allocator is unsafe to implement; the library has none
mod counting_alloc;

use std::hint::black_box;

use counting_alloc::{CountingAlloc, counted, wait_until_the_harness_waits};
use valuetask_tower::bench::{TowerBoxCloneSyncOneshot, ValueTaskBoxCloneSyncOneshot};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

const WARM_UP: usize = 2_000;
const REQUESTS: usize = 20_000;

#[test]
fn clone_oneshot_allocates_nothing_where_towers_allocates_twice() {
    let mut ours = ValueTaskBoxCloneSyncOneshot::new();
    let mut tower = TowerBoxCloneSyncOneshot::new();
    for _ in 0..WARM_UP {
        black_box(ours.op());
        black_box(tower.op());
    }
    wait_until_the_harness_waits();

    let (ours_counted, ()) = counted(|| {
        for _ in 0..REQUESTS {
            black_box(ours.op());
        }
    });
    let (tower_counted, ()) = counted(|| {
        for _ in 0..REQUESTS {
            black_box(tower.op());
        }
    });

    assert_eq!(ours_counted.allocs, 0, "ours: {}", ours_counted.explain());
    assert_eq!(
        tower_counted.allocs,
        2 * REQUESTS,
        "tower's: {}",
        tower_counted.explain()
    );
}
