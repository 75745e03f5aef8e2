//! Reused boxes for the clones of one erased service.
//!
//! An erased service lives behind a `Box` so that its type can be forgotten; tower's
//! `BoxCloneService` allocates a new one for every clone and frees it when the clone
//! goes. Here every clone of one erased service shares a [`Spares`] list: a clone that
//! is dropped drops its service and parks its empty box on the list, and the next clone
//! fills a parked box instead of allocating one. A service cloned and dropped once per
//! request (axum's routes, `clone().oneshot(req)`) so reuses the same box for ever.
//!
//! The first clone makes the list (a service never cloned has none, and costs one box);
//! parking a box threads it onto the list through the box itself, so it allocates
//! nothing. The list holds at most [`MAX_SPARES`] boxes; more are freed. It lives as
//! long as some clone does; the last clone to go frees it, and every box on it.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The most empty boxes one erased service keeps for its future clones: as many clones
/// as were alive at once, up to this many, come back without allocating.
pub const MAX_SPARES: usize = 64;

/// The empty boxes of one erased service, shared by all its clones: a stack threaded
/// through the boxes themselves, so parking one allocates nothing.
pub(crate) struct Spares<S> {
    stack: Mutex<SpareStack<S>>,
}

struct SpareStack<S> {
    top: Option<Box<Slot<S>>>,
    len: usize,
}

/// The box that holds one clone of an erased service.
///
/// While a handle owns the slot, `service` is `Some` and `below` is `None`; while it
/// waits on the spare stack, `service` is `None`, `below` is the next box down, and
/// `spares` is empty: a parked box keeps no service alive and does not keep its own
/// list alive (which would be a cycle that is never freed).
pub(crate) struct Slot<S> {
    service: Option<S>,
    /// Made by the first clone: a service that is never cloned allocates no list.
    spares: OnceLock<Arc<Spares<S>>>,
    below: Option<Box<Slot<S>>>,
}

impl<S> Slot<S> {
    /// A box for the first handle of `service`.
    pub(crate) fn new(service: S) -> Box<Self> {
        Box::new(Slot {
            service: Some(service),
            spares: OnceLock::new(),
            below: None,
        })
    }

    /// The service this box holds.
    pub(crate) fn service(&mut self) -> &mut S {
        self.service
            .as_mut()
            .expect("a slot holds its service until it is recycled")
    }

    /// A box holding a clone of this one's service: a parked box when there is one.
    pub(crate) fn clone_slot(&self) -> Box<Self>
    where
        S: Clone,
    {
        let service = self
            .service
            .as_ref()
            .expect("a slot holds its service until it is recycled")
            .clone();
        let spares = self.spares.get_or_init(|| {
            Arc::new(Spares {
                stack: Mutex::new(SpareStack { top: None, len: 0 }),
            })
        });
        let parked = {
            let mut stack = spares.stack.lock().unwrap_or_else(PoisonError::into_inner);
            let mut parked = stack.top.take();
            if let Some(slot) = &mut parked {
                stack.top = slot.below.take();
                stack.len -= 1;
            }
            parked
        };
        let mut slot = parked.unwrap_or_else(|| {
            Box::new(Slot {
                service: None,
                spares: OnceLock::new(),
                below: None,
            })
        });
        slot.service = Some(service);
        slot.spares = OnceLock::from(Arc::clone(spares));
        slot
    }

    /// Drops the service and parks the empty box on the spare stack (or frees it, if the
    /// stack is full or the service was never cloned). The stack itself goes with the
    /// last handle.
    pub(crate) fn recycle(mut self: Box<Self>) {
        self.service = None;
        let Some(spares) = self.spares.take() else {
            return;
        };
        let mut stack = spares.stack.lock().unwrap_or_else(PoisonError::into_inner);
        if stack.len < MAX_SPARES {
            self.below = stack.top.take();
            stack.top = Some(self);
            stack.len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_clone_parks_its_box_for_the_next() {
        let first = Slot::new(7_u64);
        let second = first.clone_slot();
        let parked: *const Slot<u64> = &*second;
        second.recycle();
        let mut third = first.clone_slot();
        assert_eq!(&*third as *const Slot<u64>, parked);
        assert_eq!(*third.service(), 7);
    }

    #[test]
    fn the_list_keeps_at_most_max_spares() {
        let first = Slot::new(String::from("service"));
        let clones: Vec<_> = (0..MAX_SPARES + 5).map(|_| first.clone_slot()).collect();
        clones.into_iter().for_each(Slot::recycle);
        let spares = first.spares.get().expect("a cloned slot has its list");
        assert_eq!(spares.stack.lock().unwrap().len, MAX_SPARES);
    }

    #[test]
    fn a_service_never_cloned_has_no_list() {
        let only = Slot::new(1_u8);
        assert!(only.spares.get().is_none());
        only.recycle();
    }

    #[test]
    fn the_last_handle_frees_the_list() {
        let first = Slot::new(1_u8);
        first.clone_slot().recycle();
        let weak = Arc::downgrade(first.spares.get().expect("a cloned slot has its list"));
        first.recycle();
        assert!(weak.upgrade().is_none());
    }
}
