#![deny(unused_must_use)]

use valuetask::async_trait;

#[async_trait]
trait Store {
    async fn flush(&self);
}

struct Memory;

#[async_trait]
impl Store for Memory {
    async fn flush(&self) {}
}

pub async fn forgets_to_await() {
    Memory.flush();
}

fn main() {}
