//! The erased services behave as tower's: readiness and errors pass through, clones are
//! independent services, the inner service is dropped with its last handle, and handles
//! cross threads.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use futures::executor::block_on;
use tower::{Service, ServiceExt, service_fn};
use valuetask_tower::{BoxCloneService, BoxCloneSyncService, BoxService, MAX_SPARES};

/// Ready every other time it is asked; counts its calls; fails on odd requests; holds
/// an `Arc` so a test can see when every copy is gone.
#[derive(Clone)]
struct Picky {
    polls: usize,
    calls: Arc<AtomicUsize>,
}

impl Service<u32> for Picky {
    type Response = u32;
    type Error = String;
    type Future = std::future::Ready<Result<u32, String>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        self.polls += 1;
        if self.polls % 2 == 1 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        std::future::ready(if request % 2 == 0 {
            Ok(request / 2)
        } else {
            Err(format!("{request} is odd"))
        })
    }
}

fn picky() -> (Picky, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = Picky {
        polls: 0,
        calls: Arc::clone(&calls),
    };
    (service, calls)
}

#[test]
fn readiness_and_errors_pass_through() {
    let (service, calls) = picky();
    let mut service: BoxCloneSyncService<u32, u32, String> = BoxCloneSyncService::new(service);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_pending());
    assert_eq!(service.poll_ready(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(block_on(service.call(84)), Ok(42));
    assert_eq!(
        block_on(service.clone().oneshot(3)),
        Err("3 is odd".to_owned())
    );
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}

#[test]
fn a_clone_is_a_copy_of_the_service_not_a_share() {
    let (service, _calls) = picky();
    let mut first: BoxCloneService<u32, u32, String> = BoxCloneService::new(service);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(first.poll_ready(&mut cx).is_pending());
    // The clone copies the poll count as it is now, then each goes its own way.
    let mut second = first.clone();
    assert_eq!(first.poll_ready(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(second.poll_ready(&mut cx), Poll::Ready(Ok(())));
    assert!(first.poll_ready(&mut cx).is_pending());
}

#[test]
fn the_inner_service_goes_with_its_last_handle() {
    let (service, calls) = picky();
    let first: BoxCloneSyncService<u32, u32, String> = BoxCloneSyncService::new(service);
    let clones: Vec<_> = (0..MAX_SPARES * 2).map(|_| first.clone()).collect();
    assert_eq!(Arc::strong_count(&calls), 2 + MAX_SPARES * 2);
    drop(clones);
    assert_eq!(Arc::strong_count(&calls), 2);
    drop(first);
    assert_eq!(Arc::strong_count(&calls), 1);
}

#[test]
fn clones_made_and_dropped_on_many_threads_answer_and_free_everything() {
    let (service, calls) = picky();
    let service: BoxCloneSyncService<u32, u32, String> = BoxCloneSyncService::new(service);
    std::thread::scope(|scope| {
        for thread in 0..4_u32 {
            let service = &service;
            scope.spawn(move || {
                for request in 0..500_u32 {
                    let even = 2 * (thread * 1_000 + request);
                    assert_eq!(block_on(service.clone().oneshot(even)), Ok(even / 2));
                }
            });
        }
    });
    assert_eq!(calls.load(Ordering::Relaxed), 2_000);
    drop(service);
    assert_eq!(Arc::strong_count(&calls), 1);
}

#[test]
fn box_service_owns_one_service_and_is_sync() {
    fn is_send_sync<T: Send + Sync>(_: &T) {}
    let counter = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&counter);
    let service: BoxService<u32, usize, Infallible> = BoxService::new(service_fn(move |x: u32| {
        let total = seen.fetch_add(x as usize, Ordering::Relaxed) + x as usize;
        async move { Ok(total) }
    }));
    is_send_sync(&service);
    assert_eq!(block_on(service.oneshot(5)), Ok(5));
    assert_eq!(Arc::strong_count(&counter), 1);
}

#[test]
fn handles_are_two_words() {
    let word = std::mem::size_of::<usize>();
    assert_eq!(
        std::mem::size_of::<BoxCloneSyncService<u32, u32, String>>(),
        2 * word
    );
    assert_eq!(
        std::mem::size_of::<BoxCloneService<u32, u32, String>>(),
        2 * word
    );
}
