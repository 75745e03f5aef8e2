//! Loom models of `ResetCore`.
//!
//! Part of `tests/loom.rs` (see the matrix there); shares its support code.

use super::*;

/// The waker registration races the completion; the value must arrive (no lost wake-up).
#[test]
fn core_complete_vs_first_poll() {
    model(|| {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let completer = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.complete(token, 7))
        };
        assert_eq!(block_on(ValueTask::from_source(&*core, token)), 7);
        assert_eq!(completer.join().unwrap(), Ok(()));
        assert_eq!(core.status(token), Status::Consumed);
    });
}

/// A completion races a reset. The completer reads the token itself, so it may get the
/// old generation or the new one. The value is given back (`Err`: stale, or it ran into
/// the reset), dropped by the reset (it completed the old generation first), or still in
/// the core (it completed the new generation): dropped exactly once in every case.
#[test]
fn core_complete_vs_reset() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Counted>::new());
        let first = core.token();
        let completer = {
            let core = Arc::clone(&core);
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                let token = core.token();
                match core.complete(token, Counted::new(&drops)) {
                    Ok(()) => Some(token),
                    Err(value) => {
                        assert_eq!(drops.load(SeqCst), 0, "a returned value was also dropped");
                        drop(value);
                        None
                    }
                }
            })
        };
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
        drop(core);
        assert_eq!(drops.load(SeqCst), 1, "a value was dropped twice or never");
    });
}

/// What a poll of a token that may go stale at any moment came to.
#[derive(Debug, PartialEq)]
enum PollOutcome {
    Pending,
    Ready,
    /// The reset came first and the poll panicked on the stale token, as documented.
    Stale,
}

/// A poll races a reset. The poll either sees the stale token and panics (caught here:
/// that is the documented answer to misuse), or registers its waker, which the reset
/// then wakes exactly once and does not keep.
#[test]
fn core_poll_vs_reset() {
    model(|| {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let waker = CountingWaker::new();
        let poller = {
            let core = Arc::clone(&core);
            let waker = CountingWaker::waker(&waker);
            thread::spawn(move || {
                let polled = panic::catch_unwind(AssertUnwindSafe(|| {
                    let mut task = ValueTask::from_source(&*core, token);
                    poll_once(&mut task, &waker).is_ready()
                }));
                match polled {
                    Ok(true) => PollOutcome::Ready,
                    Ok(false) => PollOutcome::Pending,
                    Err(payload) => {
                        let message = payload
                            .downcast_ref::<String>()
                            .map(String::as_str)
                            .or_else(|| payload.downcast_ref::<&str>().copied())
                            .unwrap_or_default();
                        assert!(message.contains("token"), "unexpected panic: {message}");
                        PollOutcome::Stale
                    }
                }
            })
        };
        let next = core.reset();
        let outcome = poller.join().unwrap();
        match outcome {
            PollOutcome::Pending => assert_eq!(waker.wakes(), 1, "a stranded waiter was not woken"),
            PollOutcome::Stale => assert_eq!(waker.wakes(), 0),
            PollOutcome::Ready => panic!("nothing was completed, yet the poll was ready"),
        }
        assert!(!held_elsewhere(&waker), "the core kept a waker past reset");
        assert_eq!(core.status(next), Status::Pending);
    });
}

/// The task polls with waker A, then with waker B, while another thread completes.
/// Either a poll takes the value directly, or the latest waker is the one woken; a
/// replaced waker is dropped by the poll that replaced it.
#[test]
fn core_waker_change_between_polls() {
    model(|| {
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
                    // Not completed when B was stored: A was never woken and is gone now.
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
            let noop = Waker::noop();
            match poll_once(&mut task, noop) {
                Poll::Ready(v) => value = Some(v),
                Poll::Pending => panic!("woken, but the value is not there"),
            }
        } else {
            // The value was taken by a poll; B was never stored before completion, or
            // was stored and then dropped with the value taken, so it was never woken.
            assert_eq!(b.wakes(), 0);
            assert!(a.wakes() <= 1);
        }
        assert_eq!(value, Some(3));
        assert!(!held_elsewhere(&a));
        assert!(!held_elsewhere(&b));
    });
}

/// An owner whose operations reset the core when their task lets go of it, the common
/// shape of an embedded `ResetCore` (.NET's `Reset` in `GetResult`).
struct Owner {
    core: ResetCore<Counted>,
}

impl Source<Counted> for Owner {
    fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<Counted> {
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
}

/// A `ValueTask::from_source` is polled once and dropped (its release resets the core)
/// while another thread completes. The value is taken, dropped by the reset, or given
/// back to the completer: exactly one drop. A parked waker is woken exactly once, by the
/// completion or by the reset, and not kept.
#[test]
fn core_release_vs_complete() {
    model(|| {
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
        let _ = completer.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
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
        assert_eq!(drops.load(SeqCst), 1, "a value was dropped twice");
    });
}

/// Two completers race for one operation while the task waits: exactly one wins, and
/// the task gets the winner's value.
#[test]
fn core_two_completers() {
    model(|| {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let completers: Vec<_> = [1, 2]
            .into_iter()
            .map(|value| {
                let core = Arc::clone(&core);
                thread::spawn(move || core.complete(token, value).is_ok().then_some(value))
            })
            .collect();
        let received = block_on(ValueTask::from_source(&*core, token));
        let winners: Vec<usize> = completers
            .into_iter()
            .filter_map(|c| c.join().unwrap())
            .collect();
        assert_eq!(winners, [received], "exactly one completer must win");
    });
}

/// Two completers race with drop-counting values and nobody polls: one value stays in
/// the core and one comes back; each is dropped exactly once.
#[test]
fn core_two_completers_drop_once() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Counted>::new());
        let token = core.token();
        let completers: Vec<_> = (0..2)
            .map(|_| {
                let core = Arc::clone(&core);
                let drops = Arc::clone(&drops);
                thread::spawn(move || core.complete(token, Counted::new(&drops)).is_ok())
            })
            .collect();
        let oks = completers
            .into_iter()
            .map(|c| c.join().unwrap())
            .filter(|&ok| ok)
            .count();
        assert_eq!(oks, 1);
        assert_eq!(drops.load(SeqCst), 1, "the losing value was not given back");
        assert_eq!(core.status(token), Status::Ready);
        drop(core);
        assert_eq!(drops.load(SeqCst), 2);
    });
}
