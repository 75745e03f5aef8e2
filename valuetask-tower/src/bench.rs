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

/// Polls a future that finishes without waiting, once.
fn complete<F: Future<Output = Result<u64, Infallible>>>(future: F) -> u64 {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("the erased service answers at once"),
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
