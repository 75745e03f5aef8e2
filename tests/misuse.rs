//! Misuse is never undefined behaviour: every misuse of the API panics with a clear
//! message, and each of those panics has a test here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use valuetask::{ResetCore, SourcePool, Token, ValueTask};

mod support;

use support::poll::poll_noop;
use support::waker::CountingWaker;

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

// ---------------------------------------------------------------------------------------
// Polling a ValueTask after it returned Ready, for every variant
// ---------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "ValueTask polled after it returned its result")]
fn polling_a_ready_task_after_ready_panics() {
    let mut task = ValueTask::ready(1);
    assert_eq!(poll_noop(&mut task), Poll::Ready(1));
    let _ = poll_noop(&mut task);
}

#[test]
#[should_panic(expected = "ValueTask polled after it returned its result")]
fn polling_a_boxed_task_after_ready_panics() {
    let mut task = ValueTask::boxed(async { 1 });
    assert_eq!(poll_noop(&mut task), Poll::Ready(1));
    let _ = poll_noop(&mut task);
}

#[test]
#[should_panic(expected = "ValueTask polled after it returned its result")]
fn polling_a_pooled_future_task_after_ready_panics() {
    let mut task = ValueTask::from_future(async { 1 });
    assert_eq!(poll_noop(&mut task), Poll::Ready(1));
    let _ = poll_noop(&mut task);
}

#[test]
#[should_panic(expected = "ValueTask polled after it returned its result")]
fn polling_a_source_task_after_ready_panics() {
    let core = ResetCore::new();
    let token = core.token();
    core.complete(token, 1).unwrap();
    let mut task = ValueTask::from_source(&core, token);
    assert_eq!(poll_noop(&mut task), Poll::Ready(1));
    let _ = poll_noop(&mut task);
}

#[test]
#[should_panic(expected = "ValueTask polled after it returned its result")]
fn polling_a_pooled_task_after_ready_panics() {
    let pool = SourcePool::<u8>::new();
    let (mut task, completer) = pool.rent();
    completer.succeed(1).unwrap();
    assert_eq!(poll_noop(&mut task), Poll::Ready(Ok(1)));
    let _ = poll_noop(&mut task);
}

#[test]
#[should_panic(expected = "into_ready called after the task returned its result")]
fn into_ready_after_a_poll_returned_ready_panics() {
    let mut task = ValueTask::ready(1);
    assert_eq!(poll_noop(&mut task), Poll::Ready(1));
    let _ = task.into_ready();
}

#[test]
#[should_panic(expected = "into_ready called after the task returned its result")]
fn into_ready_on_a_finished_source_task_panics() {
    let core = ResetCore::new();
    let token = core.token();
    core.complete(token, 1).unwrap();
    let mut task = ValueTask::from_source(&core, token);
    assert_eq!(poll_noop(&mut task), Poll::Ready(1));
    let _ = task.into_ready();
}

#[test]
fn a_finished_task_is_dropped_quietly() {
    // The panic above is for polling; dropping a finished task is the normal end.
    let mut task = ValueTask::ready(1);
    assert_eq!(poll_noop(&mut task), Poll::Ready(1));
    assert!(!task.is_ready(), "a finished task has nothing more to give");
    drop(task);
}

// ---------------------------------------------------------------------------------------
// Stale tokens: poll_result and status panic with "stale token" and the generations
// ---------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "stale token")]
fn poll_result_with_a_token_from_before_reset_panics() {
    let core = ResetCore::<u8>::new();
    let old = core.token();
    core.reset();
    let _ = core.poll_result(old, &mut noop_cx());
}

#[test]
#[should_panic(expected = "stale token")]
fn poll_result_with_a_token_of_a_later_generation_panics() {
    let core = ResetCore::<u8>::new();
    let _ = core.poll_result(Token::new(1), &mut noop_cx());
}

#[test]
#[should_panic(expected = "stale token")]
fn poll_result_with_a_stale_token_panics_even_when_the_core_holds_a_value() {
    // The value belongs to the new generation: a stale token must not read it.
    let core = ResetCore::new();
    let old = core.token();
    let next = core.reset();
    core.complete(next, 5_u8).unwrap();
    let _ = core.poll_result(old, &mut noop_cx());
}

#[test]
#[should_panic(expected = "stale token")]
fn status_with_a_token_from_before_reset_panics() {
    let core = ResetCore::<u8>::new();
    let old = core.token();
    core.reset();
    let _ = core.status(old);
}

#[test]
#[should_panic(expected = "stale token")]
fn status_with_a_token_of_another_generation_panics() {
    let core = ResetCore::<u8>::new();
    let _ = core.status(Token::new(u32::MAX));
}

#[test]
#[should_panic(expected = "stale token")]
fn a_stranded_task_polled_after_reset_panics() {
    let core = ResetCore::<u8>::new();
    let token = core.token();
    let mut task = ValueTask::from_source(&core, token);
    assert!(poll_noop(&mut task).is_pending());
    core.reset(); // wakes the task; its next poll must not wait forever
    let _ = poll_noop(&mut task);
}

#[test]
#[should_panic(expected = "stale token")]
fn a_task_whose_core_moved_on_panics_on_first_poll() {
    let core = ResetCore::<u8>::new();
    let token = core.token();
    let next = core.reset();
    core.complete(next, 1).unwrap();
    let mut task = ValueTask::from_source(&core, token);
    let _ = poll_noop(&mut task);
}

#[test]
fn is_ready_on_a_stale_source_task_is_false_and_never_panics() {
    let core = ResetCore::<u8>::new();
    let token = core.token();
    let task = ValueTask::from_source(&core, token);
    core.complete(token, 1).unwrap();
    core.reset();
    assert!(!task.is_ready());
    assert_eq!(core.try_status(token), None);
    // The task can still be dropped without a panic: release never panics.
    drop(task);
}

#[test]
fn into_ready_on_a_stale_source_task_gives_the_task_back() {
    let core = ResetCore::<u8>::new();
    let task = ValueTask::from_source(&core, core.token());
    core.reset();
    let task = task.into_ready().expect_err("a stale task is not ready");
    assert!(format!("{task:?}").contains("source"));
}

#[test]
#[should_panic(
    expected = "stale token: generation 0 is older than the core's current generation 1"
)]
fn polling_a_stale_source_task_names_both_generations_and_says_older() {
    let core = ResetCore::<u8>::new();
    let mut task = ValueTask::from_source(&core, core.token());
    core.reset();
    let _ = futures::executor::block_on(std::future::poll_fn(|cx| {
        std::pin::Pin::new(&mut task).poll(cx)
    }));
}

#[test]
#[should_panic(
    expected = "stale token: generation 7 is newer than the core's current generation 0"
)]
fn a_forged_token_from_a_later_generation_is_called_newer() {
    let core = ResetCore::<u8>::new();
    let _ = core.status(valuetask::Token::new(7));
}

// ---------------------------------------------------------------------------------------
// One operation, one consumer
// ---------------------------------------------------------------------------------------

#[test]
#[should_panic(expected = "was already taken")]
fn poll_result_after_the_value_was_taken_panics() {
    let core = ResetCore::new();
    let token = core.token();
    core.complete(token, 1_u8).unwrap();
    assert_eq!(core.poll_result(token, &mut noop_cx()), Poll::Ready(1));
    let _ = core.poll_result(token, &mut noop_cx());
}

#[test]
#[should_panic(expected = "was already taken")]
fn two_tasks_sharing_a_token_panic_on_the_second_read() {
    let core = ResetCore::new();
    let token = core.token();
    let mut first = ValueTask::from_source(&core, token);
    let mut second = ValueTask::from_source(&core, token);
    core.complete(token, 1_u8).unwrap();
    assert_eq!(poll_noop(&mut first), Poll::Ready(1));
    let _ = poll_noop(&mut second);
}

/// Two threads polling one operation with different wakers, so that each poll replaces
/// the other's waker: sooner or later one of them finds the other inside the waker cell
/// and must panic rather than race on it. No user code runs while a poller is inside
/// the cell, so the overlap can only be provoked, not arranged; the test keeps trying
/// until it happens and fails if it never does in a generous number of attempts.
#[test]
#[cfg_attr(miri, ignore = "a stress loop: millions of polls waiting for a race")]
fn polling_one_operation_from_two_threads_at_once_panics() {
    const ATTEMPTS: usize = 20_000_000;
    const EXPECTED: &str = "polled from two places at once";

    let core = ResetCore::<u8>::new();
    let token = core.token();
    let seen = AtomicBool::new(false);
    let poller = |waker: Waker| {
        let mut cx = Context::from_waker(&waker);
        for _ in 0..ATTEMPTS {
            if seen.load(Ordering::Relaxed) {
                return;
            }
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                core.poll_result(token, &mut cx)
            }));
            match polled {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(_)) => panic!("nobody completed the operation"),
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    assert!(message.contains(EXPECTED), "unexpected panic: {message}");
                    seen.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| poller(Waker::noop().clone()));
        s.spawn(|| poller(CountingWaker::new().1));
    });
    assert!(
        seen.load(Ordering::Relaxed),
        "{ATTEMPTS} overlapping polls per thread never hit the two-pollers check"
    );
    // The core is still sound afterwards: the operation completes normally.
    core.complete(token, 1).unwrap();
    assert_eq!(core.poll_result(token, &mut noop_cx()), Poll::Ready(1));
}
