use std::rc::Rc;
use valuetask::async_trait;

#[async_trait(?Send)]
trait Store {
    async fn get(&self) -> u8;
}

struct Shared(Rc<u8>);

#[async_trait(?Send)]
impl Store for Shared {
    async fn get(&self) -> u8 {
        let value = Rc::clone(&self.0);
        std::future::ready(()).await;
        *value
    }
}

fn spawn<F: std::future::Future + Send + 'static>(_: F) {}

fn main() {
    let store: &'static Shared = Box::leak(Box::new(Shared(Rc::new(1))));
    spawn(store.get());
}
