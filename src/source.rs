//! The contract between a [`ValueTask`](crate::ValueTask) and whatever completes it.

use std::task::{Context, Poll};

/// Something that produces one result per [`Token`]: the Rust twin of .NET's
/// `IValueTaskSource<T>`.
///
/// A source hands out a token for each operation it runs. A
/// [`ValueTask::from_source`](crate::ValueTask::from_source) built from that token polls
/// it until it gets the value (its first poll through [`poll_first`](Source::poll_first),
/// the later ones through [`poll_result`](Source::poll_result)), then calls
/// [`release`](Source::release) exactly once: when the value was taken, or when the task
/// is dropped first, whichever comes first (a task dropped before it ever polled calls
/// [`release_unpolled`](Source::release_unpolled) instead).
///
/// [`ResetCore`](crate::ResetCore) implements this trait; embed one in your own type and
/// forward to it, or implement the trait over your own state machine.
///
/// # One task per token, and a task that left
///
/// A source may enforce that one task exists per token, as [`ResetCore`](crate::ResetCore)
/// does: it refuses a second task with a panic in `poll_first`, and learns from
/// `release` and `release_unpolled` that the task left before taking its result (so
/// that [`ResetCore::is_abandoned`](crate::ResetCore::is_abandoned) tells the producer,
/// [`ResetCore::try_reset`](crate::ResetCore::try_reset) moves on and a late
/// [`ResetCore::complete`](crate::ResetCore::complete) hands the value back).
///
/// That is why those three methods have no default: a type that forwards to a core
/// must forward them too, or it does not compile. A source that does not keep track
/// says so in one line each: `poll_first` calls `poll_result`, `release` and
/// `release_unpolled` do nothing. Only [`try_status`](Source::try_status) has a
/// default, which calls `status`; forward it as well when `status` can panic.
///
/// # Examples
///
/// A type that owns a core implements the trait by forwarding every method to it, so
/// that the core's checks, its never-panicking query and its record of a task that
/// left all reach it:
///
/// ```
/// use std::task::{Context, Poll};
/// use valuetask::{ResetCore, Source, Status, Token, ValueTask};
///
/// /// One read in flight at a time, completed by whoever owns the connection.
/// struct Connection {
///     read: ResetCore<Vec<u8>>,
/// }
///
/// impl Source<Vec<u8>> for Connection {
///     fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<Vec<u8>> {
///         self.read.poll_result(token, cx)
///     }
///     fn poll_first(&self, token: Token, cx: &mut Context<'_>) -> Poll<Vec<u8>> {
///         self.read.poll_first(token, cx)
///     }
///     fn status(&self, token: Token) -> Status {
///         self.read.status(token)
///     }
///     fn try_status(&self, token: Token) -> Option<Status> {
///         self.read.try_status(token)
///     }
///     fn release(&self, token: Token) {
///         self.read.release(token)
///     }
///     fn release_unpolled(&self, token: Token) {
///         self.read.release_unpolled(token)
///     }
/// }
///
/// let conn = Connection { read: ResetCore::new() };
/// let token = conn.read.token();
/// conn.read.complete(token, b"hello".to_vec()).unwrap();
/// let task = ValueTask::from_source(&conn, token);
/// assert!(task.is_ready());
/// assert_eq!(futures::executor::block_on(task), b"hello");
///
/// // The reader gives up (a timeout): the core knows, through the wrapper.
/// let next = conn.read.reset();
/// let mut task = ValueTask::from_source(&conn, next);
/// assert!(futures::FutureExt::now_or_never(&mut task).is_none());
/// drop(task);
/// assert!(conn.read.is_abandoned(next));
/// assert_eq!(conn.read.complete(next, b"late".to_vec()), Err(b"late".to_vec()));
/// assert!(conn.read.try_reset().is_ok());
/// ```
///
/// A wrapper that forwards only `poll_result` and `status` does not compile:
///
/// ```compile_fail,E0046
/// use std::task::{Context, Poll};
/// use valuetask::{ResetCore, Source, Status, Token};
///
/// struct Connection {
///     read: ResetCore<Vec<u8>>,
/// }
///
/// impl Source<Vec<u8>> for Connection {
///     fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<Vec<u8>> {
///         self.read.poll_result(token, cx)
///     }
///     fn status(&self, token: Token) -> Status {
///         self.read.status(token)
///     }
/// }
/// ```
pub trait Source<T> {
    /// Polls for the result of the operation `token` names.
    ///
    /// Returns `Poll::Ready(value)` once, moving the value out; until then it stores the
    /// context's waker and returns `Poll::Pending`.
    ///
    /// # Panics
    ///
    /// Implementations panic when `token` does not name the current operation (a stale
    /// token), and when the result was already taken.
    fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<T>;

    /// The first poll of a task: where a source that allows one task per token refuses
    /// a second one, with a panic that names the rule. Otherwise as
    /// [`poll_result`](Source::poll_result): a source that does not keep track calls it.
    ///
    /// # Panics
    ///
    /// As `poll_result`; and, in a source that enforces it, when another task already
    /// polled `token` (or polled it and was dropped).
    fn poll_first(&self, token: Token, cx: &mut Context<'_>) -> Poll<T>;

    /// Tells whether the result of `token`'s operation is pending, ready or already taken.
    ///
    /// # Panics
    ///
    /// Implementations panic when `token` does not name the current operation.
    fn status(&self, token: Token) -> Status;

    /// Like [`status`](Source::status), but `None` instead of a panic when `token` does
    /// not name the current operation. [`ValueTask::is_ready`](crate::ValueTask::is_ready)
    /// and `Debug` use it, so that a query never panics.
    ///
    /// The default calls `status`; override it if `status` can panic (a source over
    /// [`ResetCore`](crate::ResetCore) forwards to [`ResetCore::try_status`](crate::ResetCore::try_status)).
    fn try_status(&self, token: Token) -> Option<Status> {
        Some(self.status(token))
    }

    /// Called exactly once per task built from `token` that polled, when its result
    /// was taken or the task was dropped, whichever comes first: a source that keeps
    /// track learns here that the task left. It runs in `Drop`, so it must not panic,
    /// even for a stale token. A source with nothing to learn does nothing.
    fn release(&self, token: Token);

    /// In place of [`release`](Source::release), for a task dropped before it ever
    /// polled: if another task polled `token`, this one was a second task and must not
    /// count as the operation's task leaving. It runs in `Drop`, so it must not panic.
    /// A source with nothing to learn does nothing.
    fn release_unpolled(&self, token: Token);
}

/// Names one operation of a [`Source`]: its generation.
///
/// A source that is reused moves to a new generation for each operation, so a token
/// kept from an earlier operation is recognised as stale instead of reading someone
/// else's result.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Token(u32);

impl Token {
    /// Makes the token of generation `generation`.
    pub const fn new(generation: u32) -> Self {
        Self(generation)
    }

    /// The generation this token names.
    pub const fn generation(self) -> u32 {
        self.0
    }

    /// The token whose generation sits in the high 32 bits of `word`: the layout of the
    /// state words of this crate's cores, which keep their flags in the low bits.
    #[inline]
    pub(crate) const fn from_state_bits(word: u64) -> Self {
        Self((word >> 32) as u32)
    }

    /// This token's generation in the high 32 bits of a state word, no flags set.
    #[inline]
    pub(crate) const fn state_bits(self) -> u64 {
        (self.0 as u64) << 32
    }

    /// The token of the next operation.
    #[inline]
    pub(crate) const fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }

    /// Whether this token was handed out before `current` (within half the generation
    /// space; generations wrap).
    #[inline]
    pub(crate) const fn is_older_than(self, current: Token) -> bool {
        (self.0.wrapping_sub(current.0) as i32) < 0
    }
}

/// Where an operation of a [`Source`] stands (.NET's `ValueTaskSourceStatus`, without
/// its `Faulted` and `Canceled`: in Rust an error is part of the value).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    /// The result is not there yet.
    Pending,
    /// The result is there and not yet taken.
    Ready,
    /// The result was taken, or the operation's task was dropped without it: no
    /// result is there for this token any more.
    Consumed,
}
