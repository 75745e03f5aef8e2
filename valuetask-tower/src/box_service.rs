//! [`BoxService`] and [`BoxLayer`]: tower's owned erased service, with pooled futures.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tower::Service;
use tower::layer::{Layer, LayerFn, layer_fn};
use valuetask::ValueTask;

use crate::erased::ErasedService;

/// A `Service` whose type is forgotten, `Send` and `Sync`, and not `Clone`: a drop-in for
/// `tower::util::BoxService` whose future is a pooled [`ValueTask`] instead of a
/// `Pin<Box<dyn Future>>`.
///
/// Building one boxes the service once; each `call` moves the inner future into the
/// future pool ([`ValueTask::from_future`]), which allocates nothing once warm for a
/// future that fits a block (larger ones are boxed, as `ValueTask::from_future` says).
///
/// # Examples
///
/// ```
/// use tower::{ServiceExt, service_fn};
/// use valuetask_tower::BoxService;
///
/// let double = service_fn(|x: u32| async move { Ok::<_, std::convert::Infallible>(x * 2) });
/// let service: BoxService<u32, u32, std::convert::Infallible> = BoxService::new(double);
/// assert_eq!(futures::executor::block_on(service.oneshot(21)), Ok(42));
/// ```
pub struct BoxService<T, U, E> {
    // A `Mutex` only to be `Sync`, as tower's is: `&mut self` reaches the service
    // through `get_mut`, which never locks.
    inner: Mutex<Box<dyn ErasedService<T, U, E> + Send>>,
}

impl<T, U, E> BoxService<T, U, E> {
    /// Erases `inner`'s type.
    pub fn new<S>(inner: S) -> Self
    where
        S: Service<T, Response = U, Error = E> + Send + 'static,
        S::Future: Send + 'static,
    {
        BoxService {
            inner: Mutex::new(Box::new(inner)),
        }
    }

    /// A [`Layer`] that wraps a service in a [`BoxService`].
    pub fn layer<S>() -> LayerFn<fn(S) -> Self>
    where
        S: Service<T, Response = U, Error = E> + Send + 'static,
        S::Future: Send + 'static,
    {
        layer_fn(Self::new)
    }

    fn erased(&mut self) -> &mut (dyn ErasedService<T, U, E> + Send) {
        &mut **self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T, U: 'static, E: 'static> Service<T> for BoxService<T, U, E> {
    type Response = U;
    type Error = E;
    type Future = ValueTask<'static, Result<U, E>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.erased().poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: T) -> Self::Future {
        self.erased().call(request)
    }
}

impl<T, U, E> fmt::Debug for BoxService<T, U, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxService").finish_non_exhaustive()
    }
}

/// A [`Layer`] whose services are [`BoxService`]s, with the inner layer's type
/// forgotten: a drop-in for `tower::util::BoxLayer`.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use tower::{Layer, ServiceExt, service_fn, util::MapRequestLayer};
/// use valuetask_tower::BoxLayer;
///
/// let plus_one: BoxLayer<_, u32, u32, Infallible> =
///     BoxLayer::new(MapRequestLayer::new(|x: u32| x + 1));
/// let echo = service_fn(|x: u32| async move { Ok::<_, Infallible>(x) });
/// assert_eq!(futures::executor::block_on(plus_one.layer(echo).oneshot(41)), Ok(42));
/// ```
pub struct BoxLayer<In, T, U, E> {
    boxed: Arc<dyn Layer<In, Service = BoxService<T, U, E>> + Send + Sync>,
}

impl<In, T, U, E> BoxLayer<In, T, U, E> {
    /// Erases `inner_layer`'s type, and the type of the services it makes.
    pub fn new<L>(inner_layer: L) -> Self
    where
        L: Layer<In> + Send + Sync + 'static,
        L::Service: Service<T, Response = U, Error = E> + Send + 'static,
        <L::Service as Service<T>>::Future: Send + 'static,
    {
        let boxed = layer_fn(move |inner: In| BoxService::new(inner_layer.layer(inner)));
        BoxLayer {
            boxed: Arc::new(boxed),
        }
    }
}

impl<In, T, U, E> Layer<In> for BoxLayer<In, T, U, E> {
    type Service = BoxService<T, U, E>;

    fn layer(&self, inner: In) -> Self::Service {
        self.boxed.layer(inner)
    }
}

impl<In, T, U, E> Clone for BoxLayer<In, T, U, E> {
    fn clone(&self) -> Self {
        BoxLayer {
            boxed: Arc::clone(&self.boxed),
        }
    }
}

impl<In, T, U, E> fmt::Debug for BoxLayer<In, T, U, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxLayer").finish_non_exhaustive()
    }
}
