//! Every departure path of a future pool block, on two threads, each followed at once by
//! a new pooled future of the same size class on both threads: a holder that touched
//! its block after handing it on would touch memory another future now uses. Small
//! enough for Miri's data-race checker over several seeds
//! (`MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-many-seeds=0..4" cargo +nightly miri
//! test --test departure_future_pool`) and for ThreadSanitizer.
//!
//! The paths, as the table at the head of the block's file names them: a task finished
//! or dropped on its home thread (into the thread's cache), on another thread (into the
//! home's inbox), and after its home thread exited (to the shared stack, or to the new
//! thread that adopted the exited thread's inbox: an address reused).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

use valuetask::ValueTask;

mod support;

use support::poll::{block_on_deadline, poll_noop, yield_once};

/// Rounds per test.
const ROUNDS: usize = if cfg!(miri) { 3 } else { 1_000 };

/// Counts its drops: every future is dropped exactly once.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A pooled task that owns a [`Counted`] and suspends once before returning `value`.
fn suspended_task(value: u64, drops: &Arc<AtomicUsize>) -> ValueTask<'static, u64> {
    let counted = Counted(Arc::clone(drops));
    let mut task = ValueTask::from_future(async move {
        yield_once().await;
        let _counted = counted;
        value
    });
    assert!(poll_noop(&mut task).is_pending());
    task
}

/// Reuses the memory a holder just gave back: a new pooled future of the same size
/// class, suspended once and awaited, which writes and reads its whole block.
fn reuse_block() {
    let drops = Arc::new(AtomicUsize::new(0));
    assert_eq!(block_on_deadline(suspended_task(5, &drops)), 5);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// A task made here and finished on another thread, while this thread takes new
/// blocks: the finisher pushes the block to this thread's inbox, and this thread's next
/// rent may collect it at once.
#[test]
fn finished_on_another_thread_while_home_rents() {
    for round in 0..ROUNDS {
        let drops = Arc::new(AtomicUsize::new(0));
        let task = suspended_task(round as u64, &drops);
        let finisher = thread::spawn(move || {
            let output = block_on_deadline(task);
            reuse_block();
            output
        });
        reuse_block();
        assert_eq!(finisher.join().unwrap(), round as u64);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}

/// A task made here and dropped unfinished on another thread (`discard`), while this
/// thread takes new blocks.
#[test]
fn dropped_on_another_thread_while_home_rents() {
    for _ in 0..ROUNDS {
        let drops = Arc::new(AtomicUsize::new(0));
        let task = suspended_task(1, &drops);
        let dropper = thread::spawn(move || {
            drop(task);
            reuse_block();
        });
        reuse_block();
        dropper.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}

/// Two tasks of one home, finished on two other threads at once: two pushes race on
/// the home's inbox while the home collects it.
#[test]
fn two_foreign_frees_race_the_home_collecting() {
    for _ in 0..ROUNDS {
        let drops = Arc::new(AtomicUsize::new(0));
        let first = suspended_task(1, &drops);
        let second = suspended_task(2, &drops);
        let finishers = [first, second].map(|task| {
            thread::spawn(move || {
                let output = block_on_deadline(task);
                reuse_block();
                output
            })
        });
        reuse_block();
        let outputs = finishers.map(|finisher| finisher.join().unwrap());
        assert_eq!(outputs, [1, 2]);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }
}

/// Tasks whose home thread exited, freed while a new thread (which may adopt the exited
/// thread's inbox, at the same address) rents and frees blocks of its own: the blocks
/// reach the shared stack or the inbox's new owner, and are only ever free blocks
/// there.
#[test]
fn freed_after_the_home_thread_exited_while_a_new_thread_rents() {
    for _ in 0..ROUNDS {
        let drops = Arc::new(AtomicUsize::new(0));
        let tasks = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || [suspended_task(1, &drops), suspended_task(2, &drops)])
                .join()
                .unwrap()
        };
        let newcomer = thread::spawn(|| {
            reuse_block();
            reuse_block();
        });
        let [finished, dropped] = tasks;
        assert_eq!(block_on_deadline(finished), 1);
        drop(dropped);
        reuse_block();
        newcomer.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }
}

/// A oneshot channel's block (rented from the same size classes), whose halves both
/// finish on threads other than its home, while the home rents pooled futures.
#[test]
fn a_channel_block_finished_away_from_home() {
    for _ in 0..ROUNDS {
        let (tx, rx) = valuetask::oneshot::channel::<u64>();
        let sender = thread::spawn(move || {
            tx.send(3).unwrap();
            reuse_block();
        });
        let receiver = thread::spawn(move || {
            assert_eq!(block_on_deadline(rx), Ok(3));
            reuse_block();
        });
        reuse_block();
        sender.join().unwrap();
        receiver.join().unwrap();
    }
}

/// Many channels made on this thread and finished on two long-lived threads, with no
/// thread spawned between them: the sender's and the receiver's blocks come back to this
/// thread's inbox from afar while it rents again at once, far more often than one
/// channel per pair of new threads exercises it. A block rented twice or a wake lost on
/// that path shows as a wrong value, a drop counted twice, or a receiver never woken.
#[test]
fn channel_blocks_come_home_while_the_home_rents_on_long_lived_threads() {
    const CHANNELS: usize = if cfg!(miri) { 6 } else { 20_000 };
    let (to_sender, senders) = mpsc::channel::<valuetask::oneshot::Sender<u64>>();
    let (to_receiver, receivers) = mpsc::channel::<valuetask::oneshot::Receiver<u64>>();
    let sender = thread::spawn(move || {
        for (value, tx) in senders.into_iter().enumerate() {
            tx.send(value as u64).unwrap();
            reuse_block();
        }
    });
    let receiver = thread::spawn(move || {
        for (value, rx) in receivers.into_iter().enumerate() {
            assert_eq!(block_on_deadline(rx), Ok(value as u64));
            reuse_block();
        }
    });
    for _ in 0..CHANNELS {
        let (tx, rx) = valuetask::oneshot::channel::<u64>();
        to_receiver.send(rx).unwrap();
        to_sender.send(tx).unwrap();
        reuse_block();
    }
    drop((to_sender, to_receiver));
    sender.join().unwrap();
    receiver.join().unwrap();
}
