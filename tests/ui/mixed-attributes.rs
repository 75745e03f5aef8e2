// A trait under async-trait's attribute, its impl under ours: the two disagree on the
// return type (see "Mixing attributes" in the docs: trait and impls switch together).
#[async_trait::async_trait]
trait Store {
    async fn get(&self) -> u8;
}

struct Memory;

#[valuetask::async_trait]
impl Store for Memory {
    async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
