//! The `#[async_trait]` attribute of [`valuetask`](https://docs.rs/valuetask), re-exported
//! there as `valuetask::async_trait`. Depend on `valuetask`, not on this crate: the
//! expansion names `::valuetask::ValueTask`.

mod args;
mod expand;
mod lifetimes;
mod parse;
mod receiver;

use proc_macro::TokenStream;
use quote::ToTokens;

/// Async methods in traits, `dyn`-compatible, without a heap allocation per call: the
/// `async-trait` crate's attribute, returning a [`ValueTask`] instead of a
/// `Pin<Box<dyn Future + Send>>`.
///
/// Switching from `async-trait` is one line: `use async_trait::async_trait;` becomes
/// `use valuetask::async_trait;`. The attribute takes the same input, in the same two
/// forms, on traits and on their impls:
///
/// - `#[async_trait]`: each `async fn` returns `ValueTask<'async_trait, T>`, which is
///   `Send`; the body must be a `Send` future, as with `async-trait`.
/// - `#[async_trait(?Send)]`: each `async fn` returns `LocalValueTask<'async_trait, T>`,
///   which is not `Send`, so the body may hold an `Rc` or a `RefCell` borrow across an
///   `.await` (a single-thread executor, a tokio `LocalSet`).
///
/// The body goes into [`ValueTask::from_future`], which keeps the future in a recycled
/// block: no allocation per call in steady state, whether the body finishes at once or
/// suspends. A future larger than the largest block (1 KiB) is boxed, as `async-trait`
/// boxes every one; `valuetask::future_pool::stats()` shows whether blocks are in use.
///
/// # Expansion
///
/// As with `async-trait`, elided lifetimes get names (`'life0`, `'life1`, ...), all of
/// which, with the type parameters and `Self`, must outlive the hidden `'async_trait`,
/// which user code may name in bounds:
///
/// ```text
/// async fn get(&self, key: &str) -> Option<u64>;
/// // becomes
/// fn get<'life0, 'life1, 'async_trait>(&'life0 self, key: &'life1 str)
///     -> ::valuetask::ValueTask<'async_trait, Option<u64>>
/// where 'life0: 'async_trait, 'life1: 'async_trait, Self: 'async_trait;
/// ```
///
/// A default body with `&self` also requires `Self: Sync` (and with `self`, `&mut self` or
/// `Box<Self>`, `Self: Send`), unless the trait has that supertrait, so that the future
/// is `Send`.
///
/// # Examples
///
/// (Compiled and run as a doc test of `valuetask`'s README, which depends on this crate.)
///
/// ```ignore
/// use valuetask::async_trait;
///
/// #[async_trait]
/// trait Store {
///     async fn get(&self, key: &str) -> Option<u64>;
///     async fn get_or_zero(&self, key: &str) -> u64 {
///         self.get(key).await.unwrap_or(0)
///     }
/// }
///
/// struct One;
///
/// #[async_trait]
/// impl Store for One {
///     async fn get(&self, key: &str) -> Option<u64> {
///         (key == "one").then_some(1)
///     }
/// }
///
/// let store: &dyn Store = &One;
/// assert_eq!(futures::executor::block_on(store.get_or_zero("one")), 1);
/// assert_eq!(futures::executor::block_on(store.get_or_zero("two")), 0);
/// ```
///
/// [`ValueTask`]: https://docs.rs/valuetask/latest/valuetask/struct.ValueTask.html
/// [`ValueTask::from_future`]: https://docs.rs/valuetask/latest/valuetask/struct.ValueTask.html#method.from_future
#[proc_macro_attribute]
pub fn async_trait(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = match syn::parse::<args::Args>(args) {
        Ok(args) => args,
        Err(error) => return error.to_compile_error().into(),
    };
    let mut item = match syn::parse::<parse::Item>(input) {
        Ok(item) => item,
        Err(error) => return error.to_compile_error().into(),
    };
    let errors = expand::expand(&mut item, args.local);
    let mut out = item.into_token_stream();
    for error in errors {
        out.extend(error.to_compile_error());
    }
    out.into()
}
