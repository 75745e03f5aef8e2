use valuetask::async_trait;

struct Store;

#[async_trait]
impl Store {
    async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
