//! Loom models of the `oneshot` channel: one model per pair of operations that safe
//! code can run at once on one channel (one on each half), for every transition of its
//! state word.
//!
//! Part of `tests/loom.rs` (see the matrix there); shares its support code. Each model
//! checks, on top of loom's own checks (races on the value and waker cells, the block
//! given back exactly once, no leak): the value reaches the receiver or comes back to
//! the sender, and is dropped exactly once; a waiting half is woken (a lost wake-up
//! parks [`block_on`] forever, which loom reports as a deadlock); no waker is held once
//! both halves are gone.

use valuetask::oneshot::{self, error::TryRecvError};

use super::*;

/// Interleavings one model may explore: the largest here explores a few hundred at
/// `LOOM_MAX_PREEMPTIONS=3`; a model that needs ten times that is not terminating.
const ONESHOT_INTERLEAVINGS: usize = 5_000;

/// Sends a counted value; returns whether it was delivered (`false`: it came back, and
/// was not dropped by anybody else before).
fn send_counted(tx: oneshot::Sender<Counted>, drops: &Arc<AtomicUsize>) -> bool {
    match tx.send(Counted::new(drops)) {
        Ok(()) => true,
        Err(back) => {
            assert_eq!(drops.load(SeqCst), 0, "a value given back was also dropped");
            drop(back);
            false
        }
    }
}

/// Reuses a channel's memory at once, as a half that just left would race: a new
/// channel of the same size class (under loom every block goes through the shared
/// stack, so it gets the block just given back when there is one), touching every
/// cell: the receiver's waker registered, the sender's `closed()` waker registered, the
/// value sent (waking the receiver), the channel closed, the value received, and both
/// wakers dropped with the block. A half that touched its channel after its departure
/// step would race these writes, which loom reports.
fn reuse_channel() {
    let (mut tx, mut rx) = oneshot::channel::<usize>();
    let waker = Waker::noop();
    assert!(poll_once(&mut rx, waker).is_pending());
    assert!(tx.poll_closed(&mut Context::from_waker(waker)).is_pending());
    tx.send(3).unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Ok(3));
}

/// send ∥ receiver drop: `COMPLETE|VALUE|TX_LEFT` against `CLOSED|RX_LEFT`. The value is
/// delivered (and dropped by the last one out) or comes back; dropped once either way.
#[test]
fn oneshot_send_vs_receiver_drop() {
    model(ONESHOT_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel();
        let sender = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                let delivered = send_counted(tx, &drops);
                reuse_channel();
                delivered
            })
        };
        drop(rx);
        reuse_channel();
        sender.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// send ∥ poll: the receiver's `+RX_WAKER` against the sender's completion, which either
/// sees the waker (then wakes it and leaves with a second step) or not (then the
/// receiver's `+RX_WAKER` finds `COMPLETE`). No lost wake-up; the value arrives.
#[test]
fn oneshot_send_vs_poll() {
    model(ONESHOT_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel();
        let sender = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                assert!(send_counted(tx, &drops));
                reuse_channel();
            })
        };
        let value = block_on(rx).expect("the value arrives");
        reuse_channel();
        sender.join().unwrap();
        assert_eq!(drops.load(SeqCst), 0);
        drop(value);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// sender drop ∥ poll: `COMPLETE` without `VALUE`, and the wake, against `+RX_WAKER`.
#[test]
fn oneshot_sender_drop_vs_poll() {
    model(ONESHOT_INTERLEAVINGS, || {
        let (tx, rx) = oneshot::channel::<usize>();
        let sender = thread::spawn(move || {
            drop(tx);
            reuse_channel();
        });
        assert!(block_on(rx).is_err());
        reuse_channel();
        sender.join().unwrap();
    });
}

/// send ∥ a receiver that polls once with one waker, then again with another, then
/// drops: the replacement (`-RX_WAKER`, store, `+RX_WAKER`) against the sender's wake
/// by reference. The replaced waker is dropped at once, the kept one woken at most
/// once, and no waker outlives the channel; the value is dropped once.
#[test]
fn oneshot_send_vs_waker_replacement() {
    model(ONESHOT_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = oneshot::channel();
        let first = CountingWaker::new();
        let second = CountingWaker::new();
        let sender = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                let delivered = send_counted(tx, &drops);
                reuse_channel();
                delivered
            })
        };
        let first_waker = CountingWaker::waker(&first);
        let mut got = match poll_once(&mut rx, &first_waker) {
            Poll::Ready(result) => Some(result),
            Poll::Pending => None,
        };
        drop(first_waker);
        if got.is_none() {
            let second_waker = CountingWaker::waker(&second);
            got = match poll_once(&mut rx, &second_waker) {
                Poll::Ready(result) => Some(result),
                Poll::Pending => {
                    // The second poll replaced the first waker: dropped at once.
                    assert!(!held_elsewhere(&first), "a replaced waker was kept");
                    None
                }
            };
        }
        drop(rx);
        reuse_channel();
        let delivered = sender.join().unwrap();
        // Received, or refused because the receiver left first; never lost.
        if let Some(result) = &got {
            assert!(delivered && result.is_ok());
        }
        drop(got);
        assert_eq!(drops.load(SeqCst), 1);
        assert!(first.wakes() <= 1 && second.wakes() <= 1);
        assert!(!held_elsewhere(&first), "a waker outlived the channel");
        assert!(!held_elsewhere(&second), "a waker outlived the channel");
    });
}

/// send ∥ close, then the receiver looks: `+CLOSED` against the completion. Either the
/// send came first (the receiver still gets the value) or it fails and the value comes
/// back; never both, never neither.
#[test]
fn oneshot_send_vs_close() {
    model(ONESHOT_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = oneshot::channel();
        let sender = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                let delivered = send_counted(tx, &drops);
                reuse_channel();
                delivered
            })
        };
        rx.close();
        let received = rx.try_recv();
        reuse_channel();
        let delivered = sender.join().unwrap();
        match received {
            Ok(value) => {
                assert!(delivered);
                drop(value);
            }
            // The close came first: the send was refused and the value came back.
            Err(TryRecvError::Closed) => assert!(!delivered),
            Err(TryRecvError::Empty) => panic!("a closed receiver is never `Empty`"),
        }
        drop(rx);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// send ∥ try_recv: the load that takes `COMPLETE|VALUE|TX_LEFT` and frees without a
/// write, against the sender's compare-and-swap (the receiver on its own thread, the
/// sender on the model's).
#[test]
fn oneshot_send_vs_try_recv() {
    model(ONESHOT_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = oneshot::channel();
        let receiver = thread::spawn(move || {
            let received = match rx.try_recv() {
                Ok(value) => {
                    assert!(rx.is_terminated());
                    drop(value);
                    true
                }
                Err(error) => {
                    assert_eq!(error, TryRecvError::Empty);
                    false
                }
            };
            drop(rx);
            reuse_channel();
            received
        });
        let delivered = send_counted(tx, &drops);
        reuse_channel();
        let received = receiver.join().unwrap();
        assert!(!received || delivered);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// sender drop ∥ receiver drop: `COMPLETE|TX_LEFT` against `CLOSED|RX_LEFT`, after both
/// halves registered a waker: the last one out frees the block and both wakers.
#[test]
fn oneshot_sender_drop_vs_receiver_drop() {
    model(ONESHOT_INTERLEAVINGS, || {
        let (mut tx, mut rx) = oneshot::channel::<usize>();
        let rx_waker = CountingWaker::new();
        let tx_waker = CountingWaker::new();
        assert!(poll_once(&mut rx, &CountingWaker::waker(&rx_waker)).is_pending());
        assert!(
            tx.poll_closed(&mut Context::from_waker(&CountingWaker::waker(&tx_waker)))
                .is_pending()
        );
        let sender = thread::spawn(move || {
            drop(tx);
            reuse_channel();
        });
        drop(rx);
        reuse_channel();
        sender.join().unwrap();
        assert!(!held_elsewhere(&rx_waker), "a waker outlived the channel");
        assert!(!held_elsewhere(&tx_waker), "a waker outlived the channel");
        assert!(rx_waker.wakes() <= 1 && tx_waker.wakes() <= 1);
    });
}

/// `closed()` polled ∥ receiver drop: `+TX_WAKER` against `CLOSED|RX_LEFT`, which wakes
/// the sender first when it sees the waker. No lost wake-up.
#[test]
fn oneshot_closed_vs_receiver_drop() {
    model(ONESHOT_INTERLEAVINGS, || {
        let (mut tx, rx) = oneshot::channel::<usize>();
        let receiver = thread::spawn(move || {
            drop(rx);
            reuse_channel();
        });
        block_on(tx.closed());
        assert!(tx.is_closed());
        assert_eq!(tx.send(1), Err(1));
        reuse_channel();
        receiver.join().unwrap();
    });
}

/// `closed()` polled ∥ close: `+TX_WAKER` against `+CLOSED` alone; then both halves
/// leave on their own threads.
#[test]
fn oneshot_closed_vs_close() {
    model(ONESHOT_INTERLEAVINGS, || {
        let (mut tx, mut rx) = oneshot::channel::<usize>();
        let receiver = thread::spawn(move || {
            rx.close();
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
            reuse_channel();
        });
        block_on(tx.closed());
        reuse_channel();
        receiver.join().unwrap();
    });
}

/// `closed()` with its waker replaced ∥ receiver drop: `-TX_WAKER`, store, `+TX_WAKER`
/// against the receiver's wake by reference. The kept waker is woken at most once, and
/// no waker outlives the channel.
#[test]
fn oneshot_closed_waker_replacement_vs_receiver_drop() {
    model(ONESHOT_INTERLEAVINGS, || {
        let (mut tx, rx) = oneshot::channel::<usize>();
        let first = CountingWaker::new();
        let second = CountingWaker::new();
        let receiver = thread::spawn(move || {
            drop(rx);
            reuse_channel();
        });
        let mut closed = tx
            .poll_closed(&mut Context::from_waker(&CountingWaker::waker(&first)))
            .is_ready();
        if !closed {
            closed = tx
                .poll_closed(&mut Context::from_waker(&CountingWaker::waker(&second)))
                .is_ready();
        }
        reuse_channel();
        receiver.join().unwrap();
        if !closed {
            // The receiver left after the second poll kept its waker: it woke that one.
            assert_eq!(second.wakes(), 1);
        }
        drop(tx);
        assert!(first.wakes() <= 1 && second.wakes() <= 1);
        assert!(!held_elsewhere(&first), "a waker outlived the channel");
        assert!(!held_elsewhere(&second), "a waker outlived the channel");
    });
}

/// sender drop (its `closed()` waker stored) ∥ close then poll: `COMPLETE|TX_LEFT`
/// against `+CLOSED` (which may wake the sender's waker while it leaves) and the
/// receiver's last look.
#[test]
fn oneshot_sender_drop_vs_close() {
    model(ONESHOT_INTERLEAVINGS, || {
        let (mut tx, mut rx) = oneshot::channel::<usize>();
        let tx_waker = CountingWaker::new();
        assert!(
            tx.poll_closed(&mut Context::from_waker(&CountingWaker::waker(&tx_waker)))
                .is_pending()
        );
        let sender = thread::spawn(move || {
            drop(tx);
            reuse_channel();
        });
        rx.close();
        assert!(block_on(&mut rx).is_err());
        reuse_channel();
        sender.join().unwrap();
        drop(rx);
        assert!(!held_elsewhere(&tx_waker), "a waker outlived the channel");
    });
}

/// send ∥ a receiver that polls once and is dropped: the sender may be waking the
/// receiver's waker (`COMPLETE|VALUE` without `TX_LEFT`) when the receiver leaves
/// (`RX_LEFT`); the sender's `+TX_LEFT` then finds it gone and frees, dropping the
/// untaken value once.
#[test]
fn oneshot_send_vs_poll_then_drop() {
    model(ONESHOT_INTERLEAVINGS, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = oneshot::channel();
        let waker = CountingWaker::new();
        let sender = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                let delivered = send_counted(tx, &drops);
                reuse_channel();
                delivered
            })
        };
        let polled = poll_once(&mut rx, &CountingWaker::waker(&waker));
        drop(polled);
        drop(rx);
        reuse_channel();
        sender.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
        assert!(!held_elsewhere(&waker), "a waker outlived the channel");
    });
}

/// send ∥ a receiver turned into a `ValueTask` and awaited: the same steps through the
/// type-erased task.
#[test]
fn oneshot_send_vs_value_task() {
    model(ONESHOT_INTERLEAVINGS, || {
        let (tx, rx) = oneshot::channel::<usize>();
        let task: ValueTask<'static, Result<usize, oneshot::error::RecvError>> = rx.into();
        let sender = thread::spawn(move || {
            tx.send(7).unwrap();
            reuse_channel();
        });
        assert_eq!(block_on(task), Ok(7));
        reuse_channel();
        sender.join().unwrap();
    });
}
