use valuetask::async_trait;

#[async_trait(Sync)]
trait Store {
    async fn get(&self) -> u8;
}

fn main() {}
