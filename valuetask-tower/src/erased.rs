//! The object behind every erased service: a `Service` whose future is a pooled
//! [`ValueTask`], callable through `dyn`.

use std::task::{Context, Poll};

use tower::Service;
use valuetask::ValueTask;

use crate::spares::Slot;

/// A service with its type forgotten: `call` moves the inner future into the future
/// pool instead of a `Box`.
pub(crate) trait ErasedService<T, U, E> {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>>;
    fn call(&mut self, request: T) -> ValueTask<'static, Result<U, E>>;
}

impl<S, T> ErasedService<T, S::Response, S::Error> for S
where
    S: Service<T>,
    S::Future: Send + 'static,
{
    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Service::poll_ready(self, cx)
    }

    #[inline]
    fn call(&mut self, request: T) -> ValueTask<'static, Result<S::Response, S::Error>> {
        ValueTask::from_future(Service::call(self, request))
    }
}

/// A slot answers for the service it holds, so a boxed slot is an [`ErasedService`].
impl<S, T> Service<T> for Slot<S>
where
    S: Service<T> + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.service().poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: T) -> S::Future {
        self.service().call(request)
    }
}
