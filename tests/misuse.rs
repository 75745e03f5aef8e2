//! Misuse is never undefined behaviour: every misuse of the API panics with a clear
//! message, and each of those panics has a test here.

use std::sync::atomic::Ordering;
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

/// The first poll of a second task on one token, and what the refused task leaves
/// behind: its panic names the rule, and its drop does not count as the operation's
/// task leaving.
fn second_task_is_refused(second: &mut ValueTask<'_, u8>) {
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_noop(second)));
    let payload = refused.expect_err("a second task on one token was accepted");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("one task per token"),
        "unexpected panic: {message}"
    );
}

#[test]
fn a_second_task_polled_while_the_first_waits_is_refused_and_the_first_still_gets_the_value() {
    let core = ResetCore::new();
    let token = core.token();
    let mut first = ValueTask::from_source(&core, token);
    let mut second = ValueTask::from_source(&core, token);
    let (counter, waker) = CountingWaker::new();
    assert!(support::poll::poll_once(&mut first, &waker).is_pending());
    second_task_is_refused(&mut second);
    drop(second);
    assert!(
        !core.is_abandoned(token),
        "the refused task was taken for the first"
    );
    core.complete(token, 1_u8).unwrap();
    assert_eq!(counter.wakes(), 1, "the first task's waker was not woken");
    assert_eq!(poll_noop(&mut first), Poll::Ready(1));
}

#[test]
fn a_second_task_polled_after_the_first_took_the_value_is_refused() {
    let core = ResetCore::new();
    let token = core.token();
    let mut first = ValueTask::from_source(&core, token);
    let mut second = ValueTask::from_source(&core, token);
    core.complete(token, 1_u8).unwrap();
    assert_eq!(poll_noop(&mut first), Poll::Ready(1));
    second_task_is_refused(&mut second);
}

#[test]
fn a_second_task_polled_after_the_first_left_is_refused() {
    let core = ResetCore::new();
    let token = core.token();
    let mut first = ValueTask::from_source(&core, token);
    let mut second = ValueTask::from_source(&core, token);
    assert!(poll_noop(&mut first).is_pending());
    drop(first);
    second_task_is_refused(&mut second);
    assert_eq!(core.complete(token, 1), Err(1));
}

#[test]
fn a_second_task_made_first_but_polled_second_is_refused() {
    let core = ResetCore::new();
    let token = core.token();
    let mut made_first = ValueTask::from_source(&core, token);
    let mut made_second = ValueTask::from_source(&core, token);
    core.complete(token, 1_u8).unwrap();
    assert_eq!(poll_noop(&mut made_second), Poll::Ready(1));
    second_task_is_refused(&mut made_first);
}

#[test]
fn an_unpolled_second_task_dropped_does_not_abandon_the_first() {
    let core = ResetCore::new();
    let token = core.token();
    let mut first = ValueTask::from_source(&core, token);
    assert!(poll_noop(&mut first).is_pending());
    drop(ValueTask::from_source(&core, token));
    assert!(!core.is_abandoned(token));
    assert_eq!(core.complete(token, 1_u8), Ok(()));
    assert_eq!(poll_noop(&mut first), Poll::Ready(1));
}

#[test]
#[should_panic(expected = "was dropped")]
fn poll_result_after_the_task_left_panics() {
    let core = ResetCore::<u8>::new();
    let token = core.token();
    let mut task = ValueTask::from_source(&core, token);
    assert!(poll_noop(&mut task).is_pending());
    drop(task);
    let _ = core.poll_result(token, &mut noop_cx());
}

/// Two threads each build a task on one token and poll it: exactly one is refused with
/// the rule's panic, whichever comes first, and the other gets the value.
#[test]
fn two_tasks_on_two_threads_one_is_refused() {
    let rounds = if cfg!(miri) { 4 } else { 200 };
    for _ in 0..rounds {
        let core = ResetCore::<u8>::new();
        let token = core.token();
        let refused = std::sync::atomic::AtomicUsize::new(0);
        let got = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let task = ValueTask::from_source(&core, token);
                    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        support::poll::block_on_deadline(task)
                    }));
                    match polled {
                        Ok(value) => {
                            assert_eq!(value, 7);
                            got.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(payload) => {
                            let message = payload
                                .downcast_ref::<String>()
                                .cloned()
                                .unwrap_or_default();
                            assert!(message.contains("one task per token"), "{message}");
                            refused.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
            s.spawn(|| core.complete(token, 7).unwrap());
        });
        assert_eq!(refused.load(Ordering::SeqCst), 1);
        assert_eq!(got.load(Ordering::SeqCst), 1);
    }
}
