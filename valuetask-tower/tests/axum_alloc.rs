//! An axum `Router` called directly (`oneshot`), with one handler and one `from_fn`
//! middleware: `pooled` and this crate's `from_fn` allocate less per request than stock
//! axum, counted in the same run over requests built beforehand, for a router whose
//! routes are made once (as `axum::serve` makes them) and for one that makes them per
//! request. The `axum_allocs` example attributes what remains.

#[path = "../../tests/support/counting_alloc.rs"]
#[allow(unsafe_code)] // an allocator is unsafe to implement; the library has none
mod counting_alloc;

use std::hint::black_box;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use counting_alloc::{Counts, counted, wait_until_the_harness_waits};
use valuetask_tower::bench::axum_router::{PooledRouter, StockRouter, request};

#[global_allocator]
static GLOBAL: counting_alloc::CountingAlloc = counting_alloc::CountingAlloc::system();

const WARM_UP: usize = 2_000;
const REQUESTS: usize = 2_000;

/// Warms `respond` up, then counts `REQUESTS` requests built beforehand.
fn count(mut respond: impl FnMut(Request) -> Response) -> Counts {
    for _ in 0..WARM_UP {
        assert_eq!(respond(request()).status(), StatusCode::OK);
    }
    let requests: Vec<_> = (0..REQUESTS).map(|_| request()).collect();
    let (counts, ()) = counted(|| {
        for request in requests {
            black_box(respond(request));
        }
    });
    counts
}

fn per_request(counts: &Counts) -> f64 {
    counts.allocs as f64 / REQUESTS as f64
}

#[test]
fn pooled_handler_and_from_fn_allocate_less_than_stock_axum() {
    wait_until_the_harness_waits();
    let shapes = [
        ("routes made once", StockRouter::new(), PooledRouter::new()),
        (
            "routes made per request",
            StockRouter::per_request_routes(),
            PooledRouter::per_request_routes(),
        ),
    ];
    for (shape, mut stock, mut pooled) in shapes {
        let stock = count(|request| stock.respond(request));
        let pooled = count(|request| pooled.respond(request));
        println!(
            "{shape}: stock {} allocations per request, pooled {}",
            per_request(&stock),
            per_request(&pooled)
        );
        assert!(
            pooled.allocs < stock.allocs,
            "{shape}: pooled {} against stock {} allocations per request",
            per_request(&pooled),
            per_request(&stock)
        );
    }
}
