// A wrapper that forwards only the methods `Source` once required: it would lose the
// core's one-task-per-token check and its record of a task that left, so it must not
// compile.
use std::task::{Context, Poll};
use valuetask::{ResetCore, Source, Status, Token};

struct Connection {
    read: ResetCore<Vec<u8>>,
}

impl Source<Vec<u8>> for Connection {
    fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<Vec<u8>> {
        self.read.poll_result(token, cx)
    }

    fn status(&self, token: Token) -> Status {
        self.read.status(token)
    }
}

fn main() {}
