//! Every departure path of the `oneshot` channel, raced on two threads, each followed at
//! once by a new channel of the same size class on both threads: a half that touched
//! its channel after its departure step would touch a block that another channel now
//! uses. Small enough for Miri's data-race checker over several seeds
//! (`MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-many-seeds=0..4" cargo +nightly miri
//! test --test departure_oneshot`) and for ThreadSanitizer.
//!
//! The paths, as the table at the head of the channel's protocol names them: the
//! sender's `complete_and_leave`, `leave` after waking a waiting receiver,
//! `refuse_and_leave` (the receiver closed, still there or gone); the receiver's
//! `leave` without a write (the sender left) and `leave_while_sender_stays`; and the
//! last one out's disposal, with and without wakers and an untaken value.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::thread;

use valuetask::ValueTask;
use valuetask::oneshot::error::RecvError;
use valuetask::oneshot::{self, Receiver, Sender};

mod support;

use support::poll::{block_on_deadline, poll_once};
use support::waker::CountingWaker;

/// Rounds per test: each round races one departure once.
const ROUNDS: usize = if cfg!(miri) { 3 } else { 2_000 };

/// A `u64`-sized value that counts its drops: every value is dropped exactly once.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Reuses the memory a half just gave back: a new channel of the same size class (on
/// this thread its cache hands back the block it just received, if it did), touching
/// every cell: both wakers registered, the value sent (waking the receiver), the
/// channel closed, the value received, and the wakers dropped with the block.
fn reuse_channel() {
    let (mut tx, mut rx) = oneshot::channel::<Counted>();
    let waker = Waker::noop();
    assert!(poll_once(&mut rx, waker).is_pending());
    assert!(tx.poll_closed(&mut Context::from_waker(waker)).is_pending());
    let drops = Arc::new(AtomicUsize::new(0));
    tx.send(Counted(Arc::clone(&drops))).unwrap();
    rx.close();
    drop(rx.try_recv().expect("the value sent before the close"));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// Runs `sender` and `receiver` on two threads at once, each reusing the channel's
/// memory as soon as it is done, `ROUNDS` times; `setup` makes each round's channel and
/// may act on it first. Checks that the round's value was dropped exactly once.
fn race<S, R>(setup: impl Fn(&mut Sender<Counted>, &mut Receiver<Counted>), sender: S, receiver: R)
where
    S: Fn(Sender<Counted>, Counted) + Send + Sync + Copy + 'static,
    R: Fn(Receiver<Counted>) + Send + Sync + Copy + 'static,
{
    for round in 0..ROUNDS {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut tx, mut rx) = oneshot::channel();
        setup(&mut tx, &mut rx);
        let value = Counted(Arc::clone(&drops));
        let sending = thread::spawn(move || {
            sender(tx, value);
            reuse_channel();
        });
        let receiving = thread::spawn(move || {
            receiver(rx);
            reuse_channel();
        });
        sending.join().unwrap();
        receiving.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "round {round}");
    }
}

fn send(tx: Sender<Counted>, value: Counted) {
    drop(tx.send(value));
}

fn send_expecting_refusal(tx: Sender<Counted>, value: Counted) {
    assert!(tx.send(value).is_err(), "the receiver closed first");
}

fn await_value(rx: Receiver<Counted>) {
    drop(block_on_deadline(rx));
}

/// `complete_and_leave` (nobody waits) against the receiver awaiting: the receiver's
/// load finds `TX_LEFT` and disposes without a write, or it waits and the sender wakes
/// it and leaves.
#[test]
fn sender_completes_and_leaves_while_the_receiver_awaits() {
    race(|_, _| {}, send, await_value);
}

/// `complete_and_leave` against the receiver's drop: either half may be last.
#[test]
fn sender_completes_and_leaves_while_the_receiver_drops() {
    race(|_, _| {}, send, drop);
}

/// `complete`, `wake_receiver`, then `leave`, against a receiver that waited and now
/// awaits the value: it may find `COMPLETE` before `TX_LEFT` and leave first.
#[test]
fn sender_wakes_the_waiting_receiver_then_leaves() {
    race(
        |_, rx| assert!(poll_once(rx, Waker::noop()).is_pending()),
        send,
        await_value,
    );
}

/// `complete`, `wake_receiver`, then `leave`, against a receiver that waited and is now
/// dropped: it may leave while the sender wakes it, and the sender's `+TX_LEFT` then
/// makes it last.
#[test]
fn sender_wakes_the_waiting_receiver_while_it_drops() {
    let (counter, waker) = CountingWaker::new();
    race(
        |_, rx| assert!(poll_once(rx, &waker).is_pending()),
        send,
        drop,
    );
    assert_eq!(
        Arc::strong_count(&counter),
        2,
        "a waker outlived its channel"
    );
}

/// `refuse_and_leave` with the receiver still there (closed) or leaving at once: the
/// sender takes its value back and leaves, or finds `RX_LEFT` and is last.
#[test]
fn sender_refused_after_close_while_the_receiver_drops() {
    race(|_, rx| rx.close(), send_expecting_refusal, drop);
}

/// `refuse_and_leave` against a closed receiver that looks and leaves.
#[test]
fn sender_refused_after_close_while_the_receiver_looks() {
    race(
        |_, rx| rx.close(),
        send_expecting_refusal,
        |mut rx| assert!(rx.try_recv().is_err()),
    );
}

/// `leave_while_sender_stays` waking a sender that waits in `closed()`, against that
/// sender, which wakes and is dropped: the receiver's `+CLOSED +RX_LEFT` makes the
/// sender last.
#[test]
fn receiver_leaves_while_the_sender_waits_in_closed() {
    race(
        |tx, _| {
            assert!(
                tx.poll_closed(&mut Context::from_waker(Waker::noop()))
                    .is_pending()
            )
        },
        |mut tx, value| {
            block_on_deadline(tx.closed());
            send_expecting_refusal(tx, value);
        },
        drop,
    );
}

/// The sender dropped unsent against the receiver awaiting: `COMPLETE` without
/// `VALUE`; the round's value is dropped by the sender's thread.
#[test]
fn sender_dropped_while_the_receiver_awaits() {
    race(
        |_, _| {},
        |tx, value| drop((tx, value)),
        |rx| assert!(block_on_deadline(rx).is_err()),
    );
}

/// Both halves dropped at once, each with a waker stored: the last one out drops both
/// wakers.
#[test]
fn both_halves_dropped_with_their_wakers() {
    race(
        |tx, rx| {
            assert!(poll_once(rx, Waker::noop()).is_pending());
            assert!(
                tx.poll_closed(&mut Context::from_waker(Waker::noop()))
                    .is_pending()
            );
        },
        |tx, value| drop((tx, value)),
        drop,
    );
}

/// The receiver as a `ValueTask`, awaited against the send: the type-erased task takes
/// the same departure paths.
#[test]
fn a_receiver_task_against_the_send() {
    race(
        |_, _| {},
        send,
        |rx| {
            let task: ValueTask<'static, Result<Counted, RecvError>> = rx.into();
            drop(block_on_deadline(task));
        },
    );
}
