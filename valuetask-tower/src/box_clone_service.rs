//! [`BoxCloneService`] and [`BoxCloneSyncService`] and their layers: tower's cloneable
//! erased services, with pooled futures and clones that reuse their boxes.
//!
//! The two differ only in `Sync`, so one macro writes both.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::Service;
use tower::layer::{Layer, LayerFn, layer_fn};
use valuetask::ValueTask;

use crate::erased::ErasedService;
use crate::spares::Slot;

macro_rules! clone_service {
    (
        $(#[$service_doc:meta])*
        service: $service:ident,
        $(#[$layer_doc:meta])*
        layer: $layer:ident,
        object: $object:ident,
        bounds: $($bound:ident)+,
    ) => {
        /// The object behind the handle: an erased service in a box that it can clone
        /// into a reused box, and give back.
        trait $object<T, U, E>: ErasedService<T, U, E> $(+ $bound)+ {
            fn clone_object(&self) -> Box<dyn $object<T, U, E>>;
            fn recycle(self: Box<Self>);
        }

        impl<S, T> $object<T, S::Response, S::Error> for Slot<S>
        where
            S: Service<T> + Clone $(+ $bound)+ + 'static,
            S::Future: Send + 'static,
        {
            fn clone_object(&self) -> Box<dyn $object<T, S::Response, S::Error>> {
                self.clone_slot()
            }

            fn recycle(self: Box<Self>) {
                Slot::recycle(self)
            }
        }

        $(#[$service_doc])*
        pub struct $service<T, U, E> {
            // `Some` until the handle is dropped, when the box goes back to its spares.
            object: Option<Box<dyn $object<T, U, E>>>,
        }

        impl<T, U, E> $service<T, U, E> {
            /// Erases `inner`'s type, into a box a dropped handle of the same service
            /// type left on this thread, or a new one.
            pub fn new<S>(inner: S) -> Self
            where
                S: Service<T, Response = U, Error = E> + Clone $(+ $bound)+ + 'static,
                S::Future: Send + 'static,
            {
                $service {
                    object: Some(Slot::new(inner)),
                }
            }

            /// A [`Layer`] that wraps a service in this type.
            pub fn layer<S>() -> LayerFn<fn(S) -> Self>
            where
                S: Service<T, Response = U, Error = E> + Clone $(+ $bound)+ + 'static,
                S::Future: Send + 'static,
            {
                layer_fn(Self::new)
            }

            #[inline]
            fn object(&mut self) -> &mut dyn $object<T, U, E> {
                &mut **self
                    .object
                    .as_mut()
                    .expect("a service holds its box until it is dropped")
            }
        }

        impl<T, U: 'static, E: 'static> Service<T> for $service<T, U, E> {
            type Response = U;
            type Error = E;
            type Future = ValueTask<'static, Result<U, E>>;

            #[inline]
            fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
                self.object().poll_ready(cx)
            }

            #[inline]
            fn call(&mut self, request: T) -> Self::Future {
                self.object().call(request)
            }
        }

        impl<T, U, E> Clone for $service<T, U, E> {
            /// Clones the inner service into a box a dropped handle of the same service
            /// type left on this thread, or a new one when none waits.
            fn clone(&self) -> Self {
                let object = self
                    .object
                    .as_ref()
                    .expect("a service holds its box until it is dropped");
                $service {
                    object: Some(object.clone_object()),
                }
            }
        }

        impl<T, U, E> Drop for $service<T, U, E> {
            fn drop(&mut self) {
                if let Some(object) = self.object.take() {
                    object.recycle();
                }
            }
        }

        impl<T, U, E> fmt::Debug for $service<T, U, E> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($service)).finish_non_exhaustive()
            }
        }

        $(#[$layer_doc])*
        pub struct $layer<In, T, U, E> {
            boxed: Arc<dyn Layer<In, Service = $service<T, U, E>> + Send + Sync>,
        }

        impl<In, T, U, E> $layer<In, T, U, E> {
            /// Erases `inner_layer`'s type, and the type of the services it makes.
            pub fn new<L>(inner_layer: L) -> Self
            where
                L: Layer<In> + Send + Sync + 'static,
                L::Service: Service<T, Response = U, Error = E> + Clone $(+ $bound)+ + 'static,
                <L::Service as Service<T>>::Future: Send + 'static,
            {
                let boxed = layer_fn(move |inner: In| $service::new(inner_layer.layer(inner)));
                $layer {
                    boxed: Arc::new(boxed),
                }
            }
        }

        impl<In, T, U, E> Layer<In> for $layer<In, T, U, E> {
            type Service = $service<T, U, E>;

            fn layer(&self, inner: In) -> Self::Service {
                self.boxed.layer(inner)
            }
        }

        impl<In, T, U, E> Clone for $layer<In, T, U, E> {
            fn clone(&self) -> Self {
                $layer {
                    boxed: Arc::clone(&self.boxed),
                }
            }
        }

        impl<In, T, U, E> fmt::Debug for $layer<In, T, U, E> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($layer)).finish_non_exhaustive()
            }
        }
    };
}

clone_service! {
    /// A cloneable `Service` whose type is forgotten, `Send` but not `Sync`: a drop-in
    /// for `tower::util::BoxCloneService` whose future is a pooled [`ValueTask`] and whose
    /// clones reuse their boxes.
    ///
    /// Each `call` moves the inner future into the future pool
    /// ([`ValueTask::from_future`]); each clone clones the inner service into a box that
    /// a dropped handle of the same service type left on this thread (up to
    /// [`MAX_SPARES`] wait per thread and type), so a service cloned per request
    /// allocates nothing for it once warm, where tower's allocates a box for the clone
    /// and one for the future.
    ///
    /// [`MAX_SPARES`]: crate::MAX_SPARES
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use tower::{ServiceExt, service_fn};
    /// use valuetask_tower::BoxCloneService;
    ///
    /// let step = 2;
    /// let service: BoxCloneService<u32, u32, Infallible> =
    ///     BoxCloneService::new(service_fn(move |x: u32| async move { Ok(x * step) }));
    /// let answers: Vec<_> = (20..22)
    ///     .map(|x| futures::executor::block_on(service.clone().oneshot(x)))
    ///     .collect();
    /// assert_eq!(answers, [Ok(40), Ok(42)]);
    /// ```
    service: BoxCloneService,
    /// A [`Layer`] whose services are [`BoxCloneService`]s, with the inner layer's type
    /// forgotten: a drop-in for `tower::util::BoxCloneServiceLayer`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use tower::{Layer, ServiceExt, service_fn, util::MapResponseLayer};
    /// use valuetask_tower::BoxCloneServiceLayer;
    ///
    /// let plus_one: BoxCloneServiceLayer<_, u32, u32, Infallible> =
    ///     BoxCloneServiceLayer::new(MapResponseLayer::new(|x: u32| x + 1));
    /// let echo = service_fn(|x: u32| async move { Ok::<_, Infallible>(x) });
    /// let service = plus_one.layer(echo);
    /// assert_eq!(futures::executor::block_on(service.clone().oneshot(41)), Ok(42));
    /// ```
    layer: BoxCloneServiceLayer,
    object: CloneObject,
    bounds: Send,
}

clone_service! {
    /// A cloneable `Service` whose type is forgotten, `Send` and `Sync`: a drop-in for
    /// `tower::util::BoxCloneSyncService` whose future is a pooled [`ValueTask`] and whose
    /// clones reuse their boxes.
    ///
    /// Each `call` moves the inner future into the future pool
    /// ([`ValueTask::from_future`]); each clone clones the inner service into a box that
    /// a dropped handle of the same service type left on this thread (up to
    /// [`MAX_SPARES`] wait per thread and type). So `service.clone().oneshot(request)`,
    /// the way a router calls its routes, allocates nothing for the erasure once warm,
    /// where tower's allocates twice: a box for the clone and one for the future. The
    /// parked boxes are thread-local: taking and parking one takes no lock and no atomic
    /// operation.
    ///
    /// [`MAX_SPARES`]: crate::MAX_SPARES
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use tower::{ServiceExt, service_fn};
    /// use valuetask_tower::BoxCloneSyncService;
    ///
    /// let greeting = String::from("hello");
    /// let service: BoxCloneSyncService<&'static str, String, Infallible> =
    ///     BoxCloneSyncService::new(service_fn(move |name: &'static str| {
    ///         let reply = format!("{greeting}, {name}");
    ///         async move { Ok(reply) }
    ///     }));
    /// let worker = service.clone();
    /// let reply = std::thread::spawn(move || futures::executor::block_on(worker.oneshot("world")));
    /// assert_eq!(reply.join().unwrap().as_deref(), Ok("hello, world"));
    /// ```
    service: BoxCloneSyncService,
    /// A [`Layer`] whose services are [`BoxCloneSyncService`]s, with the inner layer's
    /// type forgotten: a drop-in for `tower::util::BoxCloneSyncServiceLayer`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use tower::{Layer, ServiceExt, service_fn, util::MapRequestLayer};
    /// use valuetask_tower::BoxCloneSyncServiceLayer;
    ///
    /// let plus_one: BoxCloneSyncServiceLayer<_, u32, u32, Infallible> =
    ///     BoxCloneSyncServiceLayer::new(MapRequestLayer::new(|x: u32| x + 1));
    /// let echo = service_fn(|x: u32| async move { Ok::<_, Infallible>(x) });
    /// let service = plus_one.layer(echo);
    /// assert_eq!(futures::executor::block_on(service.clone().oneshot(41)), Ok(42));
    /// ```
    layer: BoxCloneSyncServiceLayer,
    object: CloneSyncObject,
    bounds: Send Sync,
}
