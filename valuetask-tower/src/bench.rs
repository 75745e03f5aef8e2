//! The erased tower call as benchmark cases: ours and tower's, side by side, each a
//! `new()` that builds the service and an `op()` that runs one request to completion
//! the way a router does, `service.clone().oneshot(request)`, polled by hand with a
//! no-op waker so no executor cost is measured.
//!
//! Both erase the same non-zero-sized service (it carries the number it adds), whose
//! own future is `Ready` and allocates nothing: what remains is the erasure's cost.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tower::{Service, ServiceExt};

/// The service both cases erase: adds its step to the request.
#[derive(Clone, Debug)]
pub struct AddStep {
    step: u64,
}

impl Service<u64> for AddStep {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u64) -> Self::Future {
        ready(Ok(request.wrapping_add(self.step)))
    }
}

/// Polls a service's future, which finishes without waiting, once: its response.
fn complete<T>(future: impl Future<Output = Result<T, Infallible>>) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("the services measured here never wait"),
    }
}

macro_rules! erased_call_case {
    ($(#[$doc:meta])* $case:ident, $service:ty) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $case {
            service: $service,
            request: u64,
        }

        impl $case {
            /// Erases an [`AddStep`].
            pub fn new() -> Self {
                $case {
                    service: <$service>::new(AddStep { step: 3 }),
                    request: 0,
                }
            }

            /// A case over a clone of this one's service, for another thread.
            pub fn fork(&self) -> Self {
                $case {
                    service: self.service.clone(),
                    request: 0,
                }
            }

            /// One request: `service.clone().oneshot(request)`, to completion.
            #[inline(never)]
            pub fn op(&mut self) -> u64 {
                self.request = self.request.wrapping_add(1);
                complete(self.service.clone().oneshot(self.request))
            }
        }

        impl Default for $case {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

erased_call_case! {
    /// Ours: [`crate::BoxCloneSyncService`], cloned per request.
    ValueTaskBoxCloneSyncOneshot,
    crate::BoxCloneSyncService<u64, u64, Infallible>
}

erased_call_case! {
    /// The anchor: `tower::util::BoxCloneSyncService`, cloned per request.
    TowerBoxCloneSyncOneshot,
    tower::util::BoxCloneSyncService<u64, u64, Infallible>
}

/// A router with one handler and one `from_fn` middleware that passes the request on,
/// called directly (`router.clone().oneshot(request)`, no server): the handler answers
/// `"hello"`. Stock axum, and the same with [`pooled`](crate::axum::pooled) and this
/// crate's [`from_fn`](crate::axum::from_fn).
#[cfg(feature = "axum")]
pub mod axum_router {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::Request;
    use axum::response::Response;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::complete;

    async fn hello() -> &'static str {
        "hello"
    }

    async fn pass_on_stock(request: Request, next: axum::middleware::Next) -> Response {
        next.run(request).await
    }

    async fn pass_on_pooled(request: Request, next: crate::axum::Next) -> Response {
        next.run(request).await
    }

    /// A request for the route both routers serve.
    pub fn request() -> Request {
        Request::builder()
            .uri("/")
            .body(Body::empty())
            .expect("a static URI is valid")
    }

    macro_rules! router_case {
        ($(#[$doc:meta])* $case:ident, $router:expr) => {
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $case {
                router: Router,
            }

            impl $case {
                /// Builds the router with its routes made eagerly, as `axum::serve` does
                /// (`with_state(())`).
                pub fn new() -> Self {
                    $case {
                        router: $router.with_state(()),
                    }
                }

                /// Builds the router and leaves it as `Router::new()` made it: axum then
                /// turns the handler into a route, and applies the layer to it, on every
                /// request.
                pub fn per_request_routes() -> Self {
                    $case { router: $router }
                }

                /// Runs one request through the router; returns its response.
                #[inline(never)]
                pub fn respond(&mut self, request: Request) -> Response {
                    complete(self.router.clone().oneshot(request))
                }

                /// One request, built and answered: returns the status code.
                pub fn op(&mut self) -> u64 {
                    u64::from(self.respond(request()).status().as_u16())
                }
            }

            impl Default for $case {
                fn default() -> Self {
                    Self::new()
                }
            }
        };
    }

    router_case! {
        /// Stock axum: `get(hello)` and `axum::middleware::from_fn`.
        StockRouter,
        Router::new()
            .route("/", get(hello))
            .layer(axum::middleware::from_fn(pass_on_stock))
    }

    router_case! {
        /// `get(pooled(hello))` and this crate's `from_fn`.
        PooledRouter,
        Router::new()
            .route("/", get(crate::axum::pooled(hello)))
            .layer(crate::axum::from_fn(pass_on_pooled))
    }
}
