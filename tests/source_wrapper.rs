//! A `Source` written the obvious way over an embedded `ResetCore`: forwarding each
//! method the compiler asks for, and nothing else. `poll_first`, `release` and
//! `release_unpolled` have no default, so such a wrapper forwards them, and keeps the
//! core's guarantees: a task that left is known (`is_abandoned`, `try_reset`, a late
//! `complete` handing the value back) and a second task on one token is refused.
//! (tests/ui/source-wrapper-forwards-too-little.rs: one forwarding less does not compile.)

use std::task::{Context, Poll};

use valuetask::{ResetCore, ResetRefused, Source, Status, Token, ValueTask};

mod support;

use support::poll::poll_noop;

/// Forwards exactly the required methods; `try_status` keeps its default.
struct Connection {
    read: ResetCore<String>,
}

impl Source<String> for Connection {
    fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<String> {
        self.read.poll_result(token, cx)
    }

    fn poll_first(&self, token: Token, cx: &mut Context<'_>) -> Poll<String> {
        self.read.poll_first(token, cx)
    }

    fn status(&self, token: Token) -> Status {
        self.read.status(token)
    }

    fn release(&self, token: Token) {
        self.read.release(token)
    }

    fn release_unpolled(&self, token: Token) {
        self.read.release_unpolled(token)
    }
}

fn connection() -> Connection {
    Connection {
        read: ResetCore::new(),
    }
}

#[test]
fn a_task_that_timed_out_is_abandoned_through_the_wrapper() {
    let conn = connection();
    let token = conn.read.token();
    let mut task = ValueTask::from_source(&conn, token);
    assert!(poll_noop(&mut task).is_pending());
    assert_eq!(conn.read.try_reset(), Err(ResetRefused::Awaited));
    drop(task); // the caller's timeout fired

    assert!(conn.read.is_abandoned(token));
    assert_eq!(
        conn.read.complete(token, "late".to_owned()),
        Err("late".to_owned()),
        "a late completion hands the value back"
    );
    let next = conn
        .read
        .try_reset()
        .expect("a dropped task does not hold the core");
    assert!(!conn.read.is_abandoned(next));
}

#[test]
fn a_task_dropped_unpolled_is_abandoned_through_the_wrapper() {
    let conn = connection();
    let token = conn.read.token();
    drop(ValueTask::from_source(&conn, token));
    assert!(conn.read.is_abandoned(token));
    assert_eq!(
        conn.read.complete(token, "unread".to_owned()),
        Err("unread".to_owned())
    );
    assert!(conn.read.try_reset().is_ok());
}

#[test]
fn a_completed_operation_reaches_its_task_through_the_wrapper() {
    let conn = connection();
    let token = conn.read.token();
    conn.read.complete(token, "hello".to_owned()).unwrap();
    let task = ValueTask::from_source(&conn, token);
    assert!(task.is_ready());
    assert_eq!(futures::executor::block_on(task), "hello");
    assert!(!conn.read.is_abandoned(token));
    assert!(conn.read.try_reset().is_ok());
}

#[test]
#[should_panic(expected = "one task per token")]
fn a_second_task_on_one_token_panics_through_the_wrapper() {
    let conn = connection();
    let token = conn.read.token();
    let mut first = ValueTask::from_source(&conn, token);
    assert!(poll_noop(&mut first).is_pending());
    let mut second = ValueTask::from_source(&conn, token);
    let _ = poll_noop(&mut second);
}

#[test]
#[should_panic(expected = "one task per token")]
fn a_second_task_panics_even_when_polled_first_through_the_wrapper() {
    let conn = connection();
    let token = conn.read.token();
    let mut first = ValueTask::from_source(&conn, token);
    let mut second = ValueTask::from_source(&conn, token);
    assert!(poll_noop(&mut second).is_pending());
    let _ = poll_noop(&mut first);
}
