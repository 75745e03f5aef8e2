//! `valuetask::oneshot`: tokio's documented semantics, checked one by one, plus what
//! this crate adds (recycled slots of every size, the `ValueTask` conversion, drops).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread;

use valuetask::ValueTask;
use valuetask::oneshot::error::{RecvError, TryRecvError};
use valuetask::oneshot::{self, Receiver, Sender};

mod support;

use support::poll::{Watchdog, block_on_deadline, poll_noop, poll_once};
use support::waker::CountingWaker;

/// Counts its drops, so a test can see a value dropped exactly once.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counted() -> (Counted, Arc<AtomicUsize>) {
    let drops = Arc::new(AtomicUsize::new(0));
    (Counted(Arc::clone(&drops)), drops)
}

fn poll_closed(tx: &mut Sender<impl Sized>, waker: &Waker) -> Poll<()> {
    tx.poll_closed(&mut Context::from_waker(waker))
}

#[test]
fn a_value_sent_first_is_ready_on_the_first_poll() {
    let (tx, mut rx) = oneshot::channel();
    assert_eq!(tx.send(7u64), Ok(()));
    assert_eq!(poll_noop(&mut rx), Poll::Ready(Ok(7)));
    assert!(rx.is_terminated());
}

#[test]
fn a_waiting_receiver_is_woken_once_by_the_send() {
    let (tx, mut rx) = oneshot::channel();
    let (counter, waker) = CountingWaker::new();
    assert!(poll_once(&mut rx, &waker).is_pending());
    assert_eq!(counter.wakes(), 0);
    tx.send(String::from("hi")).unwrap();
    assert_eq!(counter.wakes(), 1);
    assert_eq!(poll_once(&mut rx, &waker), Poll::Ready(Ok("hi".to_owned())));
    assert_eq!(counter.wakes(), 1);
    // The channel is gone, and with it its clone of the waker.
    assert_eq!(Arc::strong_count(&counter), 2);
}

#[test]
fn dropping_the_sender_wakes_the_receiver_with_an_error() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    let (counter, waker) = CountingWaker::new();
    assert!(poll_once(&mut rx, &waker).is_pending());
    drop(tx);
    assert_eq!(counter.wakes(), 1);
    assert!(rx.is_empty());
    assert!(!rx.is_terminated());
    assert_eq!(
        poll_once(&mut rx, &waker),
        Poll::Ready(Err(RecvError::default_for_test()))
    );
    assert!(rx.is_terminated());
}

/// `RecvError` has no public constructor (as tokio's): get one from a closed channel.
trait DefaultForTest {
    fn default_for_test() -> Self;
}

impl DefaultForTest for RecvError {
    fn default_for_test() -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        drop(tx);
        block_on_deadline(rx).unwrap_err()
    }
}

#[test]
fn a_value_sent_to_a_dropped_or_closed_receiver_comes_back() {
    let (tx, rx) = oneshot::channel();
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(vec![1, 2]), Err(vec![1, 2]));

    let (tx, mut rx) = oneshot::channel();
    rx.close();
    assert!(tx.is_closed());
    assert_eq!(tx.send(3), Err(3));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert!(rx.is_terminated());
}

#[test]
fn a_value_sent_before_close_is_still_received() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(5).unwrap();
    rx.close();
    assert!(!rx.is_empty());
    assert_eq!(poll_noop(&mut rx), Poll::Ready(Ok(5)));
}

#[test]
fn a_closed_receiver_polls_to_an_error_without_waiting() {
    let (_tx, mut rx) = oneshot::channel::<u8>();
    rx.close();
    assert!(poll_noop(&mut rx).is_ready());
    assert!(rx.is_terminated());
}

#[test]
fn try_recv_reports_empty_then_the_value_then_closed() {
    let (tx, mut rx) = oneshot::channel();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(!rx.is_terminated());
    tx.send('x').unwrap();
    assert!(!rx.is_empty());
    assert_eq!(rx.try_recv(), Ok('x'));
    assert!(rx.is_terminated());
    assert!(rx.is_empty());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    rx.close(); // nothing to close any more: does nothing
}

#[test]
#[should_panic(expected = "polled after it returned its result")]
fn polling_a_terminated_receiver_panics() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(1).unwrap();
    assert!(poll_noop(&mut rx).is_ready());
    let _ = poll_noop(&mut rx);
}

#[test]
fn only_the_latest_receiver_waker_is_kept_and_woken() {
    let (tx, mut rx) = oneshot::channel();
    let (first, first_waker) = CountingWaker::new();
    let (second, second_waker) = CountingWaker::new();
    assert!(poll_once(&mut rx, &first_waker).is_pending());
    assert_eq!(Arc::strong_count(&first), 3);
    // Polling again with the same waker keeps it (no new clone).
    assert!(poll_once(&mut rx, &first_waker).is_pending());
    assert_eq!(Arc::strong_count(&first), 3);
    assert!(poll_once(&mut rx, &second_waker).is_pending());
    assert_eq!(
        Arc::strong_count(&first),
        2,
        "the replaced waker is dropped at once"
    );
    assert_eq!(Arc::strong_count(&second), 3);
    tx.send(1).unwrap();
    assert_eq!((first.wakes(), second.wakes()), (0, 1));
    drop(rx);
    assert_eq!(
        Arc::strong_count(&second),
        2,
        "no waker is held once both halves are gone"
    );
}

#[test]
fn only_the_latest_closed_waker_is_kept_and_woken() {
    let (mut tx, rx) = oneshot::channel::<u8>();
    let (first, first_waker) = CountingWaker::new();
    let (second, second_waker) = CountingWaker::new();
    assert!(poll_closed(&mut tx, &first_waker).is_pending());
    assert!(poll_closed(&mut tx, &second_waker).is_pending());
    assert_eq!(Arc::strong_count(&first), 2);
    drop(rx);
    assert_eq!((first.wakes(), second.wakes()), (0, 1));
    assert!(poll_closed(&mut tx, &second_waker).is_ready());
    drop(tx);
    assert_eq!(Arc::strong_count(&second), 2);
}

#[test]
fn close_wakes_the_sender_waiting_in_closed() {
    let (mut tx, mut rx) = oneshot::channel::<u8>();
    let (counter, waker) = CountingWaker::new();
    assert!(poll_closed(&mut tx, &waker).is_pending());
    rx.close();
    assert_eq!(counter.wakes(), 1);
    // Closing twice wakes nobody twice.
    rx.close();
    drop(rx);
    assert_eq!(counter.wakes(), 1);
    assert!(poll_closed(&mut tx, &waker).is_ready());
}

#[test]
fn both_wakers_are_dropped_with_the_channel_in_either_order() {
    for sender_first in [true, false] {
        let (mut tx, mut rx) = oneshot::channel::<u8>();
        let (rx_counter, rx_waker) = CountingWaker::new();
        let (tx_counter, tx_waker) = CountingWaker::new();
        assert!(poll_once(&mut rx, &rx_waker).is_pending());
        assert!(poll_closed(&mut tx, &tx_waker).is_pending());
        if sender_first {
            drop(tx);
            drop(rx);
        } else {
            drop(rx);
            drop(tx);
        }
        assert_eq!(Arc::strong_count(&rx_counter), 2);
        assert_eq!(Arc::strong_count(&tx_counter), 2);
    }
}

#[test]
fn an_untaken_value_is_dropped_once_when_the_second_half_goes() {
    // Sent, then the receiver dropped: dropped with the receiver.
    let (value, drops) = counted();
    let (tx, rx) = oneshot::channel();
    tx.send(value).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(rx);
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    // Sent to a dropped receiver: it comes back, and is dropped by its owner.
    let (value, drops) = counted();
    let (tx, rx) = oneshot::channel();
    drop(rx);
    let back = tx.send(value).unwrap_err();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    // Received: dropped by whoever holds it, once.
    let (value, drops) = counted();
    let (tx, rx) = oneshot::channel();
    tx.send(value).unwrap();
    let received = block_on_deadline(rx).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(received);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_waiting_receiver_gets_the_value_after_a_wake_and_drops_nothing_twice() {
    let (value, drops) = counted();
    let (tx, mut rx) = oneshot::channel();
    let (_counter, waker) = CountingWaker::new();
    assert!(poll_once(&mut rx, &waker).is_pending());
    tx.send(value).unwrap();
    assert!(!rx.is_empty());
    drop(rx);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// Values of every size and alignment work: recycled up to the largest block, one
/// allocation of their own beyond it.
#[test]
fn values_of_every_size_and_alignment() {
    #[derive(Debug, Clone, Copy, PartialEq)]
    #[repr(align(64))]
    struct Aligned64(u8);
    #[derive(Debug, Clone, Copy, PartialEq)]
    #[repr(align(128))]
    struct Aligned128(u8);

    fn round_trip<T: Send + Clone + PartialEq + std::fmt::Debug + 'static>(value: T) {
        let (tx, rx) = oneshot::channel();
        let sent = value.clone();
        thread::spawn(move || tx.send(sent).unwrap())
            .join()
            .unwrap();
        assert_eq!(block_on_deadline(rx), Ok(value.clone()));
        let (tx, mut rx) = oneshot::channel::<T>();
        assert!(poll_noop(&mut rx).is_pending());
        tx.send(value.clone()).unwrap();
        assert_eq!(poll_noop(&mut rx), Poll::Ready(Ok(value)));
    }

    round_trip(());
    round_trip(1u8);
    round_trip(u128::MAX);
    round_trip([7u8; 8144]);
    round_trip([7u8; 8145]);
    round_trip(vec![9u64; 2000]);
    round_trip(Aligned64(3));
    round_trip(Aligned128(4));
}

#[test]
fn halves_dropped_on_different_threads_in_any_order() {
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    for round in 0..rounds {
        let (value, drops) = counted();
        let (tx, mut rx) = oneshot::channel();
        let (_counter, waker) = CountingWaker::new();
        if round % 3 == 0 {
            assert!(poll_once(&mut rx, &waker).is_pending());
        }
        let sender = thread::spawn(move || {
            if round % 2 == 0 {
                let _ = tx.send(value);
            } else {
                drop((tx, value));
            }
        });
        match round % 4 {
            0 => drop(rx),
            1 => {
                let _ = block_on_deadline(rx);
            }
            _ => {
                let _ = rx.try_recv();
                drop(rx);
            }
        }
        sender.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "round {round}");
    }
}

#[test]
fn blocking_recv_waits_for_another_thread() {
    // `blocking_recv` parks with no deadline: a sender that never wakes it fails here.
    let _watchdog = Watchdog::arm("blocking_recv_waits_for_another_thread");
    let (tx, rx) = oneshot::channel();
    let sender = thread::spawn(move || {
        thread::sleep(std::time::Duration::from_millis(5));
        tx.send(42u32).unwrap();
    });
    assert_eq!(rx.blocking_recv(), Ok(42));
    sender.join().unwrap();

    let (tx, rx) = oneshot::channel::<u32>();
    thread::spawn(move || drop(tx));
    assert!(rx.blocking_recv().is_err());
}

#[test]
fn closed_resolves_when_the_receiver_goes_on_another_thread() {
    let (mut tx, rx) = oneshot::channel::<u8>();
    let receiver = thread::spawn(move || drop(rx));
    block_on_deadline(tx.closed());
    assert!(tx.is_closed());
    receiver.join().unwrap();
}

#[test]
fn a_receiver_converts_into_a_value_task() {
    // Sent first: the task is ready.
    let (tx, rx) = oneshot::channel();
    tx.send(1u64).unwrap();
    let task: ValueTask<'static, Result<u64, RecvError>> = rx.into();
    assert!(task.is_ready());
    assert_eq!(task.into_ready().ok(), Some(Ok(1)));

    // Sent from another thread while the task waits.
    let (tx, rx) = oneshot::channel();
    let task: ValueTask<'_, Result<u64, RecvError>> = rx.into();
    let task = task.into_ready().unwrap_err();
    thread::spawn(move || tx.send(2u64).unwrap());
    assert_eq!(block_on_deadline(task), Ok(2));

    // The sender dropped: an error, and `is_ready` says so first.
    let (tx, rx) = oneshot::channel::<u64>();
    let task: ValueTask<'_, Result<u64, RecvError>> = rx.into();
    drop(tx);
    assert!(task.is_ready());
    assert!(block_on_deadline(task).is_err());

    // The task dropped: the sender gets its value back.
    let (tx, rx) = oneshot::channel();
    drop(ValueTask::<Result<u64, RecvError>>::from(rx));
    assert!(tx.is_closed());
    assert_eq!(tx.send(3u64), Err(3));
}

#[test]
#[should_panic(expected = "polled after it returned its result")]
fn a_terminated_receiver_converts_into_a_task_that_panics_when_polled() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(1u64).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    let mut task: ValueTask<'_, Result<u64, RecvError>> = rx.into();
    let _ = Pin::new(&mut task).poll(&mut Context::from_waker(Waker::noop()));
}

#[test]
fn debug_and_display() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    assert_eq!(format!("{tx:?}"), "Sender { state: ChannelState(EMPTY) }");
    assert_eq!(format!("{rx:?}"), "Receiver { state: ChannelState(EMPTY) }");
    tx.send(1).unwrap();
    assert_eq!(
        format!("{rx:?}"),
        "Receiver { state: ChannelState(COMPLETE | VALUE | TX_LEFT) }"
    );
    rx.try_recv().unwrap();
    assert_eq!(format!("{rx:?}"), "Receiver { terminated: true }");
    let (mut tx, _rx) = oneshot::channel::<u8>();
    assert!(format!("{:?}", tx.closed()).starts_with("Closed { sender: Sender"));

    assert_eq!(RecvError::default_for_test().to_string(), "channel closed");
    assert_eq!(TryRecvError::Empty.to_string(), "channel empty");
    assert_eq!(TryRecvError::Closed.to_string(), "channel closed");
    fn is_error<E: std::error::Error>() {}
    is_error::<RecvError>();
    is_error::<TryRecvError>();
}

#[test]
fn auto_traits_match_tokio() {
    fn send_sync_unpin<T: Send + Sync + Unpin>() {}
    send_sync_unpin::<Sender<u8>>();
    send_sync_unpin::<Receiver<u8>>();
    // `Send`/`Sync` need a `Send` value (a `Cell` is `Send`, not `Sync`: enough).
    send_sync_unpin::<Sender<std::cell::Cell<u8>>>();
    send_sync_unpin::<Receiver<std::cell::Cell<u8>>>();
    // `Unpin` whatever the value.
    fn unpin<T: Unpin>() {}
    unpin::<Receiver<std::marker::PhantomPinned>>();
    unpin::<Sender<std::marker::PhantomPinned>>();
}

#[test]
#[cfg_attr(miri, ignore = "tokio's multi-thread runtime is too slow under Miri")]
fn works_under_a_multi_thread_runtime() {
    // The runtime's `block_on` has no deadline: a lost wake-up fails here.
    let _watchdog = Watchdog::arm("works_under_a_multi_thread_runtime");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut replies = Vec::new();
        for i in 0..1_000u64 {
            let (tx, rx) = oneshot::channel();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                let _ = tx.send(i * 2);
            });
            replies.push(rx);
        }
        for (i, rx) in replies.into_iter().enumerate() {
            assert_eq!(rx.await, Ok(i as u64 * 2));
        }
    });
}

/// A waker whose wake panics, as a user's waker may.
struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("a user's waker panics");
    }
}

/// The receiver's waker panics while the sender wakes it: the send unwinds, but the
/// sender still leaves the channel, so the receiver takes the value and the last one out
/// drops the stored waker and gives the block back (nothing leaks).
#[test]
fn a_panicking_receiver_waker_does_not_strand_the_channel() {
    let wake = Arc::new(PanickingWaker);
    let waker = Waker::from(Arc::clone(&wake));
    let (tx, mut rx) = oneshot::channel::<u64>();
    assert!(poll_once(&mut rx, &waker).is_pending());
    drop(waker);
    let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tx.send(4)));
    assert!(sent.is_err(), "the waker's panic reaches the sender");
    assert_eq!(rx.try_recv(), Ok(4));
    assert_eq!(
        Arc::strong_count(&wake),
        1,
        "the channel's copy of the waker was dropped with the channel"
    );
}

/// The sender's `closed()` waker panics while the dropped receiver wakes it on its way
/// out: the drop unwinds, but the receiver still leaves the channel, so the sender sees
/// it closed and the last one out drops the stored waker (nothing leaks).
#[test]
fn a_panicking_closed_waker_does_not_strand_the_channel() {
    let wake = Arc::new(PanickingWaker);
    let waker = Waker::from(Arc::clone(&wake));
    let (mut tx, rx) = oneshot::channel::<u64>();
    assert!(
        tx.poll_closed(&mut std::task::Context::from_waker(&waker))
            .is_pending()
    );
    drop(waker);
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(rx)));
    assert!(
        dropped.is_err(),
        "the waker's panic reaches the receiver's drop"
    );
    assert!(tx.is_closed());
    assert_eq!(tx.send(5), Err(5));
    assert_eq!(
        Arc::strong_count(&wake),
        1,
        "the channel's copy of the waker was dropped with the channel"
    );
}
