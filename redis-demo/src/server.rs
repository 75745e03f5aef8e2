//! A throwaway `redis-server` on a free loopback port, for tests and the benchmark: a
//! test fixture, not the client's API, so only with the non-default `test-server`
//! feature (the tests turn it on through a dev-dependency, the benchmark through its
//! dependency).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How to get `redis-server` when it is missing.
pub const INSTALL_HINT: &str = "redis-server was not found on PATH: install it \
     (Debian/Ubuntu: `apt-get install redis-server`) and run again";

/// A `redis-server` child process listening on `127.0.0.1`, with persistence off
/// (`--save '' --appendonly no`). Dropping it kills the process and waits for it, also
/// when a test panics.
///
/// # Examples
///
/// ```no_run
/// let server = valuetask_redis::RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
/// println!("redis at {}", server.addr());
/// ```
pub struct RedisServer {
    child: Option<Child>,
    addr: SocketAddr,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// The error says how to install `redis-server` when it is not on `PATH`.
    pub fn start() -> Result<RedisServer, String> {
        let mut last_error = String::new();
        // The free port may be taken between finding it and the server binding it: retry.
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("no free port: {e}"))?
                .port();
            match Self::try_start(port) {
                Ok(server) => return Ok(server),
                Err(StartError::NotFound) => return Err(INSTALL_HINT.to_string()),
                Err(StartError::Other(e)) => last_error = e,
            }
        }
        Err(format!("could not start redis-server: {last_error}"))
    }

    /// Kills the server if it runs, then starts a new one on the same port (empty: no
    /// persistence), as a server restarted after a crash: clients connected to the old
    /// one see their connection die, and can connect again to the same address.
    ///
    /// # Errors
    ///
    /// When the new server does not start (for example, another process took the port).
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        match Self::try_start(self.addr.port()) {
            Ok(server) => {
                *self = server;
                Ok(())
            }
            Err(StartError::NotFound) => Err(INSTALL_HINT.to_string()),
            Err(StartError::Other(e)) => Err(format!("could not restart redis-server: {e}")),
        }
    }

    fn try_start(port: u16) -> Result<RedisServer, StartError> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StartError::NotFound,
                _ => StartError::Other(format!("spawning redis-server: {e}")),
            })?;
        let mut server = RedisServer {
            child: Some(child),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if server.answers_ping() {
                return Ok(server);
            }
            if let Some(Ok(Some(status))) = server.child.as_mut().map(Child::try_wait) {
                return Err(StartError::Other(format!("redis-server exited: {status}")));
            }
            if Instant::now() > deadline {
                return Err(StartError::Other(
                    "redis-server did not answer PING within 10 s".into(),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// The server's address (`127.0.0.1:port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's address as a `redis://` URL.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// Kills the server at once (`SIGKILL`) and waits for it to exit: its connections
    /// die mid-flight.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("addr", &self.addr)
            .field("pid", &self.child.as_ref().map(Child::id))
            .finish()
    }
}

enum StartError {
    NotFound,
    Other(String),
}
