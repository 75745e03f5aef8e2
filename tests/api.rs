//! The API a new user reached for: `map` and `From` on tasks, `Completer::cancelled`,
//! `ResetCore::try_status` and `try_reset`, and queries that never panic.

use std::sync::Arc;
use std::task::Poll;

use valuetask::{Abandoned, ResetCore, ResetRefused, SourcePool, Status, Token, ValueTask};

mod support;

use support::poll::{poll_noop, poll_once};
use support::waker::CountingWaker;

// ---------------------------------------------------------------------------------------
// map and From
// ---------------------------------------------------------------------------------------

#[test]
fn map_keeps_a_ready_task_ready() {
    let task = ValueTask::ready(2).map(|n| n * 10);
    assert!(task.is_ready());
    assert!(format!("{task:?}").contains("ready"), "{task:?}");
    assert_eq!(task.into_ready().ok(), Some(20));
}

#[test]
fn map_of_a_completed_source_is_ready_and_consumes_the_operation() {
    let core = ResetCore::new();
    let token = core.token();
    core.complete(token, "done").unwrap();
    let task = ValueTask::from_source(&core, token).map(str::len);
    assert!(task.is_ready());
    assert_eq!(core.try_status(token), Some(Status::Consumed));
    assert_eq!(task.into_ready().ok(), Some(4));
}

#[test]
fn map_of_a_pending_task_runs_when_the_result_arrives() {
    let pool = SourcePool::<u32>::new();
    let (task, completer) = pool.rent();
    let mut mapped = task.map(|result| result.map(|n| n + 1));
    assert!(!mapped.is_ready());
    assert!(poll_noop(&mut mapped).is_pending());
    completer.succeed(41).unwrap();
    assert_eq!(poll_noop(&mut mapped), Poll::Ready(Ok(42)));
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn map_of_an_abandoned_rental_sees_the_error() {
    let pool = SourcePool::<u32>::new();
    let (task, completer) = pool.rent();
    drop(completer);
    assert!(task.is_ready(), "an abandoned rental is ready at once");
    let mapped = task.map(|result| result.is_err());
    assert!(mapped.is_ready());
    assert_eq!(mapped.into_ready().ok(), Some(true));
}

#[test]
fn from_a_value_is_the_ready_task() {
    fn lookup(hit: bool) -> ValueTask<'static, u8> {
        if hit {
            7.into()
        } else {
            ValueTask::from_future(async { 8 })
        }
    }
    let hit = lookup(true);
    assert!(hit.is_ready());
    assert_eq!(hit.into_ready().ok(), Some(7));
    assert_eq!(futures::executor::block_on(lookup(false)), 8);
    let from: ValueTask<'_, String> = ValueTask::from(String::from("x"));
    assert_eq!(from.into_ready().ok().as_deref(), Some("x"));
}

// ---------------------------------------------------------------------------------------
// Completer::cancelled
// ---------------------------------------------------------------------------------------

#[test]
fn cancelled_stays_pending_while_the_task_lives_and_wakes_once_when_it_goes() {
    let pool = SourcePool::<u32>::new();
    let (task, mut completer) = pool.rent();
    let (counter, waker) = CountingWaker::new();
    let mut cancelled = completer.cancelled();
    assert!(poll_once(&mut cancelled, &waker).is_pending());
    assert!(poll_once(&mut cancelled, &waker).is_pending());
    assert_eq!(counter.wakes(), 0);
    drop(task);
    assert_eq!(
        counter.wakes(),
        1,
        "the task's drop wakes the producer once"
    );
    assert_eq!(poll_once(&mut cancelled, &waker), Poll::Ready(()));
    assert_eq!(counter.wakes(), 1);
    assert_eq!(completer.succeed(5), Err(5));
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn cancelled_is_ready_at_once_when_the_task_is_already_gone() {
    let pool = SourcePool::<u32>::new();
    let (task, mut completer) = pool.rent();
    drop(task);
    assert!(completer.is_cancelled());
    assert_eq!(poll_noop(&mut completer.cancelled()), Poll::Ready(()));
    drop(completer);
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn a_new_waker_replaces_the_old_one_and_only_the_latest_is_woken() {
    let pool = SourcePool::<u32>::new();
    let (task, mut completer) = pool.rent();
    let (first, first_waker) = CountingWaker::new();
    let (second, second_waker) = CountingWaker::new();
    assert!(poll_once(&mut completer.cancelled(), &first_waker).is_pending());
    assert!(poll_once(&mut completer.cancelled(), &second_waker).is_pending());
    drop(first_waker);
    assert_eq!(
        Arc::strong_count(&first),
        1,
        "the replaced waker was dropped at once"
    );
    drop(task);
    assert_eq!((first.wakes(), second.wakes()), (0, 1));
    drop(completer);
    drop(second_waker);
    assert_eq!(
        Arc::strong_count(&second),
        1,
        "no waker is held once both halves are gone"
    );
}

#[test]
fn completing_takes_the_cancel_waker_back() {
    let pool = SourcePool::<u32>::new();
    let (task, mut completer) = pool.rent();
    let (counter, waker) = CountingWaker::new();
    assert!(poll_once(&mut completer.cancelled(), &waker).is_pending());
    completer.succeed(3).unwrap();
    drop(waker);
    assert_eq!(
        Arc::strong_count(&counter),
        1,
        "the completer dropped its waker as it left"
    );
    assert_eq!(task.into_ready().ok(), Some(Ok(3)));
    assert_eq!(counter.wakes(), 0);
}

#[test]
fn cancelled_wakes_a_producer_on_another_thread() {
    let pool = SourcePool::<u32>::new();
    for _ in 0..if cfg!(miri) { 4 } else { 200 } {
        let (task, mut completer) = pool.rent();
        let producer = std::thread::spawn(move || {
            futures::executor::block_on(completer.cancelled());
            completer.succeed(1)
        });
        drop(task);
        assert_eq!(producer.join().unwrap(), Err(1));
    }
    assert_eq!(pool.stats().in_use, 0);
}

// ---------------------------------------------------------------------------------------
// ResetCore: try_status, try_reset
// ---------------------------------------------------------------------------------------

#[test]
fn try_status_follows_the_operation_and_answers_none_for_other_tokens() {
    let core = ResetCore::new();
    let token = core.token();
    assert_eq!(core.try_status(token), Some(Status::Pending));
    core.complete(token, 1u8).unwrap();
    assert_eq!(core.try_status(token), Some(Status::Ready));
    assert_eq!(
        futures::executor::block_on(ValueTask::from_source(&core, token)),
        1
    );
    assert_eq!(core.try_status(token), Some(Status::Consumed));
    assert_eq!(core.try_status(Token::new(token.generation() + 1)), None);
    core.reset();
    assert_eq!(core.try_status(token), None);
}

#[test]
fn try_reset_refuses_while_a_task_waits() {
    let core = ResetCore::<u8>::new();
    let token = core.token();
    let mut task = ValueTask::from_source(&core, token);
    assert!(poll_noop(&mut task).is_pending());
    assert_eq!(core.try_reset(), Err(ResetRefused::Awaited));
    assert_eq!(core.token(), token, "a refused reset changes nothing");
    core.complete(token, 9).unwrap();
    assert_eq!(core.try_reset(), Err(ResetRefused::Unread));
    assert_eq!(poll_noop(&mut task), Poll::Ready(9));
    let next = core.try_reset().expect("the operation was read");
    assert_ne!(next, token);
    assert_eq!(
        ResetRefused::Awaited.to_string(),
        "a task still waits for the current operation"
    );
}

#[test]
fn try_reset_moves_on_from_an_operation_nobody_polled() {
    let core = ResetCore::<u8>::new();
    let first = core.token();
    let second = core.try_reset().unwrap();
    assert_ne!(first, second);
    assert_eq!(core.complete(first, 1), Err(1));
    assert_eq!(core.complete(second, 2), Ok(()));
}

#[test]
fn queries_never_panic_on_stale_tokens() {
    let core = ResetCore::<u8>::new();
    let stale = core.token();
    let task = ValueTask::from_source(&core, stale);
    core.reset();
    assert!(!task.is_ready());
    assert!(format!("{task:?}").contains("source"));
    assert!(format!("{core:?}").contains("generation: 1"), "{core:?}");
    assert_eq!(core.try_status(stale), None);
    drop(task);
}

#[test]
fn local_queries_never_panic_on_stale_tokens() {
    let core = ResetCore::<u8>::new();
    let stale = core.token();
    let task = valuetask::LocalValueTask::from_source(&core, stale);
    core.reset();
    assert!(
        !task.is_ready(),
        "a stale token is not ready, and asking does not panic"
    );
    assert!(format!("{task:?}").contains("source"));
    drop(task);
}

/// A source that forwards every method to its core, as the `Source` docs show: queries
/// never panic through it, and the core's one-task rule and its record of a task that
/// left reach the core.
struct Forwarding {
    core: ResetCore<u8>,
}

impl valuetask::Source<u8> for Forwarding {
    fn poll_result(&self, token: Token, cx: &mut std::task::Context<'_>) -> Poll<u8> {
        self.core.poll_result(token, cx)
    }
    fn poll_first(&self, token: Token, cx: &mut std::task::Context<'_>) -> Poll<u8> {
        self.core.poll_first(token, cx)
    }
    fn status(&self, token: Token) -> Status {
        self.core.status(token)
    }
    fn try_status(&self, token: Token) -> Option<Status> {
        self.core.try_status(token)
    }
    fn release(&self, token: Token) {
        self.core.release(token)
    }
    fn release_unpolled(&self, token: Token) {
        self.core.release_unpolled(token)
    }
}

#[test]
fn a_forwarding_source_keeps_the_cores_rules() {
    let source = Forwarding {
        core: ResetCore::new(),
    };
    let stale = source.core.token();
    let task = ValueTask::from_source(&source, stale);
    let token = source.core.reset();
    assert!(
        !task.is_ready(),
        "is_ready through the wrapper panicked or lied"
    );
    drop(task);
    assert!(
        !source.core.is_abandoned(token),
        "a stale task's drop reached the next operation"
    );

    let mut first = ValueTask::from_source(&source, token);
    let mut second = ValueTask::from_source(&source, token);
    assert!(poll_noop(&mut first).is_pending());
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_noop(&mut second)));
    assert!(
        refused.is_err(),
        "a second task through the wrapper was accepted"
    );
    drop(second);
    drop(first);
    assert!(source.core.is_abandoned(token));
    assert_eq!(source.core.complete(token, 1), Err(1));
}

#[test]
fn is_abandoned_answers_true_for_a_stale_token_and_false_while_the_task_lives() {
    let core = ResetCore::<u8>::new();
    let token = core.token();
    let mut task = ValueTask::from_source(&core, token);
    assert!(!core.is_abandoned(token));
    assert!(poll_noop(&mut task).is_pending());
    assert!(!core.is_abandoned(token));
    core.complete(token, 3).unwrap();
    assert_eq!(poll_noop(&mut task), Poll::Ready(3));
    drop(task);
    assert!(
        !core.is_abandoned(token),
        "a task that took its value did not abandon it"
    );
    let next = core.reset();
    assert!(
        core.is_abandoned(token),
        "a stale token: nobody reads a completion of it"
    );
    assert!(!core.is_abandoned(next));
}

#[test]
fn a_pool_result_error_type_can_be_the_users_own() {
    #[derive(Debug, PartialEq)]
    enum MyError {
        Gone,
    }
    impl From<Abandoned> for MyError {
        fn from(_: Abandoned) -> Self {
            MyError::Gone
        }
    }
    let pool = SourcePool::<u8, MyError>::new();
    let (task, completer) = pool.rent();
    drop(completer);
    assert_eq!(task.into_ready().ok(), Some(Err(MyError::Gone)));
}
