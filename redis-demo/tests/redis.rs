//! Tests against a real redis-server (each test starts its own on a free loopback port)
//! and against fake servers that misbehave. Without redis-server on PATH they fail with
//! a message saying how to install it; they never pass by skipping.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use valuetask_redis::{
    Bytes, Client, Completion, Error, Pooled, RedisServer, TokioOneshot, Value, ValuetaskOneshot,
};

/// Generous: a hang detector, not a timing assertion.
const HANG: Duration = Duration::from_secs(30);

fn redis() -> RedisServer {
    RedisServer::start().unwrap_or_else(|e| panic!("{e}"))
}

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(HANG, f)
        .await
        .unwrap_or_else(|_| panic!("hang: {what} did not finish within {HANG:?}"))
}

async fn connect(server: &RedisServer) -> Client {
    within("connect", Client::connect(server.addr()))
        .await
        .expect("connect to redis-server")
}

fn server_code(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::Server(e)) => String::from_utf8_lossy(e.code()).into_owned(),
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands() {
    commands_with(Pooled).await;
}

/// The same client with another completion mechanism behaves the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_with_tokio_oneshot() {
    commands_with(TokioOneshot).await;
}

/// And with `valuetask::oneshot` in place of tokio's channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_with_valuetask_oneshot() {
    commands_with(ValuetaskOneshot).await;
}

async fn commands_with<M: Completion>(completion: M) {
    let server = redis();
    let c = within("connect", Client::connect_with(server.addr(), completion))
        .await
        .expect("connect to redis-server");
    within("commands", async {
        c.ping().await.unwrap();
        assert_eq!(
            c.get("missing").await.unwrap(),
            None,
            "nil reply is Ok(None)"
        );
        c.set("k", "v1", None).await.unwrap();
        assert_eq!(c.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
        assert_eq!(c.incr("n").await.unwrap(), 1);
        assert_eq!(c.incr("n").await.unwrap(), 2);
        assert_eq!(c.del("n").await.unwrap(), 1);
        assert_eq!(c.del("n").await.unwrap(), 0);
        assert_eq!(
            c.command(["ECHO", "hi"]).await.unwrap(),
            Value::Bulk(Bytes::from_static(b"hi"))
        );
        assert_eq!(
            c.command(["RPUSH", "list", "a", "b"]).await.unwrap(),
            Value::Int(2)
        );
        assert_eq!(
            c.command(["LRANGE", "list", "0", "-1"]).await.unwrap(),
            Value::Array(vec![Value::Bulk("a".into()), Value::Bulk("b".into())])
        );
        assert_eq!(
            c.command(["SET", "k", "v", "NX"]).await.unwrap(),
            Value::Nil
        );
        assert_eq!(
            c.command(vec!["GET".to_string(), "k".to_string()])
                .await
                .unwrap(),
            Value::Bulk("v1".into())
        );

        // SET with an expiry: PX, rounded up to whole milliseconds.
        c.set("ttl", "x", Some(Duration::from_secs(100)))
            .await
            .unwrap();
        match c.command(["PTTL", "ttl"]).await.unwrap() {
            Value::Int(ms) => assert!((1..=100_000).contains(&ms), "PTTL {ms}"),
            other => panic!("PTTL gave {other:?}"),
        }
        c.set("short", "x", Some(Duration::from_micros(1)))
            .await
            .unwrap();
        // A zero expiry is the server's to refuse, for this request only.
        assert_eq!(
            server_code(c.set("z", "x", Some(Duration::ZERO)).await),
            "ERR"
        );
        c.ping().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_empty_and_large_values() {
    let server = redis();
    let c = connect(&server).await;
    within("binary values", async {
        let key = b"bin\r\nkey\0\r\n$3\r\n*1";
        let value = b"\0\r\n\r\n+OK\r\n-ERR\0$-1\r\n";
        c.set(key, value, None).await.unwrap();
        assert_eq!(c.get(key).await.unwrap().as_deref(), Some(&value[..]));

        c.set("empty", "", None).await.unwrap();
        assert_eq!(c.get("empty").await.unwrap().as_deref(), Some(&b""[..]));
        c.set(b"", "empty key", None).await.unwrap();
        assert_eq!(
            c.get(b"").await.unwrap().as_deref(),
            Some(&b"empty key"[..])
        );

        let big: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 256) as u8).collect();
        // Pipelined around smaller requests, which must still get their own replies.
        let (before, set, get, after) = (
            c.incr("around"),
            c.set("big", &big, None),
            c.get("big"),
            c.incr("around"),
        );
        assert_eq!(before.await.unwrap(), 1);
        set.await.unwrap();
        let got = get.await.unwrap().expect("big value present");
        assert_eq!(got.len(), big.len());
        assert!(got == big, "1 MiB value came back intact");
        assert_eq!(after.await.unwrap(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_fail_only_their_request() {
    let server = redis();
    let c = connect(&server).await;
    within("error replies", async {
        c.set("text", "abc", None).await.unwrap();
        let (bad, good, unknown, wrong_type, after) = (
            c.incr("text"),
            c.incr("counter"),
            c.command(["NOSUCHCOMMAND", "x"]),
            c.command(["LPUSH", "text", "x"]),
            c.get("text"),
        );
        assert_eq!(server_code(bad.await), "ERR");
        assert_eq!(good.await.unwrap(), 1);
        assert_eq!(server_code(unknown.await), "ERR");
        assert_eq!(server_code(wrong_type.await), "WRONGTYPE");
        assert_eq!(after.await.unwrap().as_deref(), Some(&b"abc"[..]));

        // A command that cannot be encoded sends nothing and fails alone.
        let empty: [&str; 0] = [];
        assert!(matches!(
            c.command(empty).await,
            Err(Error::InvalidCommand(_))
        ));
        c.ping().await.unwrap();
        assert!(!c.is_closed());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_requests_never_cross_replies() {
    let server = redis();
    let c = connect(&server).await;
    within("abandoned requests", async {
        c.set("mine", "my value", None).await.unwrap();

        // A timeout fires while BLPOP (answered with nil after 1 s) is in flight.
        let blocked = c.command(["BLPOP", "nothing", "1"]);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), blocked)
                .await
                .is_err(),
            "BLPOP should still be blocked"
        );
        // The next caller gets its own reply, not BLPOP's nil.
        assert_eq!(
            c.get("mine").await.unwrap().as_deref(),
            Some(&b"my value"[..])
        );

        // A task that is aborted mid-request.
        let task = tokio::spawn({
            let c = c.clone();
            async move { c.command(["BLPOP", "nothing", "1"]).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        task.abort();
        match task.await {
            Err(e) => assert!(e.is_cancelled()),
            // Only if this thread stalled for a second: the reply was its own.
            Ok(reply) => assert_eq!(reply.unwrap(), Value::Nil),
        }

        // Requests dropped without ever being polled, interleaved with kept ones.
        let mut kept = Vec::new();
        for i in 0..200 {
            if i % 3 == 0 {
                drop(c.incr("dropped"));
            } else {
                kept.push((i, c.command(["ECHO", &i.to_string()])));
            }
        }
        for (i, request) in kept {
            assert_eq!(
                request.await.unwrap(),
                Value::Bulk(Bytes::from(i.to_string()))
            );
        }
        // Every dropped request was still sent and its reply consumed.
        assert_eq!(c.get("dropped").await.unwrap().as_deref(), Some(&b"67"[..]));
        assert_eq!(
            c.get("mine").await.unwrap().as_deref(),
            Some(&b"my value"[..])
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_get_their_own_replies() {
    let server = redis();
    let c = connect(&server).await;
    within("1,000 callers", async {
        let tasks: Vec<_> = (0..1000u32)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move {
                    let key = format!("caller:{i}");
                    let value = format!("value of caller {i}").repeat(1 + i as usize % 5);
                    for round in 1..=5i64 {
                        c.set(&key, &value, None).await.unwrap();
                        let got = c.get(&key).await.unwrap().expect("own key present");
                        assert_eq!(got, value.as_bytes(), "caller {i} got someone else's value");
                        assert_eq!(c.incr(format!("count:{i}")).await.unwrap(), round);
                        assert_eq!(
                            c.command(["ECHO", &key]).await.unwrap(),
                            Value::Bulk(Bytes::from(key.clone()))
                        );
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("caller task panicked");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_load_fails_everything_at_once() {
    let mut server = redis();
    let c = connect(&server).await;
    within("SET", c.set("k", "v", None)).await.unwrap();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (c, answered) = (c.clone(), answered.clone());
            tokio::spawn(async move {
                loop {
                    match c.get("k").await {
                        Ok(v) => {
                            assert_eq!(v.as_deref(), Some(&b"v"[..]));
                            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(e) => return e,
                    }
                }
            })
        })
        .collect();
    within("the load to start", async {
        while answered.load(std::sync::atomic::Ordering::Relaxed) < 5_000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    server.kill();
    within("every caller to see the death", async {
        for task in tasks {
            let error = task.await.unwrap();
            assert!(error.is_connection_error(), "{error:?}");
        }
    })
    .await;
    assert!(c.is_closed());
    // Later requests fail at once, without waiting on anything.
    for request in [c.get("k"), c.get("other")] {
        match request.into_ready() {
            Ok(Err(e)) => assert!(e.is_connection_error(), "{e:?}"),
            Ok(Ok(v)) => panic!("a request after the death succeeded: {v:?}"),
            Err(_) => panic!("a request after the death did not resolve at once"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_closing_the_connection_fails_in_flight_and_later_requests() {
    let server = redis();
    let c = connect(&server).await;
    within("QUIT", async {
        // QUIT is answered, then the server closes: requests pipelined behind it fail.
        let (before, quit, after) = (c.ping(), c.command(["QUIT"]), c.get("k"));
        before.await.unwrap();
        assert_eq!(quit.await.unwrap(), Value::Simple("OK".into()));
        assert!(after.await.unwrap_err().is_connection_error());
        // Closed (EOF) or Io (a reset: the server closed with our GET unread).
        assert!(c.ping().await.unwrap_err().is_connection_error());
    })
    .await;

    // The server drops a connection that is idle: the client notices, later requests fail.
    let victim = connect(&server).await;
    let killer = connect(&server).await;
    within("CLIENT KILL", async {
        victim.ping().await.unwrap();
        let killed = killer
            .command(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"])
            .await
            .unwrap();
        // The victim, and maybe connections the server has not finished closing.
        assert!(matches!(killed, Value::Int(n) if n >= 1), "{killed:?}");
        while !victim.is_closed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(victim.ping().await.unwrap_err().is_connection_error());
        killer.ping().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_client_resolves_what_was_answered_and_fails_the_rest() {
    let server = redis();
    let c = connect(&server).await;
    within("DEL", c.del("n")).await.unwrap();
    let answered = c.incr("n");
    // BLPOP holds the connection for 5 s: nothing behind it is answered before the drop.
    let blocked = c.command(["BLPOP", "nothing", "5"]);
    let behind = c.incr("n");
    within("the INCR's reply to be read", async {
        while !answered.is_ready() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    drop(c);
    // The reply read before the drop is kept, even though it is awaited after it.
    assert_eq!(within("answered request", answered).await.unwrap(), 1);
    assert!(matches!(
        within("blocked request", blocked).await,
        Err(Error::Closed)
    ));
    assert!(matches!(
        within("request behind it", behind).await,
        Err(Error::Closed)
    ));
}

/// The pattern the `Client` docs show under "When the connection dies".
struct Reconnecting {
    addr: std::net::SocketAddr,
    client: tokio::sync::Mutex<Client>,
}

impl Reconnecting {
    async fn client(&self) -> valuetask_redis::Result<Client> {
        let mut client = self.client.lock().await;
        if client.is_closed() {
            *client = Client::connect(self.addr).await?;
        }
        Ok(client.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_carries_on_after_the_server_is_killed_and_restarted() {
    let mut server = redis();
    let addr = server.addr();
    let shared = Reconnecting {
        addr,
        client: connect(&server).await.into(),
    };
    let first = within("client", shared.client()).await.unwrap();
    within("SET", first.set("k", "v", None)).await.unwrap();

    server.kill();
    // The old client fails, and stays failed: it does not reconnect by itself.
    let error = within("GET on a dead server", first.get("k"))
        .await
        .unwrap_err();
    assert!(error.is_connection_error(), "{error:?}");
    assert!(first.is_closed());
    // Nothing listens: connecting again is the crate's `Error::Io`.
    let refused = within("reconnect to nothing", shared.client()).await;
    assert!(matches!(refused, Err(Error::Io(_))), "{refused:?}");

    server.restart().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(server.addr(), addr);
    let second = within("reconnect", shared.client()).await.unwrap();
    assert!(!second.is_closed());
    // A new, empty server: the key written before the kill is gone.
    assert_eq!(
        within("GET after restart", second.get("k")).await.unwrap(),
        None
    );
    within("SET after restart", second.set("k", "w", None))
        .await
        .unwrap();
    let again = within("client", shared.client()).await.unwrap();
    assert_eq!(
        within("GET", again.get("k")).await.unwrap().as_deref(),
        Some(&b"w"[..])
    );
    assert!(first.ping().await.unwrap_err().is_connection_error());
}

/// A one-connection fake server: reads a request, answers with `reply`, optionally
/// closes. Returns its address.
async fn fake_server(reply: &'static [u8], close_after: bool) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        if socket.read(&mut buf).await.unwrap_or(0) == 0 {
            return;
        }
        let _ = socket.write_all(reply).await;
        if close_after {
            return;
        }
        // Keep the connection open (reading and ignoring) until the client closes it.
        while socket.read(&mut buf).await.unwrap_or(0) > 0 {}
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_replies_fail_and_close_never_panic() {
    let garbage: &[&'static [u8]] = &[
        b"?what is this\r\n",
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        b"$abc\r\n",
        b"$-7\r\n",
        b"$3\r\nabcdef\r\n",
        b":12x\r\n",
        b"+OK\rX",
        b"*-3\r\n",
        b"$99999999999999999999\r\n",
        b"\0\0\0\0",
    ];
    for &bytes in garbage {
        let addr = fake_server(bytes, false).await;
        let c = within("connect to fake", Client::connect(addr))
            .await
            .unwrap();
        let what = String::from_utf8_lossy(bytes);
        let result = within("malformed reply", c.get("k")).await;
        assert!(
            matches!(result, Err(Error::Protocol(_))),
            "{what:?} gave {result:?}"
        );
        assert!(c.is_closed(), "{what:?}: the connection closes");
        assert!(matches!(
            within("request after malformed", c.ping()).await,
            Err(Error::Protocol(_))
        ));
    }

    // Arrays nested without end: refused, no stack overflow.
    let deep: &'static [u8] = b"*1\r\n".repeat(100_000).leak();
    let addr = fake_server(deep, false).await;
    let c = within("connect to fake", Client::connect(addr))
        .await
        .unwrap();
    assert!(matches!(
        within("deep nesting", c.command(["X"])).await,
        Err(Error::Protocol(_))
    ));

    // A line with no end in sight: refused once it is longer than any header can be.
    let endless: &'static [u8] = b"+".repeat(100_000).leak();
    let addr = fake_server(endless, false).await;
    let c = within("connect to fake", Client::connect(addr))
        .await
        .unwrap();
    assert!(matches!(
        within("endless line", c.ping()).await,
        Err(Error::Protocol(_))
    ));

    // A reply nobody asked for: the asked-for one succeeds, then the connection closes.
    let addr = fake_server(b"+PONG\r\n+PONG\r\n", false).await;
    let c = within("connect to fake", Client::connect(addr))
        .await
        .unwrap();
    within("unrequested reply", async {
        c.ping().await.unwrap();
        while !c.is_closed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    // A truncated reply, then the server closes: an error, not a hang.
    let addr = fake_server(b"$10\r\nabc", true).await;
    let c = within("connect to fake", Client::connect(addr))
        .await
        .unwrap();
    let truncated = within("truncated reply", c.get("k")).await;
    assert!(
        matches!(truncated, Err(Error::Closed | Error::Io(_))),
        "{truncated:?}"
    );

    // A well-formed reply of the wrong type fails that request only.
    let addr = fake_server(b":1\r\n", false).await;
    let c = within("connect to fake", Client::connect(addr))
        .await
        .unwrap();
    assert!(matches!(
        within("wrong type", c.get("k")).await,
        Err(Error::UnexpectedReply(Value::Int(1)))
    ));
    assert!(!c.is_closed());
}
