use valuetask::async_trait;

#[async_trait]
trait Store {
    async fn get(&self) -> u8;
}

struct Memory;

#[async_trait]
impl Store for Memory {
    async fn get(&self) -> u8 {
        "not a number"
    }
}

fn main() {}
