//! axum's handlers and `from_fn` middleware with pooled futures.
//!
//! - [`pooled`] wraps an async function as an axum `Handler` whose future is a
//!   [`ValueTask`](valuetask::ValueTask) from the future pool, where axum boxes the
//!   future of every function handler.
//! - [`from_fn`] and [`from_fn_with_state`] are axum's middleware of the same names with
//!   a pooled future; the middleware receives this module's [`Next`], whose inner service
//!   is erased once and cloned per request into a reused box
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
//! These adapters remove the boxes that the handler and the middleware themselves make.
//! Those that axum's router makes stay, because the router accepts no erased type but its
//! own:
//!
//! - **`Route`**: axum wraps every endpoint, and every service a `layer` makes, in its
//!   `Route` type, which holds a `tower::util::BoxCloneSyncService`. Its field is private
//!   and `Router` takes no other erased type, so nothing outside axum can swap it. Each
//!   request clones the matched `Route` (a box for the clone) and calls it (a box for its
//!   future): two allocations per `Route` on the request's way, the endpoint's and one
//!   per router-wide layer. This middleware's own `Next` holds a clone of the inner
//!   `Route`, so that clone's box is one of them.
//! - **Bodies**: `axum::body::Body` is a boxed body; a response built from anything but
//!   an empty body (a `&'static str` here) boxes it, and a first header allocates the
//!   response's `HeaderMap`. Those belong to the handler's answer, the same with or
//!   without these adapters.
//! - **Large futures**: a future bigger than the pool's largest block is boxed by
//!   [`ValueTask::from_future`](valuetask::ValueTask::from_future) (see
//!   [`valuetask::future_pool::BLOCK_SIZES`]); extractors and the user's code make these
//!   futures grow.
//!
//! The crate's `axum_allocs` example counts and attributes every allocation of one
//! request, stock against pooled.

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
