//! Helpers shared by the integration tests (`mod support;`). The examples include
//! `counting_alloc.rs` alone with `#[path]`, so that file carries its own allowance.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

pub(crate) mod counting_alloc;
pub(crate) mod poll;
pub(crate) mod waker;
