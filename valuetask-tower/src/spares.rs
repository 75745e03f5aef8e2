//! Reused boxes for erased services: each thread keeps the empty boxes its dropped
//! handles leave behind, per service type, for the next handle it makes.
//!
//! An erased service lives behind a `Box` so that its type can be forgotten; tower's
//! `BoxCloneService` allocates a new one for every clone and frees it when the clone
//! goes. Here a handle that is dropped drops its service and parks the empty box on its
//! thread's shelf for that service type, and the next handle made on that thread (a
//! clone, or a new erased service of the same type) fills a parked box instead of
//! allocating one. A service cloned and dropped once per request (axum's routes,
//! `clone().oneshot(req)`) so reuses the same box for ever, with no lock and no atomic
//! operation: the shelves are thread-local.
//!
//! A thread keeps at most [`MAX_SPARES`] boxes per service type; more are freed. A box
//! dropped on another thread than the one that made it parks there. A thread's shelves
//! are freed when it exits.

use std::any::{Any, TypeId};
use std::cell::RefCell;

/// The most empty boxes a thread keeps per erased service type: as many handles of one
/// type as a thread had alive at once, up to this many, come back without allocating.
/// Each box is the size of the service it held (plus a flag, rounded to its alignment).
pub const MAX_SPARES: usize = 64;

/// The box that holds one handle's erased service.
pub(crate) struct Slot<S> {
    /// `Some` while a handle owns the slot, `None` while it waits on a shelf.
    service: Option<S>,
}

/// The parked boxes of one slot type.
struct Shelf {
    kind: TypeId,
    boxes: Vec<Box<dyn Any>>,
}

thread_local! {
    /// This thread's shelves, one per slot type that was parked here.
    static SHELVES: RefCell<Vec<Shelf>> = const { RefCell::new(Vec::new()) };
}

impl<S: 'static> Slot<S> {
    /// A box holding `service`: a parked one when this thread has one.
    pub(crate) fn new(service: S) -> Box<Self> {
        match Self::unpark() {
            Some(mut slot) => {
                slot.service = Some(service);
                slot
            }
            None => Box::new(Slot {
                service: Some(service),
            }),
        }
    }

    /// The service this box holds.
    pub(crate) fn service(&mut self) -> &mut S {
        self.service
            .as_mut()
            .expect("a slot holds its service until it is recycled")
    }

    /// A box holding a clone of this one's service.
    pub(crate) fn clone_slot(&self) -> Box<Self>
    where
        S: Clone,
    {
        let service = self
            .service
            .as_ref()
            .expect("a slot holds its service until it is recycled");
        Slot::new(service.clone())
    }

    /// Drops the service, then parks the empty box on this thread's shelf (or frees it,
    /// if the shelf is full or the thread is exiting).
    pub(crate) fn recycle(mut self: Box<Self>) {
        // The service's own drop runs before the shelves are borrowed: it may drop
        // erased services itself.
        self.service = None;
        let _ = SHELVES.try_with(|shelves| {
            let Ok(mut shelves) = shelves.try_borrow_mut() else {
                return;
            };
            let kind = TypeId::of::<Self>();
            let index = match shelves.iter().position(|shelf| shelf.kind == kind) {
                Some(index) => index,
                None => {
                    shelves.push(Shelf {
                        kind,
                        boxes: Vec::new(),
                    });
                    shelves.len() - 1
                }
            };
            let shelf = &mut shelves[index].boxes;
            if shelf.len() < MAX_SPARES {
                shelf.push(self);
            }
        });
    }

    /// An empty box of this type from this thread's shelf.
    fn unpark() -> Option<Box<Self>> {
        SHELVES
            .try_with(|shelves| {
                let mut shelves = shelves.try_borrow_mut().ok()?;
                let kind = TypeId::of::<Self>();
                let shelf = shelves.iter_mut().find(|shelf| shelf.kind == kind)?;
                let parked = shelf.boxes.pop()?;
                Some(
                    parked
                        .downcast()
                        .expect("a shelf holds boxes of its own type"),
                )
            })
            .ok()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type no other test parks, so the counts below are this test's own.
    fn parked<S: 'static>() -> usize {
        SHELVES.with(|shelves| {
            let kind = TypeId::of::<Slot<S>>();
            let shelves = shelves.borrow();
            shelves
                .iter()
                .find(|shelf| shelf.kind == kind)
                .map_or(0, |shelf| shelf.boxes.len())
        })
    }

    #[test]
    fn a_dropped_handle_parks_its_box_for_the_next() {
        struct Mine(u64);
        let first = Slot::new(Mine(7));
        let parked_at: *const Slot<Mine> = &*first;
        first.recycle();
        assert_eq!(parked::<Mine>(), 1);
        let mut second = Slot::new(Mine(8));
        assert_eq!(&*second as *const Slot<Mine>, parked_at);
        assert_eq!(second.service().0, 8);
        assert_eq!(parked::<Mine>(), 0);
    }

    #[test]
    fn a_thread_keeps_at_most_max_spares_per_type() {
        #[derive(Clone)]
        struct Mine(String);
        let first = Slot::new(Mine("service".into()));
        let mut clones: Vec<_> = (0..MAX_SPARES + 5).map(|_| first.clone_slot()).collect();
        assert!(
            clones
                .iter_mut()
                .all(|clone| clone.service().0 == "service")
        );
        clones.into_iter().for_each(Slot::recycle);
        assert_eq!(parked::<Mine>(), MAX_SPARES);
    }

    #[test]
    fn types_keep_separate_shelves() {
        struct Small;
        struct Large([u64; 8]);
        Slot::new(Small).recycle();
        Slot::new(Large([2; 8])).recycle();
        assert_eq!((parked::<Small>(), parked::<Large>()), (1, 1));
        assert_eq!(Slot::new(Large([3; 8])).service().0, [3; 8]);
        assert_eq!((parked::<Small>(), parked::<Large>()), (1, 0));
    }
}
