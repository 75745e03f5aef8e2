//! Helpers shared by the integration tests (`mod support;`); the examples and benches
//! include the files they need with `#[path]`.

#![allow(dead_code)]

pub(crate) mod counting_alloc;
pub(crate) mod poll;
pub(crate) mod waker;
