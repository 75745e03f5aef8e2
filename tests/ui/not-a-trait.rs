use valuetask::async_trait;

#[async_trait]
async fn get() -> u8 {
    1
}

fn main() {}
