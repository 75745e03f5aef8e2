//! The channel's protocol: its state word, the diagram of its transitions, and every
//! atomic step either half takes, top to bottom in this one file.
//!
//! # Where a channel lives
//!
//! A [`Channel<T>`] is one block: the state word, the block's home, the two wakers and the
//! value cell. It is written into a block of the future pool's smallest size class that
//! holds it (a free block of this thread's cache in steady state: no allocation, no
//! atomic operation), or, when `Channel<T>` fits no class, into one allocation of its
//! own. Both handles point at it; the half that leaves last gives it back.
//!
//! # The state word
//!
//! Nine flags in one `usize`, each set by one side (the receiver clears `RX_WAKER` and
//! `VALUE` too, and the sender clears `TX_WAKER`):
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
//! The diagram is in the module docs (`mod.rs`); each step below names the transition it
//! makes.
//!
//! The round trips the crate is measured on: complete first, the sender's one
//! compare-and-swap (`EMPTY` to `COMPLETE|VALUE|TX_LEFT`) and the receiver's one load,
//! after which it takes the value and gives the block back; poll first, the receiver's
//! `+RX_WAKER`, the sender's `+COMPLETE|VALUE`, its wake and its `+TX_LEFT`, and the
//! receiver's load. A receiver that looks between the sender's `+COMPLETE` and its
//! `+TX_LEFT` (up to one round trip in fifty in `prove_it`'s cross-thread case) looks
//! again a few times before it writes the word to leave, so that it disposes of the
//! block itself, without a read-modify-write (in a request/response the receiver's
//! thread made the channel, so the block goes into its own cache), rather than leave
//! that to the sender, which would write the word once more and push the block to the
//! home inbox from afar.

use std::fmt;
use std::mem::{MaybeUninit, align_of, size_of};
use std::ptr::{self, NonNull};
use std::task::{Context, Poll, Waker};

use crate::future_pool::{BlockHome, class_for, give_back_block, rent_block};
use crate::sync::{self, AtomicUsize, Ordering, UnsafeCell};

/// How many times a receiver that found `COMPLETE` without `TX_LEFT` looks again before
/// it writes the word to leave (see [`Channel::await_sender_leaving`]): the sender is
/// then only waking the receiver's waker, usually a short call; past that the receiver
/// stops waiting and leaves the block to the sender. One look under loom, which explores
/// every look as a step of its own.
const RECEIVER_SPINS: u32 = if cfg!(valuetask_loom) { 1 } else { 32 };

/// The state word's value: the flags of the table above.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct State(usize);

impl State {
    /// No flag: nothing sent, nobody waiting, both halves there.
    const EMPTY: State = State(0);
    /// The receiver's waker is in `rx_waker`. While set, the receiver does not write the
    /// cell; once `COMPLETE` is set too, the sender may wake it by reference (until it
    /// sets `TX_LEFT`), and nobody else writes it before the block is given back.
    const RX_WAKER: State = State(1 << 0);
    /// The sender's `closed()` waker is in `tx_waker`. While set, the sender does not
    /// write the cell; once `CLOSED` is set too, the receiver may wake it by reference.
    const TX_WAKER: State = State(1 << 1);
    /// `rx_waker` holds a waker (it starts uninitialized, so that a channel nobody
    /// waits on writes no waker cell and drops none). Set with the first `RX_WAKER`,
    /// never cleared; only the receiver sets it, so its own loads know it exactly.
    const RX_STORED: State = State(1 << 7);
    /// `tx_waker` holds a waker: as `RX_STORED`, for the sender's `closed()`.
    const TX_STORED: State = State(1 << 8);
    /// The sender is finished: it sent a value (then `VALUE` is set with it) or was
    /// dropped. From here on the sender does not touch `value`.
    const COMPLETE: State = State(1 << 2);
    /// `value` holds a value that nobody took; only the receiver may take it.
    const VALUE: State = State(1 << 3);
    /// The receiver closed the channel or was dropped: a send from now on fails.
    const CLOSED: State = State(1 << 4);
    /// The sender never touches the block again.
    const TX_LEFT: State = State(1 << 5);
    /// The receiver never touches the block again.
    const RX_LEFT: State = State(1 << 6);

    const NAMES: [(State, &'static str); 9] = [
        (Self::RX_WAKER, "RX_WAKER"),
        (Self::TX_WAKER, "TX_WAKER"),
        (Self::COMPLETE, "COMPLETE"),
        (Self::VALUE, "VALUE"),
        (Self::CLOSED, "CLOSED"),
        (Self::TX_LEFT, "TX_LEFT"),
        (Self::RX_LEFT, "RX_LEFT"),
        (Self::RX_STORED, "RX_STORED"),
        (Self::TX_STORED, "TX_STORED"),
    ];

    /// Whether every flag of `flags` is set.
    #[inline(always)]
    const fn has(self, flags: State) -> bool {
        self.0 & flags.0 == flags.0
    }

    /// Whether any flag of `flags` is set.
    #[inline(always)]
    const fn any(self, flags: State) -> bool {
        self.0 & flags.0 != 0
    }

    #[inline(always)]
    const fn with(self, flags: State) -> State {
        State(self.0 | flags.0)
    }

    #[inline(always)]
    const fn without(self, flags: State) -> State {
        State(self.0 & !flags.0)
    }

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
        self.has(Self::TX_WAKER) && !self.any(Self::COMPLETE.with(Self::CLOSED))
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("State(")?;
        let mut first = true;
        for (flag, name) in Self::NAMES {
            if self.has(flag) {
                f.write_str(if first { name } else { " | " })?;
                if !first {
                    f.write_str(name)?;
                }
                first = false;
            }
        }
        if first {
            f.write_str("EMPTY")?;
        }
        f.write_str(")")
    }
}

/// What the receiver does with the value as it leaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Leaving {
    /// It moved the value out: `VALUE` is cleared as it leaves.
    TookValue,
    /// It leaves whatever is there: a value it did not take is dropped by the last one out.
    LeavesValue,
}

/// What a receiver found when it looked without waiting.
#[derive(Debug)]
pub(super) enum Found<T> {
    /// The value; the receiver has left the channel.
    Value(T),
    /// No value will ever come (the sender was dropped, or the receiver closed before it
    /// sent); the receiver has left the channel.
    Closed,
    /// Nothing yet; the receiver still holds the channel.
    Empty,
}

/// Whether a waker cell holds a waker: what its `*_STORED` flag says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Occupancy {
    Empty,
    HoldsWaker,
}

impl State {
    /// Whether the waker cell whose `*_STORED` flag is `stored` holds a waker.
    const fn occupancy(self, stored: State) -> Occupancy {
        if self.has(stored) {
            Occupancy::HoldsWaker
        } else {
            Occupancy::Empty
        }
    }
}

/// A waker cell: uninitialized until its side first stores a waker (its `*_STORED`
/// flag says when), so that a channel nobody waits on never writes or drops one.
struct WakerCell(UnsafeCell<MaybeUninit<Waker>>);

impl WakerCell {
    fn new() -> Self {
        Self(UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// Whether `waker` would wake the task the stored waker wakes.
    ///
    /// # Safety
    ///
    /// The cell holds a waker and nobody writes it meanwhile: its side's `*_WAKER` flag
    /// is set and the caller is that side.
    #[inline]
    unsafe fn wakes_as(&self, waker: &Waker) -> bool {
        // SAFETY: as this function's contract: initialized, reads only.
        self.0
            .with(|cell| unsafe { (*cell).assume_init_ref() }.will_wake(waker))
    }

    /// Stores a clone of `waker`, dropping the one there before.
    ///
    /// # Safety
    ///
    /// The caller is the cell's side, with its `*_WAKER` flag clear and the other side
    /// not yet finished (so it will not read the cell), and `now` is what the side's
    /// `*_STORED` flag says.
    #[inline]
    unsafe fn store(&self, waker: &Waker, now: Occupancy) {
        let waker = waker.clone();
        // SAFETY: as this function's contract: nobody else touches the cell; `now` says
        // whether it holds a waker to drop.
        self.0.with_mut(|cell| unsafe {
            match now {
                Occupancy::HoldsWaker => *(*cell).assume_init_mut() = waker,
                Occupancy::Empty => {
                    (*cell).write(waker);
                }
            }
        });
    }

    /// Wakes the stored waker by reference.
    ///
    /// # Safety
    ///
    /// The cell holds a waker and nobody writes it meanwhile: the other side finished
    /// (`COMPLETE` for the receiver's cell, `CLOSED` for the sender's) while this side's
    /// `*_WAKER` flag was set, and the caller, that other side, has not left.
    #[inline]
    unsafe fn wake_by_ref(&self) {
        // SAFETY: as this function's contract: initialized, reads only.
        self.0
            .with(|cell| unsafe { (*cell).assume_init_ref() }.wake_by_ref());
    }

    /// Moves the waker out; the cell counts as empty afterwards.
    ///
    /// # Safety
    ///
    /// The cell holds a waker and the caller is the last one out.
    unsafe fn take(&self) -> Waker {
        // SAFETY: as this function's contract.
        self.0.with(|cell| unsafe { (*cell).assume_init_read() })
    }
}

/// One channel: the state word and the cells it guards.
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

    /// A new channel, in a recycled block when one fits; both halves hold it.
    #[inline(always)]
    pub(super) fn new() -> NonNull<Self> {
        let (block, home) = match Self::CLASS {
            Some(class) => rent_block(class),
            None => (Self::allocate(), BlockHome::default()),
        };
        let channel = block.cast::<Self>();
        // SAFETY: the block is ours alone, large and aligned enough for `Self` (`CLASS`
        // checked both, or `allocate` used `Self`'s layout).
        unsafe {
            channel.as_ptr().write(Self {
                state: AtomicUsize::new(State::EMPTY.0),
                home,
                rx_waker: WakerCell::new(),
                tx_waker: WakerCell::new(),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
        };
        channel
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
    fn load(&self, order: Ordering) -> State {
        State(self.state.load(order))
    }

    /// Sets `flags`; returns the word as it was.
    #[inline(always)]
    fn set(&self, flags: State, order: Ordering) -> State {
        State(self.state.fetch_or(flags.0, order))
    }

    /// Clears `flags`; returns the word as it was.
    #[inline(always)]
    fn clear(&self, flags: State, order: Ordering) -> State {
        State(self.state.fetch_and(!flags.0, order))
    }

    /// Replaces `current` with `new`, or returns the word that was there instead.
    #[inline(always)]
    fn replace(&self, current: State, new: State, order: Ordering) -> Result<State, State> {
        let failure = match order {
            Ordering::AcqRel | Ordering::Acquire => Ordering::Acquire,
            _ => Ordering::Relaxed,
        };
        self.state
            .compare_exchange(current.0, new.0, order, failure)
            .map(State)
            .map_err(State)
    }

    /// The state word, for `Debug`.
    pub(super) fn state(&self) -> State {
        self.load(Ordering::Relaxed)
    }

    // -----------------------------------------------------------------------------------
    // The cells, each behind an accessor that states who may touch it when.
    // -----------------------------------------------------------------------------------

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

    // -----------------------------------------------------------------------------------
    // The last one out.
    // -----------------------------------------------------------------------------------

    /// Drops what is left in the channel and gives its block back.
    ///
    /// `last` is the word as it is now (the caller's view of its own flags is exact,
    /// and the other side left): `VALUE` in it means an untaken value is there to drop,
    /// `RX_STORED` and `TX_STORED` a waker.
    ///
    /// # Safety
    ///
    /// The caller is the last one out: it saw the other side's `*_LEFT` flag with
    /// Acquire (or in the value its AcqRel read-modify-write replaced), and never
    /// touches the channel again. No reference to the channel lives across this call.
    #[inline(always)]
    unsafe fn dispose(this: NonNull<Self>, last: State) {
        let channel = this.as_ptr();
        if last.any(State::RX_STORED.with(State::TX_STORED)) {
            // SAFETY: as this function's contract.
            unsafe { Self::dispose_with_wakers(this, last) };
            return;
        }
        // SAFETY: the caller is the last one out: every cell is ours. `VALUE` means the
        // cell holds a value nobody took; no waker was stored. Dropping the channel in
        // place drops nothing but loom's bookkeeping.
        let (value, home) = unsafe {
            let value = last.has(State::VALUE).then(|| (*channel).take_value());
            let home = (*channel).home;
            ptr::drop_in_place(channel);
            (value, home)
        };
        // SAFETY: the channel is dropped, and nobody touches the block again.
        unsafe { Self::give_back(this, home) };
        drop(value);
    }

    /// [`dispose`](Self::dispose) when a waker is left to drop.
    ///
    /// # Safety
    ///
    /// As for `dispose`.
    #[cold]
    unsafe fn dispose_with_wakers(this: NonNull<Self>, last: State) {
        let channel = this.as_ptr();
        // Everything is moved out first and dropped only after the block went back, so
        // that a panicking `Drop` cannot strand the block.
        // SAFETY: the caller is the last one out: every cell is ours. `VALUE` means the
        // cell holds a value nobody took, `*_STORED` that a waker cell holds a waker.
        let (value, rx_waker, tx_waker, home) = unsafe {
            let value = last.has(State::VALUE).then(|| (*channel).take_value());
            let rx_waker = last
                .has(State::RX_STORED)
                .then(|| (*channel).rx_waker.take());
            let tx_waker = last
                .has(State::TX_STORED)
                .then(|| (*channel).tx_waker.take());
            let home = (*channel).home;
            ptr::drop_in_place(channel);
            (value, rx_waker, tx_waker, home)
        };
        // SAFETY: the channel is dropped, and nobody touches the block again.
        unsafe { Self::give_back(this, home) };
        drop(value);
        drop(rx_waker);
        drop(tx_waker);
    }

    /// Gives the channel's memory back where it came from.
    ///
    /// # Safety
    ///
    /// The channel in it was dropped in place, `home` is the one it held, and nobody
    /// touches the memory again.
    #[inline(always)]
    unsafe fn give_back(this: NonNull<Self>, home: BlockHome) {
        match Self::CLASS {
            // SAFETY: rented for `class` with `home` in `new`; as this function's contract.
            Some(class) => unsafe { give_back_block(class, this.cast(), home) },
            // SAFETY: allocated in `allocate` with this layout; as this function's contract.
            None => unsafe {
                sync::dealloc(this.as_ptr().cast(), std::alloc::Layout::new::<Self>())
            },
        }
    }

    // -----------------------------------------------------------------------------------
    // The sender's steps.
    // -----------------------------------------------------------------------------------

    /// The sender finishes: sends `value` (`Some`) or is dropped (`None`), and leaves.
    /// Returns the value when the receiver closed first.
    ///
    /// # Safety
    ///
    /// The caller is the channel's sender, still there, and never touches the channel
    /// again.
    #[inline(always)]
    pub(super) unsafe fn finish_sender(this: NonNull<Self>, value: Option<T>) -> Option<T> {
        // SAFETY: the sender is still there, so the block is alive.
        let channel = unsafe { this.as_ref() };
        let sent = value.is_some();
        if let Some(value) = value {
            // SAFETY: we are the sender and have not set `COMPLETE`.
            unsafe { channel.write_value(value) };
        }
        let published = if sent { State::VALUE } else { State::EMPTY };
        // ORDERING: Acquire, so that the slow path, which may wake or free, sees what the
        // receiver published with the flags it finds; a load first, because a failed
        // compare-and-swap costs as much as a successful one.
        let seen = channel.load(Ordering::Acquire);
        if seen == State::EMPTY {
            // The common case in one compare-and-swap: nobody waits, nobody closed.
            let done = State::COMPLETE.with(published).with(State::TX_LEFT);
            // ORDERING: Release publishes the value (and everything this thread did to the
            // channel) to the receiver's Acquire load in `poll_recv`, `try_recv` or
            // `leave_receiver_slow`, which then owns the block; Acquire on failure, for the
            // slow path.
            match channel.replace(State::EMPTY, done, Ordering::AcqRel) {
                Ok(_) => return None,
                // SAFETY: as this function's contract; `channel` is not used again.
                Err(seen) => return unsafe { Self::finish_sender_slow(this, seen, published) },
            }
        }
        // SAFETY: as this function's contract; `channel` is not used again.
        unsafe { Self::finish_sender_slow(this, seen, published) }
    }

    /// [`finish_sender`](Self::finish_sender) when the word was not `EMPTY`.
    ///
    /// # Safety
    ///
    /// As for `finish_sender`, which wrote the value first if `published` is `VALUE`.
    #[cold]
    unsafe fn finish_sender_slow(
        this: NonNull<Self>,
        mut seen: State,
        mut published: State,
    ) -> Option<T> {
        // SAFETY: the sender is still there, so the block is alive; this reference is
        // not used once the channel may be freed.
        let channel = unsafe { this.as_ref() };
        let mut back = None;
        loop {
            if seen.has(State::CLOSED) {
                // The receiver closed first (for good: nobody clears `CLOSED`). The value
                // was never published, so it is still ours.
                if published.has(State::VALUE) {
                    // SAFETY: we wrote it and never set `VALUE`: the receiver never reads it.
                    back = Some(unsafe { channel.take_value() });
                    published = State::EMPTY;
                }
                if seen.has(State::RX_LEFT) {
                    // SAFETY: the receiver left (its flag read with Acquire): we are the
                    // last one out.
                    unsafe { Self::dispose(this, seen) };
                    return back;
                }
                let left = seen.with(State::COMPLETE.with(State::TX_LEFT));
                // ORDERING: Release hands the block to the receiver's Acquire in
                // `leave_receiver`; Acquire, on failure too, sees its `RX_LEFT` if it left.
                match channel.replace(seen, left, Ordering::AcqRel) {
                    Ok(_) => return back,
                    Err(actual) => seen = actual,
                }
            } else if !seen.receiver_waits() {
                let done = seen.with(State::COMPLETE.with(published).with(State::TX_LEFT));
                // ORDERING: as in `finish_sender`.
                match channel.replace(seen, done, Ordering::AcqRel) {
                    Ok(_) => return None,
                    Err(actual) => seen = actual,
                }
            } else {
                // The receiver waits: complete, wake it, then leave.
                // ORDERING: Release publishes the value to the receiver's Acquire load in
                // `try_recv`/`wait`; Acquire pairs with the receiver's Release `+RX_WAKER`
                // in `wait`, so its waker is visible to the wake below.
                match channel.replace(
                    seen,
                    seen.with(State::COMPLETE.with(published)),
                    Ordering::AcqRel,
                ) {
                    Ok(_) => break,
                    Err(actual) => seen = actual,
                }
            }
        }
        // SAFETY: we set `COMPLETE` while `RX_WAKER` was set (so `RX_STORED` too), and
        // have not left: the receiver no longer writes its cell.
        unsafe { channel.rx_waker.wake_by_ref() };
        // ORDERING: Release hands the block (our reads of the waker done) to the receiver's
        // Acquire in `try_recv`/`leave_receiver`; Acquire sees its writes if it left first.
        let last = channel.set(State::TX_LEFT, Ordering::AcqRel);
        if last.has(State::RX_LEFT) {
            // SAFETY: the receiver left before our `TX_LEFT`: we are the last one out.
            unsafe { Self::dispose(this, last) };
        }
        None
    }

    /// Whether the receiver closed the channel or was dropped.
    pub(super) fn is_closed(&self) -> bool {
        // ORDERING: Acquire pairs with the receiver's `+CLOSED` in `close`, so that what it
        // did before closing is visible to whoever acts on the answer.
        self.load(Ordering::Acquire).has(State::CLOSED)
    }

    /// The sender's `closed()`: ready once the receiver closed or was dropped; otherwise
    /// keeps `cx`'s waker (replacing an earlier one) and waits.
    ///
    /// # Safety
    ///
    /// The caller is the channel's sender, still there.
    pub(super) unsafe fn poll_closed(this: NonNull<Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the sender is still there, so the block is alive.
        let channel = unsafe { this.as_ref() };
        // ORDERING: Acquire pairs with the receiver's `+CLOSED` in `close`.
        let seen = channel.load(Ordering::Acquire);
        if seen.has(State::CLOSED) {
            return Poll::Ready(());
        }
        if seen.has(State::TX_WAKER) {
            // SAFETY: `TX_WAKER` is set (so `TX_STORED` too) and we are the sender: the
            // cell holds our waker, and the receiver only reads it.
            if unsafe { channel.tx_waker.wakes_as(cx.waker()) } {
                return Poll::Pending;
            }
            // ORDERING: Acquire pairs with the receiver's `+CLOSED`: if it closed while our
            // waker was there, it may be reading it, and we leave the cell alone.
            let before = channel.clear(State::TX_WAKER, Ordering::AcqRel);
            if before.has(State::CLOSED) {
                return Poll::Ready(());
            }
        }
        // SAFETY: `TX_WAKER` and `CLOSED` are clear (the receiver, closing now, sees no
        // waker to wake) and we are the sender; `seen` has our own flags exactly.
        unsafe {
            channel
                .tx_waker
                .store(cx.waker(), seen.occupancy(State::TX_STORED))
        };
        // ORDERING: Release publishes the waker to the receiver's Acquire `+CLOSED` in
        // `close`; Acquire sees whether it closed meanwhile.
        let before = channel.set(State::TX_WAKER.with(State::TX_STORED), Ordering::AcqRel);
        if before.has(State::CLOSED) {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    // -----------------------------------------------------------------------------------
    // The receiver's steps.
    // -----------------------------------------------------------------------------------

    /// The receiver's poll: the value, or `None` when none will come (after either the
    /// receiver has left); otherwise keeps `cx`'s waker (replacing an earlier one) and
    /// waits.
    ///
    /// # Safety
    ///
    /// The caller is the channel's receiver, still there; after `Ready` it never touches
    /// the channel again.
    #[inline(always)]
    pub(super) unsafe fn poll_recv(this: NonNull<Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: the receiver is still there, so the block is alive.
        let channel = unsafe { this.as_ref() };
        // ORDERING: Acquire pairs with the sender's Release `+COMPLETE` (and `+TX_LEFT`) in
        // `finish_sender`: the value, and the sender's last touch of the block, are visible.
        let seen = channel.load(Ordering::Acquire);
        // SAFETY: as this function's contract.
        match unsafe { Self::found(this, seen) } {
            Found::Value(value) => Poll::Ready(Some(value)),
            Found::Closed => Poll::Ready(None),
            // SAFETY: as this function's contract; the receiver is still there.
            Found::Empty => unsafe { Self::wait(this, seen, cx) },
        }
    }

    /// The receiver's look without waiting.
    ///
    /// # Safety
    ///
    /// The caller is the channel's receiver, still there; after `Value` or `Closed` it
    /// never touches the channel again.
    #[inline(always)]
    pub(super) unsafe fn try_recv(this: NonNull<Self>) -> Found<T> {
        // SAFETY: the receiver is still there, so the block is alive.
        let channel = unsafe { this.as_ref() };
        // ORDERING: Acquire, as in `poll_recv`.
        let seen = channel.load(Ordering::Acquire);
        // SAFETY: as this function's contract.
        unsafe { Self::found(this, seen) }
    }

    /// What the receiver makes of `seen`: takes the value and leaves, leaves, or neither.
    ///
    /// # Safety
    ///
    /// As for [`try_recv`](Self::try_recv); `seen` was read with Acquire.
    #[inline(always)]
    unsafe fn found(this: NonNull<Self>, seen: State) -> Found<T> {
        if seen.has(State::COMPLETE.with(State::VALUE)) {
            // SAFETY: `COMPLETE | VALUE` seen with Acquire: the value is there and ours.
            let value = unsafe { this.as_ref().take_value() };
            // SAFETY: we are the receiver, and leave now.
            unsafe { Self::leave_receiver(this, seen, Leaving::TookValue) };
            Found::Value(value)
        } else if seen.any(State::COMPLETE.with(State::CLOSED)) {
            // SAFETY: as above.
            unsafe { Self::leave_receiver(this, seen, Leaving::LeavesValue) };
            Found::Closed
        } else {
            Found::Empty
        }
    }

    /// Keeps `cx`'s waker for the sender to wake, unless it finished meanwhile. `seen`
    /// (read with Acquire) has neither `COMPLETE` nor `CLOSED`.
    ///
    /// # Safety
    ///
    /// As for [`poll_recv`](Self::poll_recv).
    #[cold]
    unsafe fn wait(this: NonNull<Self>, seen: State, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: the receiver is still there, so the block is alive; not used once the
        // receiver may have left.
        let channel = unsafe { this.as_ref() };
        if seen.has(State::RX_WAKER) {
            // SAFETY: `RX_WAKER` is set (so `RX_STORED` too) and we are the receiver: the
            // cell holds our waker, and the sender only reads it.
            if unsafe { channel.rx_waker.wakes_as(cx.waker()) } {
                return Poll::Pending;
            }
            // ORDERING: Acquire pairs with the sender's Release `+COMPLETE`: if it completed
            // while our waker was there, it may be waking it, and we leave the cell alone.
            let before = channel.clear(State::RX_WAKER, Ordering::AcqRel);
            if before.has(State::COMPLETE) {
                // SAFETY: the word was read with Acquire; we are the receiver. (`found`
                // gets the word as it is now, without the flag we cleared.)
                return unsafe { Self::found(this, before.without(State::RX_WAKER)) }.into_poll();
            }
        }
        // SAFETY: `RX_WAKER` and `COMPLETE` are clear (the sender, finishing now, sees no
        // waker to wake) and we are the receiver; `seen` has our own flags exactly.
        unsafe {
            channel
                .rx_waker
                .store(cx.waker(), seen.occupancy(State::RX_STORED))
        };
        // ORDERING: Release publishes the waker to the sender's Acquire in
        // `finish_sender_slow`; Acquire sees its value if it completed meanwhile.
        let stored = State::RX_WAKER.with(State::RX_STORED);
        let before = channel.set(stored, Ordering::AcqRel);
        if before.has(State::COMPLETE) {
            // SAFETY: the word was read with Acquire; we are the receiver. (`found` gets
            // the word as it is now, with the flags we set: the last one out drops the
            // waker we stored.)
            return unsafe { Self::found(this, before.with(stored)) }.into_poll();
        }
        Poll::Pending
    }

    /// Whether a value is there, sent and not taken.
    pub(super) fn has_value(&self) -> bool {
        // ORDERING: Acquire pairs with the sender's Release `+COMPLETE | VALUE`.
        self.load(Ordering::Acquire)
            .has(State::COMPLETE.with(State::VALUE))
    }

    /// Whether the receiver would find something without waiting.
    pub(super) fn is_finished(&self) -> bool {
        // ORDERING: Acquire, as in `has_value`.
        self.load(Ordering::Acquire)
            .any(State::COMPLETE.with(State::CLOSED))
    }

    /// The receiver closes the channel: a later send fails, and a sender waiting in
    /// `closed()` is woken. A value sent before stays there for the receiver.
    ///
    /// # Safety
    ///
    /// The caller is the channel's receiver, still there.
    pub(super) unsafe fn close(this: NonNull<Self>) {
        // SAFETY: the receiver is still there, so the block is alive.
        let channel = unsafe { this.as_ref() };
        // ORDERING: Acquire pairs with the sender's Release `+TX_WAKER` in `poll_closed`, so
        // its waker is visible to the wake below; Release pairs with its Acquire loads that
        // see `CLOSED`.
        let before = channel.set(State::CLOSED, Ordering::AcqRel);
        if before.sender_waits() {
            // SAFETY: we set `CLOSED` while `TX_WAKER` was set (so `TX_STORED` too) and
            // `COMPLETE` clear, and have not left: the sender no longer writes its cell.
            unsafe { channel.tx_waker.wake_by_ref() };
        }
    }

    /// The receiver leaves: closes the channel if the sender is still to finish, and the
    /// last one out disposes of it. `seen` is the word as the receiver last read it.
    ///
    /// # Safety
    ///
    /// The caller is the channel's receiver, still there, and never touches the channel
    /// again; `seen` was read with Acquire. With [`Leaving::TookValue`] the receiver took
    /// the value.
    #[inline(always)]
    unsafe fn leave_receiver(this: NonNull<Self>, seen: State, leaving: Leaving) {
        if seen.has(State::TX_LEFT) {
            // SAFETY: the sender left (its flag seen with Acquire): we are the last one out.
            unsafe { Self::dispose(this, seen.without(leaving.took())) };
            return;
        }
        // SAFETY: as this function's contract.
        unsafe { Self::leave_receiver_slow(this, leaving) }
    }

    /// [`leave_receiver`](Self::leave_receiver) while the sender is still there.
    ///
    /// # Safety
    ///
    /// As for `leave_receiver`.
    #[cold]
    unsafe fn leave_receiver_slow(this: NonNull<Self>, leaving: Leaving) {
        // SAFETY: the receiver is still there, so the block is alive; not used once it left.
        let channel = unsafe { this.as_ref() };
        let took = leaving.took();
        // ORDERING: Acquire, as in `poll_recv`.
        let mut seen = channel.load(Ordering::Acquire);
        if seen.has(State::COMPLETE) && !seen.has(State::TX_LEFT) {
            seen = channel.await_sender_leaving(seen);
        }
        loop {
            if seen.has(State::TX_LEFT) {
                // SAFETY: the sender left (seen with Acquire): we are the last one out.
                unsafe { Self::dispose(this, seen.without(took)) };
                return;
            }
            if seen.sender_waits() {
                // The sender waits in `closed()`: wake it before leaving, while the block
                // is still ours to read.
                // SAFETY: we are the receiver, still there.
                unsafe { Self::close(this) };
                // ORDERING: Acquire, as in `poll_recv`.
                seen = channel.load(Ordering::Acquire);
                continue;
            }
            let left = seen.with(State::CLOSED.with(State::RX_LEFT)).without(took);
            // ORDERING: Release hands the block (our reads of the value and the wakers
            // done) to the sender's Acquire in `finish_sender`/`finish_sender_slow`;
            // Acquire, on failure, sees its last writes if it left first.
            match channel.replace(seen, left, Ordering::AcqRel) {
                Ok(_) => return,
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
    fn await_sender_leaving(&self, mut seen: State) -> State {
        for _ in 0..RECEIVER_SPINS {
            sync::spin();
            // ORDERING: Acquire pairs with the sender's Release `+TX_LEFT` in
            // `finish_sender_slow`, as in `poll_recv`.
            seen = self.load(Ordering::Acquire);
            if seen.has(State::TX_LEFT) {
                break;
            }
        }
        seen
    }

    /// The receiver is dropped: it leaves whatever is there.
    ///
    /// # Safety
    ///
    /// The caller is the channel's receiver, still there, and never touches the channel
    /// again.
    pub(super) unsafe fn drop_receiver(this: NonNull<Self>) {
        // SAFETY: the receiver is still there, so the block is alive.
        let channel = unsafe { this.as_ref() };
        // ORDERING: Acquire, as in `poll_recv`.
        let seen = channel.load(Ordering::Acquire);
        // SAFETY: as this function's contract.
        unsafe { Self::leave_receiver(this, seen, Leaving::LeavesValue) };
    }
}

impl Leaving {
    /// The flag the receiver clears as it leaves.
    const fn took(self) -> State {
        match self {
            Leaving::TookValue => State::VALUE,
            Leaving::LeavesValue => State::EMPTY,
        }
    }
}

impl<T> Found<T> {
    /// A receiver's poll result: the value, or `None` for no value ever.
    fn into_poll(self) -> Poll<Option<T>> {
        match self {
            Found::Value(value) => Poll::Ready(Some(value)),
            Found::Closed => Poll::Ready(None),
            Found::Empty => Poll::Pending,
        }
    }
}

// SAFETY: a channel hands a `T` from one thread to another and is touched by both
// halves under the protocol above; it needs `T: Send` and nothing more (no `&T` is ever
// shared).
unsafe impl<T: Send> Send for Channel<T> {}
// SAFETY: as above: every cell access is arbitrated by the state word.
unsafe impl<T: Send> Sync for Channel<T> {}
