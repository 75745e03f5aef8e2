//! The channel's protocol: the departure rule, its state word, the diagram of its
//! transitions, every departure path, and every atomic step either half takes, top to
//! bottom in this one file.
//!
//! # The departure rule
//!
//! A half's last touch of the channel is the step that may make the other half the last
//! one there. Each half is a type that owns the channel pointer ([`SenderHalf`],
//! [`ReceiverHalf`]); every cell access borrows a live half. The step that sets
//! `TX_LEFT` or `RX_LEFT` (or that finds the other side's flag and so is itself last)
//! consumes the half and returns only a [`ChannelDeparture`]: either `NotLast` (the other
//! half disposes of the channel) or `Last` with a [`VacatedChannel`], which can do one
//! thing: drop what is left and give the block back. Nothing can touch the channel
//! through a half after its departure, because there is no half left to touch it with.
//!
//! # Where a channel lives
//!
//! A [`Channel<T>`] is one block: the state word, the block's home, the two wakers and the
//! value cell. It is written into a block of the future pool's smallest size class that
//! holds it (a free block of this thread's cache in steady state: no allocation, no
//! atomic operation), or, when `Channel<T>` fits no class, into one allocation of its
//! own. Both halves point at it; the half that leaves last gives it back.
//!
//! # The state word
//!
//! Nine flags in one `usize` ([`ChannelState`]), each set by one side (the receiver
//! clears `RX_WAKER` and `VALUE` too, and the sender clears `TX_WAKER`):
//!
//! | flag | set by | means | the cell it guards |
//! |---|---|---|---|
//! | `RX_WAKER` | receiver | its waker is in `rx_waker` | the receiver does not write `rx_waker`; once `COMPLETE` is set too, the sender may wake it by reference until it sets `TX_LEFT` |
//! | `TX_WAKER` | sender | its `closed()` waker is in `tx_waker` | the sender does not write `tx_waker`; once `CLOSED` is set too, the receiver may wake it by reference |
//! | `RX_STORED`, `TX_STORED` | receiver, sender; never cleared | the waker cell was ever written: it holds a waker | the last one out drops it |
//! | `COMPLETE` | sender | the sender is finished: it sent (`VALUE`) or was dropped | the sender no longer touches `value` |
//! | `VALUE` | sender (with `COMPLETE`) | `value` holds a value nobody took | the receiver owns it; it clears the flag as it leaves with the value |
//! | `CLOSED` | receiver | closed or dropped: a later send fails | |
//! | `TX_LEFT` | sender | the sender never touches the block again | |
//! | `RX_LEFT` | receiver | the receiver never touches the block again | |
//!
//! Whoever sees the other side's `*_LEFT` flag, in a load or in the value its own
//! read-modify-write replaced, is the last one there: it drops what is left (an untaken
//! value, the wakers) and gives the block back. A side that loaded the other's flag
//! frees without writing the word at all.
//!
//! # Transitions
//!
//! Each arrow is one method of [`SenderHalf`] or [`ReceiverHalf`], named here; `*`
//! marks a departure (the method consumes its half and returns a [`ChannelDeparture`]).
//!
//! ```text
//!                         Channel::open(): EMPTY
//!                              |
//!   ReceiverHalf::wait:        |      SenderHalf::register_closed_waker:
//!   waker in, +RX_WAKER        |      waker in, +TX_WAKER
//!   (+RX_STORED; to replace    |      (+TX_STORED; to replace it:
//!   it: -RX_WAKER first)       |      -TX_WAKER first)
//!          .-------------------+-------------------.
//!          v                                       v
//!   the sender finishes (send or drop):     ReceiverHalf::close:
//!   * complete_and_leave: no RX_WAKER:      +CLOSED; TX_WAKER and not COMPLETE:
//!     +COMPLETE (+VALUE) +TX_LEFT in one    wake the sender's waker by reference
//!     compare-and-swap                             |
//!   complete: RX_WAKER: +COMPLETE (+VALUE),        v
//!     then wake_receiver by reference,      a send after CLOSED:
//!     then * leave: +TX_LEFT                  take_back_value, then
//!          |                                * refuse_and_leave: +COMPLETE +TX_LEFT
//!          v                                  (or, RX_LEFT seen: no write, last)
//!   ReceiverHalf::found: takes the value            |
//!   (take_value), then * leave:                     |
//!   TX_LEFT loaded: no write at all, last;          |
//!   else * leave_while_sender_stays:                |
//!     +CLOSED +RX_LEFT (-VALUE if taken)            |
//!          '-------------------.--------------------'
//!                              v
//!        TX_LEFT and RX_LEFT: VacatedChannel::dispose drops what is left (a value
//!        nobody took, the wakers) and gives the block back
//! ```
//!
//! # Every departure path
//!
//! | half | path | its last touch of the channel | why nothing follows it |
//! |---|---|---|---|
//! | sender | `complete_and_leave` (send or drop, no receiver waiting, not closed) | the compare-and-swap `+COMPLETE (+VALUE) +TX_LEFT` | the value was written before it; the method consumed the half, and returns `NotLast` (the receiver had not left: no `RX_LEFT` without `CLOSED`) |
//! | sender | `leave` after `complete` and `wake_receiver` | the `fetch_or` of `+TX_LEFT` | the wake by reference came before it (a guard runs `leave` even if that wake panics); it returns `Last` if the receiver left meanwhile, else `NotLast` |
//! | sender | `refuse_and_leave` (the receiver closed, still there) | the compare-and-swap `+COMPLETE +TX_LEFT` | the value was taken back before it, out of a cell the receiver never reads without `VALUE` |
//! | sender | `refuse_and_leave` (the receiver left) | the Acquire load that saw `RX_LEFT` | it writes nothing; it is last, and only its `VacatedChannel` touches the block |
//! | receiver | `leave` (the sender left) | the Acquire load that saw `TX_LEFT` | it writes nothing; it is last, and only its `VacatedChannel` touches the block |
//! | receiver | `leave_while_sender_stays` | the compare-and-swap `+CLOSED +RX_LEFT (-VALUE)` | the value was moved out and a waiting sender woken (by `close`) before it (a guard finishes the departure even if that wake panics); the sender may dispose at once |
//! | last one out | `VacatedChannel::dispose` | moving out the value and the wakers, then giving the block back | what it moved out is dropped from locals after the block went back |
//!
//! Under loom, [`sync::departed`] yields right after each leaving read-modify-write, so
//! the models explore the other side disposing of the block (and reusing it) before the
//! departing thread takes another step.
//!
//! # The round trips the crate is measured on
//!
//! Complete first: the sender's one compare-and-swap (`EMPTY` to
//! `COMPLETE|VALUE|TX_LEFT`) and the receiver's one load, after which it takes the value
//! and gives the block back. Poll first: the receiver's `+RX_WAKER`, the sender's
//! `+COMPLETE|VALUE`, its wake and its `+TX_LEFT`, and the receiver's load. A receiver
//! that looks between the sender's `+COMPLETE` and its `+TX_LEFT` (up to one round trip
//! in fifty in `prove_it`'s cross-thread case) looks again a few times before it writes
//! the word to leave, so that it disposes of the block itself, without a
//! read-modify-write (in a request/response the receiver's thread made the channel, so
//! the block goes into its own cache), rather than leave that to the sender, which would
//! write the word once more and push the block to the home inbox from afar.

use std::mem::{ManuallyDrop, MaybeUninit, align_of, size_of};
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

use crate::future_pool::{BlockHome, class_for, give_back_block, rent_block};
use crate::state_word::state_word;
use crate::sync::{self, AtomicUsize, Ordering, UnsafeCell};
use crate::waker_cell::{Occupancy, WakerCell};

/// How many times a receiver that found `COMPLETE` without `TX_LEFT` looks again before
/// it writes the word to leave (see [`ReceiverHalf::await_sender_leaving`]): the sender
/// is then only waking the receiver's waker, usually a short call; past that the receiver
/// stops waiting and leaves the block to the sender. One look under loom, which explores
/// every look as a step of its own.
const RECEIVER_SPINS: u32 = if cfg!(valuetask_loom) { 1 } else { 32 };

state_word! {
    /// The state word's value: the flags of the table above.
    pub(super) struct ChannelState(usize) {
        /// The receiver's waker is in `rx_waker`. While set, the receiver does not write
        /// the cell; once `COMPLETE` is set too, the sender may wake it by reference
        /// (until it sets `TX_LEFT`), and nobody else writes it before the block is given
        /// back.
        RX_WAKER = 0;
        /// The sender's `closed()` waker is in `tx_waker`. While set, the sender does not
        /// write the cell; once `CLOSED` is set too, the receiver may wake it by
        /// reference.
        TX_WAKER = 1;
        /// The sender is finished: it sent a value (then `VALUE` is set with it) or was
        /// dropped. From here on the sender does not touch `value`.
        COMPLETE = 2;
        /// `value` holds a value that nobody took; only the receiver may take it.
        VALUE = 3;
        /// The receiver closed the channel or was dropped: a send from now on fails.
        CLOSED = 4;
        /// The sender never touches the block again.
        TX_LEFT = 5;
        /// The receiver never touches the block again.
        RX_LEFT = 6;
        /// `rx_waker` holds a waker (it starts uninitialized, so that a channel nobody
        /// waits on writes no waker cell and drops none). Set with the first `RX_WAKER`,
        /// never cleared; only the receiver sets it, so its own loads know it exactly.
        RX_STORED = 7;
        /// `tx_waker` holds a waker: as `RX_STORED`, for the sender's `closed()`.
        TX_STORED = 8;
    }
}

impl ChannelState {
    /// No flag: nothing sent, nobody waiting, both halves there.
    const EMPTY: ChannelState = ChannelState(0);

    /// The sender would have to wake the receiver before it leaves: the receiver waits
    /// and has not closed.
    #[inline(always)]
    const fn receiver_waits(self) -> bool {
        self.has(Self::RX_WAKER) && !self.any(Self::CLOSED)
    }

    /// Closing would have to wake the sender: it waits in `closed()`, has not finished,
    /// and nobody closed before.
    #[inline(always)]
    const fn sender_waits(self) -> bool {
        self.has(Self::TX_WAKER) && !self.any(Self::COMPLETE.union(Self::CLOSED))
    }

    /// Whether the waker cell whose `*_STORED` flag is `stored` holds a waker.
    const fn occupancy(self, stored: ChannelState) -> Occupancy {
        if self.has(stored) {
            Occupancy::HoldsWaker
        } else {
            Occupancy::Empty
        }
    }
}

/// Whether the receiver moved the value out before it leaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ValueOnExit {
    /// It moved the value out: `VALUE` is cleared as it leaves.
    Taken,
    /// It leaves whatever is there: a value it did not take is dropped by the last one out.
    Left,
}

impl ValueOnExit {
    /// The flag the receiver clears as it leaves.
    const fn cleared(self) -> ChannelState {
        match self {
            ValueOnExit::Taken => ChannelState::VALUE,
            ValueOnExit::Left => ChannelState::EMPTY,
        }
    }
}

/// How a half's departure ended: what the departure step returns, in place of the half
/// it consumed.
#[must_use = "the last one out must dispose of the channel"]
pub(super) enum ChannelDeparture<T> {
    /// The other half is still there: it will dispose of the channel.
    NotLast,
    /// This half was the last one there; all it may still do is dispose of the channel.
    Last(VacatedChannel<T>),
}

impl<T> ChannelDeparture<T> {
    /// Disposes of the channel if this half was the last one out.
    #[inline(always)]
    fn dispose_if_last(self) {
        if let ChannelDeparture::Last(last) = self {
            last.dispose();
        }
    }
}

/// What a receiver found when it looked.
pub(super) enum Found<T> {
    /// The value; the receiver has left the channel.
    Value(T),
    /// No value will ever come (the sender was dropped, or the receiver closed before it
    /// sent); the receiver has left the channel.
    Closed,
    /// Nothing yet: the receiver, still there, is handed back (after a poll, with its
    /// waker kept).
    Empty(ReceiverHalf<T>),
}

impl<T> Found<T> {
    /// The result of a look after which the receiver is done (`Ready`), or the half still
    /// there (`Pending`).
    #[inline(always)]
    pub(super) fn into_poll(self) -> Result<Option<T>, ReceiverHalf<T>> {
        match self {
            Found::Value(value) => Ok(Some(value)),
            Found::Closed => Ok(None),
            Found::Empty(half) => Err(half),
        }
    }
}

/// One channel: the state word and the cells it guards. Reached only through a half
/// ([`SenderHalf`], [`ReceiverHalf`]) or, once both left, the [`VacatedChannel`].
pub(super) struct Channel<T> {
    state: AtomicUsize,
    /// Where the block goes back to (unused when the channel has an allocation of its own).
    home: BlockHome,
    /// The receiver's waker, guarded by `RX_WAKER`; initialized once `RX_STORED` is set.
    rx_waker: WakerCell,
    /// The sender's `closed()` waker, guarded by `TX_WAKER`; initialized once
    /// `TX_STORED` is set.
    tx_waker: WakerCell,
    /// The value, guarded by `COMPLETE` and `VALUE`.
    value: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Channel<T> {
    /// The future pool's size class whose blocks hold a channel of `T`; `None` gives
    /// the channel an allocation of its own.
    const CLASS: Option<usize> = class_for(size_of::<Self>(), align_of::<Self>());

    /// A new channel, in a recycled block when one fits, and its two halves.
    #[inline(always)]
    pub(super) fn open() -> (SenderHalf<T>, ReceiverHalf<T>) {
        let (block, home) = match Self::CLASS {
            Some(class) => rent_block(class),
            None => (Self::allocate(), BlockHome::default()),
        };
        let channel = block.cast::<Self>();
        // SAFETY: the block is ours alone, large and aligned enough for `Self` (`CLASS`
        // checked both, or `allocate` used `Self`'s layout).
        unsafe {
            channel.as_ptr().write(Self {
                state: AtomicUsize::new(ChannelState::EMPTY.bits()),
                home,
                rx_waker: WakerCell::new(),
                tx_waker: WakerCell::new(),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
        };
        (SenderHalf { channel }, ReceiverHalf { channel })
    }

    /// Memory for a channel that fits no size class.
    #[cold]
    fn allocate() -> NonNull<u8> {
        let layout = std::alloc::Layout::new::<Self>();
        // SAFETY: `Self` holds at least the state word: the layout is not zero-sized.
        let block = unsafe { sync::alloc(layout) };
        NonNull::new(block).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
    }

    /// Loads the state word.
    #[inline(always)]
    fn load(&self, order: Ordering) -> ChannelState {
        ChannelState::from_bits(self.state.load(order))
    }

    /// Sets `flags`; returns the word as it was.
    #[inline(always)]
    fn set(&self, flags: ChannelState, order: Ordering) -> ChannelState {
        ChannelState::from_bits(self.state.fetch_or(flags.bits(), order))
    }

    /// Clears `flags`; returns the word as it was.
    #[inline(always)]
    fn clear(&self, flags: ChannelState, order: Ordering) -> ChannelState {
        ChannelState::from_bits(self.state.fetch_and(!flags.bits(), order))
    }

    /// Replaces `current` with `new`, or returns the word that was there instead.
    #[inline(always)]
    fn replace(
        &self,
        current: ChannelState,
        new: ChannelState,
        order: Ordering,
    ) -> Result<ChannelState, ChannelState> {
        let failure = match order {
            Ordering::AcqRel | Ordering::Acquire => Ordering::Acquire,
            _ => Ordering::Relaxed,
        };
        self.state
            .compare_exchange(current.bits(), new.bits(), order, failure)
            .map(ChannelState::from_bits)
            .map_err(ChannelState::from_bits)
    }

    /// # Safety
    ///
    /// The caller is the sender and `COMPLETE` is not set: nobody else touches `value`.
    #[inline(always)]
    unsafe fn write_value(&self, value: T) {
        // SAFETY: as this function's contract.
        self.value.with_mut(|cell| unsafe { (*cell).write(value) });
    }

    /// Moves the value out; the cell counts as empty afterwards.
    ///
    /// # Safety
    ///
    /// The cell holds a value and the caller owns it: the receiver after it saw
    /// `COMPLETE | VALUE` (or the sender taking back a value it wrote but never
    /// published with `VALUE`), or the last one out with `VALUE` set.
    #[inline(always)]
    unsafe fn take_value(&self) -> T {
        // SAFETY: as this function's contract.
        self.value
            .with(|cell| unsafe { (*cell).assume_init_read() })
    }
}

// -----------------------------------------------------------------------------------
// The last one out.
// -----------------------------------------------------------------------------------

/// The channel, held by the half that left last, to be disposed of.
pub(super) struct VacatedChannel<T> {
    channel: NonNull<Channel<T>>,
    /// The word as it is now: the caller's view of its own flags is exact, and the
    /// other side left. `VALUE` in it means an untaken value is there to drop,
    /// `RX_STORED` and `TX_STORED` a waker.
    last: ChannelState,
}

impl<T> VacatedChannel<T> {
    /// Drops what is left in the channel and gives its block back.
    #[inline(always)]
    fn dispose(self) {
        if self
            .last
            .any(ChannelState::RX_STORED.union(ChannelState::TX_STORED))
        {
            self.dispose_with_wakers();
            return;
        }
        let channel = self.channel.as_ptr();
        // SAFETY: we are the last one out (a `VacatedChannel` is made only by a half that saw
        // the other's `*_LEFT` flag with Acquire): every cell is ours. `VALUE` means the
        // cell holds a value nobody took; no waker was stored. Dropping the channel in
        // place drops nothing but loom's bookkeeping.
        let (value, home) = unsafe {
            let value = self
                .last
                .has(ChannelState::VALUE)
                .then(|| (*channel).take_value());
            let home = (*channel).home;
            ptr::drop_in_place(channel);
            (value, home)
        };
        // SAFETY: the channel is dropped, and nobody touches the block again.
        unsafe { give_back(self.channel, home) };
        drop(value);
    }

    /// [`dispose`](Self::dispose) when a waker is left to drop.
    #[cold]
    fn dispose_with_wakers(self) {
        let channel = self.channel.as_ptr();
        let last = self.last;
        // Everything is moved out first and dropped only after the block went back, so
        // that a panicking `Drop` cannot strand the block.
        // SAFETY: we are the last one out: every cell is ours. `VALUE` means the cell
        // holds a value nobody took, `*_STORED` that a waker cell holds a waker.
        let (value, rx_waker, tx_waker, home) = unsafe {
            let value = last
                .has(ChannelState::VALUE)
                .then(|| (*channel).take_value());
            let rx_waker = last
                .has(ChannelState::RX_STORED)
                .then(|| (*channel).rx_waker.take());
            let tx_waker = last
                .has(ChannelState::TX_STORED)
                .then(|| (*channel).tx_waker.take());
            let home = (*channel).home;
            ptr::drop_in_place(channel);
            (value, rx_waker, tx_waker, home)
        };
        // SAFETY: the channel is dropped, and nobody touches the block again.
        unsafe { give_back(self.channel, home) };
        drop(value);
        drop(rx_waker);
        drop(tx_waker);
    }
}

/// Gives the channel's memory back where it came from.
///
/// # Safety
///
/// The channel in it was dropped in place, `home` is the one it held, and nobody
/// touches the memory again.
#[inline(always)]
unsafe fn give_back<T>(channel: NonNull<Channel<T>>, home: BlockHome) {
    match Channel::<T>::CLASS {
        // SAFETY: rented for `class` with `home` in `open`; as this function's contract.
        Some(class) => unsafe { give_back_block(class, channel.cast(), home) },
        // SAFETY: allocated in `allocate` with this layout; as this function's contract.
        None => unsafe {
            sync::dealloc(
                channel.as_ptr().cast(),
                std::alloc::Layout::new::<Channel<T>>(),
            )
        },
    }
}

// -----------------------------------------------------------------------------------
// The sender's half.
// -----------------------------------------------------------------------------------

/// The sender's hold on the channel: alive until its departure step consumes it.
#[must_use = "a half that is not finished leaks the channel"]
pub(super) struct SenderHalf<T> {
    channel: NonNull<Channel<T>>,
}

impl<T> SenderHalf<T> {
    /// The channel, alive while this half is.
    #[inline(always)]
    fn channel(&self) -> &Channel<T> {
        // SAFETY: the sender has not left (this half would have been consumed), so the
        // receiver cannot have disposed of the channel.
        unsafe { self.channel.as_ref() }
    }

    /// The state word, for `Debug`.
    pub(super) fn state(&self) -> ChannelState {
        self.channel().load(Ordering::Relaxed)
    }

    /// The sender finishes: sends `value` (`Some`) or is dropped (`None`), and leaves.
    /// Returns the value when the receiver closed first.
    #[inline(always)]
    pub(super) fn finish(self, value: Option<T>) -> Option<T> {
        let published = match value {
            Some(value) => {
                // SAFETY: we are the sender and have not set `COMPLETE`.
                unsafe { self.channel().write_value(value) };
                ChannelState::VALUE
            }
            None => ChannelState::EMPTY,
        };
        // ORDERING: Acquire, so that the slow path, which may wake or free, sees what the
        // receiver published with the flags it finds; a load first, because a failed
        // compare-and-swap costs as much as a successful one.
        let seen = self.channel().load(Ordering::Acquire);
        if seen == ChannelState::EMPTY {
            // The common case in one compare-and-swap: nobody waits, nobody closed.
            match self.complete_and_leave(seen, published) {
                Ok(exit) => {
                    exit.dispose_if_last();
                    return None;
                }
                Err((half, seen)) => return half.finish_slow(seen, published),
            }
        }
        self.finish_slow(seen, published)
    }

    /// [`finish`](Self::finish) when the word was not `EMPTY`.
    #[cold]
    fn finish_slow(self, mut seen: ChannelState, mut published: ChannelState) -> Option<T> {
        let mut half = self;
        let mut back = None;
        loop {
            if seen.has(ChannelState::CLOSED) {
                // The receiver closed first (for good: nobody clears `CLOSED`).
                if published.has(ChannelState::VALUE) {
                    back = Some(half.take_back_value());
                    published = ChannelState::EMPTY;
                }
                match half.refuse_and_leave(seen) {
                    Ok(exit) => {
                        exit.dispose_if_last();
                        return back;
                    }
                    Err((again, now)) => (half, seen) = (again, now),
                }
            } else if !seen.receiver_waits() {
                match half.complete_and_leave(seen, published) {
                    Ok(exit) => {
                        exit.dispose_if_last();
                        return None;
                    }
                    Err((again, now)) => (half, seen) = (again, now),
                }
            } else {
                match half.complete(seen, published) {
                    Ok(()) => break,
                    Err(now) => seen = now,
                }
            }
        }
        // The wake runs the receiver's waker, which may panic: the guard leaves (the
        // step after the wake) on the way out either way, so the block is never stranded.
        let leaving = LeaveAfterWake(ManuallyDrop::new(half));
        leaving.0.wake_receiver();
        drop(leaving);
        None
    }

    /// Takes back the value this half wrote and never published: the receiver closed.
    fn take_back_value(&self) -> T {
        // SAFETY: we wrote the value and never set `VALUE` (`CLOSED` came first, and
        // nobody clears it): the receiver never reads the cell.
        unsafe { self.channel().take_value() }
    }

    /// Departure: `+COMPLETE (+VALUE) +TX_LEFT` in one compare-and-swap from `seen`,
    /// which has neither `CLOSED` nor a waiting receiver; on failure the half comes back
    /// with the word as it is.
    #[inline(always)]
    fn complete_and_leave(
        self,
        seen: ChannelState,
        published: ChannelState,
    ) -> Result<ChannelDeparture<T>, (Self, ChannelState)> {
        let done = seen.union(
            ChannelState::COMPLETE
                .union(published)
                .union(ChannelState::TX_LEFT),
        );
        // ORDERING: Release publishes the value (and everything this thread did to the
        // channel) to the receiver's Acquire load in `poll_recv`, `try_recv` or
        // `leave_while_sender_stays`, which then owns the block; Acquire on failure, for
        // the slow path.
        match self.channel().replace(seen, done, Ordering::AcqRel) {
            Ok(_) => {
                sync::departed();
                // `RX_LEFT` comes only with `CLOSED`, which `seen` did not have.
                Ok(ChannelDeparture::NotLast)
            }
            Err(now) => Err((self, now)),
        }
    }

    /// Departure after the receiver closed (`seen` has `CLOSED`): `+COMPLETE +TX_LEFT`,
    /// or, if the receiver left too, nothing written and this half is last.
    fn refuse_and_leave(
        self,
        seen: ChannelState,
    ) -> Result<ChannelDeparture<T>, (Self, ChannelState)> {
        if seen.has(ChannelState::RX_LEFT) {
            // The receiver left (its flag read with Acquire): we are the last one out.
            return Ok(ChannelDeparture::Last(VacatedChannel {
                channel: self.channel,
                last: seen,
            }));
        }
        let left = seen.union(ChannelState::COMPLETE.union(ChannelState::TX_LEFT));
        // ORDERING: Release hands the block to the receiver's Acquire in `leave`;
        // Acquire, on failure too, sees its `RX_LEFT` if it left.
        match self.channel().replace(seen, left, Ordering::AcqRel) {
            Ok(_) => {
                sync::departed();
                Ok(ChannelDeparture::NotLast)
            }
            Err(now) => Err((self, now)),
        }
    }

    /// `+COMPLETE (+VALUE)` from `seen`, where the receiver waits: the sender stays, to
    /// wake it. Returns the word as it is if it changed.
    fn complete(&self, seen: ChannelState, published: ChannelState) -> Result<(), ChannelState> {
        // ORDERING: Release publishes the value to the receiver's Acquire load in
        // `try_recv`/`wait`; Acquire pairs with the receiver's Release `+RX_WAKER` in
        // `wait`, so its waker is visible to the wake below.
        self.channel()
            .replace(
                seen,
                seen.union(ChannelState::COMPLETE.union(published)),
                Ordering::AcqRel,
            )
            .map(drop)
    }

    /// Wakes the receiver, after [`complete`](Self::complete) found it waiting.
    fn wake_receiver(&self) {
        // SAFETY: we set `COMPLETE` while `RX_WAKER` was set (so `RX_STORED` too), and
        // have not left: the receiver no longer writes its cell.
        unsafe { self.channel().rx_waker.wake_by_ref() };
    }

    /// Departure after [`wake_receiver`](Self::wake_receiver): `+TX_LEFT`.
    fn leave(self) -> ChannelDeparture<T> {
        // ORDERING: Release hands the block (our reads of the waker done) to the
        // receiver's Acquire in `try_recv`/`leave`; Acquire sees its writes if it left
        // first.
        let last = self.channel().set(ChannelState::TX_LEFT, Ordering::AcqRel);
        sync::departed();
        if last.has(ChannelState::RX_LEFT) {
            // The receiver left before our `TX_LEFT`: we are the last one out.
            return ChannelDeparture::Last(VacatedChannel {
                channel: self.channel,
                last,
            });
        }
        ChannelDeparture::NotLast
    }

    /// Whether the receiver closed the channel or was dropped.
    pub(super) fn is_closed(&self) -> bool {
        // ORDERING: Acquire pairs with the receiver's `+CLOSED` in `close`, so that what it
        // did before closing is visible to whoever acts on the answer.
        self.channel()
            .load(Ordering::Acquire)
            .has(ChannelState::CLOSED)
    }

    /// The sender's `closed()`: ready once the receiver closed or was dropped; otherwise
    /// keeps `cx`'s waker (replacing an earlier one) and waits.
    pub(super) fn register_closed_waker(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let channel = self.channel();
        // ORDERING: Acquire pairs with the receiver's `+CLOSED` in `close`.
        let seen = channel.load(Ordering::Acquire);
        if seen.has(ChannelState::CLOSED) {
            return Poll::Ready(());
        }
        if seen.has(ChannelState::TX_WAKER) {
            // SAFETY: `TX_WAKER` is set (so `TX_STORED` too) and we are the sender: the
            // cell holds our waker, and the receiver only reads it.
            if unsafe { channel.tx_waker.wakes_as(cx.waker()) } {
                return Poll::Pending;
            }
            // ORDERING: Acquire pairs with the receiver's `+CLOSED`: if it closed while our
            // waker was there, it may be reading it, and we leave the cell alone.
            let before = channel.clear(ChannelState::TX_WAKER, Ordering::AcqRel);
            if before.has(ChannelState::CLOSED) {
                return Poll::Ready(());
            }
        }
        // SAFETY: `TX_WAKER` and `CLOSED` are clear (the receiver, closing now, sees no
        // waker to wake) and we are the sender; `seen` has our own flags exactly.
        unsafe {
            channel
                .tx_waker
                .store(cx.waker(), seen.occupancy(ChannelState::TX_STORED))
        };
        // ORDERING: Release publishes the waker to the receiver's Acquire `+CLOSED` in
        // `close`; Acquire sees whether it closed meanwhile.
        let before = channel.set(
            ChannelState::TX_WAKER.union(ChannelState::TX_STORED),
            Ordering::AcqRel,
        );
        if before.has(ChannelState::CLOSED) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// The sender between its wake of the receiver and its departure: dropping it leaves
/// ([`SenderHalf::leave`]), after the wake returned or while a panic of the receiver's
/// waker unwinds through it.
struct LeaveAfterWake<T>(ManuallyDrop<SenderHalf<T>>);

impl<T> Drop for LeaveAfterWake<T> {
    fn drop(&mut self) {
        // SAFETY: the half is taken out once, here, as the guard goes.
        let half = unsafe { ManuallyDrop::take(&mut self.0) };
        half.leave().dispose_if_last();
    }
}

// -----------------------------------------------------------------------------------
// The receiver's half.
// -----------------------------------------------------------------------------------

/// The receiver between its wake of a sender waiting in `closed()` and its departure:
/// [`defuse`](Self::defuse) gives the half back once the wake returned; dropped while a
/// panic of the sender's waker unwinds, it finishes the departure
/// ([`ReceiverHalf::leave_while_sender_stays`], which finds `CLOSED` set and wakes no more).
struct LeaveAfterClose<T> {
    half: ManuallyDrop<ReceiverHalf<T>>,
    value: ValueOnExit,
}

impl<T> LeaveAfterClose<T> {
    /// The wake returned: the half goes on with its departure itself.
    fn defuse(self) -> ReceiverHalf<T> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the half is taken out once, here.
        unsafe { ManuallyDrop::take(&mut this.half) }
    }
}

impl<T> Drop for LeaveAfterClose<T> {
    fn drop(&mut self) {
        // SAFETY: the half is taken out once, here, as the guard goes (`defuse` skips
        // this drop).
        let half = unsafe { ManuallyDrop::take(&mut self.half) };
        half.leave_while_sender_stays(self.value).dispose_if_last();
    }
}

/// The receiver's hold on the channel: alive until its departure step consumes it.
#[must_use = "a half that is not finished leaks the channel"]
pub(super) struct ReceiverHalf<T> {
    channel: NonNull<Channel<T>>,
}

impl<T> ReceiverHalf<T> {
    /// The channel, alive while this half is.
    #[inline(always)]
    fn channel(&self) -> &Channel<T> {
        // SAFETY: the receiver has not left (this half would have been consumed), so the
        // sender cannot have disposed of the channel.
        unsafe { self.channel.as_ref() }
    }

    /// The half as a type-erased pointer, for a task that holds it.
    pub(super) fn into_raw(self) -> NonNull<()> {
        self.channel.cast()
    }

    /// The half back from [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    ///
    /// `raw` came from `into_raw` of a `ReceiverHalf<T>`, and the caller takes over that
    /// hold: no other half made from it is alive.
    pub(super) unsafe fn from_raw(raw: NonNull<()>) -> Self {
        Self {
            channel: raw.cast(),
        }
    }

    /// The state word, for `Debug`.
    pub(super) fn state(&self) -> ChannelState {
        self.channel().load(Ordering::Relaxed)
    }

    /// The receiver's poll: the value, or `Closed` when none will come (after either the
    /// receiver has left); otherwise keeps `cx`'s waker (replacing an earlier one) and
    /// hands the half back.
    #[inline(always)]
    pub(super) fn poll_recv(self, cx: &mut Context<'_>) -> Found<T> {
        // ORDERING: Acquire pairs with the sender's Release `+COMPLETE` (and `+TX_LEFT`) in
        // `complete_and_leave`: the value, and the sender's last touch of the block, are
        // visible.
        let seen = self.channel().load(Ordering::Acquire);
        match self.found(seen) {
            Found::Empty(half) => half.wait(seen, cx),
            done => done,
        }
    }

    /// The receiver's look without waiting.
    #[inline(always)]
    pub(super) fn try_recv(self) -> Found<T> {
        // ORDERING: Acquire, as in `poll_recv`.
        let seen = self.channel().load(Ordering::Acquire);
        self.found(seen)
    }

    /// What the receiver makes of `seen` (read with Acquire): takes the value and leaves,
    /// leaves, or neither.
    #[inline(always)]
    fn found(self, seen: ChannelState) -> Found<T> {
        if seen.has(ChannelState::COMPLETE.union(ChannelState::VALUE)) {
            let value = self.take_value();
            self.leave(seen, ValueOnExit::Taken).dispose_if_last();
            Found::Value(value)
        } else if seen.any(ChannelState::COMPLETE.union(ChannelState::CLOSED)) {
            self.leave(seen, ValueOnExit::Left).dispose_if_last();
            Found::Closed
        } else {
            Found::Empty(self)
        }
    }

    /// Moves the value out, after `COMPLETE | VALUE` was seen with Acquire.
    #[inline(always)]
    fn take_value(&self) -> T {
        // SAFETY: `COMPLETE | VALUE` seen with Acquire (the caller's `found`): the value
        // is there and ours, and the sender no longer touches the cell.
        unsafe { self.channel().take_value() }
    }

    /// Keeps `cx`'s waker for the sender to wake, unless it finished meanwhile. `seen`
    /// (read with Acquire) has neither `COMPLETE` nor `CLOSED`.
    #[cold]
    fn wait(self, seen: ChannelState, cx: &mut Context<'_>) -> Found<T> {
        let channel = self.channel();
        if seen.has(ChannelState::RX_WAKER) {
            // SAFETY: `RX_WAKER` is set (so `RX_STORED` too) and we are the receiver: the
            // cell holds our waker, and the sender only reads it.
            if unsafe { channel.rx_waker.wakes_as(cx.waker()) } {
                return Found::Empty(self);
            }
            // ORDERING: Acquire pairs with the sender's Release `+COMPLETE`: if it completed
            // while our waker was there, it may be waking it, and we leave the cell alone.
            let before = channel.clear(ChannelState::RX_WAKER, Ordering::AcqRel);
            if before.has(ChannelState::COMPLETE) {
                // `found` gets the word as it is now, without the flag we cleared.
                return self.found(before.without(ChannelState::RX_WAKER));
            }
        }
        // SAFETY: `RX_WAKER` and `COMPLETE` are clear (the sender, finishing now, sees no
        // waker to wake) and we are the receiver; `seen` has our own flags exactly.
        unsafe {
            channel
                .rx_waker
                .store(cx.waker(), seen.occupancy(ChannelState::RX_STORED))
        };
        // ORDERING: Release publishes the waker to the sender's Acquire in `complete`;
        // Acquire sees its value if it completed meanwhile.
        let stored = ChannelState::RX_WAKER.union(ChannelState::RX_STORED);
        let before = channel.set(stored, Ordering::AcqRel);
        if before.has(ChannelState::COMPLETE) {
            // `found` gets the word as it is now, with the flags we set: the last one out
            // drops the waker we stored.
            return self.found(before.union(stored));
        }
        Found::Empty(self)
    }

    /// Whether a value is there, sent and not taken.
    pub(super) fn has_value(&self) -> bool {
        // ORDERING: Acquire pairs with the sender's Release `+COMPLETE | VALUE`.
        self.channel()
            .load(Ordering::Acquire)
            .has(ChannelState::COMPLETE.union(ChannelState::VALUE))
    }

    /// Whether the receiver would find something without waiting.
    pub(super) fn is_finished(&self) -> bool {
        // ORDERING: Acquire, as in `has_value`.
        self.channel()
            .load(Ordering::Acquire)
            .any(ChannelState::COMPLETE.union(ChannelState::CLOSED))
    }

    /// The receiver closes the channel: a later send fails, and a sender waiting in
    /// `closed()` is woken. A value sent before stays there for the receiver.
    pub(super) fn close(&self) {
        let channel = self.channel();
        // ORDERING: Acquire pairs with the sender's Release `+TX_WAKER` in
        // `register_closed_waker`, so its waker is visible to the wake below; Release
        // pairs with its Acquire loads that see `CLOSED`.
        let before = channel.set(ChannelState::CLOSED, Ordering::AcqRel);
        if before.sender_waits() {
            // SAFETY: we set `CLOSED` while `TX_WAKER` was set (so `TX_STORED` too) and
            // `COMPLETE` clear, and have not left: the sender no longer writes its cell.
            unsafe { channel.tx_waker.wake_by_ref() };
        }
    }

    /// The receiver is dropped: it leaves whatever is there.
    pub(super) fn drop_receiver(self) {
        // ORDERING: Acquire, as in `poll_recv`.
        let seen = self.channel().load(Ordering::Acquire);
        self.leave(seen, ValueOnExit::Left).dispose_if_last();
    }

    /// Departure: if `seen` (read with Acquire) has the sender's `TX_LEFT`, this half is
    /// last without a write; else [`leave_while_sender_stays`](Self::leave_while_sender_stays).
    #[inline(always)]
    fn leave(self, seen: ChannelState, value: ValueOnExit) -> ChannelDeparture<T> {
        if seen.has(ChannelState::TX_LEFT) {
            // The sender left (its flag seen with Acquire): we are the last one out.
            return ChannelDeparture::Last(VacatedChannel {
                channel: self.channel,
                last: seen.without(value.cleared()),
            });
        }
        self.leave_while_sender_stays(value)
    }

    /// Departure while the sender is still there: `+CLOSED +RX_LEFT (-VALUE)`, after
    /// waking a sender that waits in `closed()`.
    #[cold]
    fn leave_while_sender_stays(mut self, value: ValueOnExit) -> ChannelDeparture<T> {
        let cleared = value.cleared();
        // ORDERING: Acquire, as in `poll_recv`.
        let mut seen = self.channel().load(Ordering::Acquire);
        if seen.has(ChannelState::COMPLETE) && !seen.has(ChannelState::TX_LEFT) {
            seen = self.await_sender_leaving(seen);
        }
        loop {
            if seen.has(ChannelState::TX_LEFT) {
                // The sender left (seen with Acquire): we are the last one out.
                return ChannelDeparture::Last(VacatedChannel {
                    channel: self.channel,
                    last: seen.without(cleared),
                });
            }
            if seen.sender_waits() {
                // The sender waits in `closed()`: wake it before leaving, while the block
                // is still ours to read. Its waker may panic: the guard then finishes
                // this departure on the way out, so the block is never stranded.
                let closing = LeaveAfterClose {
                    half: ManuallyDrop::new(self),
                    value,
                };
                closing.half.close();
                self = closing.defuse();
                // ORDERING: Acquire, as in `poll_recv`.
                seen = self.channel().load(Ordering::Acquire);
                continue;
            }
            let left = seen
                .union(ChannelState::CLOSED.union(ChannelState::RX_LEFT))
                .without(cleared);
            // ORDERING: Release hands the block (our reads of the value and the wakers
            // done) to the sender's Acquire in `finish`/`refuse_and_leave`/`leave`;
            // Acquire, on failure, sees its last writes if it left first.
            match self.channel().replace(seen, left, Ordering::AcqRel) {
                Ok(_) => {
                    sync::departed();
                    return ChannelDeparture::NotLast;
                }
                Err(now) => seen = now,
            }
        }
    }

    /// Spins a little while the sender, having completed, wakes the receiver and has yet
    /// to set `TX_LEFT` (the only step it takes between the two): seeing the flag here
    /// lets the receiver dispose of the channel on its own thread, with no
    /// read-modify-write, rather than leave it to the sender, which would write the word
    /// once more and give the block back to this thread's inbox from afar. Returns the
    /// word as last read (with Acquire), `TX_LEFT` or not.
    #[inline]
    fn await_sender_leaving(&self, mut seen: ChannelState) -> ChannelState {
        for _ in 0..RECEIVER_SPINS {
            sync::spin();
            // ORDERING: Acquire pairs with the sender's Release `+TX_LEFT` in `leave`, as
            // in `poll_recv`.
            seen = self.channel().load(Ordering::Acquire);
            if seen.has(ChannelState::TX_LEFT) {
                break;
            }
        }
        seen
    }
}

// SAFETY: a channel hands a `T` from one thread to another and is touched by both
// halves under the protocol above; it needs `T: Send` and nothing more (no `&T` is ever
// shared).
unsafe impl<T: Send> Send for Channel<T> {}
// SAFETY: as above: every cell access is arbitrated by the state word.
unsafe impl<T: Send> Sync for Channel<T> {}
