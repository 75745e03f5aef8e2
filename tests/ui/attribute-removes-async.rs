// An attribute macro that turns the `async fn` into a plain `fn` (here tokio's
// `#[tokio::main]`) leaves nothing for the task to run: refused, not wrapped.
use valuetask::async_trait;

#[async_trait]
trait Store {
    async fn get(&self) -> u8;
}

struct Memory;

#[async_trait]
impl Store for Memory {
    #[tokio::main(flavor = "current_thread")]
    async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
