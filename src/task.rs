//! [`ValueTask`]: the handle users return and await.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::raw::RawTask;
use crate::source::{Source, Status, Token};

/// A result that is either here already or produced later, without a heap allocation
/// on the paths that matter: the Rust twin of .NET's `ValueTask<T>`.
///
/// A `ValueTask` is one of:
/// - a **ready value** ([`ValueTask::ready`]): no allocation, the common case of a cache hit;
/// - a **borrowed source** ([`ValueTask::from_source`]): an operation of an object that
///   owns a reusable completion core such as [`ResetCore`](crate::ResetCore); no allocation;
/// - a **pooled slot** rented from a [`SourcePool`](crate::SourcePool); no allocation in
///   steady state;
/// - a **future** ([`ValueTask::from_future`]): the general path, stored in a recycled
///   block, so no allocation in steady state either ([`ValueTask::boxed`] boxes it).
///
/// All are the same type, so a `dyn` trait method can return a ready value on one
/// call and wait on a source on the next.
///
/// Like a `Pin<Box<dyn Future<Output = T> + Send>>`, a `ValueTask` is `Send` whatever `T`
/// is: what it holds is `Send` (a ready value must be), and the output is made where the
/// task is polled. Futures that are not `Send` and sources that are not `Sync` go in a
/// [`LocalValueTask`](crate::LocalValueTask).
///
/// # The rules of `ValueTask`, enforced by the type
///
/// 1. *Never await twice*: `ValueTask` is not `Clone`, and `.await` consumes it.
/// 2. *Never read the result before completion*: [`into_ready`](ValueTask::into_ready)
///    hands the task back instead of blocking or reading garbage.
/// 3. *Combinators take it as it is*: it is an ordinary `Unpin` [`Future`], so `join!`,
///    `tokio::select!` and `FuturesUnordered` need no conversion (`futures::select!`
///    wants a `FusedFuture`: add `.fuse()`).
/// 4. *One task per token*: a [`Token`] is `Copy`, but a source that enforces the rule,
///    as [`ResetCore`](crate::ResetCore) does, refuses a second
///    [`from_source`](Self::from_source) task on one token with a panic at its first
///    poll, so two tasks never wait for one value.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use valuetask::ValueTask;
///
/// trait Config {
///     fn get(&self, key: &str) -> ValueTask<'_, Option<String>>;
/// }
///
/// struct Cached(HashMap<String, String>);
///
/// impl Config for Cached {
///     fn get(&self, key: &str) -> ValueTask<'_, Option<String>> {
///         match self.0.get(key) {
///             Some(v) => ValueTask::ready(Some(v.clone())),
///             None => ValueTask::from_future(async { None }),
///         }
///     }
/// }
///
/// let config: &dyn Config = &Cached(HashMap::from([("port".into(), "80".into())]));
/// let port = futures::executor::block_on(config.get("port"));
/// assert_eq!(port.as_deref(), Some("80"));
/// ```
///
/// # The lifetime `'a`
///
/// `'a` is how long whatever the task borrows must live. A method whose async body uses
/// `self` *and* a borrowed argument after an `.await` names one lifetime for both:
/// `fn get<'a>(&'a self, key: &'a str) -> ValueTask<'a, Option<String>>` (the
/// [crate docs](crate#lifetimes) show it whole).
///
/// # `Send` and `Sync`
///
/// `ValueTask<'a, T>` is `Send` for every `T`: what it holds is `Send` (a ready value
/// must be, so [`ready`](Self::ready) needs `T: Send`; [`from_future`](Self::from_future)
/// accepts only `Send` futures and [`from_source`](Self::from_source) only `Sync`
/// sources), and a result it makes is made on the thread that polls it, so a runtime may
/// poll the task on any worker. It is not `Sync` (nothing needs it: a future is polled
/// through `&mut`).
/// Futures that hold an `Rc` or a `RefCell` across an `.await` are not `Send` and are not
/// accepted here.
///
/// # Cancel safety
///
/// Dropping a `ValueTask` before it completes is always allowed. A borrowed source is
/// told through [`Source::release`]; a pooled slot tells its
/// [`Completer`](crate::Completer), whose [`is_cancelled`](crate::Completer::is_cancelled)
/// turns true; a future is dropped (in place, if pooled) and its block recycled.
#[must_use = "a ValueTask gives its result only when awaited or polled: a future-backed one does not run until then, and a pooled or source-backed one loses its result"]
pub struct ValueTask<'a, T> {
    /// Dropped by hand in `Drop` (see there), so that the task has no drop glue of its
    /// own that takes its address.
    repr: ManuallyDrop<Repr<'a, T>>,
}

enum Repr<'a, T> {
    Ready(T),
    Boxed(Pin<Box<dyn Future<Output = T> + Send + 'a>>),
    Borrowed {
        source: &'a (dyn Source<T> + Sync + 'a),
        token: Token,
        /// Whether the task polled yet: its first poll is [`Source::poll_first`], and a
        /// task that never polled leaves through [`Source::release_unpolled`].
        polled: bool,
    },
    Raw(RawTask<T>),
    /// The result was handed out; polling again is a bug.
    Done,
}

impl<'a, T> ValueTask<'a, T> {
    /// A task whose result is already here. Allocates nothing.
    ///
    /// The value must be `Send`, since a `ValueTask` is; a value that is not goes in a
    /// [`LocalValueTask`](crate::LocalValueTask).
    ///
    /// # Examples
    ///
    /// ```
    /// let task = valuetask::ValueTask::ready(7);
    /// assert!(task.is_ready());
    /// assert_eq!(task.into_ready().ok(), Some(7));
    /// ```
    #[inline]
    pub const fn ready(value: T) -> Self
    where
        T: Send,
    {
        Self {
            repr: ManuallyDrop::new(Repr::Ready(value)),
        }
    }

    /// [`ready`](Self::ready) without its `T: Send`, for
    /// [`LocalValueTask`](crate::LocalValueTask).
    ///
    /// # Safety
    ///
    /// Unless `T: Send`, the task must never leave the calling thread.
    #[inline]
    pub(crate) const unsafe fn ready_unchecked(value: T) -> Self {
        Self {
            repr: ManuallyDrop::new(Repr::Ready(value)),
        }
    }

    /// A task that runs `future`, stored in a recycled block: no allocation in steady
    /// state, even when the future really waits.
    ///
    /// The future moves into a pooled block of memory (see [`future_pool`]) and is polled
    /// there in place; when it finishes, or when the task is dropped first, it is dropped
    /// in place and the block goes back to a per-thread cache for the next call. Blocks
    /// go up to 8 KiB, which holds the futures of real services' `dyn` methods (an S3
    /// upload's is 5,112 bytes); a thread keeps at most
    /// [`THREAD_CACHE_MAX_BYTES`](crate::future_pool::THREAD_CACHE_MAX_BYTES) of free
    /// blocks.
    ///
    /// A future too large for the largest block (over 8176 bytes) or aligned to more than
    /// 64 bytes is boxed, as [`boxed`](Self::boxed) does, and so is a zero-sized one
    /// (without allocating). [`future_pool::stats`](crate::future_pool::stats) counts
    /// these fallbacks per reason (`.fallbacks`): read it before and after a workload to
    /// see whether its futures are pooled.
    ///
    /// Where the result is often here already, return [`ready`](Self::ready) on that
    /// path; where a [`Source`] completes the operation, [`from_source`](Self::from_source)
    /// or a [`SourcePool`](crate::SourcePool) skip the future altogether.
    ///
    /// [`future_pool`]: crate::future_pool
    ///
    /// # Examples
    ///
    /// ```
    /// let task = valuetask::ValueTask::from_future(async { 6 * 7 });
    /// assert!(!task.is_ready()); // a future is never polled to find out
    /// assert_eq!(futures::executor::block_on(task), 42);
    /// ```
    #[inline]
    pub fn from_future<F>(future: F) -> Self
    where
        F: Future<Output = T> + Send + 'a,
    {
        match crate::future_pool::store(future) {
            Ok(raw) => Self::from_raw(raw),
            Err(future) => Self::boxed(future),
        }
    }

    /// A task that runs `future` in a fresh `Box`: one allocation per call, freed when
    /// the task finishes or is dropped. For futures that should not stay in a pool's
    /// memory, or to compare against [`from_future`](Self::from_future).
    ///
    /// # Examples
    ///
    /// ```
    /// let task = valuetask::ValueTask::boxed(async { 6 * 7 });
    /// assert_eq!(futures::executor::block_on(task), 42);
    /// ```
    pub fn boxed<F>(future: F) -> Self
    where
        F: Future<Output = T> + Send + 'a,
    {
        Self {
            repr: ManuallyDrop::new(Repr::Boxed(Box::pin(future))),
        }
    }

    /// A task for the operation `token` of `source`. Allocates nothing.
    ///
    /// The task polls [`Source::poll_first`] once, then [`Source::poll_result`], and calls
    /// [`Source::release`] once, when it took the result or when it is dropped
    /// ([`Source::release_unpolled`] if it never polled).
    ///
    /// One task per token: a source that enforces it, as [`ResetCore`](crate::ResetCore)
    /// does, panics at a second task's first poll, whichever task was made first.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::{ResetCore, ValueTask};
    ///
    /// let core = ResetCore::new();
    /// let token = core.token();
    /// let task = ValueTask::from_source(&core, token);
    /// assert!(!task.is_ready());
    /// core.complete(token, "done").unwrap();
    /// assert!(task.is_ready());
    /// assert_eq!(futures::executor::block_on(task), "done");
    /// ```
    #[inline]
    pub fn from_source<S>(source: &'a S, token: Token) -> Self
    where
        S: Source<T> + Sync,
    {
        Self {
            repr: ManuallyDrop::new(Repr::Borrowed {
                source,
                token,
                polled: false,
            }),
        }
    }

    #[inline]
    pub(crate) fn from_raw(raw: RawTask<T>) -> Self {
        Self {
            repr: ManuallyDrop::new(Repr::Raw(raw)),
        }
    }

    /// Whether the result is available without waiting.
    ///
    /// True for a ready value and for a source or pooled slot that was completed (or,
    /// for a pool, abandoned). A future is never polled to find out: false. Never
    /// panics: a source asked about a stale token ([`Source::try_status`]) answers
    /// `None`, which is false here.
    #[inline]
    pub fn is_ready(&self) -> bool {
        match &*self.repr {
            Repr::Ready(_) => true,
            Repr::Boxed(_) | Repr::Done => false,
            Repr::Borrowed { source, token, .. } => {
                source.try_status(*token) == Some(Status::Ready)
            }
            // SAFETY: a `Raw` repr holds its pointer until `poll` returned `Ready` (after
            // which the repr is `Done`) or until `drop`, which runs only in `Drop`.
            Repr::Raw(raw) => unsafe { raw.is_ready() },
        }
    }

    /// The result if it is available without waiting, or the task back if not: the safe
    /// form of .NET's `.Result`, which can neither block nor read an unfinished result.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::{ResetCore, ValueTask};
    ///
    /// let core = ResetCore::new();
    /// let token = core.token();
    /// let task = ValueTask::from_source(&core, token);
    /// let task = task.into_ready().unwrap_err(); // not completed yet: the task comes back
    /// core.complete(token, 5).unwrap();
    /// assert_eq!(task.into_ready().ok(), Some(5));
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if the task already returned its result from a poll.
    pub fn into_ready(mut self) -> Result<T, Self> {
        match &*self.repr {
            Repr::Ready(_) => {}
            Repr::Done => panic!("ValueTask::into_ready called after the task returned its result"),
            _ if !self.is_ready() => return Err(self),
            _ => {}
        }
        match self.poll_inner(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(value) => Ok(value),
            Poll::Pending => Err(self),
        }
    }

    /// Polls the task, inlined whole: each tier is at most a call through a vtable (the
    /// raw task's, the source's, the box's), and no step passes the task's own address
    /// to a call, so that once the caller inlines it the compiler may keep the task in
    /// registers (see `Drop`).
    #[inline(always)]
    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        match &*self.repr {
            Repr::Ready(_) => Poll::Ready(self.take_ready()),
            Repr::Raw(raw) => {
                // SAFETY: the pointer is held (the repr is not `Done`); on `Ready` the
                // vtable gave it up, and the repr becomes `Done` so it is not used again.
                let ready = unsafe { raw.poll(cx) };
                if ready.is_ready() {
                    self.finish();
                }
                ready
            }
            Repr::Borrowed {
                source,
                token,
                polled,
            } => {
                let (source, token) = (*source, *token);
                let ready = if *polled {
                    source.poll_result(token, cx)
                } else {
                    // Set only once the first poll returned: a first poll that panics
                    // (a second task refused) leaves this task unpolled, so its drop
                    // does not count as the operation's task leaving.
                    let ready = source.poll_first(token, cx);
                    if let Repr::Borrowed { polled, .. } = &mut *self.repr {
                        *polled = true;
                    }
                    ready
                };
                if ready.is_ready() {
                    source.release(token);
                    self.finish();
                }
                ready
            }
            Repr::Boxed(_) => self.poll_boxed(cx),
            Repr::Done => panic!("ValueTask polled after it returned its result"),
        }
    }

    /// Polls a boxed future; when it finishes, drops the box and leaves `Done`.
    #[inline(always)]
    fn poll_boxed(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        let Repr::Boxed(future) = &mut *self.repr else {
            unreachable!("poll_boxed is called on a boxed task")
        };
        // The call goes through the box's pointer, not the task's address.
        let ready = future.as_mut().poll(cx);
        if ready.is_ready() {
            // Replaced rather than assigned, so that the box is dropped by value.
            drop(std::mem::replace(&mut *self.repr, Repr::Done));
        }
        ready
    }

    /// Marks the task finished after a `Raw` or `Borrowed` repr handed out its result.
    /// Those variants own nothing to drop, so the repr is overwritten in place: an
    /// assignment would run the repr's drop glue, a call that takes the task's address.
    #[inline(always)]
    fn finish(&mut self) {
        debug_assert!(matches!(*self.repr, Repr::Raw(_) | Repr::Borrowed { .. }));
        // SAFETY: the old repr is a `Raw` or a `Borrowed`, which own nothing (a raw task
        // gave its pointer up, a borrowed source was released): forgetting it loses nothing.
        unsafe { std::ptr::write(&mut *self.repr, Repr::Done) };
    }

    /// Moves the ready value out, leaving `Done`.
    ///
    /// It copies the value alone rather than the whole repr (as `mem::replace` would):
    /// a wide load of a repr that a `dyn` call just wrote with narrower stores stalls
    /// store forwarding, which doubled the cost of a ready `ValueTask`.
    #[inline(always)]
    fn take_ready(&mut self) -> T {
        let Repr::Ready(value) = &*self.repr else {
            unreachable!("take_ready is called on a ready task")
        };
        // SAFETY: we move the value out and at once overwrite the repr without dropping
        // it, so the value is neither dropped nor read twice; nothing in between can panic.
        unsafe {
            let value = std::ptr::read(value);
            std::ptr::write(&mut *self.repr, Repr::Done);
            value
        }
    }
}

impl<T> Future for ValueTask<'_, T> {
    type Output = T;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.get_mut().poll_inner(cx)
    }
}

// A ready value is moved out, never pinned in place, so the task is `Unpin` whatever `T` is.
impl<T> Unpin for ValueTask<'_, T> {}

// SAFETY: `Send` whatever `T` is, like `Pin<Box<dyn Future<Output = T> + Send>>`: a `T`
// is only ever *made* by whatever polls the task, on the polling thread. The one stored
// `T`, a `Ready` value, comes from `ready`, which requires `T: Send` (`ready_unchecked`'s
// callers keep the task on its thread). Everything else a task holds is `Send` itself:
// a boxed future (`F: Send`), a `Sync` source, a pooled future (`F: Send`, checked by
// `from_future`) or a pool slot (`SourcePool::rent` requires `T: Send`).
unsafe impl<T> Send for ValueTask<'_, T> {}

impl<T> Drop for ValueTask<'_, T> {
    /// Tells a source or a pooled slot that this task is gone without its result, and
    /// drops what the task owns.
    ///
    /// A finished task (`Done`, the common case) costs one test, inlined; anything else
    /// is moved out and handled out of line, by value. Nothing here takes the task's
    /// address, so the compiler can keep a task in registers instead of copying it
    /// through memory (a wide copy of a task just written with narrower stores stalls
    /// store forwarding).
    #[inline(always)]
    fn drop(&mut self) {
        if !matches!(*self.repr, Repr::Done) {
            // SAFETY: the repr is moved out once, here, and never used again.
            leave(unsafe { ManuallyDrop::take(&mut self.repr) });
        }
    }
}

/// Tells a source or a pooled slot that its task is gone without its result, and drops
/// what the task owned.
fn leave<T>(repr: Repr<'_, T>) {
    match repr {
        Repr::Borrowed {
            source,
            token,
            polled: true,
        } => source.release(token),
        Repr::Borrowed {
            source,
            token,
            polled: false,
        } => source.release_unpolled(token),
        // SAFETY: the pointer is still held: a `Ready` poll turns the repr into `Done`,
        // so this is the one release.
        Repr::Raw(raw) => unsafe { raw.discard() },
        owned @ (Repr::Ready(_) | Repr::Boxed(_) | Repr::Done) => drop(owned),
    }
}

impl<T> fmt::Debug for ValueTask<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ValueTask");
        match &*self.repr {
            Repr::Ready(_) => d.field("kind", &"ready"),
            Repr::Boxed(_) => d.field("kind", &"boxed"),
            Repr::Borrowed { token, .. } => d.field("kind", &"source").field("token", token),
            Repr::Raw(raw) => d.field("kind", &raw.kind()),
            Repr::Done => d.field("kind", &"done"),
        };
        d.finish_non_exhaustive()
    }
}
