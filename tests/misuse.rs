//! Misuse is never undefined behaviour: every misuse of the API panics with a clear
//! message, and each of those panics has a test here.

use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use valuetask::{LocalValueTask, ResetCore, SourcePool, Token, ValueTask};

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
fn second_task_is_refused<F>(second: &mut F)
where
    F: std::future::Future + Unpin,
    F::Output: std::fmt::Debug,
{
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

/// A `LocalValueTask` over a core forwards all of the one-task rule (its first poll,
/// its release, its unpolled release) through its `!Sync` wrapper of the source.
#[test]
fn local_tasks_keep_the_one_task_rule() {
    let core = ResetCore::new();
    let token = core.token();
    let mut first = LocalValueTask::from_source(&core, token);
    let mut second = LocalValueTask::from_source(&core, token);
    assert!(poll_noop(&mut first).is_pending());
    drop(LocalValueTask::from_source(&core, token));
    assert!(
        !core.is_abandoned(token),
        "an unpolled local task took the first one's place"
    );
    second_task_is_refused(&mut second);
    drop(second);
    assert!(
        !core.is_abandoned(token),
        "a refused local task counted as the first"
    );
    drop(first);
    assert!(core.is_abandoned(token), "the local task left unnoticed");
    assert_eq!(core.complete(token, 1_u8), Err(1));
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

// ---------------------------------------------------------------------------------------
// A user's waker or value that panics inside a step of `ResetCore`: the claim is ended
// before any user code runs, so the word is left consistent and the core stays usable
// ---------------------------------------------------------------------------------------

mod user_code_panics_mid_step {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Arc;
    use std::task::{Poll, RawWaker, RawWakerVTable, Waker};

    use valuetask::{ResetCore, Status, Token, ValueTask};

    use crate::support::poll::{poll_noop, poll_once};
    use crate::support::waker::CountingWaker;

    /// Which of its operations a [`faulty`] waker panics in.
    #[derive(PartialEq)]
    enum Fault {
        Clone,
        Wake,
        /// The drop of a clone (the waker the core stored); the waker the test lends is
        /// forgotten, never dropped.
        Drop,
    }

    static CLONE_PANICS: Fault = Fault::Clone;
    static WAKE_PANICS: Fault = Fault::Wake;
    static DROP_PANICS: Fault = Fault::Drop;

    fn fault(data: *const ()) -> &'static Fault {
        // SAFETY: every waker of `VTABLE` points at one of the `static` faults.
        unsafe { &*data.cast::<Fault>() }
    }

    fn clone(data: *const ()) -> RawWaker {
        assert!(
            *fault(data) != Fault::Clone,
            "the user's Waker::clone panicked"
        );
        RawWaker::new(data, &VTABLE)
    }

    fn wake(data: *const ()) {
        assert!(
            *fault(data) != Fault::Wake,
            "the user's Waker::wake panicked"
        );
    }

    fn drop_waker(data: *const ()) {
        assert!(
            *fault(data) != Fault::Drop,
            "the user's Waker drop panicked"
        );
    }

    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_waker);

    /// A waker that panics in the operation `fault` names. Forget it rather than drop
    /// it when it is a `Drop` one.
    fn faulty(fault: &'static Fault) -> Waker {
        let data: *const Fault = fault;
        // SAFETY: the vtable's functions only read the `'static` fault behind `data`.
        unsafe { Waker::from_raw(RawWaker::new(data.cast(), &VTABLE)) }
    }

    /// A value whose drop panics while it is armed.
    struct PanicOnDrop {
        armed: bool,
    }

    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            assert!(!self.armed, "the user's value drop panicked");
        }
    }

    fn panics(f: impl FnOnce()) -> bool {
        catch_unwind(AssertUnwindSafe(f)).is_err()
    }

    /// No claim outlived the panic: a claim left set would make every later step wait
    /// for ever, so the test says so by name instead of hanging.
    fn assert_unclaimed<T>(core: &ResetCore<T>) {
        let word = format!("{core:?}");
        assert!(
            !word.contains("CLAIMED"),
            "a panic left the claim set: {word}"
        );
    }

    /// `task` waits on `token` with a waker that counts; a completion wakes it and its
    /// next poll takes the value.
    fn assert_completes(
        core: &ResetCore<PanicOnDrop>,
        task: &mut ValueTask<'_, PanicOnDrop>,
        token: Token,
    ) {
        let (counter, waker) = CountingWaker::new();
        assert!(poll_once(task, &waker).is_pending());
        assert!(core.complete(token, PanicOnDrop { armed: false }).is_ok());
        assert_eq!(counter.wakes(), 1, "the waiter was not woken");
        assert!(matches!(poll_noop(task), Poll::Ready(_)));
    }

    /// A whole round trip on the core's next generation, with a waiter woken.
    fn assert_usable(core: &ResetCore<PanicOnDrop>) {
        assert_unclaimed(core);
        let token = core.reset();
        assert_completes(core, &mut ValueTask::from_source(core, token), token);
        assert!(core.try_reset().is_ok());
    }

    /// The operation's task is gone: a completion is refused and its value comes back.
    fn assert_left(core: &ResetCore<PanicOnDrop>, token: Token) {
        assert_unclaimed(core);
        assert!(core.is_abandoned(token));
        let refused = core.complete(token, PanicOnDrop { armed: false });
        assert!(refused.is_err(), "a value went to a task that left");
    }

    /// Polls `task` with a waker whose clone panics: the poll panics.
    fn first_poll_panics_in_clone(task: &mut ValueTask<'_, PanicOnDrop>) {
        assert!(panics(|| drop(poll_once(task, &faulty(&CLONE_PANICS)))));
    }

    /// Polls `task`, pending, with a waker whose clones panic when dropped.
    fn wait_with_a_waker_whose_drop_panics(task: &mut ValueTask<'_, PanicOnDrop>) {
        let lent = faulty(&DROP_PANICS);
        assert!(poll_once(task, &lent).is_pending());
        std::mem::forget(lent);
    }

    #[test]
    fn a_wake_that_panics_in_complete_leaves_the_value_for_the_task() {
        let core = ResetCore::new();
        let token = core.token();
        let mut task = ValueTask::from_source(&core, token);
        assert!(poll_once(&mut task, &faulty(&WAKE_PANICS)).is_pending());
        assert!(panics(|| drop(
            core.complete(token, PanicOnDrop { armed: false })
        )));
        assert_unclaimed(&core);
        assert_eq!(core.status(token), Status::Ready);
        assert!(matches!(poll_noop(&mut task), Poll::Ready(_)));
        drop(task);
        assert_usable(&core);
    }

    #[test]
    fn a_clone_that_panics_in_a_first_poll_leaves_the_task_free_to_poll_again() {
        let core = ResetCore::new();
        let token = core.token();
        let mut task = ValueTask::from_source(&core, token);
        first_poll_panics_in_clone(&mut task);
        assert_unclaimed(&core);
        assert_eq!(core.status(token), Status::Pending);
        // Not attached by the poll that panicked: its next poll is still its first,
        // and it is not refused as a second task.
        assert_completes(&core, &mut task, token);
        drop(task);
        assert_usable(&core);
    }

    #[test]
    fn a_task_whose_first_poll_panicked_in_clone_abandons_the_operation_when_dropped() {
        let core = ResetCore::new();
        let token = core.token();
        let mut task = ValueTask::from_source(&core, token);
        first_poll_panics_in_clone(&mut task);
        drop(task);
        assert_left(&core, token);
        assert_usable(&core);
    }

    #[test]
    fn a_drop_that_panics_for_a_replaced_waker_keeps_the_new_one() {
        let core = ResetCore::new();
        let token = core.token();
        let mut task = ValueTask::from_source(&core, token);
        wait_with_a_waker_whose_drop_panics(&mut task);
        let (counter, waker) = CountingWaker::new();
        assert!(panics(|| drop(poll_once(&mut task, &waker))));
        assert_unclaimed(&core);
        // The counter, the lent waker, and the clone the core stored.
        assert_eq!(
            Arc::strong_count(&counter),
            3,
            "the new waker was not stored"
        );
        assert!(core.complete(token, PanicOnDrop { armed: false }).is_ok());
        assert_eq!(
            counter.wakes(),
            1,
            "the waker stored by the panicking poll was not woken"
        );
        assert!(matches!(poll_noop(&mut task), Poll::Ready(_)));
        drop(task);
        assert_usable(&core);
    }

    #[test]
    fn a_drop_that_panics_for_the_waker_of_a_leaving_task_leaves_it_gone() {
        let core = ResetCore::new();
        let token = core.token();
        let mut task = ValueTask::from_source(&core, token);
        wait_with_a_waker_whose_drop_panics(&mut task);
        assert!(panics(|| drop(task)));
        assert_left(&core, token);
        assert_usable(&core);
    }

    #[test]
    fn a_value_drop_that_panics_in_reset_still_moves_to_the_next_generation() {
        let core = ResetCore::new();
        let token = core.token();
        assert!(core.complete(token, PanicOnDrop { armed: true }).is_ok());
        assert!(panics(|| {
            core.reset();
        }));
        assert_unclaimed(&core);
        assert_eq!(core.try_status(token), None, "the reset did not move on");
        assert_eq!(core.token().generation(), token.generation() + 1);
        assert_usable(&core);
    }

    /// A reset (and a leaving task) drops an unread value before it wakes (or drops) a
    /// waker, so a value whose drop panics would strand a waiter if the cells held both;
    /// they never do: a completion takes the waker out as it puts the value in.
    #[test]
    fn a_completed_operation_holds_no_waker_for_a_panicking_reset_to_strand() {
        let core = ResetCore::new();
        let token = core.token();
        let (counter, waker) = CountingWaker::new();
        let mut task = ValueTask::from_source(&core, token);
        assert!(poll_once(&mut task, &waker).is_pending());
        assert!(core.complete(token, PanicOnDrop { armed: true }).is_ok());
        assert_eq!(counter.wakes(), 1);
        // The counter and the lent waker: the clone the core stored was woken by value.
        assert_eq!(
            Arc::strong_count(&counter),
            2,
            "the core kept a waker beside the value"
        );
        assert!(panics(|| {
            core.reset();
        }));
        drop(task);
        assert_usable(&core);
    }

    #[test]
    fn a_value_drop_that_panics_when_an_unpolled_task_leaves_leaves_it_gone() {
        let core = ResetCore::new();
        let token = core.token();
        assert!(core.complete(token, PanicOnDrop { armed: true }).is_ok());
        let task = ValueTask::from_source(&core, token);
        assert!(panics(|| drop(task)));
        assert_unclaimed(&core);
        assert!(core.is_abandoned(token));
        assert_usable(&core);
    }

    #[test]
    fn a_wake_that_panics_in_reset_still_moves_to_the_next_generation() {
        let core = ResetCore::<PanicOnDrop>::new();
        let token = core.token();
        let mut task = ValueTask::from_source(&core, token);
        assert!(poll_once(&mut task, &faulty(&WAKE_PANICS)).is_pending());
        assert!(panics(|| {
            core.reset();
        }));
        assert_unclaimed(&core);
        assert_eq!(core.try_status(token), None, "the reset did not move on");
        assert!(
            panics(|| drop(poll_noop(&mut task))),
            "a stranded task was not told"
        );
        drop(task);
        assert_usable(&core);
    }
}
