//! The zero-allocation claim, as a test: after a warm-up, typed requests from many tasks
//! allocate (amortized) less than once per 100 requests, counted on every thread.
//!
//! This file is its own test binary so that its counting allocator sees only this test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use valuetask_redis::{Client, Completion, Pooled, RedisServer, ValuetaskOneshot};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counter is an atomic that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TASKS: usize = 16;

/// Every typed command, `rounds` times, from one task.
async fn work<M: Completion>(client: Client<M>, task: usize, rounds: usize) {
    let key = [b'k', task as u8];
    for _ in 0..rounds {
        client.ping().await.unwrap();
        client
            .set(key, b"0123456789abcdef0123456789abcdef", None)
            .await
            .unwrap();
        client
            .set(
                key,
                b"0123456789abcdef0123456789abcdef",
                Some(Duration::from_secs(60)),
            )
            .await
            .unwrap();
        assert_eq!(client.get(key).await.unwrap().unwrap().len(), 32);
        assert_eq!(client.get(b"missing").await.unwrap(), None);
        assert_eq!(client.del(key).await.unwrap(), 1);
        assert_eq!(client.incr(key).await.unwrap(), 1);
        assert_eq!(client.del(key).await.unwrap(), 1);
    }
}

const REQUESTS_PER_ROUND: usize = 8;

/// One test for both allocation-free mechanisms, one after the other: the count is
/// process-wide, so two tests at once would see each other's allocations.
#[test]
fn typed_requests_allocate_nothing_in_steady_state() {
    requests_allocate_nothing(Pooled);
    requests_allocate_nothing(ValuetaskOneshot);
}

fn requests_allocate_nothing<M: Completion>(completion: M) {
    let name = std::any::type_name::<M>();
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = tokio::time::timeout(Duration::from_secs(30), Client::connect_with(server.addr(), completion))
            .await
            .expect("hang: connect")
            .expect("connect to redis-server");
        // Spawned tasks (one allocation each) are created before counting starts; they
        // wait on `go` until then.
        let go = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
        let run = |rounds: usize| {
            let tasks: Vec<_> = (0..TASKS)
                .map(|task| {
                    let (client, go) = (client.clone(), go.clone());
                    tokio::spawn(async move {
                        go.acquire().await.unwrap().forget();
                        work(client, task, rounds).await;
                    })
                })
                .collect();
            tasks
        };
        for (phase, rounds) in [("warm-up", 250), ("measured", 2_500)] {
            let tasks = run(rounds);
            let before = ALLOCS.load(Relaxed);
            go.add_permits(TASKS);
            for task in tasks {
                tokio::time::timeout(Duration::from_secs(60), task)
                    .await
                    .unwrap_or_else(|_| panic!("hang: {phase} did not finish"))
                    .expect("worker panicked");
            }
            let allocs = ALLOCS.load(Relaxed) - before;
            let requests = (TASKS * rounds * REQUESTS_PER_ROUND) as f64;
            let per_request = allocs as f64 / requests;
            eprintln!("{name} {phase}: {allocs} allocations for {requests} requests ({per_request:.5} per request)");
            if phase == "measured" {
                assert!(
                    per_request < 0.01,
                    "{name}: {allocs} allocations for {requests} requests: {per_request:.5} per request"
                );
            }
        }
    });
}
