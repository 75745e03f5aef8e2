//! axum's handlers and `from_fn` middleware with pooled futures.
//!
//! - [`pooled`] wraps an async function as an axum `Handler` whose future is a
//!   [`ValueTask`](valuetask::ValueTask) from the future pool, where axum boxes the
//!   future of every function handler.
//! - [`from_fn`] and [`from_fn_with_state`] are axum's middleware of the same names with
//!   a pooled future; the middleware receives this module's [`Next`], whose inner service
//!   is cloned per request into a reused box
//!   ([`BoxCloneSyncService`](crate::BoxCloneSyncService)), where axum boxes the future
//!   twice and builds a new boxed service for every request.
//!
//! Switching is an import: `pooled(handler)` where `get(handler)` was, and
//! `valuetask_tower::axum::{from_fn, Next}` for `axum::middleware::{from_fn, Next}`.
//!
//! ```
//! use axum::{Router, body::Body, extract::Request, http::StatusCode, response::Response,
//!     routing::get};
//! use tower::ServiceExt;
//! use valuetask_tower::axum::{Next, from_fn, pooled};
//!
//! async fn hello() -> &'static str {
//!     "hello"
//! }
//!
//! async fn stamp(request: Request, next: Next) -> Response {
//!     let mut response = next.run(request).await;
//!     response.headers_mut().insert("x-stamped", "yes".parse().unwrap());
//!     response
//! }
//!
//! let app = Router::new().route("/", get(pooled(hello))).layer(from_fn(stamp));
//! let request = Request::builder().uri("/").body(Body::empty()).unwrap();
//! let response = futures::executor::block_on(app.oneshot(request)).unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["x-stamped"], "yes");
//! ```
//!
//! # What stays boxed inside axum, and why
//!
//! These adapters remove the boxes that the handler and the middleware themselves make:
//! axum's function handler boxes its future, and its `from_fn` boxes its own future,
//! builds a new boxed service for `Next` and boxes that service's future, on every
//! request. What axum's router makes stays, because the router takes no erased type but
//! its own:
//!
//! - **`Route`**: axum wraps every endpoint, and every service a `layer` makes of it, in
//!   its `Route` type, which holds a `tower::util::BoxCloneSyncService`. Its field is
//!   private and `Router` takes nothing else, so nothing outside axum can swap it. Each
//!   request clones the matched `Route` (a box, unless the service inside is zero-sized)
//!   and calls every `Route` on its way (a box for each one's future: the layered route
//!   and the endpoint inside it).
//! - **The router's own bookkeeping**: it inserts the matched route's parameters into
//!   the request's extensions (the extension map, its table and the value: three
//!   allocations, even for a route without parameters).
//! - **The response**: `axum::body::Body` is a boxed body, so a response built from
//!   anything but an empty body (a `&'static str` here) boxes it; its first header
//!   allocates the two tables of the response's `HeaderMap`, and axum writes a
//!   `content-length` value. These belong to the handler's answer, the same with or
//!   without these adapters.
//! - **Large futures**: a future bigger than the pool's largest block is boxed by
//!   [`ValueTask::from_future`](valuetask::ValueTask::from_future) (see
//!   [`valuetask::future_pool::BLOCK_SIZES`]); extractors and the user's code make these
//!   futures grow.
//!
//! Counted with axum 0.8.9 and tower 0.5.3, a `Router` with one `get` handler that
//! answers a `&'static str` and one `from_fn` middleware that passes the request on,
//! called with `oneshot`, allocates 14 times per request stock and 10 times with these
//! adapters, once warm: the three extensions, one `Route` clone, two `Route` futures and
//! four for the response remain. A router left as `Router::new()` made it (not through
//! `with_state(())`, which `axum::serve` calls) makes its routes and applies its layers
//! on every request: 16 stock, 12 here (the same, less the `Route` clone, plus axum's
//! route building: two boxes to clone the handler and one for the new `Route`). The
//! crate's `axum_allocs` example prints these counts and each remaining allocation with
//! the code that made it.

mod from_fn;
mod handler;

pub use from_fn::{FromFn, FromFnLayer, Next, from_fn, from_fn_with_state};
pub use handler::{PooledHandler, pooled};

/// Calls `$m!([parts...], last)` for every number of extractors from 1 to 16, as axum
/// does: every extractor but the last reads the request's parts, the last may take the
/// body.
macro_rules! for_each_extractor_count {
    ($m:ident) => {
        $m!([], X1);
        $m!([X1], X2);
        $m!([X1, X2], X3);
        $m!([X1, X2, X3], X4);
        $m!([X1, X2, X3, X4], X5);
        $m!([X1, X2, X3, X4, X5], X6);
        $m!([X1, X2, X3, X4, X5, X6], X7);
        $m!([X1, X2, X3, X4, X5, X6, X7], X8);
        $m!([X1, X2, X3, X4, X5, X6, X7, X8], X9);
        $m!([X1, X2, X3, X4, X5, X6, X7, X8, X9], X10);
        $m!([X1, X2, X3, X4, X5, X6, X7, X8, X9, X10], X11);
        $m!([X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11], X12);
        $m!([X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12], X13);
        $m!(
            [X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13],
            X14
        );
        $m!(
            [X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13, X14],
            X15
        );
        $m!(
            [
                X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13, X14, X15
            ],
            X16
        );
    };
}
use for_each_extractor_count;

/// Runs the extractors named by the macro's type parameters over `$request` and binds
/// each value to a variable of its type parameter's name; when one fails, returns
/// `$answer` with `$rejection` (its rejection, as a response) from the enclosing async
/// block.
macro_rules! extract_or_reject {
    ($request:expr, $state:expr, [$($part:ident),*], $last:ident, |$rejection:ident| $answer:expr) => {
        // With one extractor, the parts are only rebuilt into the request.
        #[allow(unused_mut)]
        let (mut parts, body) = $request.into_parts();
        $(
            let $part = match <$part as ::axum::extract::FromRequestParts<_>>::from_request_parts(
                &mut parts, $state,
            )
            .await
            {
                Ok(extracted) => extracted,
                Err(rejected) => {
                    let $rejection = ::axum::response::IntoResponse::into_response(rejected);
                    return $answer;
                }
            };
        )*
        let request = ::axum::extract::Request::from_parts(parts, body);
        let $last = match <$last as ::axum::extract::FromRequest<_, _>>::from_request(request, $state).await {
            Ok(extracted) => extracted,
            Err(rejected) => {
                let $rejection = ::axum::response::IntoResponse::into_response(rejected);
                return $answer;
            }
        };
    };
}
use extract_or_reject;
