//! Sizes of the public types, pinned so a change that grows them is seen.

use std::mem::size_of;

use valuetask::{
    Completer, LocalValueTask, PoolStats, ResetCore, SourcePool, Status, Token, ValueTask,
};

#[test]
fn value_task_fits_in_three_words() {
    // The same as `Either<Ready<u64>, Pin<Box<dyn Future>>>`, the anchor it replaces.
    assert!(size_of::<ValueTask<'_, u64>>() <= 24);
    assert_eq!(size_of::<ValueTask<'_, u64>>(), 24);
    assert_eq!(size_of::<ValueTask<'_, ()>>(), 24);
    assert_eq!(
        size_of::<ValueTask<'_, Result<u64, valuetask::Abandoned>>>(),
        24
    );
}

#[test]
fn local_value_task_is_a_value_task() {
    assert!(size_of::<LocalValueTask<'_, u64>>() <= 24);
    assert_eq!(
        size_of::<LocalValueTask<'_, u64>>(),
        size_of::<ValueTask<'_, u64>>()
    );
}

#[test]
fn option_of_value_task_needs_no_extra_word() {
    assert_eq!(size_of::<Option<ValueTask<'_, u64>>>(), 24);
}

#[test]
fn handles_are_one_word() {
    assert_eq!(size_of::<SourcePool<u64>>(), size_of::<usize>());
    assert_eq!(size_of::<Completer<u64>>(), size_of::<usize>());
    assert_eq!(size_of::<Option<Completer<u64>>>(), size_of::<usize>());
}

#[test]
fn oneshot_handles_are_one_word() {
    use valuetask::oneshot::{Receiver, Sender};
    // At most two words, so they move in registers; one pointer each today.
    assert!(size_of::<Sender<u64>>() <= 16);
    assert!(size_of::<Receiver<u64>>() <= 16);
    assert_eq!(size_of::<Sender<u64>>(), size_of::<usize>());
    assert_eq!(size_of::<Receiver<u64>>(), size_of::<usize>());
    // The same for a value beyond the largest block, which gets an allocation instead.
    assert_eq!(size_of::<Sender<[u8; 4096]>>(), size_of::<usize>());
    assert_eq!(size_of::<Receiver<[u8; 4096]>>(), size_of::<usize>());
}

#[test]
fn core_is_state_word_value_and_waker() {
    assert_eq!(size_of::<ResetCore<u64>>(), 8 + 8 + 16);
    assert_eq!(size_of::<Token>(), 4);
    assert_eq!(size_of::<Status>(), 1);
    assert!(size_of::<PoolStats>() <= 5 * size_of::<usize>());
}

#[test]
fn auto_traits() {
    fn send_unpin<T: Send + Unpin>() {}
    send_unpin::<ValueTask<'static, u64>>();
    // `Send` whatever the output, as `Pin<Box<dyn Future<Output = T> + Send>>` is.
    send_unpin::<ValueTask<'static, std::rc::Rc<u64>>>();
    unpin::<LocalValueTask<'static, std::rc::Rc<u64>>>();
    // Unpin whatever the output is: a ready value is moved out, never pinned.
    fn unpin<T: Unpin>() {}
    unpin::<ValueTask<'static, std::marker::PhantomPinned>>();
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SourcePool<String>>();
    send_sync::<ResetCore<String>>();
}
