//! The benchmark cases, shared by `benches/valuetask.rs` (divan) and
//! `examples/prove_it.rs` (the comparison table), so both measure the same code.
//!
//! Each case is a [`Case`]: `new` builds whatever lives across operations (the `dyn`
//! object, the pool, the embedded core, the completer thread), `op` runs one operation
//! and returns its result so nothing can be folded away. Single-thread cases poll by
//! hand with [`Waker::noop`], so no executor cost is measured.

use std::cell::UnsafeCell;
use std::future::{Future, IntoFuture};
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::{BoxFuture, Either, Ready};
use valuetask::{Abandoned, Completer, ResetCore, SourcePool, Token, ValueTask};

/// One benchmark case.
pub(crate) trait Case {
    /// Builds what lives across operations.
    fn new() -> Self;

    /// Runs one operation to completion and returns its result.
    fn op(&mut self) -> u64;
}

/// Runs `case` for at least 1000 operations and `time`: caches, pools and thread-local
/// state reach their steady state, and a fresh completer thread, which Linux may start
/// on the consumer's core where the two would only spin in turns, gets spread out.
pub(crate) fn warm_up<C: Case>(case: &mut C, time: Duration) {
    let start = Instant::now();
    let mut ops = 0;
    while ops < 1_000 || start.elapsed() < time {
        for _ in 0..100 {
            black_box(case.op());
        }
        ops += 100;
    }
}

/// Calls `$m!` with every case as `name: Type, threads`, in the order of the comparison
/// table; `threads` is `Local` for a case that runs on one thread and `Cross` for one
/// whose operation another thread completes (measured in round trips).
macro_rules! for_each_case {
    ($m:ident) => {
        $m! {
            dyn_sync_call: cases::DynSyncCall, Local;
            task_box_dyn: cases::TaskBoxDyn, Local;
            async_trait: cases::AsyncTraitCall, Local;
            either_ready: cases::EitherReady, Local;
            valuetask_ready: cases::ValueTaskReady, Local;
            resetcore_roundtrip: cases::ResetCoreRoundtrip, Local;
            pool_complete_first: cases::PoolCompleteFirst, Local;
            multishot_roundtrip: cases::MultishotRoundtrip, Local;
            oneshot_complete_first: cases::OneshotCompleteFirst, Local;
            tokio_oneshot_complete_first: cases::TokioOneshotCompleteFirst, Local;
            futures_oneshot_complete_first: cases::FuturesOneshotCompleteFirst, Local;
            valuetask_oneshot_complete_first: cases::ValueTaskOneshotCompleteFirst, Local;
            pool_poll_first: cases::PoolPollFirst, Local;
            oneshot_poll_first: cases::OneshotPollFirst, Local;
            tokio_oneshot_poll_first: cases::TokioOneshotPollFirst, Local;
            futures_oneshot_poll_first: cases::FuturesOneshotPollFirst, Local;
            valuetask_oneshot_poll_first: cases::ValueTaskOneshotPollFirst, Local;
            pool_cross_thread: cases::PoolCrossThread, Cross;
            oneshot_cross_thread: cases::OneshotCrossThread, Cross;
            tokio_oneshot_cross_thread: cases::TokioOneshotCrossThread, Cross;
            valuetask_oneshot_cross_thread: cases::ValueTaskOneshotCrossThread, Cross;
            task_box_dyn_async: cases::TaskBoxDynAsync, Local;
            async_trait_async: cases::AsyncTraitAsync, Local;
            valuetask_async_dyn: cases::ValueTaskAsyncDyn, Local;
            valuetask_async_dyn_cross_thread: cases::ValueTaskAsyncDynCrossThread, Cross;
            task_box_dyn_async_cross_thread: cases::TaskBoxDynAsyncCrossThread, Cross;
            valuetask_async_trait: cases::ValueTaskAsyncTrait, Local;
            valuetask_async_trait_async: cases::ValueTaskAsyncTraitAsync, Local;
        }
    };
}
pub(crate) use for_each_case;

/// Polls `future` once with a waker that does nothing.
#[inline(always)]
fn poll_noop<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls a future that must be ready on its first poll.
#[inline(always)]
fn expect_ready<F: Future + Unpin>(mut future: F) -> F::Output {
    match poll_noop(&mut future) {
        Poll::Ready(value) => value,
        Poll::Pending => unreachable!("the future was completed before it was polled"),
    }
}

/// Polls `future` once, asserting that it waits, so the next poll finds the result.
#[inline(always)]
fn expect_pending<F: Future + Unpin>(future: &mut F) {
    assert!(
        poll_noop(future).is_pending(),
        "nothing completed the future yet"
    );
}

// ---------------------------------------------------------------------------------------
// `dyn` methods: the fast-path cache (a `Task` per call vs a `ValueTask`).
// ---------------------------------------------------------------------------------------

/// A lookup behind `dyn`, in every return shape the cases compare. Every call is a hit;
/// the miss path exists so that each shape keeps its real fallback.
trait Lookup: Send + Sync {
    fn get_sync(&self, key: u64) -> u64;
    fn get_boxed(&self, key: u64) -> Pin<Box<dyn Future<Output = u64> + Send + '_>>;
    fn get_either(&self, key: u64) -> Either<Ready<u64>, BoxFuture<'_, u64>>;
    fn get_valuetask(&self, key: u64) -> ValueTask<'_, u64>;
}

#[async_trait]
trait AsyncLookup: Send + Sync {
    async fn get(&self, key: u64) -> u64;
}

struct Cache {
    value: u64,
    /// Never equal to a key used by the cases; the compiler cannot know that.
    miss: u64,
}

impl Cache {
    fn dyn_lookup() -> Box<dyn Lookup> {
        Box::new(Self::new())
    }

    fn new() -> Self {
        Self {
            value: black_box(0x9e37_79b9_7f4a_7c15),
            miss: black_box(u64::MAX),
        }
    }

    #[inline]
    fn hit(&self, key: u64) -> Option<u64> {
        (key != self.miss).then_some(self.value ^ key)
    }

    async fn fetch(&self, key: u64) -> u64 {
        self.value.wrapping_add(key)
    }
}

impl Lookup for Cache {
    fn get_sync(&self, key: u64) -> u64 {
        self.hit(key).unwrap_or(self.value)
    }

    fn get_boxed(&self, key: u64) -> Pin<Box<dyn Future<Output = u64> + Send + '_>> {
        Box::pin(async move {
            match self.hit(key) {
                Some(value) => value,
                None => self.fetch(key).await,
            }
        })
    }

    fn get_either(&self, key: u64) -> Either<Ready<u64>, BoxFuture<'_, u64>> {
        match self.hit(key) {
            Some(value) => Either::Left(futures::future::ready(value)),
            None => Either::Right(Box::pin(self.fetch(key))),
        }
    }

    fn get_valuetask(&self, key: u64) -> ValueTask<'_, u64> {
        match self.hit(key) {
            Some(value) => ValueTask::ready(value),
            None => ValueTask::from_future(self.fetch(key)),
        }
    }
}

#[async_trait]
impl AsyncLookup for Cache {
    async fn get(&self, key: u64) -> u64 {
        match self.hit(key) {
            Some(value) => value,
            None => self.fetch(key).await,
        }
    }
}

/// State of the `dyn` cases: the object and a changing key.
struct DynCall<L: ?Sized> {
    lookup: Box<L>,
    key: u64,
}

impl<L: ?Sized> DynCall<L> {
    /// The object and the first key.
    fn new(lookup: Box<L>) -> Self {
        Self { lookup, key: 0 }
    }

    /// The object, hidden from the optimiser so the call stays virtual, and the next key.
    #[inline(always)]
    fn next(&mut self) -> (&L, u64) {
        self.key = self.key.wrapping_add(1);
        (black_box(&*self.lookup), black_box(self.key))
    }
}

/// A plain, non-async `dyn` method returning a `u64`: the floor.
pub(crate) struct DynSyncCall(DynCall<dyn Lookup>);

impl Case for DynSyncCall {
    fn new() -> Self {
        Self(DynCall::new(Cache::dyn_lookup()))
    }

    fn op(&mut self) -> u64 {
        let (lookup, key) = self.0.next();
        lookup.get_sync(key)
    }
}

/// A `dyn` method returning `Pin<Box<dyn Future>>`: the allocating shape.
pub(crate) struct TaskBoxDyn(DynCall<dyn Lookup>);

impl Case for TaskBoxDyn {
    fn new() -> Self {
        Self(DynCall::new(Cache::dyn_lookup()))
    }

    fn op(&mut self) -> u64 {
        let (lookup, key) = self.0.next();
        expect_ready(lookup.get_boxed(key))
    }
}

/// The same through `#[async_trait]`.
pub(crate) struct AsyncTraitCall(DynCall<dyn AsyncLookup>);

impl Case for AsyncTraitCall {
    fn new() -> Self {
        Self(DynCall::new(Box::new(Cache::new())))
    }

    fn op(&mut self) -> u64 {
        let (lookup, key) = self.0.next();
        expect_ready(lookup.get(key))
    }
}

/// A `dyn` method returning `Either<Ready, BoxFuture>`, taking the `Ready` side: the
/// best a hand-rolled enum does today.
pub(crate) struct EitherReady(DynCall<dyn Lookup>);

impl Case for EitherReady {
    fn new() -> Self {
        Self(DynCall::new(Cache::dyn_lookup()))
    }

    fn op(&mut self) -> u64 {
        let (lookup, key) = self.0.next();
        expect_ready(lookup.get_either(key))
    }
}

/// A `dyn` method returning `ValueTask::ready`: the zero-allocation shape.
pub(crate) struct ValueTaskReady(DynCall<dyn Lookup>);

impl Case for ValueTaskReady {
    fn new() -> Self {
        Self(DynCall::new(Cache::dyn_lookup()))
    }

    fn op(&mut self) -> u64 {
        let (lookup, key) = self.0.next();
        expect_ready(lookup.get_valuetask(key))
    }
}

// ---------------------------------------------------------------------------------------
// Request/response on one thread: a recycled completion vs a fresh channel per request.
// ---------------------------------------------------------------------------------------

/// A long-lived `ResetCore` embedded in its owner: reset, complete, then poll a
/// `ValueTask::from_source` to `Ready`.
pub(crate) struct ResetCoreRoundtrip {
    core: ResetCore<u64>,
    value: u64,
}

impl Case for ResetCoreRoundtrip {
    fn new() -> Self {
        Self {
            core: ResetCore::new(),
            value: 0,
        }
    }

    fn op(&mut self) -> u64 {
        self.value = self.value.wrapping_add(1);
        let core = black_box(&self.core);
        let token = core.reset();
        core.complete(token, self.value)
            .expect("the token is current");
        expect_ready(ValueTask::from_source(core, token))
    }
}

/// The payload of every request/response case.
fn unwrap_ok<E: std::fmt::Debug>(result: Result<u64, E>) -> u64 {
    result.expect("the producer sent a value")
}

/// State of the pool cases: the pool and a changing value.
pub(crate) struct Pool {
    pool: SourcePool<u64>,
    value: u64,
}

impl Pool {
    fn new() -> Self {
        Self {
            pool: SourcePool::with_capacity(4),
            value: 0,
        }
    }

    #[inline(always)]
    fn rent(
        &mut self,
    ) -> (
        ValueTask<'static, Result<u64, Abandoned>>,
        Completer<u64>,
        u64,
    ) {
        self.value = self.value.wrapping_add(1);
        let (task, completer) = black_box(&self.pool).rent();
        (task, completer, self.value)
    }
}

/// Rent a pool slot, succeed, poll to `Ready`.
pub(crate) struct PoolCompleteFirst(Pool);

impl Case for PoolCompleteFirst {
    fn new() -> Self {
        Self(Pool::new())
    }

    fn op(&mut self) -> u64 {
        let (task, completer, value) = self.0.rent();
        completer.succeed(value).expect("the task is alive");
        unwrap_ok(expect_ready(task))
    }
}

/// Rent a pool slot, poll (`Pending`), succeed, poll to `Ready`.
pub(crate) struct PoolPollFirst(Pool);

impl Case for PoolPollFirst {
    fn new() -> Self {
        Self(Pool::new())
    }

    fn op(&mut self) -> u64 {
        let (mut task, completer, value) = self.0.rent();
        expect_pending(&mut task);
        completer.succeed(value).expect("the task is alive");
        unwrap_ok(expect_ready(task))
    }
}

/// One `multishot` channel reused for every request: take the sender back from the
/// receiver, send, then poll the receiver to `Ready` (one atomic read-modify-write per
/// round trip, no allocation): the floor a reusable single-slot channel reaches.
pub(crate) struct MultishotRoundtrip {
    receiver: multishot::Receiver<u64>,
    value: u64,
}

impl Case for MultishotRoundtrip {
    fn new() -> Self {
        Self {
            receiver: multishot::Receiver::new(),
            value: 0,
        }
    }

    fn op(&mut self) -> u64 {
        self.value = self.value.wrapping_add(1);
        let receiver = black_box(&mut self.receiver);
        let sender = receiver
            .sender()
            .expect("the last value was received, so the sender comes back");
        sender.send(self.value);
        unwrap_ok(expect_ready(receiver.recv()))
    }
}

/// Makes a channel per request, the way each crate is used for request/response.
macro_rules! channel_cases {
    ($complete_first:ident, $poll_first:ident, $what:literal, $channel:expr, $into_future:expr) => {
        #[doc = concat!("A fresh ", $what, " channel: send, then poll the receiver to `Ready`.")]
        pub(crate) struct $complete_first(u64);

        impl Case for $complete_first {
            fn new() -> Self {
                Self(0)
            }

            fn op(&mut self) -> u64 {
                self.0 = self.0.wrapping_add(1);
                let (tx, rx) = $channel;
                tx.send(black_box(self.0)).expect("the receiver is alive");
                unwrap_ok(expect_ready($into_future(rx)))
            }
        }

        #[doc = concat!("A fresh ", $what, " channel: poll the receiver (`Pending`), send, poll to `Ready`.")]
        pub(crate) struct $poll_first(u64);

        impl Case for $poll_first {
            fn new() -> Self {
                Self(0)
            }

            fn op(&mut self) -> u64 {
                self.0 = self.0.wrapping_add(1);
                let (tx, rx) = $channel;
                let mut rx = $into_future(rx);
                expect_pending(&mut rx);
                tx.send(black_box(self.0)).expect("the receiver is alive");
                unwrap_ok(expect_ready(rx))
            }
        }
    };
}

channel_cases!(
    OneshotCompleteFirst,
    OneshotPollFirst,
    "`oneshot` crate",
    oneshot::channel::<u64>(),
    IntoFuture::into_future
);
channel_cases!(
    TokioOneshotCompleteFirst,
    TokioOneshotPollFirst,
    "`tokio::sync::oneshot`",
    tokio::sync::oneshot::channel::<u64>(),
    std::convert::identity
);
channel_cases!(
    FuturesOneshotCompleteFirst,
    FuturesOneshotPollFirst,
    "`futures::channel::oneshot`",
    futures::channel::oneshot::channel::<u64>(),
    std::convert::identity
);
channel_cases!(
    ValueTaskOneshotCompleteFirst,
    ValueTaskOneshotPollFirst,
    "`valuetask::oneshot`",
    valuetask::oneshot::channel::<u64>(),
    std::convert::identity
);

// ---------------------------------------------------------------------------------------
// Cross-thread: a long-lived completer thread, a busy-polling consumer.
// ---------------------------------------------------------------------------------------

/// The producer half of a request, as the completer thread uses it.
trait Respond: Send + 'static {
    fn respond(self, value: u64);
}

impl Respond for Completer<u64> {
    fn respond(self, value: u64) {
        self.succeed(value).expect("the task is alive");
    }
}

impl Respond for oneshot::Sender<u64> {
    fn respond(self, value: u64) {
        self.send(value).expect("the receiver is alive");
    }
}

impl Respond for tokio::sync::oneshot::Sender<u64> {
    fn respond(self, value: u64) {
        self.send(value).expect("the receiver is alive");
    }
}

impl Respond for valuetask::oneshot::Sender<u64> {
    fn respond(self, value: u64) {
        self.send(value).expect("the receiver is alive");
    }
}

/// Busy-waiting, as both sides of a cross-thread case do.
#[derive(Default)]
struct Spin(u32);

impl Spin {
    /// Spins, yielding the CPU once every 1024 turns. On an idle machine a round trip
    /// ends long before the first yield; on a loaded 2-core machine the yield lets a
    /// descheduled partner run instead of spinning out a whole time slice.
    #[inline(always)]
    fn wait(&mut self) {
        self.0 = self.0.wrapping_add(1);
        if self.0.is_multiple_of(1024) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// A single-slot spin handoff from the consumer to the completer thread, allocated once:
/// every cross-thread case uses it, so they differ only in the channel they compare.
struct Handoff<P> {
    /// Set by the consumer once `slot` holds a request; cleared by the completer thread
    /// once it moved the request out. Whoever sees its side of the flag owns `slot`.
    full: AtomicBool,
    /// Asks the completer thread to exit.
    stop: AtomicBool,
    slot: UnsafeCell<MaybeUninit<(P, u64)>>,
}

// SAFETY: `slot` is accessed only by the side that `full` hands it to (the consumer while
// it is clear, the completer thread while it is set), with release/acquire on `full`, and
// the payload is `Send`.
unsafe impl<P: Send> Sync for Handoff<P> {}

impl<P: Respond> Handoff<P> {
    /// Spins while the previous request is still in the slot (in practice it never is:
    /// the completer thread empties the slot before it responds).
    fn put(&self, responder: P, value: u64) {
        let mut spin = Spin::default();
        while self.full.load(Ordering::Acquire) {
            spin.wait();
        }
        // SAFETY: `full` is clear, so the consumer (the only caller of `put`) owns the
        // slot, and it is empty: the completer thread moved the last request out.
        unsafe { (*self.slot.get()).write((responder, value)) };
        self.full.store(true, Ordering::Release);
    }

    /// The completer thread's loop: respond to each request until asked to stop.
    fn serve(&self) {
        let mut spin = Spin::default();
        loop {
            if self.full.load(Ordering::Acquire) {
                // SAFETY: `full` is set, so the completer thread owns the slot, which holds
                // the request the consumer wrote before setting the flag.
                let (responder, value) = unsafe { (*self.slot.get()).assume_init_read() };
                self.full.store(false, Ordering::Release);
                responder.respond(value);
                spin = Spin::default();
            } else if self.stop.load(Ordering::Acquire) {
                return;
            } else {
                spin.wait();
            }
        }
    }
}

impl<P> Drop for Handoff<P> {
    fn drop(&mut self) {
        if *self.full.get_mut() {
            // SAFETY: `full` is set, so the slot holds a request nobody moved out, and
            // `&mut self` means no other thread is looking.
            unsafe { self.slot.get_mut().assume_init_drop() };
        }
    }
}

/// A completer thread that lives as long as the case.
struct CrossThread<P: Respond> {
    handoff: Arc<Handoff<P>>,
    thread: Option<JoinHandle<()>>,
    value: u64,
}

impl<P: Respond> CrossThread<P> {
    fn new() -> Self {
        let handoff = Arc::new(Handoff {
            full: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            slot: UnsafeCell::new(MaybeUninit::uninit()),
        });
        let served = Arc::clone(&handoff);
        let thread = std::thread::Builder::new()
            .name("completer".into())
            .spawn(move || served.serve())
            .expect("spawn the completer thread");
        Self {
            handoff,
            thread: Some(thread),
            value: 0,
        }
    }

    /// Hands `responder` to the completer thread, then busy-polls `receiver` until the
    /// response is there.
    #[inline(always)]
    fn round_trip<F, E>(&mut self, responder: P, mut receiver: F) -> u64
    where
        F: Future<Output = Result<u64, E>> + Unpin,
        E: std::fmt::Debug,
    {
        self.value = self.value.wrapping_add(1);
        self.handoff.put(responder, self.value);
        let mut spin = Spin::default();
        loop {
            match poll_noop(&mut receiver) {
                Poll::Ready(result) => return unwrap_ok(result),
                Poll::Pending => spin.wait(),
            }
        }
    }
}

impl<P: Respond> Drop for CrossThread<P> {
    fn drop(&mut self) {
        self.handoff.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the completer thread panicked");
        }
    }
}

/// Rent a pool slot; another thread succeeds; busy-poll to `Ready`.
pub(crate) struct PoolCrossThread {
    pool: SourcePool<u64>,
    thread: CrossThread<Completer<u64>>,
}

impl Case for PoolCrossThread {
    fn new() -> Self {
        Self {
            pool: SourcePool::with_capacity(4),
            thread: CrossThread::new(),
        }
    }

    fn op(&mut self) -> u64 {
        let (task, completer) = self.pool.rent();
        self.thread.round_trip(completer, task)
    }
}

/// A fresh `oneshot` crate channel; another thread sends; busy-poll to `Ready`.
pub(crate) struct OneshotCrossThread(CrossThread<oneshot::Sender<u64>>);

impl Case for OneshotCrossThread {
    fn new() -> Self {
        Self(CrossThread::new())
    }

    fn op(&mut self) -> u64 {
        let (tx, rx) = oneshot::channel();
        self.0.round_trip(tx, rx.into_future())
    }
}

/// A fresh `tokio::sync::oneshot` channel; another thread sends; busy-poll to `Ready`.
pub(crate) struct TokioOneshotCrossThread(CrossThread<tokio::sync::oneshot::Sender<u64>>);

impl Case for TokioOneshotCrossThread {
    fn new() -> Self {
        Self(CrossThread::new())
    }

    fn op(&mut self) -> u64 {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.0.round_trip(tx, rx)
    }
}

/// A fresh `valuetask::oneshot` channel; another thread sends; busy-poll to `Ready`.
pub(crate) struct ValueTaskOneshotCrossThread(CrossThread<valuetask::oneshot::Sender<u64>>);

impl Case for ValueTaskOneshotCrossThread {
    fn new() -> Self {
        Self(CrossThread::new())
    }

    fn op(&mut self) -> u64 {
        let (tx, rx) = valuetask::oneshot::channel();
        self.0.round_trip(tx, rx)
    }
}

// ---------------------------------------------------------------------------------------
// `dyn` async methods that really suspend: the state must outlive the call.
// ---------------------------------------------------------------------------------------

/// A `dyn` service whose async body awaits an operation of `core` (completed by the case
/// right after the first poll), in every return shape the cases compare.
trait AsyncService: Send + Sync {
    fn call_boxed<'a>(
        &'a self,
        core: &'a ResetCore<u64>,
        token: Token,
    ) -> Pin<Box<dyn Future<Output = u64> + Send + 'a>>;
    fn call_valuetask<'a>(&'a self, core: &'a ResetCore<u64>, token: Token) -> ValueTask<'a, u64>;
}

#[async_trait]
trait AsyncTraitService: Send + Sync {
    async fn call(&self, core: &ResetCore<u64>, token: Token) -> u64;
}

struct Service {
    offset: u64,
}

impl Service {
    fn new() -> Self {
        Self {
            offset: black_box(0x9e37_79b9_7f4a_7c15),
        }
    }
}

impl AsyncService for Service {
    fn call_boxed<'a>(
        &'a self,
        core: &'a ResetCore<u64>,
        token: Token,
    ) -> Pin<Box<dyn Future<Output = u64> + Send + 'a>> {
        Box::pin(async move { ValueTask::from_source(core, token).await ^ self.offset })
    }

    fn call_valuetask<'a>(&'a self, core: &'a ResetCore<u64>, token: Token) -> ValueTask<'a, u64> {
        ValueTask::from_future(
            async move { ValueTask::from_source(core, token).await ^ self.offset },
        )
    }
}

#[async_trait]
impl AsyncTraitService for Service {
    async fn call(&self, core: &ResetCore<u64>, token: Token) -> u64 {
        ValueTask::from_source(core, token).await ^ self.offset
    }
}

/// State of the suspending `dyn` cases: the service, the core its calls wait on, and a
/// changing value.
struct Suspending<S: ?Sized> {
    service: Box<S>,
    core: ResetCore<u64>,
    value: u64,
}

impl<S: ?Sized> Suspending<S> {
    fn new(service: Box<S>) -> Self {
        Self {
            service,
            core: ResetCore::new(),
            value: 0,
        }
    }

    /// Starts an operation: the service (hidden from the optimiser so the call stays
    /// virtual), the core, its token, and the value to complete it with.
    #[inline(always)]
    fn start(&mut self) -> (&S, &ResetCore<u64>, Token, u64) {
        self.value = self.value.wrapping_add(1);
        let core = black_box(&self.core);
        let token = core.reset();
        (black_box(&*self.service), core, token, self.value)
    }
}

/// Polls the call (it suspends on the core), completes the core, polls it to `Ready`.
#[inline(always)]
fn suspend_once<F: Future<Output = u64> + Unpin>(
    mut call: F,
    core: &ResetCore<u64>,
    token: Token,
    value: u64,
) -> u64 {
    expect_pending(&mut call);
    core.complete(token, value).expect("the token is current");
    expect_ready(call)
}

/// A `dyn` method returning `Pin<Box<dyn Future>>` whose body suspends once.
pub(crate) struct TaskBoxDynAsync(Suspending<dyn AsyncService>);

impl Case for TaskBoxDynAsync {
    fn new() -> Self {
        Self(Suspending::new(Box::new(Service::new())))
    }

    fn op(&mut self) -> u64 {
        let (service, core, token, value) = self.0.start();
        suspend_once(service.call_boxed(core, token), core, token, value)
    }
}

/// The same through `#[async_trait]`.
pub(crate) struct AsyncTraitAsync(Suspending<dyn AsyncTraitService>);

impl Case for AsyncTraitAsync {
    fn new() -> Self {
        Self(Suspending::new(Box::new(Service::new())))
    }

    fn op(&mut self) -> u64 {
        let (service, core, token, value) = self.0.start();
        suspend_once(service.call(core, token), core, token, value)
    }
}

/// The same returning `ValueTask::from_future`: the future lives in a recycled block.
pub(crate) struct ValueTaskAsyncDyn(Suspending<dyn AsyncService>);

impl Case for ValueTaskAsyncDyn {
    fn new() -> Self {
        Self(Suspending::new(Box::new(Service::new())))
    }

    fn op(&mut self) -> u64 {
        let (service, core, token, value) = self.0.start();
        suspend_once(service.call_valuetask(core, token), core, token, value)
    }
}

/// A `dyn` service whose async body awaits a pooled operation: `'static`, so the call
/// can move to another thread.
trait PooledService: Send + Sync {
    fn call(&self, reply: ValueTask<'static, Result<u64, Abandoned>>) -> ValueTask<'static, u64>;
    fn call_boxed(
        &self,
        reply: ValueTask<'static, Result<u64, Abandoned>>,
    ) -> Pin<Box<dyn Future<Output = u64> + Send + 'static>>;
}

struct PooledOffset;

impl PooledService for PooledOffset {
    fn call(&self, reply: ValueTask<'static, Result<u64, Abandoned>>) -> ValueTask<'static, u64> {
        ValueTask::from_future(async move { unwrap_ok(reply.await) ^ 0x9e37_79b9_7f4a_7c15 })
    }

    fn call_boxed(
        &self,
        reply: ValueTask<'static, Result<u64, Abandoned>>,
    ) -> Pin<Box<dyn Future<Output = u64> + Send + 'static>> {
        Box::pin(async move { unwrap_ok(reply.await) ^ 0x9e37_79b9_7f4a_7c15 })
    }
}

/// A suspended call on its way to the thread that finishes it.
type InFlight<C> = (C, Completer<u64>, u64);

/// How many calls may be on their way to the finishing thread at once.
const RING: usize = 64;

/// A bounded single-producer, single-consumer queue of suspended calls, allocated once.
struct Ring<C> {
    /// Calls pushed so far; written by the producer only.
    tail: AtomicUsize,
    /// Calls popped so far; written by the consumer only.
    head: AtomicUsize,
    stop: AtomicBool,
    slots: [UnsafeCell<MaybeUninit<InFlight<C>>>; RING],
}

// SAFETY: slot `i % RING` belongs to the producer while `tail - head < RING` says it is
// free and to the consumer once `tail` (released) passed it, until `head` (released)
// passes it again; the payload is `Send`.
unsafe impl<C: Send> Sync for Ring<C> {}

impl<C: Future<Output = u64> + Unpin + Send> Ring<C> {
    fn push(&self, call: InFlight<C>) {
        let tail = self.tail.load(Ordering::Relaxed);
        let mut spin = Spin::default();
        while tail - self.head.load(Ordering::Acquire) == RING {
            spin.wait();
        }
        // SAFETY: the slot is free (the consumer moved its last call out) and ours.
        unsafe { (*self.slots[tail % RING].get()).write(call) };
        self.tail.store(tail + 1, Ordering::Release);
    }

    fn pop(&self) -> Option<InFlight<C>> {
        let head = self.head.load(Ordering::Relaxed);
        if head == self.tail.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: the producer wrote this slot before publishing `tail` past it.
        let call = unsafe { (*self.slots[head % RING].get()).assume_init_read() };
        self.head.store(head + 1, Ordering::Release);
        Some(call)
    }

    /// The finishing thread: completes each call's operation and polls the call to
    /// `Ready` there, which drops its future and frees its memory on this thread.
    fn finish_calls(&self) {
        let mut spin = Spin::default();
        loop {
            if let Some((call, completer, value)) = self.pop() {
                completer.succeed(value).expect("the call is alive");
                black_box(expect_ready(call));
                spin = Spin::default();
            } else if self.stop.load(Ordering::Acquire) {
                return;
            } else {
                spin.wait();
            }
        }
    }
}

/// Calls a `dyn` method, polls the call once (it suspends) and hands it to another
/// thread, which completes what it waits on and finishes it: the call's memory is taken
/// on this thread and freed on that one. Calls are pipelined through a ring of 64, so
/// the time per operation is this thread's throughput, not a round trip.
struct CrossThreadCalls<C: Future<Output = u64> + Unpin + Send + 'static> {
    service: Box<dyn PooledService>,
    pool: SourcePool<u64>,
    ring: Arc<Ring<C>>,
    thread: Option<JoinHandle<()>>,
    value: u64,
}

impl<C: Future<Output = u64> + Unpin + Send + 'static> CrossThreadCalls<C> {
    fn new() -> Self {
        let ring = Arc::new(Ring {
            tail: AtomicUsize::new(0),
            head: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            slots: std::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
        });
        let served = Arc::clone(&ring);
        let thread = std::thread::Builder::new()
            .name("finisher".into())
            .spawn(move || served.finish_calls())
            .expect("spawn the finishing thread");
        Self {
            service: Box::new(PooledOffset),
            pool: SourcePool::with_capacity(4 * RING),
            ring,
            thread: Some(thread),
            value: 0,
        }
    }

    #[inline(always)]
    fn op(
        &mut self,
        call: impl FnOnce(&dyn PooledService, ValueTask<'static, Result<u64, Abandoned>>) -> C,
    ) -> u64 {
        self.value = self.value.wrapping_add(1);
        let (reply, completer) = self.pool.rent();
        let mut call = call(black_box(&*self.service), reply);
        expect_pending(&mut call);
        self.ring.push((call, completer, self.value));
        self.value
    }
}

impl<C: Future<Output = u64> + Unpin + Send + 'static> Drop for CrossThreadCalls<C> {
    fn drop(&mut self) {
        self.ring.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the finishing thread panicked");
        }
        while let Some(call) = self.ring.pop() {
            drop(call);
        }
    }
}

/// A `dyn` method returning `ValueTask::from_future`, finished on another thread.
pub(crate) struct ValueTaskAsyncDynCrossThread(CrossThreadCalls<ValueTask<'static, u64>>);

impl Case for ValueTaskAsyncDynCrossThread {
    fn new() -> Self {
        Self(CrossThreadCalls::new())
    }

    fn op(&mut self) -> u64 {
        self.0.op(|service, reply| service.call(reply))
    }
}

/// The same pipeline returning `Pin<Box<dyn Future>>`: boxed here, freed there.
pub(crate) struct TaskBoxDynAsyncCrossThread(
    CrossThreadCalls<Pin<Box<dyn Future<Output = u64> + Send + 'static>>>,
);

impl Case for TaskBoxDynAsyncCrossThread {
    fn new() -> Self {
        Self(CrossThreadCalls::new())
    }

    fn op(&mut self) -> u64 {
        self.0.op(|service, reply| service.call_boxed(reply))
    }
}

// ---------------------------------------------------------------------------------------
// `#[valuetask::async_trait]`: the async-trait cases with only the attribute changed.
// ---------------------------------------------------------------------------------------

/// [`AsyncLookup`] under `#[valuetask::async_trait]`: the same body, returning a
/// `ValueTask` built with `from_future`.
#[valuetask::async_trait]
trait ValueTaskLookup: Send + Sync {
    async fn get(&self, key: u64) -> u64;
}

#[valuetask::async_trait]
impl ValueTaskLookup for Cache {
    async fn get(&self, key: u64) -> u64 {
        match self.hit(key) {
            Some(value) => value,
            None => self.fetch(key).await,
        }
    }
}

/// A `dyn` method through `#[valuetask::async_trait]` whose body returns at once: the
/// `async_trait` case with only the attribute changed.
pub(crate) struct ValueTaskAsyncTrait(DynCall<dyn ValueTaskLookup>);

impl Case for ValueTaskAsyncTrait {
    fn new() -> Self {
        Self(DynCall::new(Box::new(Cache::new())))
    }

    fn op(&mut self) -> u64 {
        let (lookup, key) = self.0.next();
        expect_ready(lookup.get(key))
    }
}

/// [`AsyncTraitService`] under `#[valuetask::async_trait]`.
#[valuetask::async_trait]
trait ValueTaskService: Send + Sync {
    async fn call(&self, core: &ResetCore<u64>, token: Token) -> u64;
}

#[valuetask::async_trait]
impl ValueTaskService for Service {
    async fn call(&self, core: &ResetCore<u64>, token: Token) -> u64 {
        ValueTask::from_source(core, token).await ^ self.offset
    }
}

/// A `dyn` method through `#[valuetask::async_trait]` whose body suspends once: the
/// `async_trait_async` case with only the attribute changed.
pub(crate) struct ValueTaskAsyncTraitAsync(Suspending<dyn ValueTaskService>);

impl Case for ValueTaskAsyncTraitAsync {
    fn new() -> Self {
        Self(Suspending::new(Box::new(Service::new())))
    }

    fn op(&mut self) -> u64 {
        let (service, core, token, value) = self.0.start();
        suspend_once(service.call(core, token), core, token, value)
    }
}
