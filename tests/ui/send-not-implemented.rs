use std::sync::Mutex;
use valuetask::async_trait;

async fn wait() {}

#[async_trait]
trait Store {
    async fn get(&self, lock: &Mutex<u8>) -> u8 {
        let guard = lock.lock().unwrap();
        wait().await;
        *guard
    }
    async fn put(&self, lock: &Mutex<u8>, value: u8);
}

struct Memory;

#[async_trait]
impl Store for Memory {
    async fn put(&self, lock: &Mutex<u8>, value: u8) {
        let mut guard = lock.lock().unwrap();
        wait().await;
        *guard = value;
    }
}

fn main() {}
