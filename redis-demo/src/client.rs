//! The client: a shared write buffer and FIFO of completers, a writer task and a reader task.

use std::collections::VecDeque;
use std::fmt;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::Result;
use crate::completion::{Completion, Pooled};
use crate::error::{Error, ServerError};
use crate::resp::{self, Value};

/// A request in flight: await it for its reply. Dropping it gives up on the reply, which
/// is still read off the connection and discarded.
///
/// With the default [`Pooled`] completion this is a
/// [`ValueTask`](valuetask::ValueTask)`<'static, Result<T>>`.
pub type Request<T, M = Pooled> = <M as Completion>::Request<T>;

/// Bytes of write buffer kept between writes; a larger one (after a huge request) is
/// given back.
const WRITE_BUF_KEEP: usize = 4 * 1024 * 1024;
/// Initial write buffer capacity (each of the two that the writer swaps).
const WRITE_BUF_INITIAL: usize = 16 * 1024;
/// The size of a read chunk (larger only for a reply that does not fit). Replies handed
/// out as `Bytes` pin the chunk they were read into until they are dropped; see
/// `make_room` for how chunks are reused.
const READ_CHUNK: usize = 64 * 1024;
/// Below this much free room the reader finds another chunk before reading.
const READ_MIN_ROOM: usize = 4 * 1024;
/// Full read chunks kept while replies handed out from them may still be held, for reuse
/// once they are not.
const SPARE_CHUNKS: usize = 4;
/// How many times the writer lets other tasks run before a write while they keep queueing
/// requests (see `write_loop`).
const MAX_WRITER_YIELDS: usize = 8;
/// Initial capacity of the completer FIFO and of the pools.
const INITIAL_IN_FLIGHT: usize = 256;

/// A pipelined Redis client: one TCP connection shared by any number of tasks.
///
/// Each command is encoded by the caller straight into the connection's write buffer,
/// with its request's completer (by default a slot rented from a
/// [`SourcePool`](valuetask::SourcePool); see [`Completion`]) queued under the same lock,
/// so the queue's order is the order of the bytes. A writer task sends everything queued
/// since its last write with one `write_all`; a reader task parses replies from a reused
/// buffer and completes the queued completers in order. In steady state a request
/// allocates nothing: no box, no channel, no argument vector, and a bulk reply is a
/// [`Bytes`] slice of the read buffer. (A reply kept pins its 64 KiB read chunk, and the
/// reader allocates a fresh chunk only when every recent one is pinned: copy out what you
/// keep for long.)
///
/// There is no timeout and no backpressure: wrap a request in `tokio::time::timeout` to
/// give up on it (its reply is still read and discarded), and bound the number of
/// requests in flight yourself (a semaphore) if the server may fall behind.
///
/// Commands return a [`Request`] (by default a [`ValueTask`](valuetask::ValueTask))
/// without awaiting anything: the command is queued when the method returns, so requests
/// issued one after another are pipelined even before they are awaited.
///
/// `Client` is a cheap handle (`Clone`). Requests completed by a [`Completion`] other than
/// the default [`Pooled`] are made with [`connect_with`](Client::connect_with).
///
/// # Dropping the last handle
///
/// The connection closes at once, without waiting for replies. A request whose reply
/// the reader has already read resolves with that reply (`Ok`, or its own error), even
/// when it is awaited after the drop; every other request in flight resolves to
/// [`Error::Closed`]. So a request issued just before the drop may resolve either way,
/// depending on whether its reply came back first. A request that failed with
/// [`Error::Closed`] may still have been executed by the server (it was sent, its reply
/// was not read yet) or not (it was still in the write buffer, which is discarded).
/// Await the requests whose effect you need before dropping the last handle.
///
/// # When the connection dies
///
/// A `Client` does not reconnect. Once its connection is gone (the server closed it or
/// died, the network failed, the server sent bytes that are not RESP2), every request in
/// flight and every later one fails with an error whose
/// [`is_connection_error`](Error::is_connection_error) is true, and
/// [`is_closed`](Client::is_closed) returns true. The requests in flight at that moment
/// may or may not have been executed, and only the caller knows whether running one again
/// is safe (a `GET` is; an `INCR` may count twice), so retrying is left to the caller. To
/// carry on, connect a new `Client` and use it in place of the old one, for example:
///
/// ```
/// use std::net::SocketAddr;
/// use valuetask_redis::{Client, Result};
///
/// /// A client shared by many tasks that replaces its connection once it died.
/// struct Reconnecting {
///     addr: SocketAddr,
///     client: tokio::sync::Mutex<Client>,
/// }
///
/// impl Reconnecting {
///     /// The current client; a new connection if the last one died.
///     async fn client(&self) -> Result<Client> {
///         let mut client = self.client.lock().await;
///         if client.is_closed() {
///             *client = Client::connect(self.addr).await?;
///         }
///         Ok(client.clone())
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = valuetask_redis::RedisServer::start()?; // a throwaway redis-server
/// # let addr = server.addr();
/// # /*
/// let addr: SocketAddr = "127.0.0.1:6379".parse()?;
/// # */
/// let shared = Reconnecting { addr, client: Client::connect(addr).await?.into() };
/// // Each call goes through the current connection (cloning a `Client` allocates nothing).
/// shared.client().await?.set("k", "v", None).await?;
/// assert_eq!(shared.client().await?.get("k").await?.as_deref(), Some(&b"v"[..]));
/// # Ok(()) }
/// ```
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use valuetask_redis::Client;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::connect("127.0.0.1:6379").await?;
/// client.set("greeting", "hello", Some(Duration::from_secs(60))).await?;
/// // Two requests in flight at once, on one connection:
/// let (a, b) = (client.get("greeting"), client.incr("visits"));
/// assert_eq!(a.await?.as_deref(), Some(&b"hello"[..]));
/// println!("visit number {}", b.await?);
/// # Ok(()) }
/// ```
pub struct Client<M: Completion = Pooled> {
    handle: Arc<Handle<M>>,
}

impl<M: Completion> Clone for Client<M> {
    fn clone(&self) -> Self {
        Client {
            handle: Arc::clone(&self.handle),
        }
    }
}

/// What the `Client` handles share; dropping it closes the connection.
struct Handle<M: Completion> {
    shared: Arc<Shared<M>>,
    completion: M,
    values: M::Source<Value>,
    bulks: M::Source<Option<Bytes>>,
    ints: M::Source<i64>,
    units: M::Source<()>,
}

/// What the handle and the two connection tasks share.
struct Shared<M: Completion> {
    state: Mutex<State<M>>,
    /// Wakes the writer: something was queued, or the connection closed.
    wake_writer: Notify,
    /// Stops the reader (blocked in a read) when the connection closes.
    reader: OnceLock<AbortHandle>,
}

struct State<M: Completion> {
    /// Encoded commands not yet taken by the writer.
    out: Vec<u8>,
    /// One completer per command queued or written and not yet answered, in order.
    pending: VecDeque<Pending<M>>,
    /// Set once, when the connection closes: every later request fails with it.
    closed: Option<Error>,
}

/// A completer waiting for its reply, with what its command expects.
enum Pending<M: Completion> {
    /// Any reply (the generic command).
    Value(M::Completer<Value>),
    /// A bulk string or nil (`GET`).
    Bulk(M::Completer<Option<Bytes>>),
    /// An integer (`DEL`, `INCR`).
    Int(M::Completer<i64>),
    /// This simple string (`+OK` for `SET`, `+PONG` for `PING`).
    Status(M::Completer<()>, &'static [u8]),
}

impl<M: Completion> Pending<M> {
    /// Completes the request with its reply. A caller who gave up gets nothing; the reply
    /// is dropped.
    fn resolve(self, reply: Value) {
        let error = |reply: Value| match reply {
            Value::Error(message) => Error::Server(ServerError(message)),
            other => Error::UnexpectedReply(other),
        };
        match self {
            Pending::Value(c) => M::complete(
                c,
                match reply {
                    Value::Error(message) => Err(Error::Server(ServerError(message))),
                    other => Ok(other),
                },
            ),
            Pending::Bulk(c) => M::complete(
                c,
                match reply {
                    Value::Bulk(data) => Ok(Some(data)),
                    Value::Nil => Ok(None),
                    other => Err(error(other)),
                },
            ),
            Pending::Int(c) => M::complete(
                c,
                match reply {
                    Value::Int(n) => Ok(n),
                    other => Err(error(other)),
                },
            ),
            Pending::Status(c, expected) => M::complete(
                c,
                match reply {
                    Value::Simple(s) if s == expected => Ok(()),
                    other => Err(error(other)),
                },
            ),
        }
    }

    fn fail(self, error: Error) {
        match self {
            Pending::Value(c) => M::complete(c, Err(error)),
            Pending::Bulk(c) => M::complete(c, Err(error)),
            Pending::Int(c) => M::complete(c, Err(error)),
            Pending::Status(c, _) => M::complete(c, Err(error)),
        }
    }
}

impl Client {
    /// Connects to a Redis server (RESP2, no authentication) and starts the connection's
    /// writer and reader tasks on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the connection cannot be made.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<Client> {
        Client::connect_with(addr, Pooled).await
    }

    /// Wraps a connected stream (see [`connect`](Self::connect)).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn from_stream(stream: TcpStream) -> Client {
        Client::from_stream_with(stream, Pooled)
    }
}

impl<M: Completion> Client<M> {
    /// [`connect`](Client::connect), with requests completed by `completion` instead of
    /// pooled slots.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the connection cannot be made.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn connect_with(addr: impl ToSocketAddrs, completion: M) -> Result<Client<M>> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Client::from_stream_with(stream, completion))
    }

    /// [`from_stream`](Client::from_stream), with requests completed by `completion`.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn from_stream_with(stream: TcpStream, completion: M) -> Client<M> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                out: Vec::with_capacity(WRITE_BUF_INITIAL),
                pending: VecDeque::with_capacity(INITIAL_IN_FLIGHT),
                closed: None,
            }),
            wake_writer: Notify::new(),
            reader: OnceLock::new(),
        });
        let (reader, writer) = stream.into_split();
        let reader = tokio::spawn(read_loop(Arc::clone(&shared), reader));
        let _ = shared.reader.set(reader.abort_handle());
        tokio::spawn(write_loop(Arc::clone(&shared), writer));
        Client {
            handle: Arc::new(Handle {
                shared,
                values: completion.source(16),
                bulks: completion.source(INITIAL_IN_FLIGHT),
                ints: completion.source(INITIAL_IN_FLIGHT),
                units: completion.source(INITIAL_IN_FLIGHT),
                completion,
            }),
        }
    }

    /// `GET key`: the value, or `None` when the key does not exist.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Request<Option<Bytes>, M> {
        self.submit(&self.handle.bulks, Pending::Bulk, |out| {
            resp::encode_slices(out, &[b"GET", key.as_ref()]);
            Ok(())
        })
    }

    /// `SET key value`, with `PX milliseconds` when `expiry` is given (rounded up to
    /// whole milliseconds; a zero expiry is refused by the server).
    pub fn set(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        expiry: Option<Duration>,
    ) -> Request<(), M> {
        let status = |c| Pending::Status(c, b"OK");
        self.submit(&self.handle.units, status, |out| {
            let (key, value) = (key.as_ref(), value.as_ref());
            match expiry {
                None => resp::encode_slices(out, &[b"SET", key, value]),
                Some(ttl) => {
                    let ms = ttl.as_nanos().div_ceil(1_000_000);
                    let (digits, at) = resp::decimal(u64::try_from(ms).unwrap_or(u64::MAX));
                    resp::encode_slices(out, &[b"SET", key, value, b"PX", &digits[at..]]);
                }
            }
            Ok(())
        })
    }

    /// `DEL key`: how many keys were removed (0 or 1).
    pub fn del(&self, key: impl AsRef<[u8]>) -> Request<i64, M> {
        self.submit(&self.handle.ints, Pending::Int, |out| {
            resp::encode_slices(out, &[b"DEL", key.as_ref()]);
            Ok(())
        })
    }

    /// `INCR key`: the value after the increment.
    pub fn incr(&self, key: impl AsRef<[u8]>) -> Request<i64, M> {
        self.submit(&self.handle.ints, Pending::Int, |out| {
            resp::encode_slices(out, &[b"INCR", key.as_ref()]);
            Ok(())
        })
    }

    /// `PING`: `Ok(())` when the server answered `PONG`.
    pub fn ping(&self) -> Request<(), M> {
        let status = |c| Pending::Status(c, b"PONG");
        self.submit(&self.handle.units, status, |out| {
            resp::encode_slices(out, &[b"PING"]);
            Ok(())
        })
    }

    /// Any command, given as its name and arguments (each binary-safe): the reply as a
    /// [`Value`], or `Err(Error::Server)` for an error reply.
    ///
    /// Commands that change the connection's protocol (`SUBSCRIBE`, `MONITOR`, `HELLO 3`)
    /// or block it are not supported: replies must come one per command, in order.
    /// `QUIT` works: the server answers and closes, and later requests fail.
    ///
    /// ```no_run
    /// # async fn f(client: valuetask_redis::Client) -> Result<(), valuetask_redis::Error> {
    /// use valuetask_redis::Value;
    /// let reply = client.command(["LPUSH", "list", "a", "b"]).await?;
    /// assert_eq!(reply, Value::Int(2));
    /// # Ok(()) }
    /// ```
    pub fn command<I, A>(&self, args: I) -> Request<Value, M>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: ExactSizeIterator,
        A: AsRef<[u8]>,
    {
        self.submit(&self.handle.values, Pending::Value, |out| {
            resp::encode(out, args).map_err(Error::InvalidCommand)
        })
    }

    /// Whether the connection is closed: every request would fail at once.
    pub fn is_closed(&self) -> bool {
        self.handle.shared.lock().closed.is_some()
    }

    /// Queues one command: issues a request, encodes the command into the write buffer
    /// and queues the request's completer, the last two under one lock so that the order
    /// of the queue is the order of the bytes.
    fn submit<T: Send + 'static>(
        &self,
        source: &M::Source<T>,
        pending: impl FnOnce(M::Completer<T>) -> Pending<M>,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Request<T, M> {
        let shared = &*self.handle.shared;
        let (request, completer) = self.handle.completion.issue(source);
        let mut state = shared.lock();
        let refused = match &state.closed {
            Some(error) => error.clone(),
            None => {
                let was_empty = state.out.is_empty();
                match encode(&mut state.out) {
                    Ok(()) => {
                        state.pending.push_back(pending(completer));
                        drop(state);
                        // The writer takes the whole buffer at once: only the request
                        // that found it empty needs to wake it.
                        if was_empty {
                            shared.wake_writer.notify_one();
                        }
                        return request;
                    }
                    Err(error) => error,
                }
            }
        };
        drop(state);
        M::complete(completer, Err(refused));
        request
    }
}

impl<M: Completion> fmt::Debug for Client<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.handle.shared.lock();
        f.debug_struct("Client")
            .field("in_flight", &state.pending.len())
            .field("unsent_bytes", &state.out.len())
            .field("closed", &state.closed)
            .finish()
    }
}

impl<M: Completion> Drop for Handle<M> {
    fn drop(&mut self) {
        self.shared.close(Error::Closed);
    }
}

impl<M: Completion> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // Nothing panics while holding the lock; if something did, the state is still
        // consistent (every step leaves it so), so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the connection once: fails every pending request with `error` (or the
    /// error it closed with first) and stops both tasks.
    fn close(&self, error: Error) {
        let (pending, error) = {
            let mut state = self.lock();
            let error = state.closed.get_or_insert(error).clone();
            state.out = Vec::new();
            (mem::take(&mut state.pending), error)
        };
        for p in pending {
            p.fail(error.clone());
        }
        self.wake_writer.notify_one();
        if let Some(reader) = self.reader.get() {
            reader.abort();
        }
    }
}

/// Closes the connection when a connection task ends, however it ends (returning,
/// panicking, or being dropped by a runtime that shuts down): no request is left waiting.
struct CloseOnExit<M: Completion>(Arc<Shared<M>>);

impl<M: Completion> Drop for CloseOnExit<M> {
    fn drop(&mut self) {
        self.0.close(Error::Closed);
    }
}

/// Sends whatever callers queued, one `write_all` per wake-up, swapping the shared buffer
/// with a spare one so that callers keep encoding while it writes.
async fn write_loop<M: Completion>(shared: Arc<Shared<M>>, mut writer: OwnedWriteHalf) {
    let guard = CloseOnExit(shared);
    let shared = &*guard.0;
    let mut batch = Vec::with_capacity(WRITE_BUF_INITIAL);
    'run: loop {
        shared.wake_writer.notified().await;
        // While other requests are in flight, other callers are active: let the tasks
        // that are ready to run queue their requests into this write first, and again as
        // long as they keep adding some (tasks on the other worker thread finish later).
        // A woken task runs next on tokio, through its LIFO slot, so without yielding the
        // writer would send about one request per write. A lone caller does not wait.
        let mut seen = 0;
        for _ in 0..MAX_WRITER_YIELDS {
            {
                let state = shared.lock();
                if state.closed.is_some() {
                    break 'run;
                }
                if state.pending.len() <= 1 || state.out.len() == seen {
                    break;
                }
                seen = state.out.len();
            }
            tokio::task::yield_now().await;
        }
        {
            let mut state = shared.lock();
            if state.closed.is_some() {
                break 'run;
            }
            mem::swap(&mut state.out, &mut batch);
        }
        if batch.is_empty() {
            continue;
        }
        if let Err(e) = writer.write_all(&batch).await {
            shared.close(Error::Io(Arc::new(e)));
            break;
        }
        batch.clear();
        if batch.capacity() > WRITE_BUF_KEEP {
            batch = Vec::with_capacity(WRITE_BUF_INITIAL);
        }
    }
}

/// Reads replies into a reused buffer and completes the pending requests in order, one
/// lock per batch of replies.
async fn read_loop<M: Completion>(shared: Arc<Shared<M>>, mut reader: OwnedReadHalf) {
    let guard = CloseOnExit(shared);
    let shared = &*guard.0;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut replies: Vec<Value> = Vec::with_capacity(INITIAL_IN_FLIGHT);
    let mut waiters: Vec<Pending<M>> = Vec::with_capacity(INITIAL_IN_FLIGHT);
    let mut spares: VecDeque<BytesMut> = VecDeque::with_capacity(SPARE_CHUNKS);
    let error = loop {
        // Take every complete reply off the buffer.
        let mut malformed = None;
        loop {
            match resp::frame_len(&buf) {
                Ok(Some(_)) => match resp::decode(&mut buf) {
                    Ok(reply) => replies.push(reply),
                    Err(e) => {
                        malformed = Some(e);
                        break;
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    malformed = Some(e);
                    break;
                }
            }
        }
        // Match them with their requests, in order, under one lock; complete outside it.
        if !replies.is_empty() {
            {
                let mut state = shared.lock();
                if state.closed.is_some() {
                    break Error::Closed;
                }
                let n = replies.len().min(state.pending.len());
                waiters.extend(state.pending.drain(..n));
            }
            let unrequested = replies.len() > waiters.len();
            for (reply, waiter) in replies.drain(..waiters.len()).zip(waiters.drain(..)) {
                waiter.resolve(reply);
            }
            if unrequested {
                break Error::Protocol(resp::ProtocolError::UNREQUESTED);
            }
        }
        if let Some(e) = malformed {
            break Error::Protocol(e);
        }
        make_room(&mut buf, &mut spares);
        match reader.read_buf(&mut buf).await {
            Ok(0) => break Error::Closed,
            Ok(_) => {}
            Err(e) => break Error::Io(Arc::new(e)),
        }
    };
    shared.close(error);
}

/// Makes room in the read buffer before a read, without allocating whenever it can.
///
/// Replies handed out as `Bytes` share the chunk they were read into, so a chunk can be
/// reused only once every such reply was dropped. In order: the current chunk itself
/// (what is left of an incomplete reply moves to its start); else a retired chunk that
/// nobody holds any more; else a new chunk. A full chunk is retired to a short list,
/// where it waits for its replies to be dropped. When a reply is still incomplete, the
/// next chunk is at least twice what is buffered, so a huge reply is copied and
/// re-scanned a logarithmic number of times.
fn make_room(buf: &mut BytesMut, spares: &mut VecDeque<BytesMut>) {
    if buf.capacity() - buf.len() >= READ_MIN_ROOM {
        return;
    }
    if buf.len() <= READ_CHUNK / 4 && buf.try_reclaim(READ_CHUNK / 2) {
        return;
    }
    let need = READ_CHUNK.max(buf.len() * 2);
    let mut next = match spares.iter_mut().position(|spare| spare.try_reclaim(need)) {
        Some(i) => spares.remove(i).unwrap_or_default(),
        None => BytesMut::with_capacity(need),
    };
    next.extend_from_slice(buf);
    let mut full = mem::replace(buf, next);
    if need > READ_CHUNK {
        // Growing for a huge reply: the outgrown chunk is not worth keeping.
        return;
    }
    full.clear();
    if spares.len() == SPARE_CHUNKS {
        spares.pop_front();
    }
    spares.push_back(full);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills what is left of `buf`'s chunk, keeping `tail` unparsed at the end; returns
    /// the filled part as a reply a caller holds.
    fn fill(buf: &mut BytesMut, tail: &[u8]) -> Bytes {
        let room = buf.capacity() - buf.len();
        buf.resize(buf.len() + room - tail.len(), b'x');
        let held = buf.split().freeze();
        buf.extend_from_slice(tail);
        held
    }

    #[test]
    fn make_room_reuses_a_chunk_once_its_replies_are_dropped() {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut spares = VecDeque::with_capacity(SPARE_CHUNKS);

        let first = fill(&mut buf, b"$5\r\nab");
        let first_chunk = first.as_ptr();
        make_room(&mut buf, &mut spares);
        assert_eq!(&buf[..], b"$5\r\nab", "the incomplete reply moves along");
        assert_eq!(spares.len(), 1, "the held chunk is retired, not reused");
        assert!(buf.capacity() >= READ_CHUNK);

        drop(first);
        let second = fill(&mut buf, b"+O");
        make_room(&mut buf, &mut spares);
        assert_eq!(buf.as_ptr(), first_chunk, "the retired chunk is reused");
        assert_eq!(&buf[..], b"+O");
        assert_eq!(spares.len(), 1);

        drop(second);
        let _ = fill(&mut buf, b"");
        buf.clear();
        // Nothing holds the current chunk: it is reclaimed in place.
        make_room(&mut buf, &mut spares);
        assert_eq!(buf.as_ptr(), first_chunk);
        assert!(buf.capacity() >= READ_CHUNK / 2);
    }

    #[test]
    fn make_room_grows_for_a_huge_reply() {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut spares = VecDeque::with_capacity(SPARE_CHUNKS);
        let header = b"$1000000\r\n";
        buf.extend_from_slice(header);
        buf.resize(buf.capacity() - 100, b'z');
        let len = buf.len();
        make_room(&mut buf, &mut spares);
        assert_eq!(buf.len(), len);
        assert_eq!(&buf[..header.len()], header);
        assert!(buf.capacity() >= 2 * len);
        assert!(spares.is_empty(), "an outgrown chunk is dropped");
    }
}
