//! The promised behaviour of `ValueTask` and `ResetCore`: each variant's
//! `ready`/`into_ready`/`is_ready`, the stale-token and double-completion rules, what
//! `reset` does to an untaken value and a stranded waiter, how wakers are stored and
//! replaced, `Debug`, `dyn` dispatch, combinators and cross-thread completion.
//!
//! Every panic on misuse has its own test in `tests/misuse.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread;

use futures::stream::{FuturesUnordered, StreamExt};
use valuetask::{ResetCore, Source, Status, Token, ValueTask};

mod support;

// Every wait for a wake-up fails by name ("lost wake-up?") instead of hanging.
use support::poll::{block_on_deadline as block_on, poll_noop, poll_once};
use support::waker::CountingWaker;

/// Rounds for the loops that cross threads; Miri runs a handful.
const ROUNDS: usize = if cfg!(miri) { 8 } else { 2_000 };

/// A value that counts its drops.
#[derive(Debug)]
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------
// ready / into_ready / is_ready, per variant
// ---------------------------------------------------------------------------------------

#[test]
fn ready_task_is_ready_and_into_ready_gives_the_value() {
    let task = ValueTask::ready(String::from("hit"));
    assert!(task.is_ready());
    assert_eq!(task.into_ready().ok().as_deref(), Some("hit"));
}

#[test]
fn ready_task_polls_ready_at_once() {
    let mut task = ValueTask::ready(5_u8);
    assert_eq!(poll_noop(&mut task), Poll::Ready(5));
}

#[test]
fn ready_task_awaits_to_its_value() {
    assert_eq!(block_on(ValueTask::ready(9_u64)), 9);
}

#[test]
fn dropping_an_unpolled_ready_task_drops_its_value_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    drop(ValueTask::ready(DropCounter(Arc::clone(&drops))));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_boxed_future_is_dropped_once_when_it_finishes_not_when_its_task_goes() {
    let drops = Arc::new(AtomicUsize::new(0));
    let held = DropCounter(Arc::clone(&drops));
    // A future that keeps `held` until the future itself is dropped (an async block
    // would drop it as it returns).
    let mut task = ValueTask::boxed(std::future::poll_fn(move |_| {
        let _ = &held;
        Poll::Ready(7_u8)
    }));
    assert_eq!(poll_noop(&mut task), Poll::Ready(7));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "dropped with the finished future"
    );
    drop(task);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "not dropped again with the task"
    );
}

#[test]
fn dropping_an_unpolled_task_drops_its_future_once() {
    for boxed in [true, false] {
        let drops = Arc::new(AtomicUsize::new(0));
        let held = DropCounter(Arc::clone(&drops));
        let future = async move {
            let _held = held;
        };
        drop(if boxed {
            ValueTask::boxed(future)
        } else {
            ValueTask::from_future(future)
        });
        assert_eq!(drops.load(Ordering::SeqCst), 1, "boxed: {boxed}");
    }
}

#[test]
fn boxed_task_is_never_ready_and_into_ready_gives_it_back() {
    // Even a future that would complete on its first poll: `is_ready` never polls it.
    let task = ValueTask::boxed(async { 42 });
    assert!(format!("{task:?}").contains("boxed"), "{task:?}");
    assert!(!task.is_ready());
    let task = task
        .into_ready()
        .expect_err("a boxed future is never polled by into_ready");
    assert!(!task.is_ready());
    assert_eq!(block_on(task), 42);
}

#[test]
fn pooled_future_task_is_never_ready_and_into_ready_gives_it_back() {
    let task = ValueTask::from_future(async { 42 });
    assert!(format!("{task:?}").contains("pooled future"), "{task:?}");
    assert!(!task.is_ready());
    let task = task
        .into_ready()
        .expect_err("a pooled future is never polled by into_ready");
    assert!(!task.is_ready());
    assert_eq!(block_on(task), 42);
}

#[test]
fn boxed_task_runs_its_future_across_polls() {
    let core = ResetCore::new();
    let token = core.token();
    let mut task = ValueTask::boxed(async { ValueTask::from_source(&core, token).await + 1 });
    assert!(format!("{task:?}").contains("boxed"), "{task:?}");
    assert_eq!(poll_noop(&mut task), Poll::Pending);
    core.complete(token, 1).unwrap();
    assert_eq!(poll_noop(&mut task), Poll::Ready(2));
}

#[test]
fn pooled_future_task_runs_its_future_across_polls() {
    let core = ResetCore::new();
    let token = core.token();
    let mut task = ValueTask::from_future(async { ValueTask::from_source(&core, token).await + 1 });
    assert!(format!("{task:?}").contains("pooled future"), "{task:?}");
    assert_eq!(poll_noop(&mut task), Poll::Pending);
    core.complete(token, 1).unwrap();
    assert_eq!(poll_noop(&mut task), Poll::Ready(2));
}

#[test]
fn source_task_is_ready_only_once_completed() {
    let core = ResetCore::new();
    let token = core.token();
    let task = ValueTask::from_source(&core, token);
    assert!(!task.is_ready());
    let task = task.into_ready().expect_err("pending: the task comes back");
    assert!(!task.is_ready());
    assert_eq!(core.status(token), Status::Pending);

    core.complete(token, 'x').unwrap();
    assert_eq!(core.status(token), Status::Ready);
    assert!(task.is_ready());
    assert_eq!(task.into_ready().ok(), Some('x'));
    assert_eq!(core.status(token), Status::Consumed);
}

#[test]
fn source_task_into_ready_pending_does_not_register_a_waker() {
    let core = ResetCore::<u8>::new();
    let token = core.token();
    let task = ValueTask::from_source(&core, token)
        .into_ready()
        .unwrap_err();
    assert!(format!("{core:?}").contains("waiting: false"), "{core:?}");
    drop(task);
}

#[test]
fn source_task_completed_before_the_first_poll() {
    let core = ResetCore::new();
    let token = core.token();
    core.complete(token, 3_u16).unwrap();
    let mut task = ValueTask::from_source(&core, token);
    assert!(task.is_ready());
    assert_eq!(poll_noop(&mut task), Poll::Ready(3));
}

#[test]
fn source_task_wakes_once_on_completion() {
    let core = ResetCore::new();
    let token = core.token();
    let (counter, waker) = CountingWaker::new();
    let mut task = ValueTask::from_source(&core, token);
    assert_eq!(poll_once(&mut task, &waker), Poll::Pending);
    assert_eq!(poll_once(&mut task, &waker), Poll::Pending);
    assert_eq!(counter.wakes(), 0);
    core.complete(token, 11_i32).unwrap();
    assert_eq!(counter.wakes(), 1);
    assert_eq!(poll_once(&mut task, &waker), Poll::Ready(11));
    assert_eq!(counter.wakes(), 1);
}

#[test]
fn status_moves_pending_ready_consumed_on_the_core() {
    let core = ResetCore::new();
    let token = core.token();
    assert_eq!(core.status(token), Status::Pending);
    assert_eq!(
        core.poll_result(token, &mut Context::from_waker(Waker::noop())),
        Poll::Pending
    );
    assert_eq!(core.status(token), Status::Pending);
    core.complete(token, ()).unwrap();
    assert_eq!(core.status(token), Status::Ready);
    assert_eq!(
        core.poll_result(token, &mut Context::from_waker(Waker::noop())),
        Poll::Ready(())
    );
    assert_eq!(core.status(token), Status::Consumed);
    let next = core.reset();
    assert_eq!(core.status(next), Status::Pending);
}

#[test]
fn value_task_is_not_clone() {
    // Rule 1 ("never await twice"): `ValueTask` is not `Clone`. An inherent associated
    // const wins over the trait's when its bound holds, so this reads "is T Clone?".
    trait NotClone {
        const IS_CLONE: bool = false;
    }
    struct Probe<T>(std::marker::PhantomData<T>);
    impl<T> NotClone for Probe<T> {}
    impl<T: Clone> Probe<T> {
        const IS_CLONE: bool = true;
    }
    // Checked at compile time: the build fails if either line stops holding.
    const { assert!(Probe::<u32>::IS_CLONE, "the probe sees Clone types") };
    const { assert!(!Probe::<ValueTask<'static, u32>>::IS_CLONE) };
}

// ---------------------------------------------------------------------------------------
// ResetCore: tokens, completion, reset
// ---------------------------------------------------------------------------------------

#[test]
fn new_core_is_at_generation_zero_and_reset_moves_to_the_next() {
    let core = ResetCore::<u8>::default();
    assert_eq!(core.token(), Token::new(0));
    let next = core.reset();
    assert_eq!(next, Token::new(1));
    assert_eq!(core.token(), next);
    assert_eq!(next.generation(), 1);
    assert_eq!(core.reset().generation(), 2);
}

#[test]
fn complete_with_a_stale_token_gives_the_value_back() {
    let core = ResetCore::new();
    let old = core.token();
    let next = core.reset();
    assert_eq!(
        core.complete(old, String::from("late")),
        Err(String::from("late"))
    );
    assert_eq!(
        core.status(next),
        Status::Pending,
        "the stale completion left no trace"
    );
    assert_eq!(core.complete(next, String::from("on time")), Ok(()));
}

#[test]
fn complete_with_a_token_of_a_later_generation_gives_the_value_back() {
    let core = ResetCore::new();
    assert_eq!(core.complete(Token::new(1), 1_u8), Err(1));
    assert_eq!(core.status(core.token()), Status::Pending);
}

#[test]
fn complete_twice_gives_the_second_value_back() {
    let core = ResetCore::new();
    let token = core.token();
    assert_eq!(core.complete(token, 1_u32), Ok(()));
    assert_eq!(core.complete(token, 2), Err(2));
    assert_eq!(block_on(ValueTask::from_source(&core, token)), 1);
    // After the value was taken, still the same generation: still refused.
    assert_eq!(core.complete(token, 3), Err(3));
}

#[test]
fn refused_value_is_handed_back_not_dropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    let core = ResetCore::new();
    let token = core.token();
    core.complete(token, DropCounter(Arc::clone(&drops)))
        .unwrap();
    let back = core
        .complete(token, DropCounter(Arc::clone(&drops)))
        .unwrap_err();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn reset_drops_an_untaken_value_at_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let core = ResetCore::new();
    let token = core.token();
    core.complete(token, DropCounter(Arc::clone(&drops)))
        .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    core.reset();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    core.reset();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "dropped once, not per reset"
    );
}

#[test]
fn reset_after_the_value_was_taken_drops_nothing_more() {
    let drops = Arc::new(AtomicUsize::new(0));
    let core = ResetCore::new();
    let token = core.token();
    core.complete(token, DropCounter(Arc::clone(&drops)))
        .unwrap();
    let value = block_on(ValueTask::from_source(&core, token));
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    core.reset();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "the value is ours, not the core's"
    );
    drop(value);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_the_core_drops_an_untaken_value_and_its_waker() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (counter, waker) = CountingWaker::new();
    {
        let core = ResetCore::new();
        let token = core.token();
        core.complete(token, DropCounter(Arc::clone(&drops)))
            .unwrap();
        drop(core);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
    {
        let core = ResetCore::<DropCounter>::new();
        let token = core.token();
        let mut task = ValueTask::from_source(&core, token);
        assert!(poll_once(&mut task, &waker).is_pending());
        assert_eq!(Arc::strong_count(&counter), 3, "the core holds a clone");
        drop(task);
        drop(core);
        assert_eq!(
            Arc::strong_count(&counter),
            2,
            "the core's clone was dropped"
        );
    }
    assert_eq!(counter.wakes(), 0);
}

#[test]
fn reset_wakes_a_waiter_it_strands_exactly_once() {
    let core = ResetCore::<u8>::new();
    let token = core.token();
    let (counter, waker) = CountingWaker::new();
    let mut task = ValueTask::from_source(&core, token);
    assert!(poll_once(&mut task, &waker).is_pending());
    assert_eq!(Arc::strong_count(&counter), 3);
    core.reset();
    assert_eq!(counter.wakes(), 1);
    assert_eq!(
        Arc::strong_count(&counter),
        2,
        "the woken waker is not kept"
    );
    core.reset();
    assert_eq!(counter.wakes(), 1, "woken once");
    // The stranded task is released with a stale token: no panic.
    drop(task);
}

#[test]
fn reset_without_a_waiter_wakes_nobody() {
    let core = ResetCore::<u8>::new();
    let (counter, waker) = CountingWaker::new();
    let token = core.token();
    let mut task = ValueTask::from_source(&core, token);
    assert!(poll_once(&mut task, &waker).is_pending());
    core.complete(token, 1).unwrap();
    assert_eq!(counter.wakes(), 1);
    assert_eq!(poll_once(&mut task, &waker), Poll::Ready(1));
    core.reset();
    assert_eq!(counter.wakes(), 1);
    assert_eq!(Arc::strong_count(&counter), 2);
}

#[test]
fn a_core_serves_many_operations_in_sequence() {
    let core = ResetCore::new();
    let mut token = core.token();
    for round in 0..100_u32 {
        let mut task = ValueTask::from_source(&core, token);
        assert!(poll_noop(&mut task).is_pending());
        core.complete(token, round).unwrap();
        assert_eq!(poll_noop(&mut task), Poll::Ready(round));
        token = core.reset();
        assert_eq!(token.generation(), round + 1);
    }
}

// ---------------------------------------------------------------------------------------
// Wakers, as tokio's oneshot handles them
// ---------------------------------------------------------------------------------------

#[test]
fn a_new_waker_replaces_the_old_one_which_is_dropped_at_once() {
    let core = ResetCore::new();
    let token = core.token();
    let (first, first_waker) = CountingWaker::new();
    let (second, second_waker) = CountingWaker::new();
    let mut task = ValueTask::from_source(&core, token);

    assert!(poll_once(&mut task, &first_waker).is_pending());
    assert_eq!(
        Arc::strong_count(&first),
        3,
        "the core cloned the first waker"
    );

    assert!(poll_once(&mut task, &second_waker).is_pending());
    assert_eq!(
        Arc::strong_count(&first),
        2,
        "the replaced waker was dropped at once"
    );
    assert_eq!(
        Arc::strong_count(&second),
        3,
        "the core cloned the second waker"
    );

    core.complete(token, 7_u8).unwrap();
    assert_eq!(first.wakes(), 0, "a replaced waker is never woken");
    assert_eq!(second.wakes(), 1, "only the latest waker is woken");
    assert_eq!(Arc::strong_count(&second), 2, "the woken waker is not kept");

    assert_eq!(poll_once(&mut task, &second_waker), Poll::Ready(7));
    assert_eq!(Arc::strong_count(&first), 2);
    assert_eq!(Arc::strong_count(&second), 2);
}

#[test]
fn wakers_replaced_many_times_leave_only_the_latest() {
    let core = ResetCore::new();
    let token = core.token();
    let wakers: Vec<_> = (0..5).map(|_| CountingWaker::new()).collect();
    let mut task = ValueTask::from_source(&core, token);
    for (_, waker) in &wakers {
        assert!(poll_once(&mut task, waker).is_pending());
    }
    for (counter, _) in &wakers[..4] {
        assert_eq!(Arc::strong_count(counter), 2);
    }
    assert_eq!(Arc::strong_count(&wakers[4].0), 3);
    core.complete(token, ()).unwrap();
    let wakes: Vec<_> = wakers.iter().map(|(c, _)| c.wakes()).collect();
    assert_eq!(wakes, [0, 0, 0, 0, 1]);
}

#[test]
fn re_polling_with_the_same_waker_does_not_clone_it() {
    let core = ResetCore::<u8>::new();
    let token = core.token();
    let (counter, waker) = CountingWaker::new();
    let mut task = ValueTask::from_source(&core, token);
    assert!(poll_once(&mut task, &waker).is_pending());
    assert_eq!(Arc::strong_count(&counter), 3);
    for _ in 0..10 {
        assert!(poll_once(&mut task, &waker).is_pending());
    }
    // A clone of the same waker wakes the same task: kept as it is, too.
    let same = waker.clone();
    assert_eq!(Arc::strong_count(&counter), 4);
    assert!(poll_once(&mut task, &same).is_pending());
    assert_eq!(
        Arc::strong_count(&counter),
        4,
        "will_wake: no new clone stored"
    );
    drop(same);
    core.complete(token, 0).unwrap();
    assert_eq!(counter.wakes(), 1);
    assert_eq!(Arc::strong_count(&counter), 2);
}

#[test]
fn the_core_holds_no_waker_once_the_value_is_taken() {
    let core = ResetCore::new();
    let token = core.token();
    let (counter, waker) = CountingWaker::new();
    // Poll, then replace the waker with the noop one, so the core holds no counting waker.
    let mut task = ValueTask::from_source(&core, token);
    assert!(poll_once(&mut task, &waker).is_pending());
    assert!(poll_noop(&mut task).is_pending());
    assert_eq!(Arc::strong_count(&counter), 2);
    core.complete(token, 1_u8).unwrap();
    assert_eq!(counter.wakes(), 0);
    assert_eq!(poll_once(&mut task, &waker), Poll::Ready(1));
    assert_eq!(Arc::strong_count(&counter), 2);
    assert!(format!("{core:?}").contains("waiting: false"), "{core:?}");
}

// ---------------------------------------------------------------------------------------
// Source::release
// ---------------------------------------------------------------------------------------

/// A source over a `ResetCore` that counts `release` calls and checks their tokens.
struct Releases {
    core: ResetCore<u32>,
    released: AtomicUsize,
    last_released: AtomicUsize,
}

impl Releases {
    fn new() -> Self {
        Self {
            core: ResetCore::new(),
            released: AtomicUsize::new(0),
            last_released: AtomicUsize::new(usize::MAX),
        }
    }

    fn released(&self) -> usize {
        self.released.load(Ordering::SeqCst)
    }
}

impl Source<u32> for Releases {
    fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<u32> {
        self.core.poll_result(token, cx)
    }

    fn poll_first(&self, token: Token, cx: &mut Context<'_>) -> Poll<u32> {
        self.core.poll_result(token, cx)
    }

    fn status(&self, token: Token) -> Status {
        self.core.status(token)
    }

    fn release(&self, token: Token) {
        self.released.fetch_add(1, Ordering::SeqCst);
        self.last_released
            .store(token.generation() as usize, Ordering::SeqCst);
    }

    fn release_unpolled(&self, token: Token) {
        self.release(token);
    }
}

#[test]
fn release_runs_once_when_the_result_is_taken() {
    let source = Releases::new();
    let token = source.core.token();
    let mut task = ValueTask::from_source(&source, token);
    assert!(poll_noop(&mut task).is_pending());
    assert_eq!(source.released(), 0, "a pending poll does not release");
    source.core.complete(token, 4).unwrap();
    assert_eq!(poll_noop(&mut task), Poll::Ready(4));
    assert_eq!(source.released(), 1);
    drop(task);
    assert_eq!(source.released(), 1, "not again on drop");
}

#[test]
fn release_runs_once_when_the_task_is_dropped_first() {
    let source = Releases::new();
    let token = source.core.reset();
    let task = ValueTask::from_source(&source, token);
    drop(task);
    assert_eq!(source.released(), 1);
    assert_eq!(source.last_released.load(Ordering::SeqCst), 1);
}

#[test]
fn release_runs_once_through_into_ready() {
    let source = Releases::new();
    let token = source.core.token();
    let task = ValueTask::from_source(&source, token);
    let task = task.into_ready().unwrap_err();
    assert_eq!(source.released(), 0);
    source.core.complete(token, 8).unwrap();
    assert_eq!(task.into_ready().ok(), Some(8));
    assert_eq!(source.released(), 1);
}

#[test]
fn dropping_a_task_after_reset_releases_a_stale_token_without_panic() {
    let core = ResetCore::<String>::new();
    let token = core.token();
    let mut task = ValueTask::from_source(&core, token);
    assert!(poll_noop(&mut task).is_pending());
    core.reset();
    core.reset();
    drop(task); // `release` with a stale token: must not panic
    let unpolled = ValueTask::from_source(&core, Token::new(99));
    drop(unpolled);
    assert_eq!(core.token(), Token::new(2));
}

// ---------------------------------------------------------------------------------------
// Debug
// ---------------------------------------------------------------------------------------

#[test]
fn value_task_debug_names_its_kind() {
    let ready = format!("{:?}", ValueTask::ready(1));
    assert!(
        ready.contains("ValueTask") && ready.contains("ready"),
        "{ready}"
    );

    let boxed = format!("{:?}", ValueTask::boxed(async { 1 }));
    assert!(
        boxed.contains("ValueTask") && boxed.contains("boxed"),
        "{boxed}"
    );

    let core = ResetCore::<u8>::new();
    let token = core.reset();
    let source = format!("{:?}", ValueTask::from_source(&core, token));
    assert!(source.contains("source"), "{source}");
    assert!(source.contains(&format!("{token:?}")), "{source}");

    let mut done = ValueTask::ready(1);
    assert!(poll_noop(&mut done).is_ready());
    let done = format!("{done:?}");
    assert!(done.contains("done"), "{done}");
}

#[test]
fn value_task_debug_does_not_require_debug_output() {
    struct Opaque;
    let text = format!("{:?}", ValueTask::ready(Opaque));
    assert!(text.starts_with("ValueTask"), "{text}");
}

#[test]
fn reset_core_debug_shows_generation_status_and_waiter() {
    let core = ResetCore::<u8>::new();
    let token = core.reset();
    let pending = format!("{core:?}");
    assert!(pending.starts_with("ResetCore"), "{pending}");
    assert!(pending.contains("generation: 1"), "{pending}");
    assert!(pending.contains("Pending"), "{pending}");
    assert!(pending.contains("waiting: false"), "{pending}");

    let mut task = ValueTask::from_source(&core, token);
    assert!(poll_noop(&mut task).is_pending());
    let waiting = format!("{core:?}");
    assert!(waiting.contains("waiting: true"), "{waiting}");

    core.complete(token, 1).unwrap();
    let ready = format!("{core:?}");
    assert!(ready.contains("Ready"), "{ready}");
    assert!(ready.contains("waiting: false"), "{ready}");

    assert!(poll_noop(&mut task).is_ready());
    let consumed = format!("{core:?}");
    assert!(consumed.contains("Consumed"), "{consumed}");
}

// ---------------------------------------------------------------------------------------
// dyn dispatch
// ---------------------------------------------------------------------------------------

/// A `dyn`-compatible async lookup: a cache hit returns at once, a miss waits on the
/// object's one in-flight fetch.
trait Lookup: Sync {
    fn get(&self, key: u32) -> ValueTask<'_, u32>;
}

struct CachedFetcher {
    cache: HashMap<u32, u32>,
    fetch: ResetCore<u32>,
}

impl Lookup for CachedFetcher {
    fn get(&self, key: u32) -> ValueTask<'_, u32> {
        match self.cache.get(&key) {
            Some(&value) => ValueTask::ready(value),
            None => ValueTask::from_source(&self.fetch, self.fetch.token()),
        }
    }
}

#[test]
fn a_dyn_method_returns_ready_on_one_call_and_a_source_on_the_next() {
    let fetcher = CachedFetcher {
        cache: HashMap::from([(1, 100)]),
        fetch: ResetCore::new(),
    };
    let lookup: &dyn Lookup = &fetcher;

    let hit = lookup.get(1);
    assert!(hit.is_ready());
    assert_eq!(block_on(hit), 100);

    let miss = lookup.get(2);
    assert!(!miss.is_ready());
    thread::scope(|s| {
        s.spawn(|| fetcher.fetch.complete(fetcher.fetch.token(), 200).unwrap());
        assert_eq!(block_on(miss), 200);
    });

    fetcher.fetch.reset();
    let hit = lookup.get(1);
    assert_eq!(hit.into_ready().ok(), Some(100));
    let miss = lookup.get(3);
    let miss = miss.into_ready().unwrap_err();
    fetcher.fetch.complete(fetcher.fetch.token(), 300).unwrap();
    assert_eq!(miss.into_ready().ok(), Some(300));
}

#[test]
fn a_task_from_a_dyn_method_is_awaited_on_another_thread() {
    let fetcher = CachedFetcher {
        cache: HashMap::new(),
        fetch: ResetCore::new(),
    };
    let lookup: &dyn Lookup = &fetcher;
    let task = lookup.get(5);
    thread::scope(|s| {
        // The task is `Send`: it is awaited on another thread than the one completing it.
        let waiter = s.spawn(move || block_on(task));
        fetcher.fetch.complete(fetcher.fetch.token(), 50).unwrap();
        assert_eq!(waiter.join().unwrap(), 50);
    });
}

// ---------------------------------------------------------------------------------------
// Combinators take a ValueTask as it is
// ---------------------------------------------------------------------------------------

#[test]
fn join_takes_every_variant_as_it_is() {
    let core = ResetCore::new();
    let token = core.token();
    thread::scope(|s| {
        s.spawn(|| core.complete(token, 3).unwrap());
        let (a, b, c) = block_on(async {
            futures::join!(
                ValueTask::ready(1),
                ValueTask::from_future(async { 2 }),
                ValueTask::from_source(&core, token),
            )
        });
        assert_eq!((a, b, c), (1, 2, 3));
    });
}

#[test]
fn tokio_select_takes_a_value_task_as_it_is() {
    let core = ResetCore::<u8>::new();
    let token = core.token();
    let picked = block_on(async {
        tokio::select! {
            biased;
            v = ValueTask::from_source(&core, token) => v,
            v = ValueTask::ready(9) => v,
        }
    });
    assert_eq!(picked, 9, "the pending source lost to the ready value");
    // The losing task was dropped before its result: the core knows nobody will read
    // this operation, gives a late value back, and moves on.
    assert!(core.is_abandoned(token));
    assert_eq!(core.status(token), Status::Consumed);
    assert_eq!(core.complete(token, 1), Err(1));
    assert!(core.try_reset().is_ok());
}

#[test]
fn futures_select_takes_a_value_task_as_it_is() {
    let core = ResetCore::<u8>::new();
    let token = core.token();
    let pending = ValueTask::from_source(&core, token);
    match block_on(futures::future::select(pending, ValueTask::ready(4))) {
        futures::future::Either::Right((value, pending)) => {
            assert_eq!(value, 4);
            // The loser comes back and is still a working task.
            core.complete(token, 5).unwrap();
            assert_eq!(block_on(pending), 5);
        }
        futures::future::Either::Left(_) => panic!("the pending source cannot win"),
    }
}

#[test]
fn futures_unordered_takes_value_tasks_as_they_are() {
    let cores: Vec<ResetCore<usize>> = (0..8).map(|_| ResetCore::new()).collect();
    let mut set: FuturesUnordered<ValueTask<'_, usize>> = cores
        .iter()
        .map(|core| ValueTask::from_source(core, core.token()))
        .collect();
    set.push(ValueTask::ready(100));
    set.push(ValueTask::from_future(async { 200 }));
    let results = thread::scope(|s| {
        s.spawn(|| {
            for (i, core) in cores.iter().enumerate().rev() {
                core.complete(core.token(), i).unwrap();
            }
        });
        block_on(async {
            let mut results = Vec::new();
            while let Some(value) = set.next().await {
                results.push(value);
            }
            results
        })
    });
    let mut results = results;
    results.sort_unstable();
    assert_eq!(results, [0, 1, 2, 3, 4, 5, 6, 7, 100, 200]);
}

// ---------------------------------------------------------------------------------------
// Cross-thread completion
// ---------------------------------------------------------------------------------------

#[test]
fn a_core_completed_from_another_thread_wakes_a_blocked_task() {
    let core = ResetCore::new();
    let token = core.token();
    thread::scope(|s| {
        s.spawn(|| core.complete(token, String::from("from afar")).unwrap());
        assert_eq!(block_on(ValueTask::from_source(&core, token)), "from afar");
    });
}

#[test]
fn many_rounds_with_reset_between_complete_across_threads() {
    // The producer waits on a channel, where no poll deadline reaches: a lost wake-up
    // must fail the test by name rather than hang it.
    let _watchdog =
        support::poll::Watchdog::arm("many_rounds_with_reset_between_complete_across_threads");
    let core = Arc::new(ResetCore::new());
    let (tokens_tx, tokens_rx) = std::sync::mpsc::channel::<Token>();
    let producer = {
        let core = Arc::clone(&core);
        thread::spawn(move || {
            for (round, token) in tokens_rx.into_iter().enumerate() {
                core.complete(token, round).unwrap();
            }
        })
    };
    for round in 0..ROUNDS {
        let token = core.reset();
        tokens_tx.send(token).unwrap();
        assert_eq!(block_on(ValueTask::from_source(&*core, token)), round);
    }
    drop(tokens_tx);
    producer.join().unwrap();
}

#[test]
fn a_completer_racing_the_first_poll_is_never_lost() {
    // The completer and the poller start together each round; whichever order the
    // race takes, the waiter gets the value.
    let core = ResetCore::new();
    for round in 0..ROUNDS {
        let token = core.reset();
        let barrier = std::sync::Barrier::new(2);
        thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                core.complete(token, round).unwrap();
            });
            barrier.wait();
            assert_eq!(block_on(ValueTask::from_source(&core, token)), round);
        });
    }
}

#[test]
fn a_stale_completion_racing_reset_never_lands_in_the_next_generation() {
    let core = ResetCore::new();
    for round in 0..ROUNDS {
        let old = core.token();
        let next = thread::scope(|s| {
            let late = s.spawn(|| core.complete(old, round));
            let next = core.reset();
            // Whichever won, the new generation is untouched.
            assert_eq!(core.status(next), Status::Pending);
            late.join().unwrap().ok();
            next
        });
        assert_eq!(core.status(next), Status::Pending);
        assert_eq!(core.complete(old, usize::MAX), Err(usize::MAX));
    }
}

#[test]
fn many_cores_complete_from_many_threads() {
    let cores: Vec<ResetCore<usize>> = (0..4).map(|_| ResetCore::new()).collect();
    let rounds = ROUNDS / 4;
    thread::scope(|s| {
        for (i, core) in cores.iter().enumerate() {
            s.spawn(move || {
                for round in 0..rounds {
                    let token = core.reset();
                    let task = ValueTask::from_source(core, token);
                    thread::scope(|inner| {
                        inner.spawn(|| core.complete(token, i * rounds + round).unwrap());
                        assert_eq!(block_on(task), i * rounds + round);
                    });
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------------------
// The task of an operation, on tokio: one task per token, and a task that left
// ---------------------------------------------------------------------------------------

/// Runs `body` on tokio's multi-thread runtime, failing by `test`'s name instead of
/// hanging if it is still pending after the wake-up deadline.
fn on_tokio<T>(test: &str, body: impl Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        tokio::time::timeout(support::poll::WAKE_DEADLINE, body)
            .await
            .unwrap_or_else(|_| panic!("{test}: still pending (a task hangs)"))
    })
}

#[test]
#[cfg_attr(miri, ignore = "tokio's multi-thread runtime is too slow under Miri")]
fn tokio_two_tasks_on_one_token_never_hang_one_gets_the_value_the_other_is_refused() {
    on_tokio("tokio_two_tasks_on_one_token_never_hang", async {
        let core = Arc::new(ResetCore::new());
        for round in 0..200_u32 {
            let token = core.reset();
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let core = Arc::clone(&core);
                    tokio::spawn(async move { ValueTask::from_source(&*core, token).await })
                })
                .collect();
            if round % 2 == 0 {
                tokio::task::yield_now().await;
            }
            let producer = Arc::clone(&core);
            thread::spawn(move || producer.complete(token, round).unwrap());
            let (mut got, mut refused) = (0, 0);
            for task in tasks {
                match task.await {
                    Ok(value) => {
                        assert_eq!(value, round);
                        got += 1;
                    }
                    Err(error) => {
                        let payload = error.into_panic();
                        let message = payload
                            .downcast_ref::<String>()
                            .cloned()
                            .unwrap_or_default();
                        assert!(message.contains("one task per token"), "{message}");
                        refused += 1;
                    }
                }
            }
            assert_eq!((got, refused), (1, 1), "round {round}");
        }
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tokio's timer and multi-thread runtime are too slow under Miri"
)]
fn tokio_try_reset_succeeds_after_the_only_task_timed_out() {
    on_tokio(
        "tokio_try_reset_succeeds_after_the_only_task_timed_out",
        async {
            let core = ResetCore::<u32>::new();
            let token = core.token();
            let waited = tokio::time::timeout(
                std::time::Duration::from_millis(1),
                ValueTask::from_source(&core, token),
            )
            .await;
            assert!(waited.is_err(), "nobody completed the operation");
            assert!(core.is_abandoned(token));
            let next = core
                .try_reset()
                .expect("the only task left: nothing is in flight");
            assert_ne!(next, token);
        },
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tokio's timer and multi-thread runtime are too slow under Miri"
)]
fn tokio_a_completion_after_the_task_timed_out_comes_back() {
    on_tokio(
        "tokio_a_completion_after_the_task_timed_out_comes_back",
        async {
            let drops = Arc::new(AtomicUsize::new(0));
            let core = Arc::new(ResetCore::new());
            let token = core.token();
            let waited = tokio::time::timeout(
                std::time::Duration::from_millis(1),
                ValueTask::from_source(&*core, token),
            )
            .await;
            assert!(waited.is_err());
            let producer = Arc::clone(&core);
            let counter = Arc::clone(&drops);
            let back =
                tokio::task::spawn_blocking(move || producer.complete(token, DropCounter(counter)))
                    .await
                    .unwrap();
            let value = back.expect_err("a completion nobody will read was accepted");
            assert_eq!(
                drops.load(Ordering::SeqCst),
                0,
                "the value came back and was dropped"
            );
            drop(value);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            assert_eq!(core.try_status(token), Some(Status::Consumed));
        },
    );
}

/// The same without a runtime: a task dropped after a pending poll, or before any poll,
/// is recorded; one dropped after it took its result is not "abandoned".
#[test]
fn a_dropped_task_is_recorded_whether_it_polled_or_not() {
    let core = ResetCore::<u8>::new();
    for polled in [false, true] {
        let token = core.reset();
        let mut task = ValueTask::from_source(&core, token);
        if polled {
            assert!(poll_noop(&mut task).is_pending());
            assert_eq!(core.try_reset(), Err(valuetask::ResetRefused::Awaited));
        }
        assert!(!core.is_abandoned(token));
        drop(task);
        assert!(core.is_abandoned(token), "polled: {polled}");
        assert_eq!(core.complete(token, 1), Err(1));
        assert!(core.try_reset().is_ok());
    }
    let token = core.reset();
    core.complete(token, 2).unwrap();
    assert_eq!(block_on(ValueTask::from_source(&core, token)), 2);
    assert!(
        !core.is_abandoned(token),
        "a task that took its result did not leave"
    );
}
