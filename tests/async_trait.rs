//! What `#[valuetask::async_trait]` adds over `async-trait`: the methods return
//! `ValueTask<'async_trait, T>` (or `LocalValueTask` under `?Send`), built with
//! `from_future`, so their futures live in recycled blocks; `?Send` futures run on a
//! tokio `LocalSet`; `Send` ones move between tokio's workers. The shapes the attribute
//! accepts are in tests/async_trait_compat.rs.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use valuetask::{LocalValueTask, ResetCore, Token, ValueTask, async_trait, future_pool};

fn poll_noop<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

#[async_trait]
trait Lookup: Send + Sync {
    async fn get(&self, key: &str) -> Option<u64>;
    async fn wait(&self, core: &ResetCore<u64>, token: Token) -> u64;
    async fn generic<'a, T>(&self, value: T) -> usize
    where
        T: AsRef<str> + Send + 'a + 'async_trait,
        Self: Sized,
    {
        value.as_ref().len()
    }
}

struct Table;

#[async_trait]
impl Lookup for Table {
    async fn get(&self, key: &str) -> Option<u64> {
        key.parse().ok()
    }

    async fn wait(&self, core: &ResetCore<u64>, token: Token) -> u64 {
        ValueTask::from_source(core, token).await + 1
    }
}

#[test]
fn methods_return_value_tasks_with_the_async_trait_lifetime() {
    let table: &dyn Lookup = &Table;
    let key = String::from("12");
    let task: ValueTask<'_, Option<u64>> = table.get(&key);
    assert!(!task.is_ready(), "a future is not polled to find out");
    assert_eq!(futures::executor::block_on(task), Some(12));
    // The signature as a function pointer.
    let get: fn(&'static Table, &'static str) -> ValueTask<'static, Option<u64>> =
        <Table as Lookup>::get;
    assert_eq!(futures::executor::block_on(get(&Table, "3")), Some(3));
    assert_eq!(futures::executor::block_on(Table.generic("four")), 4);
}

#[test]
fn a_suspending_body_waits_in_its_pooled_block() {
    let table: &dyn Lookup = &Table;
    let core = ResetCore::new();
    for round in 0..100 {
        let token = core.reset();
        let mut task = table.wait(&core, token);
        assert!(poll_noop(&mut task).is_pending());
        assert!(format!("{task:?}").contains("pooled future"), "{task:?}");
        core.complete(token, round).unwrap();
        assert_eq!(poll_noop(&mut task), Poll::Ready(round + 1));
    }
}

#[test]
fn dropping_a_suspended_call_drops_its_future_once() {
    #[async_trait]
    trait Hold {
        async fn hold(&self, guard: Arc<()>, core: &ResetCore<u64>, token: Token) -> u64;
    }

    #[async_trait]
    impl Hold for Table {
        async fn hold(&self, guard: Arc<()>, core: &ResetCore<u64>, token: Token) -> u64 {
            let value = ValueTask::from_source(core, token).await;
            drop(guard);
            value
        }
    }

    let guard = Arc::new(());
    let core = ResetCore::new();
    let token = core.token();
    let mut task = Table.hold(Arc::clone(&guard), &core, token);
    assert!(poll_noop(&mut task).is_pending());
    assert_eq!(Arc::strong_count(&guard), 2);
    drop(task);
    assert_eq!(Arc::strong_count(&guard), 1);
}

#[test]
fn a_future_over_the_largest_block_is_boxed_and_still_runs() {
    #[async_trait]
    trait Big {
        async fn big(&self) -> usize;
    }

    #[async_trait]
    impl Big for Table {
        async fn big(&self) -> usize {
            let buffer = [7u8; 8192];
            futures::future::ready(()).await;
            buffer.iter().map(|&b| usize::from(b)).sum()
        }
    }

    let task = Table.big();
    assert!(format!("{task:?}").contains("boxed"), "{task:?}");
    assert_eq!(futures::executor::block_on(task), 7 * 8192);
}

// ---- arguments are dropped where an `async fn` drops them ---------------------------

/// Logs its name when dropped.
struct Noisy(&'static str, Arc<std::sync::Mutex<Vec<&'static str>>>);

impl Drop for Noisy {
    fn drop(&mut self) {
        self.1.lock().unwrap().push(self.0);
    }
}

struct Pair<A, B>(A, B);

#[async_trait]
trait Consume {
    async fn consume(self, pair: Pair<Noisy, Noisy>, ignored: Noisy, last: Noisy)
    where
        Self: Sized;
}

/// `self`, a pattern with a `_` part, a `_` argument and a plain one, and a body that
/// suspends once: the same as an inherent `async fn` and as a method of our trait.
struct Holder(Noisy);

impl Holder {
    async fn consume_inherent(self, Pair(_, second): Pair<Noisy, Noisy>, _: Noisy, last: Noisy) {
        self.0.1.lock().unwrap().push("body starts");
        yield_once().await;
        let _ = (&second, &last);
        self.0.1.lock().unwrap().push("body ends");
    }
}

#[async_trait]
impl Consume for Holder {
    async fn consume(self, Pair(_, second): Pair<Noisy, Noisy>, _: Noisy, last: Noisy) {
        self.0.1.lock().unwrap().push("body starts");
        yield_once().await;
        let _ = (&second, &last);
        self.0.1.lock().unwrap().push("body ends");
    }
}

/// Makes the arguments, runs `call` on them for `polls` polls at most, drops what is
/// left, and returns the log.
fn drop_log<F: Future<Output = ()>>(
    polls: usize,
    call: impl FnOnce(Holder, Pair<Noisy, Noisy>, Noisy, Noisy) -> F,
) -> Vec<&'static str> {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let noisy = |name| Noisy(name, Arc::clone(&log));
    let mut task = Box::pin(call(
        Holder(noisy("self")),
        Pair(noisy("pair.0"), noisy("pair.1")),
        noisy("wildcard"),
        noisy("last"),
    ));
    log.lock().unwrap().push("called");
    for _ in 0..polls {
        if poll_noop(&mut task).is_ready() {
            log.lock().unwrap().push("ready");
            break;
        }
    }
    drop(task);
    log.lock().unwrap().clone()
}

fn yield_once() -> impl Future<Output = ()> + Send {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if std::mem::replace(&mut yielded, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

#[test]
fn arguments_drop_as_in_an_async_fn() {
    let expected = [
        "called",
        "body starts",
        "body ends",
        "last",
        "wildcard",
        "pair.1",
        "pair.0",
        "self",
        "ready",
    ];
    let inherent = drop_log(2, Holder::consume_inherent);
    assert_eq!(inherent, expected);
    let ours = drop_log(2, |holder, pair, wildcard, last| {
        holder.consume(pair, wildcard, last)
    });
    assert_eq!(ours, expected);

    // Dropped while suspended, and before the first poll: still all at once, in order.
    let inherent = drop_log(1, Holder::consume_inherent);
    let ours = drop_log(1, |holder, pair, wildcard, last| {
        holder.consume(pair, wildcard, last)
    });
    assert_eq!(ours, inherent);
    assert_eq!(ours[..2], ["called", "body starts"]);
    let inherent = drop_log(0, Holder::consume_inherent);
    let ours = drop_log(0, |holder, pair, wildcard, last| {
        holder.consume(pair, wildcard, last)
    });
    assert_eq!(ours, inherent);
    assert_eq!(ours[0], "called");
}

#[test]
#[cfg_attr(miri, ignore = "tokio's multi-thread runtime is too slow under Miri")]
fn send_methods_run_on_tokio_workers() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let table: Arc<dyn Lookup> = Arc::new(Table);
    runtime.block_on(async {
        let mut handles = Vec::new();
        for i in 0..64u64 {
            let table = Arc::clone(&table);
            handles.push(tokio::spawn(async move {
                let core = ResetCore::new();
                let token = core.token();
                let (value, ()) = tokio::join!(table.wait(&core, token), async {
                    tokio::task::yield_now().await;
                    core.complete(token, i).unwrap();
                });
                value + table.get("1").await.unwrap()
            }));
        }
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap(), i as u64 + 2);
        }
    });
}

// ---- ?Send -------------------------------------------------------------------------

#[async_trait(?Send)]
trait Counter {
    async fn bump(&self) -> usize;
    async fn bump_twice(&self) -> usize {
        self.bump().await;
        self.bump().await
    }
    /// Holds a `RefCell` borrow across `.await` (deliberately: it makes the future `!Send`).
    #[allow(clippy::await_holding_refcell_ref)]
    async fn logged(&self, log: &RefCell<Vec<usize>>) -> usize {
        let mut log = log.borrow_mut();
        let count = self.bump().await;
        log.push(count);
        log.len()
    }
}

/// Single-thread state: an `Rc` held across `.await`, and a `RefCell`.
#[derive(Default)]
struct Local {
    count: Rc<Cell<usize>>,
    log: RefCell<Vec<usize>>,
}

#[async_trait(?Send)]
impl Counter for Local {
    async fn bump(&self) -> usize {
        let count = Rc::clone(&self.count);
        tokio::task::yield_now().await;
        count.set(count.get() + 1);
        self.log.borrow_mut().push(count.get());
        count.get()
    }
}

#[test]
fn local_methods_return_local_value_tasks() {
    let local = Local::default();
    let object: &dyn Counter = &local;
    let task: LocalValueTask<'_, usize> = object.bump_twice();
    assert!(
        format!("{task:?}").starts_with("LocalValueTask("),
        "{task:?}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(task), 2);
    let log = RefCell::new(Vec::new());
    assert_eq!(runtime.block_on(object.logged(&log)), 1);
    assert_eq!(*log.borrow(), [3]);
}

#[test]
fn local_methods_run_on_a_tokio_local_set() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let set = tokio::task::LocalSet::new();
    let local: Rc<dyn Counter> = Rc::new(Local::default());
    set.block_on(&runtime, async {
        let mut handles = Vec::new();
        for _ in 0..10 {
            let local = Rc::clone(&local);
            handles.push(tokio::task::spawn_local(
                async move { local.bump_twice().await },
            ));
        }
        let mut results = Vec::new();
        for handle in handles {
            results.push(handle.await.unwrap());
        }
        results.sort_unstable();
        assert_eq!(results.last(), Some(&20));
    });
}

// ---- LocalValueTask's tiers ----------------------------------------------------------

#[test]
fn local_value_task_tiers() {
    let ready = LocalValueTask::ready(Rc::new(1));
    assert!(ready.is_ready());
    assert_eq!(*ready.into_ready().unwrap(), 1);

    let shared = Rc::new(RefCell::new(0));
    let future = LocalValueTask::from_future({
        let shared = Rc::clone(&shared);
        async move {
            *shared.borrow_mut() += 1;
            Rc::strong_count(&shared)
        }
    });
    assert!(
        format!("{future:?}").contains("pooled future"),
        "{future:?}"
    );
    let future = future.into_ready().unwrap_err();
    assert_eq!(futures::executor::block_on(future), 2);
    assert_eq!(*shared.borrow(), 1);
    assert_eq!(Rc::strong_count(&shared), 1, "the future was dropped");

    let boxed = LocalValueTask::boxed(async { Rc::new("boxed") });
    assert!(format!("{boxed:?}").contains("boxed"), "{boxed:?}");
    assert_eq!(*futures::executor::block_on(boxed), "boxed");

    let core = ResetCore::new();
    let token = core.token();
    let from_send = LocalValueTask::from(ValueTask::from_source(&core, token));
    core.complete(token, 9).unwrap();
    assert!(from_send.is_ready());
    assert_eq!(futures::executor::block_on(from_send), 9);
}

/// A source that is not `Sync`: its state is in `Cell`s.
struct CellSource {
    value: Cell<Option<u64>>,
    waker: RefCell<Option<Waker>>,
    released: Cell<u32>,
}

impl valuetask::Source<u64> for CellSource {
    fn poll_result(&self, _: Token, cx: &mut Context<'_>) -> Poll<u64> {
        match self.value.take() {
            Some(value) => Poll::Ready(value),
            None => {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn status(&self, _: Token) -> valuetask::Status {
        let value = self.value.get();
        if value.is_some() {
            valuetask::Status::Ready
        } else {
            valuetask::Status::Pending
        }
    }

    fn poll_first(&self, token: Token, cx: &mut Context<'_>) -> Poll<u64> {
        self.poll_result(token, cx)
    }

    fn release(&self, _: Token) {
        self.released.set(self.released.get() + 1);
    }

    fn release_unpolled(&self, token: Token) {
        self.release(token);
    }
}

#[test]
fn local_value_task_from_a_source_that_is_not_sync() {
    let source = CellSource {
        value: Cell::new(None),
        waker: RefCell::new(None),
        released: Cell::new(0),
    };
    let mut task = LocalValueTask::from_source(&source, Token::new(0));
    assert!(poll_noop(&mut task).is_pending());
    assert!(source.waker.borrow().is_some());
    source.value.set(Some(4));
    assert_eq!(poll_noop(&mut task), Poll::Ready(4));
    assert_eq!(source.released.get(), 1);

    let task = LocalValueTask::from_source(&source, Token::new(1));
    drop(task);
    assert_eq!(
        source.released.get(),
        2,
        "a dropped task releases its token"
    );
}

#[test]
fn local_futures_use_this_threads_blocks() {
    future_pool::trim();
    let before = future_pool::stats();
    let rc = Rc::new(5);
    for _ in 0..10 {
        let rc = Rc::clone(&rc);
        let task = LocalValueTask::from_future(async move { *rc + 1 });
        assert_eq!(futures::executor::block_on(task), 6);
    }
    let after = future_pool::stats();
    assert_eq!(after.thread_cached_blocks, before.thread_cached_blocks + 1);
}
