//! [`from_fn`]: axum's function middleware with a pooled future and a reused `Next`.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use tower::layer::Layer;
use tower::{Service, ServiceExt};
use valuetask::ValueTask;

use super::{extract_or_reject, for_each_extractor_count};
use crate::BoxCloneSyncService;

/// A middleware from an async function, as `axum::middleware::from_fn`, whose future is
/// pooled and whose [`Next`] reuses its box.
///
/// The function takes extractors (up to 15 that read the request's parts, then one
/// that may read the body, such as `Request`), then a [`Next`], and returns anything
/// that is `IntoResponse`. Each request gets a [`Next`] that, once warm, is a clone of
/// the inner service erased into a box a finished request left behind, and runs the
/// extraction and the function in one pooled future.
///
/// # Examples
///
/// ```
/// use axum::{Router, body::Body, extract::Request, http::{HeaderMap, StatusCode},
///     response::{IntoResponse, Response}, routing::get};
/// use tower::ServiceExt;
/// use valuetask_tower::axum::{Next, from_fn, pooled};
///
/// async fn require_key(headers: HeaderMap, request: Request, next: Next) -> Response {
///     match headers.get("x-key") {
///         Some(key) if key == "open sesame" => next.run(request).await,
///         _ => StatusCode::UNAUTHORIZED.into_response(),
///     }
/// }
///
/// let app = Router::new()
///     .route("/", get(pooled(|| async { "in" })))
///     .layer(from_fn(require_key));
/// let call = |key: &str| {
///     let request = Request::builder().uri("/").header("x-key", key).body(Body::empty());
///     futures::executor::block_on(app.clone().oneshot(request.unwrap())).unwrap().status()
/// };
/// assert_eq!(call("open sesame"), StatusCode::OK);
/// assert_eq!(call("guess"), StatusCode::UNAUTHORIZED);
/// ```
pub fn from_fn<F, T>(function: F) -> FromFnLayer<F, (), T> {
    from_fn_with_state((), function)
}

/// [`from_fn`] with a state its extractors can read, as
/// `axum::middleware::from_fn_with_state`.
///
/// # Examples
///
/// ```
/// use axum::{Router, body::Body, extract::{Request, State}, response::Response,
///     routing::get};
/// use tower::ServiceExt;
/// use valuetask_tower::axum::{Next, from_fn_with_state, pooled};
///
/// async fn tag(State(tag): State<&'static str>, request: Request, next: Next) -> Response {
///     let mut response = next.run(request).await;
///     response.headers_mut().insert("x-tag", tag.parse().unwrap());
///     response
/// }
///
/// let app = Router::new()
///     .route("/", get(pooled(|| async { "tagged" })))
///     .layer(from_fn_with_state("blue", tag));
/// let request = Request::builder().uri("/").body(Body::empty()).unwrap();
/// let response = futures::executor::block_on(app.oneshot(request)).unwrap();
/// assert_eq!(response.headers()["x-tag"], "blue");
/// ```
pub fn from_fn_with_state<F, S, T>(state: S, function: F) -> FromFnLayer<F, S, T> {
    FromFnLayer {
        function,
        state,
        extractors: PhantomData,
    }
}

/// The layer [`from_fn`] makes.
#[must_use]
pub struct FromFnLayer<F, S, T> {
    function: F,
    state: S,
    extractors: PhantomData<fn() -> T>,
}

impl<F: Clone, S: Clone, T> Clone for FromFnLayer<F, S, T> {
    fn clone(&self) -> Self {
        FromFnLayer {
            function: self.function.clone(),
            state: self.state.clone(),
            extractors: PhantomData,
        }
    }
}

impl<F, S, T> fmt::Debug for FromFnLayer<F, S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromFnLayer")
            .field("function", &std::any::type_name::<F>())
            .finish_non_exhaustive()
    }
}

impl<F: Clone, S: Clone, T, I> Layer<I> for FromFnLayer<F, S, T> {
    type Service = FromFn<F, S, I, T>;

    fn layer(&self, inner: I) -> Self::Service {
        FromFn {
            function: self.function.clone(),
            state: self.state.clone(),
            inner,
            ready: None,
            extractors: PhantomData,
        }
    }
}

/// The service [`FromFnLayer`] makes: runs the function around the inner service.
///
/// Each request gets its own [`Next`]: a clone of the inner service, erased into a box
/// that a finished request on this thread left behind, and polled ready before the
/// request is called.
pub struct FromFn<F, S, I, T> {
    function: F,
    state: S,
    inner: I,
    /// The next request's `Next`, once polled ready.
    ready: Option<Next>,
    extractors: PhantomData<fn() -> T>,
}

impl<F, S, I, T> FromFn<F, S, I, T>
where
    I: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
    I::Response: IntoResponse,
    I::Future: Send + 'static,
{
    /// The `Next` for the coming request, made if this is the first time it is asked for.
    fn ready_next(&mut self) -> &mut Next {
        let inner = &self.inner;
        self.ready.get_or_insert_with(|| Next::erase(inner.clone()))
    }

    /// Hands the readied `Next` to a request (made now if the caller skipped
    /// `poll_ready`).
    fn take_next(&mut self) -> Next {
        self.ready
            .take()
            .unwrap_or_else(|| Next::erase(self.inner.clone()))
    }
}

impl<F: Clone, S: Clone, I: Clone, T> Clone for FromFn<F, S, I, T> {
    fn clone(&self) -> Self {
        FromFn {
            function: self.function.clone(),
            state: self.state.clone(),
            inner: self.inner.clone(),
            ready: None,
            extractors: PhantomData,
        }
    }
}

impl<F, S, I, T> fmt::Debug for FromFn<F, S, I, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromFn")
            .field("function", &std::any::type_name::<F>())
            .field("inner", &std::any::type_name::<I>())
            .finish_non_exhaustive()
    }
}

macro_rules! from_fn_of {
    ([$($part:ident),*], $last:ident) => {
        #[allow(non_snake_case)]
        impl<F, Fut, Out, S, I, $($part,)* $last> Service<Request>
            for FromFn<F, S, I, ($($part,)* $last,)>
        where
            F: FnMut($($part,)* $last, Next) -> Fut + Clone + Send + 'static,
            Fut: Future<Output = Out> + Send + 'static,
            Out: IntoResponse + 'static,
            S: Clone + Send + Sync + 'static,
            I: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
            I::Response: IntoResponse,
            I::Future: Send + 'static,
            $($part: FromRequestParts<S> + Send + 'static,)*
            $last: FromRequest<S> + Send + 'static,
        {
            type Response = Response;
            type Error = Infallible;
            type Future = ValueTask<'static, Result<Response, Infallible>>;

            fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                self.ready_next().poll_ready(cx)
            }

            fn call(&mut self, request: Request) -> Self::Future {
                let next = self.take_next();
                let mut function = self.function.clone();
                let state = self.state.clone();
                ValueTask::from_future(async move {
                    extract_or_reject!(request, &state, [$($part),*], $last, |rejection| Ok(rejection));
                    Ok(function($($part,)* $last, next).await.into_response())
                })
            }
        }
    };
}

for_each_extractor_count!(from_fn_of);

/// The rest of the stack, as a [`from_fn`] middleware sees it: `axum::middleware::Next`
/// with a pooled future and a clone that reuses its box.
#[derive(Clone, Debug)]
pub struct Next {
    inner: BoxCloneSyncService<Request, Response, Infallible>,
}

impl Next {
    fn erase<I>(inner: I) -> Self
    where
        I: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
        I::Response: IntoResponse,
        I::Future: Send + 'static,
    {
        Next {
            inner: BoxCloneSyncService::new(inner.map_response(IntoResponse::into_response)),
        }
    }

    /// Runs the rest of the stack on `request`.
    pub async fn run(mut self, request: Request) -> Response {
        match self.inner.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

impl Service<Request> for Next {
    type Response = Response;
    type Error = Infallible;
    type Future = ValueTask<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.inner.call(request)
    }
}
