//! Every departure path of `ResetCore` (the table at the head of `src/reset_core.rs`),
//! each followed at once by the next generations on another thread, for Miri's data-race
//! checker and ThreadSanitizer: a side that touched a cell after its departure step
//! would race the next generation's accesses to it.
//!
//! Small on purpose, so Miri runs it with several seeds:
//! `MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-many-seeds=0..4" cargo +nightly miri test --test departure_reset_core`.
//! Values are `String`s, so a value dropped twice or read after its move is a heap
//! error Miri sees too. Nothing here depends on timing: the threads meet by channels
//! and by the core's own answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc::channel;
use std::task::{Context, Poll, Waker};
use std::thread;

use valuetask::{ResetCore, Status, Token, ValueTask};

/// Rounds per test: each round is one departure and the reuse after it.
const ROUNDS: usize = if cfg!(miri) { 3 } else { 200 };

/// Polls `task` once with a waker that does nothing.
fn poll_once(task: &mut ValueTask<'_, String>) -> Poll<String> {
    Pin::new(task).poll(&mut Context::from_waker(Waker::noop()))
}

/// The next two generations, touching both cells: a reset, a new task's poll (its waker
/// into the waker cell), a completion (the value in, the waker out), the value taken; a
/// reset, a task polled and dropped (its release takes the waker out), a completion
/// refused. Run while a departed side of the old generation may still be running.
fn next_generations(core: &ResetCore<String>) {
    let token = core.reset();
    let mut task = ValueTask::from_source(core, token);
    assert!(poll_once(&mut task).is_pending());
    assert_eq!(core.complete(token, "next".to_owned()), Ok(()));
    assert_eq!(poll_once(&mut task), Poll::Ready("next".to_owned()));
    drop(task);

    let token = core.reset();
    let mut task = ValueTask::from_source(core, token);
    assert!(poll_once(&mut task).is_pending());
    drop(task);
    assert_eq!(
        core.complete(token, "late".to_owned()),
        Err("late".to_owned()),
        "a task that left got a value"
    );
    assert_eq!(core.status(token), Status::Consumed);
}

/// Resets as soon as `try_reset` says the operation is no longer in flight (its task
/// took the value or left), then runs the next generations.
fn reuse_when_settled(core: &ResetCore<String>) {
    while core.try_reset().is_err() {
        thread::yield_now();
    }
    next_generations(core);
}

/// The completer's departure (the store that ends its claim, then its wake) ∥ the task
/// taking the value and the next generations at once.
#[test]
fn complete_then_next_generation() {
    let core = Arc::new(ResetCore::<String>::new());
    for round in 0..ROUNDS {
        let token = core.reset();
        let completer = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.complete(token, round.to_string()))
        };
        // Polled by hand with a waker that does nothing, not parked: a wake-up would
        // order everything the completer did before it ahead of our next generation,
        // and hide a late access from the race checkers.
        let mut task = ValueTask::from_source(&*core, token);
        let value = loop {
            match poll_once(&mut task) {
                Poll::Ready(value) => break value,
                Poll::Pending => thread::yield_now(),
            }
        };
        drop(task);
        assert_eq!(value, round.to_string());
        next_generations(&core);
        assert_eq!(completer.join().unwrap(), Ok(()));
    }
}

/// A refused completion (the task left first) ∥ the next generations: the completer's
/// last touch is a load or a failed compare-and-swap, and its value comes back whole.
#[test]
fn refused_complete_then_next_generation() {
    let core = Arc::new(ResetCore::<String>::new());
    for round in 0..ROUNDS {
        let token = core.reset();
        let mut task = ValueTask::from_source(&*core, token);
        assert!(poll_once(&mut task).is_pending());
        drop(task);
        let completer = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.complete(token, round.to_string()))
        };
        reuse_when_settled(&core);
        assert_eq!(completer.join().unwrap(), Err(round.to_string()));
    }
}

/// The task's poll that takes the value, then its release (a load) ∥ the owner's reset
/// and the next generations at once.
#[test]
fn task_takes_value_then_next_generation() {
    let core = Arc::new(ResetCore::<String>::new());
    for round in 0..ROUNDS {
        let token = core.reset();
        core.complete(token, round.to_string()).unwrap();
        let task = {
            let core = Arc::clone(&core);
            thread::spawn(move || {
                let mut task = ValueTask::from_source(&*core, token);
                let value = poll_once(&mut task);
                drop(task);
                value
            })
        };
        reuse_when_settled(&core);
        assert_eq!(task.join().unwrap(), Poll::Ready(round.to_string()));
    }
}

/// The task's release with its waker in the cell (the store of `left` ending its claim,
/// then the waker's drop) ∥ the owner's reset and the next generations at once.
#[test]
fn task_leaves_with_waker_then_next_generation() {
    let core = Arc::new(ResetCore::<String>::new());
    for _ in 0..ROUNDS {
        let token = core.reset();
        let (polled, has_polled) = channel();
        let task = {
            let core = Arc::clone(&core);
            thread::spawn(move || {
                let mut task = ValueTask::from_source(&*core, token);
                assert!(poll_once(&mut task).is_pending());
                polled.send(()).unwrap();
                drop(task);
            })
        };
        has_polled.recv().unwrap();
        reuse_when_settled(&core);
        task.join().unwrap();
        assert!(core.is_abandoned(token));
    }
}

/// A task dropped before it polled, over a completed value (the store of `left` ending
/// its claim, then the value's drop) ∥ the owner's reset and the next generations.
#[test]
fn unpolled_task_leaves_with_value_then_next_generation() {
    let core = Arc::new(ResetCore::<String>::new());
    for round in 0..ROUNDS {
        let token = core.reset();
        core.complete(token, round.to_string()).unwrap();
        let task = {
            let core = Arc::clone(&core);
            thread::spawn(move || drop(ValueTask::from_source(&*core, token)))
        };
        while !core.is_abandoned(token) {
            thread::yield_now();
        }
        reuse_when_settled(&core);
        task.join().unwrap();
    }
}

/// A task dropped before anything happened (the compare-and-swap to `left`, no cell
/// touched) ∥ a completer refused and the next generations.
#[test]
fn task_leaves_empty_then_next_generation() {
    let core = Arc::new(ResetCore::<String>::new());
    for round in 0..ROUNDS {
        let token = core.reset();
        let task = {
            let core = Arc::clone(&core);
            thread::spawn(move || drop(ValueTask::from_source(&*core, token)))
        };
        while !core.is_abandoned(token) {
            thread::yield_now();
        }
        assert_eq!(
            core.complete(token, round.to_string()),
            Err(round.to_string())
        );
        reuse_when_settled(&core);
        task.join().unwrap();
    }
}

/// The owner's reset with a waiting task's waker in the cell (the store of
/// `next_generation` ending its claim, then the wake) ∥ the old task's stale release and
/// the next generations at once, and a completer racing it all with the old token.
#[test]
fn reset_with_waiter_then_next_generation() {
    let core = Arc::new(ResetCore::<String>::new());
    for round in 0..ROUNDS {
        let token: Token = core.reset();
        let (polled, has_polled) = channel();
        let task = {
            let core = Arc::clone(&core);
            thread::spawn(move || {
                let mut task = ValueTask::from_source(&*core, token);
                assert!(poll_once(&mut task).is_pending());
                polled.send(()).unwrap();
                drop(task);
            })
        };
        has_polled.recv().unwrap();
        let completer = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.complete(token, round.to_string()))
        };
        core.reset();
        next_generations(&core);
        task.join().unwrap();
        // Accepted before the reset (then dropped by the reset or the release), or
        // refused: either way, never into a newer generation.
        let _ = completer.join().unwrap();
        assert!(core.is_abandoned(token));
    }
}

/// The owner's reset with a waiting task's waker in the cell, on its own thread (the
/// store of `next_generation` ending its claim, then the wake of a local) ∥ the next
/// generations on this thread, started as soon as the new token shows.
#[test]
fn reset_on_another_thread_then_next_generation() {
    let core = Arc::new(ResetCore::<String>::new());
    for _ in 0..ROUNDS {
        let token = core.reset();
        let mut task = ValueTask::from_source(&*core, token);
        assert!(poll_once(&mut task).is_pending());
        let resetter = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.reset())
        };
        while core.token() == token {
            thread::yield_now();
        }
        next_generations(&core);
        let next = resetter.join().unwrap();
        assert_eq!(next.generation(), token.generation().wrapping_add(1));
        assert_eq!(core.try_status(token), None);
        drop(task);
    }
}
