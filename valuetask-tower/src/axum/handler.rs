//! [`pooled`]: an async function as an axum `Handler` whose future is pooled.

use std::fmt;
use std::future::Future;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use valuetask::ValueTask;

use super::{extract_or_reject, for_each_extractor_count};

/// Wraps an async function (any function axum takes as a handler: up to 16 extractors,
/// the last of which may read the body) as a `Handler` whose future is a pooled
/// [`ValueTask`] instead of axum's `Pin<Box<dyn Future>>`.
///
/// The future is the extraction and the function's own future, in one block of the pool;
/// when that is larger than the pool's largest block it is boxed, as
/// [`ValueTask::from_future`] says. The `Route` axum wraps the handler in still boxes
/// (see the [module docs](crate::axum)).
///
/// # Examples
///
/// ```
/// use axum::{Router, body::Body, extract::{Path, Request}, routing::get};
/// use tower::ServiceExt;
/// use valuetask_tower::axum::pooled;
///
/// async fn greet(Path(name): Path<String>) -> String {
///     format!("hello, {name}")
/// }
///
/// let app = Router::new().route("/greet/{name}", get(pooled(greet)));
/// let request = Request::builder().uri("/greet/ferris").body(Body::empty()).unwrap();
/// let response = futures::executor::block_on(app.oneshot(request)).unwrap();
/// let body = futures::executor::block_on(axum::body::to_bytes(response.into_body(), 64));
/// assert_eq!(body.unwrap(), "hello, ferris");
/// ```
pub fn pooled<F>(function: F) -> PooledHandler<F> {
    PooledHandler { function }
}

/// An async function as a `Handler` with a pooled future: see [`pooled`].
#[derive(Clone, Copy)]
pub struct PooledHandler<F> {
    function: F,
}

impl<F> fmt::Debug for PooledHandler<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledHandler")
            .field("function", &std::any::type_name::<F>())
            .finish()
    }
}

/// A function of no extractors.
impl<F, Fut, Res, S> Handler<((),), S> for PooledHandler<F>
where
    F: FnOnce() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Res> + Send + 'static,
    Res: IntoResponse,
{
    type Future = ValueTask<'static, Response>;

    fn call(self, _request: Request, _state: S) -> Self::Future {
        ValueTask::from_future(async move { (self.function)().await.into_response() })
    }
}

macro_rules! handler_of {
    ([$($part:ident),*], $last:ident) => {
        #[allow(non_snake_case)]
        impl<F, Fut, Res, S, M, $($part,)* $last> Handler<(M, $($part,)* $last,), S>
            for PooledHandler<F>
        where
            F: FnOnce($($part,)* $last) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Res> + Send + 'static,
            Res: IntoResponse,
            S: Send + Sync + 'static,
            $($part: FromRequestParts<S> + Send + 'static,)*
            $last: FromRequest<S, M> + Send + 'static,
        {
            type Future = ValueTask<'static, Response>;

            fn call(self, request: Request, state: S) -> Self::Future {
                ValueTask::from_future(async move {
                    extract_or_reject!(request, &state, [$($part),*], $last, |rejection| rejection);
                    (self.function)($($part,)* $last).await.into_response()
                })
            }
        }
    };
}

for_each_extractor_count!(handler_of);
