//! `Receiver::blocking_recv` on and off a tokio runtime's threads (the `tokio` feature,
//! on under `cargo test`): it panics where tokio's own `blocking_recv` panics, with
//! tokio's message, and waits everywhere else.
//!
//! Where it must panic the value is already sent, so a receiver that failed to refuse
//! would return it (and the test fail) instead of blocking the runtime for ever.
use std::any::Any;
use std::thread;

use tokio::runtime::{Builder, Runtime};
use valuetask::oneshot;

/// tokio's words, which name the runtime.
const REFUSAL: &str = "Cannot block the current thread from within a runtime";

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A receiver whose value is already there.
fn sent(value: u32) -> oneshot::Receiver<u32> {
    let (tx, rx) = oneshot::channel();
    tx.send(value).unwrap();
    rx
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast::<&'static str>()
            .map(|message| (*message).to_owned())
            .unwrap_or_default(),
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tokio runtimes with worker threads: too slow under Miri"
)]
#[should_panic(expected = "Cannot block the current thread from within a runtime")]
fn blocking_recv_panics_in_current_thread_block_on() {
    let rx = sent(1);
    let _ = current_thread().block_on(async move { rx.blocking_recv() });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tokio runtimes with worker threads: too slow under Miri"
)]
#[should_panic(expected = "Cannot block the current thread from within a runtime")]
fn blocking_recv_panics_in_multi_thread_block_on() {
    let rx = sent(1);
    let _ = multi_thread().block_on(async move { rx.blocking_recv() });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tokio runtimes with worker threads: too slow under Miri"
)]
fn blocking_recv_panics_in_a_task_on_a_worker_thread() {
    for runtime in [current_thread(), multi_thread()] {
        let rx = sent(1);
        let joined = runtime.block_on(runtime.spawn(async move { rx.blocking_recv() }));
        let error = joined.expect_err("blocking_recv returned on a worker thread");
        assert!(error.is_panic());
        let message = panic_message(error.into_panic());
        assert!(message.contains(REFUSAL), "the panic said: {message}");
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tokio runtimes with worker threads: too slow under Miri"
)]
fn blocking_recv_works_in_spawn_blocking() {
    for runtime in [current_thread(), multi_thread()] {
        let (tx, rx) = oneshot::channel::<u32>();
        let received = runtime.block_on(async move {
            let receiver = tokio::task::spawn_blocking(move || rx.blocking_recv());
            tokio::spawn(async move { tx.send(7).unwrap() });
            receiver.await.unwrap()
        });
        assert_eq!(received, Ok(7));
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tokio runtimes with worker threads: too slow under Miri"
)]
fn blocking_recv_works_in_block_in_place() {
    let runtime = multi_thread();
    let received = runtime.block_on(
        runtime.spawn(async move { tokio::task::block_in_place(|| sent(3).blocking_recv()) }),
    );
    assert_eq!(received.unwrap(), Ok(3));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tokio runtimes with worker threads: too slow under Miri"
)]
fn blocking_recv_works_on_a_plain_thread_sent_from_a_task() {
    let runtime = multi_thread();
    let (tx, rx) = oneshot::channel::<u32>();
    let receiver = thread::spawn(move || rx.blocking_recv());
    runtime.block_on(async move { tx.send(9).unwrap() });
    assert_eq!(receiver.join().unwrap(), Ok(9));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tokio runtimes with worker threads: too slow under Miri"
)]
fn blocking_recv_works_under_a_runtime_handle_entered_outside_block_on() {
    let runtime = current_thread();
    let _entered = runtime.enter();
    assert_eq!(sent(5).blocking_recv(), Ok(5));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tokio runtimes with worker threads: too slow under Miri"
)]
fn a_refused_receiver_is_dropped_and_the_sender_is_told() {
    let (tx, rx) = oneshot::channel::<u32>();
    let refused =
        thread::spawn(move || current_thread().block_on(async move { rx.blocking_recv() })).join();
    assert!(refused.is_err());
    assert_eq!(tx.send(4), Err(4));
}
