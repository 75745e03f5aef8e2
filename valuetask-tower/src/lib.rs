//! tower's type-erased services, and axum's handlers and `from_fn` middleware, whose
//! futures live in [`valuetask`]'s future pool instead of a fresh `Box` per call.
//!
//! tower erases a service's type with `BoxService`, `BoxCloneService` and
//! `BoxCloneSyncService`; each `call` boxes the future, and each clone of a cloneable
//! one boxes the clone. A service cloned per request (`clone().oneshot(req)`, the way a
//! router calls its routes) so pays two allocations per request for the erasure alone.
//! The types here have the same names, constructors, layers and method shapes, so
//! switching is one import; their future is a [`ValueTask<'static, Result<U, E>>`]
//! ([`ValueTask::from_future`]: pooled), and a clone reuses a box that a dropped handle
//! of the same service type left on its thread. Once warm, neither allocates.
//!
//! ```
//! use std::convert::Infallible;
//! use tower::{ServiceExt, service_fn};
//! // was: use tower::util::BoxCloneSyncService;
//! use valuetask_tower::BoxCloneSyncService;
//!
//! let service: BoxCloneSyncService<u64, u64, Infallible> =
//!     BoxCloneSyncService::new(service_fn(|x: u64| async move { Ok(x + 1) }));
//! for request in 0..3 {
//!     let response = futures::executor::block_on(service.clone().oneshot(request));
//!     assert_eq!(response, Ok(request + 1));
//! }
//! ```
//!
//! What a future costs depends on its size: one that fits a block of the pool
//! ([`valuetask::future_pool::BLOCK_SIZES`]) is pooled, a larger one is boxed, as
//! [`ValueTask::from_future`] says. [`valuetask::future_pool::stats`] shows what the pool
//! holds.
//!
//! With the `axum` feature (on by default), [`axum`] has a `Handler`
//! adapter and a `from_fn` middleware with pooled futures, and says what stays boxed
//! inside axum.
//!
//! [`ValueTask<'static, Result<U, E>>`]: valuetask::ValueTask
//! [`ValueTask::from_future`]: valuetask::ValueTask::from_future

mod box_clone_service;
mod box_service;
mod erased;
mod spares;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "bench")]
pub mod bench;

pub use box_clone_service::{
    BoxCloneService, BoxCloneServiceLayer, BoxCloneSyncService, BoxCloneSyncServiceLayer,
};
pub use box_service::{BoxLayer, BoxService};
pub use spares::MAX_SPARES;
