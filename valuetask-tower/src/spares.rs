//! Reused boxes for the clones of one erased service.
//!
//! An erased service lives behind a `Box` so that its type can be forgotten; tower's
//! `BoxCloneService` allocates a new one for every clone and frees it when the clone
//! goes. Here every clone of one erased service shares a [`Spares`] list: a clone that
//! is dropped drops its service and parks its empty box on the list, and the next clone
//! fills a parked box instead of allocating one. A service cloned and dropped once per
//! request (axum's routes, `clone().oneshot(req)`) so reuses the same box for ever.
//!
//! The list holds at most [`MAX_SPARES`] boxes; more are freed. It lives as long as
//! some clone does; the last clone to go frees it, and every box on it.

use std::sync::{Arc, Mutex, PoisonError};

/// The most empty boxes one erased service keeps for its future clones: as many clones
/// as were alive at once, up to this many, come back without allocating.
pub const MAX_SPARES: usize = 64;

/// The empty boxes of one erased service, shared by all its clones.
pub(crate) struct Spares<S> {
    boxes: Mutex<Vec<Box<Slot<S>>>>,
}

/// The box that holds one clone of an erased service.
///
/// Both fields are `Some` while a handle owns the slot and `None` while it waits on the
/// spare list: a parked box keeps no service alive and does not keep its own list alive
/// (which would be a cycle that is never freed).
pub(crate) struct Slot<S> {
    service: Option<S>,
    spares: Option<Arc<Spares<S>>>,
}

impl<S> Slot<S> {
    /// A box for the first handle of `service`, with a new, empty spare list.
    pub(crate) fn new(service: S) -> Box<Self> {
        let spares = Arc::new(Spares {
            boxes: Mutex::new(Vec::new()),
        });
        Box::new(Slot {
            service: Some(service),
            spares: Some(spares),
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
        let (Some(service), Some(spares)) = (&self.service, &self.spares) else {
            unreachable!("a slot holds its service until it is recycled")
        };
        let service = service.clone();
        let parked = spares
            .boxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match parked {
            Some(mut slot) => {
                slot.service = Some(service);
                slot.spares = Some(Arc::clone(spares));
                slot
            }
            None => Box::new(Slot {
                service: Some(service),
                spares: Some(Arc::clone(spares)),
            }),
        }
    }

    /// Drops the service and parks the empty box on the spare list (or frees it, if the
    /// list is full). The list itself goes with its last box's handle.
    pub(crate) fn recycle(mut self: Box<Self>) {
        self.service = None;
        let Some(spares) = self.spares.take() else {
            return;
        };
        let mut boxes = spares.boxes.lock().unwrap_or_else(PoisonError::into_inner);
        if boxes.len() < MAX_SPARES {
            boxes.push(self);
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
        let spares = first.spares.as_ref().expect("a live slot has its list");
        assert_eq!(spares.boxes.lock().unwrap().len(), MAX_SPARES);
    }

    #[test]
    fn the_last_handle_frees_the_list() {
        let first = Slot::new(1_u8);
        let weak = Arc::downgrade(first.spares.as_ref().expect("a live slot has its list"));
        first.clone_slot().recycle();
        first.recycle();
        assert!(weak.upgrade().is_none());
    }
}
