//! A pipelined Redis client built on [`valuetask`]: the kind of driver the crate is for.
//!
//! Many tasks share one TCP connection; replies come back in order, one per request.
//! Each request rents a slot from a [`valuetask::SourcePool`] and returns its
//! [`ValueTask`](valuetask::ValueTask); the caller encodes its command straight into the
//! connection's write buffer; a writer task sends everything queued with one write; a
//! reader task parses RESP2 from a reused buffer and completes the slots in order, bulk
//! replies being [`bytes::Bytes`] slices of that buffer. In steady state a request
//! allocates nothing (`redis-bench` counts it: see `docs/redis.md` in the repository).
//!
//! The per-request completion is a type parameter of [`Client`] (a [`Completion`]): the
//! default [`Pooled`] rents pool slots; [`TokioOneshot`] makes one tokio oneshot channel
//! per request, and is the baseline the pool is measured against, the client being the
//! same in every other line.
//!
//! Every unhappy path resolves: an error reply fails its own request only; a request
//! whose caller gave up still has its reply read and discarded, so nobody gets a
//! neighbour's reply; when the connection dies (the server closed it, died, or sent
//! bytes that are not RESP2) every request in flight and every later one fails at once.
//!
//! # Examples
//!
//! ```
//! use valuetask_redis::{Client, Value};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = valuetask_redis::RedisServer::start()?; // a throwaway redis-server
//! # let addr = server.addr();
//! # /*
//! let addr = "127.0.0.1:6379";
//! # */
//! let client = Client::connect(addr).await?;
//! client.set(b"key\r\n\0", "", None).await?; // keys and values are binary-safe
//! assert_eq!(client.get(b"key\r\n\0").await?.as_deref(), Some(&b""[..]));
//! assert_eq!(client.get("missing").await?, None);
//!
//! // Share the client with any number of tasks: each clone is the same connection.
//! let tasks: Vec<_> = (0..100)
//!     .map(|i| {
//!         let client = client.clone();
//!         tokio::spawn(async move { client.incr(format!("counter:{}", i % 10)).await })
//!     })
//!     .collect();
//! for task in tasks {
//!     task.await??;
//! }
//! assert_eq!(client.command(["EXISTS", "counter:0"]).await?, Value::Int(1));
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod client;
mod completion;
mod error;
pub mod resp;
#[cfg(feature = "test-server")]
mod server;

pub use bytes::Bytes;
pub use client::{Client, Request};
pub use completion::{
    Completion, OneshotRequest, Pooled, TokioOneshot, ValuetaskOneshot, ValuetaskOneshotRequest,
};
pub use error::{Error, ServerError};
pub use resp::Value;
#[cfg(feature = "test-server")]
pub use server::{INSTALL_HINT, RedisServer};

/// A request's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
