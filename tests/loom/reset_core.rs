//! Loom models of `ResetCore`: one per cell of the `ResetCore` matrix in `tests/loom.rs`.
//!
//! Part of `tests/loom.rs`; shares its support code. Every model here runs through
//! the shared `model` with [`MAX_INTERLEAVINGS`], so a bug that makes a model explode (a claim never ended, a spin that
//! never sees its state) fails it by name within seconds instead of growing for minutes.

use super::*;
use valuetask::ResetRefused;

/// Interleavings one model may explore at the preemption bound CI uses (3). The largest
/// model here needs a few thousand; a model that needs more is not terminating.
const MAX_INTERLEAVINGS: usize = 200_000;

/// Runs `f`, catching a panic and returning its message.
fn caught<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// A value that knows the generation it was completed for, and counts its drops.
#[derive(Debug)]
struct Tagged {
    token: Token,
    _counted: Counted,
}

impl Tagged {
    fn new(token: Token, drops: &Arc<AtomicUsize>) -> Self {
        Self {
            token,
            _counted: Counted::new(drops),
        }
    }
}

/// Completes whatever operation is current when it runs, and reports the generation it
/// completed (`Some`) or drops the value it got back (`None`), checking that a value
/// given back was not also dropped by the core.
fn spawn_completer(
    core: &Arc<ResetCore<Tagged>>,
    drops: &Arc<AtomicUsize>,
) -> thread::JoinHandle<Option<Token>> {
    let core = Arc::clone(core);
    let drops = Arc::clone(drops);
    thread::spawn(move || {
        let token = core.token();
        match core.complete(token, Tagged::new(token, &drops)) {
            Ok(()) => Some(token),
            Err(value) => {
                assert_eq!(value.token, token);
                drop(value);
                None
            }
        }
    })
}

/// After the threads: a value still in the core belongs to the core's current
/// generation (never to an older one), and taking it gives that value.
fn check_value_in_core(core: &ResetCore<Tagged>) {
    let current = core.token();
    if core.status(current) == Status::Ready {
        match poll_once(&mut ValueTask::from_source(core, current), Waker::noop()) {
            Poll::Ready(value) => assert_eq!(
                value.token, current,
                "a value completed for one generation reached another"
            ),
            Poll::Pending => panic!("a ready operation was pending"),
        }
    }
}

/// The next two generations, run at once after a side departed (while it may still be
/// running), touching every cell: a reset (which empties the cells); a new task's poll
/// (its waker into the waker cell); a completion (the value in, the waker out); the
/// task's poll (the value out) and its drop; then a reset, a task that polls and is
/// dropped (its release takes the waker out), and a completion refused because the task
/// left. A departed side that touches a cell after its departure step races one of these
/// accesses, and loom reports the race.
///
/// Only for models in which nobody else resets or completes the new generations (every
/// completer there holds the old token).
fn next_generations<T: Send>(core: &ResetCore<T>, make: impl Fn() -> T) {
    let token = core.reset();
    let mut task = ValueTask::from_source(core, token);
    assert!(poll_once(&mut task, Waker::noop()).is_pending());
    assert!(
        core.complete(token, make()).is_ok(),
        "the new generation refused its value"
    );
    assert!(
        poll_once(&mut task, Waker::noop()).is_ready(),
        "the new generation lost its value"
    );
    drop(task);

    let token = core.reset();
    let mut task = ValueTask::from_source(core, token);
    assert!(poll_once(&mut task, Waker::noop()).is_pending());
    drop(task);
    assert!(core.is_abandoned(token));
    assert!(
        core.complete(token, make()).is_err(),
        "a task that left got a value"
    );
    assert_eq!(core.status(token), Status::Consumed);
}

// ---------------------------------------------------------------------------------------
// complete
// ---------------------------------------------------------------------------------------

/// complete ∥ complete, nobody polling: one value stays in the core and one comes back;
/// each is dropped exactly once.
#[test]
fn core_two_completers_drop_once() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Tagged>::new());
        let token = core.token();
        let completers = [
            spawn_completer(&core, &drops),
            spawn_completer(&core, &drops),
        ];
        let oks = completers
            .into_iter()
            .filter_map(|c| c.join().unwrap())
            .count();
        assert_eq!(oks, 1, "exactly one completer must win");
        assert_eq!(drops.load(SeqCst), 1, "the losing value was not given back");
        assert_eq!(core.status(token), Status::Ready);
        drop(core);
        assert_eq!(drops.load(SeqCst), 2);
    });
}

/// complete ∥ complete while the task waits (it polled before the completers started):
/// exactly one wins, the task's waker is woken exactly once, and the next poll gets the
/// winner's value.
#[test]
fn core_two_completers() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let waker = CountingWaker::new();
        let mut task = ValueTask::from_source(&*core, token);
        assert!(poll_once(&mut task, &CountingWaker::waker(&waker)).is_pending());
        let completers: Vec<_> = [1, 2]
            .into_iter()
            .map(|value| {
                let core = Arc::clone(&core);
                thread::spawn(move || core.complete(token, value).is_ok().then_some(value))
            })
            .collect();
        let winners: Vec<usize> = completers
            .into_iter()
            .filter_map(|c| c.join().unwrap())
            .collect();
        assert_eq!(
            waker.wakes(),
            1,
            "the waiting task was not woken exactly once"
        );
        assert!(!held_elsewhere(&waker));
        let received = match poll_once(&mut task, Waker::noop()) {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("woken, but the value is not there"),
        };
        assert_eq!(winners, [received], "exactly one completer must win");
    });
}

/// complete ∥ the task's first poll: the value arrives (no lost wake-up).
#[test]
fn core_complete_vs_first_poll() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let completer = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.complete(token, 7))
        };
        assert_eq!(block_on(ValueTask::from_source(&*core, token)), 7);
        assert_eq!(core.status(token), Status::Consumed);
        // The completer may still be after its departure (waking our waker).
        next_generations(&core, || 8);
        assert_eq!(completer.join().unwrap(), Ok(()));
    });
}

/// complete ∥ a poll that changes its waker: either a poll takes the value, or the
/// latest waker is the one woken; a replaced waker is dropped by the poll that replaced
/// it and never woken.
#[test]
fn core_waker_change_between_polls() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let completer = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.complete(token, 3))
        };
        let a = CountingWaker::new();
        let b = CountingWaker::new();
        let mut task = ValueTask::from_source(&*core, token);

        let mut value = None;
        let mut parked_on_b = false;
        if let Poll::Ready(v) = poll_once(&mut task, &CountingWaker::waker(&a)) {
            value = Some(v);
        } else {
            match poll_once(&mut task, &CountingWaker::waker(&b)) {
                Poll::Ready(v) => value = Some(v),
                Poll::Pending => {
                    assert_eq!(a.wakes(), 0);
                    assert!(!held_elsewhere(&a), "a replaced waker was kept");
                    parked_on_b = true;
                }
            }
        }
        assert_eq!(completer.join().unwrap(), Ok(()));
        if parked_on_b {
            assert_eq!(b.wakes(), 1, "the latest waker was not woken");
            assert_eq!(a.wakes(), 0, "a replaced waker was woken");
            match poll_once(&mut task, Waker::noop()) {
                Poll::Ready(v) => value = Some(v),
                Poll::Pending => panic!("woken, but the value is not there"),
            }
        } else {
            assert_eq!(b.wakes(), 0);
            assert!(a.wakes() <= 1);
        }
        assert_eq!(value, Some(3));
        assert!(!held_elsewhere(&a));
        assert!(!held_elsewhere(&b));
    });
}

/// complete ∥ reset: the completer reads the token itself, so it may get the old
/// generation or the new one. The value is given back, dropped by the reset, or still
/// in the core for the generation it was completed for: dropped exactly once.
#[test]
fn core_complete_vs_reset() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Tagged>::new());
        let first = core.token();
        let completer = spawn_completer(&core, &drops);
        let next = core.reset();
        assert_ne!(next, first);
        match completer.join().unwrap() {
            Some(token) if token == next => {
                assert_eq!(
                    drops.load(SeqCst),
                    0,
                    "a value of the new generation was dropped"
                );
                assert_eq!(core.status(next), Status::Ready);
            }
            Some(token) => {
                assert_eq!(token, first);
                assert_eq!(drops.load(SeqCst), 1, "reset did not drop an untaken value");
                assert_eq!(core.status(next), Status::Pending);
            }
            None => {
                assert_eq!(drops.load(SeqCst), 1);
                assert_eq!(core.status(next), Status::Pending);
            }
        }
        check_value_in_core(&core);
        drop(core);
        assert_eq!(drops.load(SeqCst), 1, "a value was dropped twice or never");
    });
}

/// complete ∥ try_reset: the reset refuses an unread value (`Unread`), or moves on first
/// and the completion of the old token comes back.
#[test]
fn core_complete_vs_try_reset() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Tagged>::new());
        let first = core.token();
        let completer = {
            let core = Arc::clone(&core);
            let drops = Arc::clone(&drops);
            thread::spawn(move || core.complete(first, Tagged::new(first, &drops)).is_ok())
        };
        let reset = core.try_reset();
        let completed = completer.join().unwrap();
        match reset {
            Err(ResetRefused::Unread) => {
                assert!(completed);
                assert_eq!(
                    core.token(),
                    first,
                    "a refused reset changed the generation"
                );
                assert_eq!(core.status(first), Status::Ready);
            }
            Ok(next) => {
                assert_ne!(next, first);
                assert!(!completed, "a completion landed after the reset moved on");
                assert_eq!(drops.load(SeqCst), 1);
            }
            Err(ResetRefused::Awaited) => panic!("nobody polled, yet the reset saw a task"),
        }
        check_value_in_core(&core);
        drop(core);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// complete ∥ the task dropped after a pending poll (its release): the value is given
/// back, or dropped by the release; afterwards the core knows the task left.
#[test]
fn core_complete_vs_task_drop() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Tagged>::new());
        let token = core.token();
        let waker = CountingWaker::new();
        let mut task = ValueTask::from_source(&*core, token);
        assert!(poll_once(&mut task, &CountingWaker::waker(&waker)).is_pending());
        let completer = spawn_completer(&core, &drops);
        drop(task);
        let completed = completer.join().unwrap();
        assert_eq!(
            drops.load(SeqCst),
            1,
            "the value was dropped twice or never"
        );
        assert!(waker.wakes() <= 1);
        assert_eq!(waker.wakes(), usize::from(completed.is_some()));
        assert!(
            !held_elsewhere(&waker),
            "the core kept the waker of a task that left"
        );
        assert!(core.is_abandoned(token));
        let late = Tagged::new(token, &drops);
        assert!(
            core.complete(token, late).is_err(),
            "a late value was accepted"
        );
        assert!(
            core.try_reset().is_ok(),
            "a task that left still counts as waiting"
        );
        drop(core);
        assert_eq!(drops.load(SeqCst), 2);
    });
}

/// The owner resets the core from its `Source::release` (.NET's `Reset` in
/// `GetResult`) while a completer completes: the value is taken, dropped by the reset,
/// or given back, exactly once; a parked waker is woken exactly once and not kept.
struct Owner {
    core: ResetCore<Counted>,
}

impl Source<Counted> for Owner {
    fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<Counted> {
        self.core.poll_result(token, cx)
    }

    fn poll_first(&self, token: Token, cx: &mut Context<'_>) -> Poll<Counted> {
        self.core.poll_result(token, cx)
    }

    fn status(&self, token: Token) -> Status {
        self.core.status(token)
    }

    fn release(&self, token: Token) {
        if self.core.token() == token {
            self.core.reset();
        }
    }

    fn release_unpolled(&self, token: Token) {
        self.release(token);
    }
}

/// complete ∥ a release that resets (the shape of [`Owner`]).
#[test]
fn core_release_vs_complete() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let owner = Arc::new(Owner {
            core: ResetCore::new(),
        });
        let token = owner.core.token();
        let completer = {
            let owner = Arc::clone(&owner);
            let drops = Arc::clone(&drops);
            thread::spawn(move || owner.core.complete(token, Counted::new(&drops)).is_ok())
        };
        let waker = CountingWaker::new();
        let mut task = ValueTask::from_source(&*owner, token);
        let polled = poll_once(&mut task, &CountingWaker::waker(&waker));
        let parked = polled.is_pending();
        drop(polled);
        drop(task);
        // The release reset the core; the completer may still be after its departure.
        next_generations(&owner.core, || Counted::new(&drops));
        let _ = completer.join().unwrap();
        assert_eq!(drops.load(SeqCst), 3);
        if parked {
            assert_eq!(
                waker.wakes(),
                1,
                "a parked waiter was not woken exactly once"
            );
        } else {
            assert_eq!(waker.wakes(), 0);
        }
        assert!(!held_elsewhere(&waker));
        drop(owner);
        assert_eq!(drops.load(SeqCst), 3, "a value was dropped twice");
    });
}

// ---------------------------------------------------------------------------------------
// poll
// ---------------------------------------------------------------------------------------

/// What a poll of a token that may go stale at any moment came to.
#[derive(Debug, PartialEq)]
enum PollOutcome {
    Pending,
    Ready,
    /// The reset came first and the poll panicked on the stale token, as documented.
    Stale,
}

/// Polls `token` directly (the consumer without a task, so that no release follows),
/// catching the stale-token panic.
fn spawn_direct_poll(
    core: &Arc<ResetCore<usize>>,
    token: Token,
    waker: &std::sync::Arc<CountingWaker>,
) -> thread::JoinHandle<PollOutcome> {
    let core = Arc::clone(core);
    let waker = CountingWaker::waker(waker);
    thread::spawn(move || {
        match caught(|| core.poll_result(token, &mut Context::from_waker(&waker))) {
            Ok(Poll::Ready(_)) => PollOutcome::Ready,
            Ok(Poll::Pending) => PollOutcome::Pending,
            Err(message) => {
                assert!(
                    message.contains("stale token"),
                    "unexpected panic: {message}"
                );
                PollOutcome::Stale
            }
        }
    })
}

/// poll ∥ reset: the poll sees the stale token and panics, or registers its waker,
/// which the reset then wakes exactly once and does not keep.
#[test]
fn core_poll_vs_reset() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let waker = CountingWaker::new();
        let poller = spawn_direct_poll(&core, token, &waker);
        let next = core.reset();
        assert_eq!(core.status(next), Status::Pending);
        // The poller may still be after its departure (dropping the waker it replaced).
        next_generations(&core, || 1);
        match poller.join().unwrap() {
            PollOutcome::Pending => assert_eq!(waker.wakes(), 1, "a stranded waiter was not woken"),
            PollOutcome::Stale => assert_eq!(waker.wakes(), 0),
            PollOutcome::Ready => panic!("nothing was completed, yet the poll was ready"),
        }
        assert!(!held_elsewhere(&waker), "the core kept a waker past reset");
    });
}

/// poll ∥ try_reset: the reset refuses a registered waiter (`Awaited`), or moves on
/// first and the poll panics on the stale token.
#[test]
fn core_poll_vs_try_reset() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let waker = CountingWaker::new();
        let poller = spawn_direct_poll(&core, token, &waker);
        let reset = core.try_reset();
        let outcome = poller.join().unwrap();
        match (reset, outcome) {
            (Err(ResetRefused::Awaited), PollOutcome::Pending) => {
                assert_eq!(core.complete(token, 5), Ok(()));
                assert_eq!(waker.wakes(), 1, "the waiter was not woken");
            }
            (Ok(next), PollOutcome::Stale) => {
                assert_ne!(next, token);
                assert_eq!(waker.wakes(), 0);
            }
            (reset, outcome) => panic!("try_reset {reset:?} while the poll was {outcome:?}"),
        }
        drop(core);
        assert!(!held_elsewhere(&waker));
    });
}

/// Two tasks on one token, each polled on its own thread, while a third completes: one
/// gets the value, the other is refused with the rule's panic; nobody hangs.
#[test]
fn core_two_tasks() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let core = Arc::clone(&core);
                thread::spawn(move || {
                    // The first poll alone runs under `caught`: a refused task's panic
                    // then unwinds through no loom operation (its drop runs after).
                    let mut task = ValueTask::from_source(&*core, token);
                    match caught(|| poll_once(&mut task, Waker::noop())) {
                        Ok(Poll::Ready(value)) => Ok(value),
                        Ok(Poll::Pending) => Ok(block_on(task)),
                        Err(message) => Err(message),
                    }
                })
            })
            .collect();
        assert_eq!(core.complete(token, 9), Ok(()));
        let mut got = 0;
        let mut refused = 0;
        for task in tasks {
            match task.join().unwrap() {
                Ok(value) => {
                    assert_eq!(value, 9);
                    got += 1;
                }
                Err(message) => {
                    assert!(
                        message.contains("one task per token"),
                        "unexpected: {message}"
                    );
                    refused += 1;
                }
            }
        }
        assert_eq!((got, refused), (1, 1));
    });
}

/// A task's poll ∥ a second task dropped before it ever polled: the second one's drop
/// does not take the operation from the first (if the first polled first); if it came
/// first, the first is refused as a second task. Either way nobody hangs and the value
/// is dropped exactly once.
#[test]
fn core_poll_vs_unpolled_task_drop() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Tagged>::new());
        let token = core.token();
        let dropper = {
            let core = Arc::clone(&core);
            thread::spawn(move || drop(ValueTask::from_source(&*core, token)))
        };
        let waker = CountingWaker::new();
        let mut task = ValueTask::from_source(&*core, token);
        let first = caught(|| poll_once(&mut task, &CountingWaker::waker(&waker)).is_pending());
        dropper.join().unwrap();
        let completed = core.complete(token, Tagged::new(token, &drops));
        match first {
            Ok(true) => {
                assert!(
                    completed.is_ok(),
                    "an unpolled task's drop abandoned the first"
                );
                assert_eq!(waker.wakes(), 1);
                assert!(poll_once(&mut task, Waker::noop()).is_ready());
            }
            Ok(false) => panic!("nothing was completed, yet the poll was ready"),
            Err(message) => {
                assert!(
                    message.contains("one task per token"),
                    "unexpected: {message}"
                );
                assert!(completed.is_err());
            }
        }
        drop(completed);
        drop(task);
        assert_eq!(drops.load(SeqCst), 1);
        assert!(!held_elsewhere(&waker));
    });
}

// ---------------------------------------------------------------------------------------
// reset
// ---------------------------------------------------------------------------------------

/// reset ∥ reset over an unread value: two distinct tokens, the generation moved by two,
/// the value dropped exactly once.
#[test]
fn core_reset_vs_reset() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Tagged>::new());
        let first = core.token();
        assert!(core.complete(first, Tagged::new(first, &drops)).is_ok());
        let other = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.reset())
        };
        let mine = core.reset();
        let theirs = other.join().unwrap();
        assert_ne!(mine, theirs, "two resets handed out one token");
        assert_eq!(core.token().generation(), first.generation() + 2);
        assert!(core.token() == mine || core.token() == theirs);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// reset ∥ try_reset over a consumed operation: both move on, to distinct tokens.
#[test]
fn core_reset_vs_try_reset() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let first = core.token();
        core.complete(first, 1).unwrap();
        assert_eq!(
            poll_once(&mut ValueTask::from_source(&*core, first), Waker::noop()),
            Poll::Ready(1)
        );
        let other = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.try_reset())
        };
        let mine = core.reset();
        let theirs = other
            .join()
            .unwrap()
            .expect("a consumed operation is not in flight");
        assert_ne!(mine, theirs, "two resets handed out one token");
        assert_eq!(core.token().generation(), first.generation() + 2);
    });
}

/// reset ∥ the task dropped after a pending poll: the waker is woken at most once (by
/// the reset, if it came first) and never kept; nothing panics.
#[test]
fn core_reset_vs_task_drop() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let waker = CountingWaker::new();
        let mut task = ValueTask::from_source(&*core, token);
        assert!(poll_once(&mut task, &CountingWaker::waker(&waker)).is_pending());
        let resetter = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.reset())
        };
        drop(task);
        let next = resetter.join().unwrap();
        assert!(waker.wakes() <= 1);
        assert!(!held_elsewhere(&waker));
        assert_eq!(core.token(), next);
        assert_eq!(core.status(next), Status::Pending);
        assert!(
            !core.is_abandoned(next),
            "the old task's leaving reached the new generation"
        );
    });
}

/// try_reset ∥ the task dropped after a pending poll: the reset is refused (`Awaited`)
/// only while the task is there; once it left, the reset moves on.
#[test]
fn core_try_reset_vs_task_drop() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let mut task = ValueTask::from_source(&*core, token);
        assert!(poll_once(&mut task, Waker::noop()).is_pending());
        let resetter = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.try_reset())
        };
        drop(task);
        match resetter.join().unwrap() {
            Ok(next) => assert_eq!(core.token(), next),
            Err(refused) => {
                assert_eq!(refused, ResetRefused::Awaited);
                assert!(core.is_abandoned(token));
                assert!(
                    core.try_reset().is_ok(),
                    "the task left, yet the reset is refused"
                );
            }
        }
    });
}

/// release ∥ release: a task that polls and leaves, and a second task dropped unpolled.
/// Whatever the order, the operation ends abandoned, no waker is kept, and the next
/// reset moves on.
#[test]
fn core_two_task_drops() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let waker = CountingWaker::new();
        let unpolled = {
            let core = Arc::clone(&core);
            thread::spawn(move || drop(ValueTask::from_source(&*core, token)))
        };
        let mut task = ValueTask::from_source(&*core, token);
        if let Err(message) = caught(|| poll_once(&mut task, &CountingWaker::waker(&waker))) {
            assert!(
                message.contains("one task per token"),
                "unexpected: {message}"
            );
        }
        drop(task);
        unpolled.join().unwrap();
        assert!(core.is_abandoned(token));
        assert_eq!(core.complete(token, 1), Err(1));
        assert!(!held_elsewhere(&waker));
        assert!(core.try_reset().is_ok());
    });
}

/// Queries ∥ complete ∥ reset: `try_status`, `is_abandoned` and `Debug` never panic, and
/// say what happened: once the token is not current, it stays abandoned.
#[test]
fn core_queries_vs_complete_and_reset() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let completer = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.complete(token, 1).is_ok())
        };
        let asker = {
            let core = Arc::clone(&core);
            thread::spawn(move || {
                let status = core.try_status(token);
                let _ = format!("{core:?}");
                (status, core.is_abandoned(token))
            })
        };
        let next = core.reset();
        let completed = completer.join().unwrap();
        let (status, abandoned) = asker.join().unwrap();
        match status {
            None => assert!(abandoned, "a stale token was not called abandoned"),
            Some(Status::Ready) => assert!(completed),
            Some(Status::Pending) => {}
            Some(Status::Consumed) => panic!("nobody took the value, yet it was consumed"),
        }
        assert_eq!(core.try_status(token), None);
        assert!(core.is_abandoned(token));
        assert_eq!(core.try_status(next), Some(Status::Pending));
    });
}

// ---------------------------------------------------------------------------------------
// triples
// ---------------------------------------------------------------------------------------

/// reset ∥ reset ∥ complete: distinct tokens, and the value reaches the generation it
/// was completed for (still in the core only if that generation is current) or comes
/// back; dropped exactly once.
#[test]
fn core_two_resets_vs_complete() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Tagged>::new());
        let first = core.token();
        let completer = spawn_completer(&core, &drops);
        let resetter = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.reset())
        };
        let mine = core.reset();
        let theirs = resetter.join().unwrap();
        let completed = completer.join().unwrap();
        assert_ne!(mine, theirs, "two resets handed out one token");
        assert_eq!(core.token().generation(), first.generation() + 2);
        let in_core = core.status(core.token()) == Status::Ready;
        assert_eq!(in_core, completed == Some(core.token()));
        assert_eq!(drops.load(SeqCst), usize::from(!in_core));
        check_value_in_core(&core);
        drop(core);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// complete ∥ complete ∥ reset: at most one value per generation is accepted, a value
/// in the core belongs to the current generation, every value is dropped exactly once.
#[test]
fn core_two_completers_vs_reset() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Tagged>::new());
        let completers = [
            spawn_completer(&core, &drops),
            spawn_completer(&core, &drops),
        ];
        let next = core.reset();
        let accepted: Vec<Token> = completers
            .into_iter()
            .filter_map(|c| c.join().unwrap())
            .collect();
        if let [a, b] = accepted[..] {
            assert_ne!(a, b, "one generation accepted two values");
        }
        let in_core = core.status(next) == Status::Ready;
        assert_eq!(in_core, accepted.contains(&next));
        assert_eq!(drops.load(SeqCst), 2 - usize::from(in_core));
        check_value_in_core(&core);
        drop(core);
        assert_eq!(drops.load(SeqCst), 2);
    });
}

/// release ∥ reset ∥ complete: a task polls and leaves on one thread, a completer
/// completes on another, the owner resets. The value is taken, dropped (by the release
/// or the reset) or given back, exactly once; the waker is woken at most once and not
/// kept; the new generation is clean.
#[test]
fn core_release_vs_reset_vs_complete() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Tagged>::new());
        let token = core.token();
        let waker = CountingWaker::new();
        let task_thread = {
            let core = Arc::clone(&core);
            let waker = CountingWaker::waker(&waker);
            thread::spawn(move || {
                let mut task = ValueTask::from_source(&*core, token);
                match caught(|| poll_once(&mut task, &waker)) {
                    Ok(Poll::Ready(value)) => assert_eq!(value.token, token),
                    Ok(Poll::Pending) => {}
                    Err(message) => assert!(message.contains("stale token"), "{message}"),
                }
            })
        };
        let completer = {
            let core = Arc::clone(&core);
            let drops = Arc::clone(&drops);
            thread::spawn(move || core.complete(token, Tagged::new(token, &drops)).is_ok())
        };
        let next = core.reset();
        task_thread.join().unwrap();
        let _ = completer.join().unwrap();
        assert_eq!(
            drops.load(SeqCst),
            1,
            "the value was dropped twice or never"
        );
        assert!(waker.wakes() <= 1);
        assert!(
            !held_elsewhere(&waker),
            "a waker outlived its task and generation"
        );
        assert_eq!(core.status(next), Status::Pending);
        assert!(!core.is_abandoned(next));
    });
}

// ---------------------------------------------------------------------------------------
// reuse: a departure, then the next generation at once
// ---------------------------------------------------------------------------------------

/// The task's departures (its poll that takes the value, its release with a value or a
/// waker in the cells, its release of an empty operation) ∥ the owner, who completes and,
/// once `try_reset` says the task is done, runs the next generations at once while the
/// task's thread may still be after its departure.
#[test]
fn core_reuse_after_task_leaves() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Counted>::new());
        let token = core.token();
        let waker = CountingWaker::new();
        let task_thread = {
            let core = Arc::clone(&core);
            let waker = CountingWaker::waker(&waker);
            thread::spawn(move || {
                let mut task = ValueTask::from_source(&*core, token);
                let ready = poll_once(&mut task, &waker).is_ready();
                drop(task);
                ready
            })
        };
        let completed = core.complete(token, Counted::new(&drops)).is_ok();
        let reused = core.try_reset().is_ok();
        if reused {
            next_generations(&core, || Counted::new(&drops));
        }
        let ready = task_thread.join().unwrap();
        assert!(!ready || completed, "a task got a value nobody completed");
        drop(core);
        assert_eq!(
            drops.load(SeqCst),
            if reused { 3 } else { 1 },
            "a value was dropped twice or never"
        );
        assert!(!held_elsewhere(&waker), "a waker outlived its task");
    });
}

/// Once the operation's task left: `try_reset` moves on, and the next generations run
/// at once, their values counted in `drops`.
fn reuse_after_the_task_left(core: &ResetCore<Counted>, drops: &Arc<AtomicUsize>) {
    assert!(
        core.try_reset().is_ok(),
        "a task that left still counts as waiting"
    );
    next_generations(core, || Counted::new(drops));
}

/// The completer's departure ∥ the task taking the value and its owner running the next
/// generations at once, through a task dropped before it polled: the completer's value
/// is dropped by the release (or given back), then the reuse.
#[test]
fn core_reuse_after_complete_and_unpolled_drop() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Counted>::new());
        let token = core.token();
        let completer = {
            let core = Arc::clone(&core);
            let drops = Arc::clone(&drops);
            thread::spawn(move || core.complete(token, Counted::new(&drops)).is_ok())
        };
        drop(ValueTask::from_source(&*core, token));
        assert!(core.is_abandoned(token));
        reuse_after_the_task_left(&core, &drops);
        let _ = completer.join().unwrap();
        assert_eq!(drops.load(SeqCst), 3, "a value was dropped twice or never");
    });
}

/// The owner's reset with a waiting task's waker in the cells, on its own thread (its
/// departure: the store of `next_generation`, then the wake of a local) ∥ the next
/// generations on the main thread, started as soon as the new token shows, while the
/// resetter may still be after its departure; then the stranded task's stale release.
#[test]
fn core_reuse_after_reset_on_another_thread() {
    model(MAX_INTERLEAVINGS, || {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let waker = CountingWaker::new();
        let mut task = ValueTask::from_source(&*core, token);
        assert!(poll_once(&mut task, &CountingWaker::waker(&waker)).is_pending());
        let resetter = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.reset())
        };
        while core.token() == token {
            thread::yield_now();
        }
        next_generations(&core, || 2);
        let next = resetter.join().unwrap();
        assert_eq!(next.generation(), token.generation() + 1);
        assert_eq!(waker.wakes(), 1, "the stranded waiter was not woken once");
        drop(task);
        assert!(!held_elsewhere(&waker), "a waker outlived its generation");
    });
}

/// A task dropped before it polled, over a completed value, on its own thread (its
/// departure: the store of `left`, then the drop of the value it moved into a local) ∥
/// the owner, who resets as soon as the task is gone and runs the next generations
/// while that thread may still be dropping the old value.
#[test]
fn core_reuse_after_unpolled_task_leaves_on_another_thread() {
    model(MAX_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Counted>::new());
        let token = core.token();
        assert!(core.complete(token, Counted::new(&drops)).is_ok());
        let leaver = {
            let core = Arc::clone(&core);
            thread::spawn(move || drop(ValueTask::from_source(&*core, token)))
        };
        while !core.is_abandoned(token) {
            thread::yield_now();
        }
        reuse_after_the_task_left(&core, &drops);
        leaver.join().unwrap();
        assert_eq!(drops.load(SeqCst), 3, "a value was dropped twice or never");
    });
}
