//! RESP2, the Redis wire protocol: encoding commands and parsing replies.
//!
//! Commands are encoded straight into a caller's buffer (no intermediate argument list);
//! replies are parsed in two steps, both allocation-free for everything but arrays:
//! [`frame_len`] checks that a whole, well-formed frame is at the front of the buffer,
//! then [`decode`] takes it off the buffer, handing bulk strings out as [`Bytes`] that
//! share the buffer's memory (no copy).
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use valuetask_redis::resp::{self, Value};
//!
//! let mut out = Vec::new();
//! resp::encode(&mut out, ["GET", "greeting"]).unwrap();
//! assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n");
//!
//! let mut input = BytesMut::from(&b"$5\r\nhello\r\n:7"[..]);
//! assert_eq!(resp::frame_len(&input), Ok(Some(11)));
//! assert_eq!(resp::decode(&mut input), Ok(Value::Bulk("hello".into())));
//! assert_eq!(resp::frame_len(&input), Ok(None)); // ":7" still lacks its CRLF
//! ```

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

/// The largest bulk string accepted, as Redis's own default `proto-max-bulk-len`.
pub const MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// The deepest nesting of arrays accepted (the parser recurses once per level).
pub const MAX_DEPTH: usize = 32;
/// The longest header or simple-string line accepted before the frame is called malformed.
pub const MAX_LINE_LEN: usize = 64 * 1024;
/// The largest array length accepted.
const MAX_ARRAY_LEN: usize = i32::MAX as usize;

/// A reply from the server.
///
/// Bulk and simple strings share the connection's read buffer: holding one keeps that
/// buffer's chunk alive, so copy out what you keep for long.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Value {
    /// A nil bulk string (`$-1`) or nil array (`*-1`).
    Nil,
    /// A simple string (`+OK`).
    Simple(Bytes),
    /// An error nested in an array (a top-level error reply is an `Err` instead).
    Error(Bytes),
    /// An integer (`:42`).
    Int(i64),
    /// A bulk string (`$5\r\nhello`): binary-safe.
    Bulk(Bytes),
    /// An array of replies.
    Array(Vec<Value>),
}

impl Value {
    /// The reply's RESP type, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Simple(_) => "simple string",
            Value::Error(_) => "error",
            Value::Int(_) => "integer",
            Value::Bulk(_) => "bulk string",
            Value::Array(_) => "array",
        }
    }
}

/// Bytes from the server that are not RESP2: the connection cannot be trusted after one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ProtocolError(&'static str);

impl ProtocolError {
    /// A reply arrived when no request was waiting for one.
    pub(crate) const UNREQUESTED: ProtocolError = ProtocolError("a reply to no request");

    /// What was wrong with the bytes.
    pub fn message(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed reply from the server: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// A command that cannot be encoded: no arguments, or an iterator that lied about its
/// length. Nothing was written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EncodeError(&'static str);

impl EncodeError {
    /// What was wrong with the command.
    pub fn message(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid command: {}", self.0)
    }
}

impl std::error::Error for EncodeError {}

/// Appends a command (its name and arguments, each binary-safe) to `out` as a RESP
/// array of bulk strings.
///
/// An empty command is refused (Redis sends no reply to one, which would shift every
/// later reply onto the wrong request), as is an iterator whose length is not what it
/// said; either way `out` is left as it was.
pub fn encode<I, A>(out: &mut Vec<u8>, args: I) -> Result<(), EncodeError>
where
    I: IntoIterator<Item = A>,
    I::IntoIter: ExactSizeIterator,
    A: AsRef<[u8]>,
{
    let args = args.into_iter();
    let n = args.len();
    if n == 0 {
        return Err(EncodeError("a command needs at least its name"));
    }
    let start = out.len();
    out.push(b'*');
    push_decimal(out, n as u64);
    out.extend_from_slice(b"\r\n");
    let mut written = 0usize;
    for arg in args {
        written += 1;
        if written > n {
            break;
        }
        push_bulk(out, arg.as_ref());
    }
    if written != n {
        out.truncate(start);
        return Err(EncodeError(
            "the argument iterator's length differs from its ExactSizeIterator::len",
        ));
    }
    Ok(())
}

/// Appends a command given as a slice of byte strings: the path every typed command
/// takes, with its arguments on the stack.
pub(crate) fn encode_slices(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    push_decimal(out, args.len() as u64);
    out.extend_from_slice(b"\r\n");
    for arg in args {
        push_bulk(out, arg);
    }
}

fn push_bulk(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'$');
    push_decimal(out, arg.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

/// Formats `n` in decimal into a stack buffer; returns the buffer and where the digits start.
pub(crate) fn decimal(mut n: u64) -> ([u8; 20], usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    (digits, at)
}

fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let (digits, at) = decimal(n);
    out.extend_from_slice(&digits[at..]);
}

/// The length of the complete frame at the front of `buf`: `Ok(None)` when more bytes
/// are needed, `Err` when the bytes are not RESP2.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
    frame_end(buf, 0, 0)
}

/// Where the frame that starts at `pos` ends, if it is all there.
fn frame_end(buf: &[u8], pos: usize, depth: usize) -> Result<Option<usize>, ProtocolError> {
    let Some(&tag) = buf.get(pos) else {
        return Ok(None);
    };
    if !matches!(tag, b'+' | b'-' | b':' | b'$' | b'*') {
        return Err(ProtocolError("unknown type byte"));
    }
    let Some(cr) = find_line_end(buf, pos + 1)? else {
        return Ok(None);
    };
    let line = &buf[pos + 1..cr];
    let next = cr + 2;
    match tag {
        b'+' | b'-' => Ok(Some(next)),
        b':' => parse_int(line).map(|_| Some(next)),
        b'$' => match length(parse_int(line)?, MAX_BULK_LEN, "bulk string length")? {
            None => Ok(Some(next)),
            Some(len) => {
                let end = next + len + 2;
                if buf.len() < end {
                    Ok(None)
                } else if &buf[end - 2..end] != b"\r\n" {
                    Err(ProtocolError("bulk string not followed by CRLF"))
                } else {
                    Ok(Some(end))
                }
            }
        },
        _ => match length(parse_int(line)?, MAX_ARRAY_LEN, "array length")? {
            None => Ok(Some(next)),
            Some(len) => {
                if depth >= MAX_DEPTH {
                    return Err(ProtocolError("arrays nested too deeply"));
                }
                let mut at = next;
                for _ in 0..len {
                    match frame_end(buf, at, depth + 1)? {
                        Some(end) => at = end,
                        None => return Ok(None),
                    }
                }
                Ok(Some(at))
            }
        },
    }
}

/// A length field: `None` for nil (`-1`), else a length no larger than `max`.
fn length(n: i64, max: usize, what: &'static str) -> Result<Option<usize>, ProtocolError> {
    match n {
        -1 => Ok(None),
        n if n < 0 => Err(ProtocolError(what)),
        n if n as u64 > max as u64 => Err(ProtocolError(what)),
        n => Ok(Some(n as usize)),
    }
}

/// The index of the CR that ends the line starting at `from`.
fn find_line_end(buf: &[u8], from: usize) -> Result<Option<usize>, ProtocolError> {
    let rest = &buf[from.min(buf.len())..];
    match rest.iter().position(|&b| b == b'\r') {
        Some(i) if i > MAX_LINE_LEN => Err(ProtocolError("line too long")),
        Some(i) => match rest.get(i + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some(from + i)),
            Some(_) => Err(ProtocolError("CR not followed by LF")),
        },
        None if rest.len() > MAX_LINE_LEN => Err(ProtocolError("line too long")),
        None => Ok(None),
    }
}

/// A decimal integer with an optional minus sign, as RESP writes them.
fn parse_int(line: &[u8]) -> Result<i64, ProtocolError> {
    let (negative, digits) = match line.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() {
        return Err(ProtocolError("empty integer"));
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(ProtocolError("not an integer"));
        }
        let d = i64::from(d - b'0');
        n = n
            .checked_mul(10)
            .and_then(|n| {
                if negative {
                    n.checked_sub(d)
                } else {
                    n.checked_add(d)
                }
            })
            .ok_or(ProtocolError("integer out of range"))?;
    }
    Ok(n)
}

/// Takes the frame at the front of `buf` off it. Call it once [`frame_len`] said the
/// frame is complete; on anything else it returns an `Err` (never panics), and what it
/// left in `buf` is unspecified.
///
/// Bulk and simple strings are split off `buf` and frozen: they share its memory.
pub fn decode(buf: &mut BytesMut) -> Result<Value, ProtocolError> {
    decode_at(buf, 0)
}

fn decode_at(buf: &mut BytesMut, depth: usize) -> Result<Value, ProtocolError> {
    let incomplete = ProtocolError("incomplete frame passed to decode");
    let tag = *buf.first().ok_or(incomplete)?;
    let cr = find_line_end(buf, 1)?.ok_or(incomplete)?;
    let value = match tag {
        b'+' | b'-' => {
            buf.advance(1);
            let text = buf.split_to(cr - 1).freeze();
            if tag == b'+' {
                Value::Simple(text)
            } else {
                Value::Error(text)
            }
        }
        b':' => {
            let n = parse_int(&buf[1..cr])?;
            buf.advance(cr);
            Value::Int(n)
        }
        b'$' => {
            let len = length(parse_int(&buf[1..cr])?, MAX_BULK_LEN, "bulk string length")?;
            buf.advance(cr + 2);
            match len {
                None => return Ok(Value::Nil),
                Some(len) if buf.len() < len + 2 => return Err(incomplete),
                Some(len) => {
                    let data = buf.split_to(len).freeze();
                    if &buf[..2] != b"\r\n" {
                        return Err(ProtocolError("bulk string not followed by CRLF"));
                    }
                    Value::Bulk(data)
                }
            }
        }
        b'*' => {
            let len = length(parse_int(&buf[1..cr])?, MAX_ARRAY_LEN, "array length")?;
            buf.advance(cr + 2);
            let Some(len) = len else {
                return Ok(Value::Nil);
            };
            if depth >= MAX_DEPTH {
                return Err(ProtocolError("arrays nested too deeply"));
            }
            // Every element takes at least 3 bytes: never reserve more than the buffer holds.
            let mut items = Vec::with_capacity(len.min(buf.len() / 3));
            for _ in 0..len {
                items.push(decode_at(buf, depth + 1)?);
            }
            return Ok(Value::Array(items));
        }
        _ => return Err(ProtocolError("unknown type byte")),
    };
    buf.advance(2);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Value>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(len) = frame_len(&buf)? {
            let before = buf.len();
            out.push(decode(&mut buf)?);
            assert_eq!(
                before - buf.len(),
                len,
                "decode consumed what frame_len measured"
            );
        }
        Ok(out)
    }

    #[test]
    fn parses_every_type() {
        let input = b"+OK\r\n-ERR bad\r\n:-42\r\n$3\r\na\r\n\r\n$0\r\n\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n*1\r\n$1\r\nx\r\n";
        assert_eq!(
            parse_all(input).unwrap(),
            vec![
                Value::Simple("OK".into()),
                Value::Error("ERR bad".into()),
                Value::Int(-42),
                Value::Bulk("a\r\n".into()),
                Value::Bulk("".into()),
                Value::Nil,
                Value::Nil,
                Value::Array(vec![
                    Value::Int(1),
                    Value::Array(vec![Value::Bulk("x".into())])
                ]),
            ]
        );
    }

    #[test]
    fn every_prefix_of_a_frame_is_incomplete() {
        let frame = b"*3\r\n$3\r\nabc\r\n:12\r\n+hi\r\n";
        for cut in 0..frame.len() {
            assert_eq!(frame_len(&frame[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(frame_len(frame), Ok(Some(frame.len())));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b"?\r\n"[..],
            b"$abc\r\n",
            b"$-2\r\n",
            b"$3\r\nabcXY",
            b":12a\r\n",
            b":\r\n",
            b":99999999999999999999\r\n",
            b"+OK\rX",
            b"*-5\r\n",
            b"$999999999999\r\n",
        ] {
            assert!(
                frame_len(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert!(frame_len(&deep).is_err());
        let long = vec![b'+'; MAX_LINE_LEN + 2];
        assert!(frame_len(&long).is_err());
    }

    #[test]
    fn decode_never_panics_on_unchecked_input() {
        for bad in [&b""[..], b"$5\r\nab", b"*2\r\n:1\r\n", b"+OK", b"?"] {
            assert!(decode(&mut BytesMut::from(bad)).is_err());
        }
    }

    #[test]
    fn encodes_binary_arguments() {
        let mut out = Vec::new();
        encode(&mut out, [&b"SET"[..], b"k\r\n\0", b""]).unwrap();
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$0\r\n\r\n");
        let empty: [&str; 0] = [];
        assert!(encode(&mut out, empty).is_err());
        assert_eq!(out.len(), 29, "a refused command writes nothing");
        assert_eq!(decimal(0).0[19], b'0');
        let (d, at) = decimal(u64::MAX);
        assert_eq!(&d[at..], u64::MAX.to_string().as_bytes());
    }
}
