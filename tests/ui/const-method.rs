use valuetask::async_trait;

#[async_trait]
trait Store {
    const async fn get(&self) -> u8;
}

fn main() {}
