//! The `#[async_trait]` attribute of [`valuetask`](https://docs.rs/valuetask), re-exported
//! there as `valuetask::async_trait`. Depend on `valuetask`, not on this crate: the
//! expansion names `::valuetask::ValueTask`.
//!
//! # What the attribute does
//!
//! This is the contract the code in this crate implements; the tests that hold it to
//! that contract are named at the end.
//!
//! ## The input
//!
//! The input language is the `async-trait` crate's (0.1), so that switching is one `use`
//! line. The attribute goes on a trait or on an impl of a trait, as `#[async_trait]` or
//! `#[async_trait(?Send)]`, and the trait and every impl of it carry the same form. Inside,
//! any method may be an `async fn`, with:
//!
//! - any receiver: `self`, `mut self`, `&self`, `&mut self`, `&'a self`, or a typed one
//!   (`self: Box<Self>`, `self: Arc<Self>`, `self: Pin<&mut Self>`, `mut self: &Self`), or
//!   none (an associated function);
//! - generic parameters (lifetimes, types, consts; `#[cfg]` on them), and the trait's or
//!   impl's own parameters in its argument types;
//! - lifetimes written out, elided (`&str`) or anonymous (`Text<'_>`);
//! - `impl Trait` arguments, also behind a reference (`&(impl Display + Sync)`);
//! - patterns as arguments (`(a, mut b): (u8, u8)`, `Point { x, .. }: Point`, `_: T`),
//!   with `#[cfg]` on arguments;
//! - a default body in the trait, which may call other methods through `self`, `Self`
//!   and `<Self>`, name associated types and consts, and hold macros that use `self`;
//! - `where` clauses, on the method and on the trait; `unsafe` traits and impls; any
//!   visibility, docs and attributes.
//!
//! Methods that are not `async`, associated types and consts pass through unchanged.
//!
//! ## The output
//!
//! Each `async fn` becomes a plain `fn` returning one named type:
//! `::valuetask::ValueTask<'async_trait, T>` under `#[async_trait]`, or
//! `::valuetask::LocalValueTask<'async_trait, T>` under `?Send`, where `T` is the return
//! type as written (`()` when none is written). `'async_trait` is a lifetime parameter
//! added to the method: the task borrows its arguments for at most that long, and the
//! caller's borrows only need to last that long. The name is the one `async-trait`
//! documents, so bounds users already write (`T: 'async_trait`) keep working.
//!
//! A trait method without a body keeps its arguments (a pattern there becomes `_`, and
//! `mut` is dropped, since only a body binds names) and gets the new signature. A body
//! (in an impl, or a default body in the trait) becomes
//! `Task::from_future(async move { .. })`, where the async block holds, in order:
//!
//! 1. A `return` of the declared output type that never runs. An async block has no
//!    declared output type: without it, the type would be inferred from the first
//!    `return` or the tail, and `return &value` could not coerce to `&dyn Trait`. (An
//!    output with `impl Trait` in it cannot be written there, and goes without.)
//! 2. The receiver, moved into a `mut` local named `__self`. `self` cannot be rebound by
//!    a `let`, so the body's uses of `self` are renamed to the local: in expressions and
//!    in the tokens of macro calls and `macro_rules!` definitions, but not in nested
//!    items (whose `self` is their own), in paths (`self::item`) or before a lone `=`
//!    (a field name, as in `span!(.., self = ?value)`). The local is `mut` because
//!    async-trait's input language allows `&mut self` in a body on any receiver.
//! 3. Each argument, moved into a local: a plain name keeps its name (and its `mut`),
//!    any other pattern is bound from a hidden local, with the argument's `#[cfg]`.
//! 4. The body's statements, as written.
//!
//! Every argument is therefore dropped when the task finishes or is dropped, never when
//! the method returns, and in the order an `async fn` drops them: the body's locals, then
//! the arguments from last to first, `self` last. An argument bound to `_`, and the `_`
//! and `..` parts of a pattern, live to the end, as in an `async fn` (async-trait drops
//! the parts of a pattern as it binds). `return` inside the body returns from the async
//! block, so early returns and `?` mean what they meant.
//!
//! For example, under `#[async_trait]`,
//!
//! ```text
//! async fn get(&self, key: &str) -> Option<u64>;
//! ```
//!
//! becomes
//!
//! ```text
//! fn get<'life0: 'async_trait, 'life1: 'async_trait, 'async_trait>(
//!     &'life0 self,
//!     key: &'life1 str,
//! ) -> ::valuetask::ValueTask<'async_trait, Option<u64>>
//! where
//!     Self: 'async_trait;
//! ```
//!
//! ## The lifetimes and bounds it adds, and why
//!
//! The task holds every argument, so every argument must outlive `'async_trait`:
//!
//! 1. Every elided or anonymous lifetime in an argument type (`&self`, `&str`,
//!    `Text<'_>`) is given a name, `'life0`, `'life1`, ... in the order they appear, so it
//!    can be bounded. Lifetimes inside `Fn(&str)` sugar, `fn(&str)` pointers and `for<..>`
//!    binders are higher-ranked, not the caller's, and are left alone. A lifetime hidden
//!    in a path (`Text` for `Text<'_>`) cannot be seen by a macro: write `Text<'_>`.
//! 2. Each lifetime parameter of the method, named by the user or by step 1, gets the
//!    bound `'l: 'async_trait`; so does each outer lifetime (a trait's or impl's `'a`)
//!    that appears in an argument type.
//! 3. Each type parameter of the method gets `T: 'async_trait`, and each `impl Trait`
//!    argument becomes `(impl Trait + 'async_trait)`, since the task holds values of
//!    those types.
//! 4. `Self: 'async_trait`, since the task may hold `self` or values of `Self`'s types.
//!
//! The output's elided lifetimes are written out as the compiler would resolve them (the
//! receiver's, else the arguments' only one), since eliding a lifetime that is now named
//! draws a warning. `self: &Self` and `self: &mut Self` are written `&self` and
//! `&mut self`, which mean the same.
//!
//! A bound on a parameter of the method goes where the user bounds that parameter
//! already (on the parameter, so a `#[cfg]` on it covers its bound too, or in the `where`
//! clause), so that no parameter is bounded in two places. A lifetime with a bound is
//! early bound: the trait and the impl go through the same rules, so they agree.
//!
//! Under `#[async_trait]` the task is `Send`, so its future must be, which asks two more
//! things of types the method cannot see:
//!
//! - An argument that borrows a type naming a type parameter (of the method, trait or
//!   impl) or, in a trait, `Self` gets `T: Sync` for `&T` and `T: Send` for `&mut T`,
//!   in the trait and in the impl alike, so that a generic impl
//!   (`impl<T> Trait<T> for Type`) compiles without restating them.
//! - In a trait's default body, `Self` is any implementor, so the method gets the bound
//!   that makes the captured receiver `Send`: `Self: Sync` for `&self`; `Self: Send` for
//!   `self`, `&mut self`, `Box<Self>` and `Pin<&mut Self>`; both for other smart
//!   pointers (`Arc<Self>`). A bound the trait already has (as a supertrait or in its
//!   `where` clause) is not repeated. An impl of the method does not need it.
//!
//! `?Send` adds neither.
//!
//! ## Other attributes on a method
//!
//! Attributes the compiler keeps as they are (`doc`, `inline`, `allow`, `cfg`, `must_use`
//! and such) stay on the generated `fn`. Any other attribute may be a macro that expects
//! the `async fn` it was written on, such as `#[tracing::instrument]`. For such a method
//! the attribute only adds `#[::valuetask::__async_trait_method(..)]` below the user's
//! attributes (with the bounds above that need the trait already in the method's
//! `where` clause, and, as its argument, `?Send` or not and the trait's or impl's type
//! parameters) and leaves the method an `async fn`: the compiler expands the user's
//! attributes first, on the `async fn` they were written for, and then this crate's
//! helper turns the result into the `ValueTask` method, as above. So
//! `#[tracing::instrument(skip(self), err)]` sees the real arguments and return type and
//! instruments the polls of the body, and the span is made when the task is first polled.
//! If an attribute turns the method into something other than an `async fn`, the helper
//! refuses it with an error that says so, rather than wrapping the wrong thing.
//!
//! ## What it rejects
//!
//! Anything but a trait or an impl of a trait, an argument other than `?Send`, and a
//! `const async fn`, each with a message saying what to write instead.
//!
//! ## Mixing attributes
//!
//! The trait decides what its methods return, so a trait and all of its impls switch
//! together. An impl under `valuetask::async_trait` of a trait under
//! `async_trait::async_trait` (or the reverse) fails with E0053, "method `..` has an
//! incompatible type for trait", one side returning `Pin<Box<dyn Future>>` and the other
//! `ValueTask`; its "help" suggests changing the output type, which is not the fix. A
//! trait defined in another crate with `async-trait` must be implemented with
//! `async-trait`.
//!
//! ## Tests
//!
//! `tests/async_trait_compat.rs` compiles one file of input shapes under both attributes
//! and compares what they do; `tests/async_trait.rs` runs the tasks on tokio, a `LocalSet`
//! and by hand; `tests/async_trait_tracing.rs` counts span entries around the polls;
//! `tests/zero_alloc_async_trait.rs` counts allocations; `tests/ui` holds the errors.

mod attribute;
mod body;
mod method;
mod mode;
mod scope;
mod signature;

use proc_macro::TokenStream;

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
/// suspends. A future larger than the largest block (8 KiB) is boxed, as `async-trait`
/// boxes every one; `valuetask::future_pool::stats().fallbacks` counts those boxes.
///
/// The crate docs of `valuetask-macros` describe the expansion: the lifetimes
/// (`'life0`, ..., `'async_trait`) and bounds it adds and why, and how other attributes
/// on a method, such as `#[tracing::instrument]`, are kept working.
///
/// # Examples
///
/// Needs `valuetask` and, for `block_on`, `futures = "0.3"`. A trait called through
/// `dyn` is `Send + Sync` here, as with `async-trait`: a default body that borrows
/// `self` gets the bound `Self: Sync`, and only then can `dyn Store` call it.
///
/// ```
/// use valuetask::async_trait;
///
/// #[async_trait]
/// trait Store: Send + Sync {
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
/// An impl may also be written by hand, without the attribute, to answer a cache hit
/// with [`ValueTask::ready`] and build a future only on a miss. Its signature is the one
/// the attribute generates for the trait (the crate docs of `valuetask-macros` derive
/// it): every elided lifetime named and bounded by `'async_trait`, in the same order.
/// `ValueTask<'_, T>` alone does not match it (E0195).
///
/// ```
/// use std::collections::HashMap;
/// use valuetask::{ValueTask, async_trait};
///
/// #[async_trait]
/// trait Store: Send + Sync {
///     async fn get(&self, key: &str) -> Option<u64>;
/// }
///
/// struct Cached {
///     hot: HashMap<String, u64>,
/// }
///
/// impl Store for Cached {
///     fn get<'life0: 'async_trait, 'life1: 'async_trait, 'async_trait>(
///         &'life0 self,
///         key: &'life1 str,
///     ) -> ValueTask<'async_trait, Option<u64>>
///     where
///         Self: 'async_trait,
///     {
///         match self.hot.get(key) {
///             Some(&hit) => ValueTask::ready(Some(hit)),
///             None => ValueTask::from_future(async move { key.parse().ok() }),
///         }
///     }
/// }
///
/// let store: &dyn Store = &Cached { hot: HashMap::from([("one".into(), 1)]) };
/// assert_eq!(store.get("one").into_ready().ok(), Some(Some(1))); // no future was made
/// assert_eq!(futures::executor::block_on(store.get("42")), Some(42));
/// ```
///
/// [`ValueTask::ready`]: https://docs.rs/valuetask/latest/valuetask/struct.ValueTask.html#method.ready
/// [`ValueTask`]: https://docs.rs/valuetask/latest/valuetask/struct.ValueTask.html
/// [`ValueTask::from_future`]: https://docs.rs/valuetask/latest/valuetask/struct.ValueTask.html#method.from_future
#[proc_macro_attribute]
pub fn async_trait(args: TokenStream, input: TokenStream) -> TokenStream {
    attribute::expand(args.into(), input.into()).into()
}

/// Not public API: what `#[async_trait]` leaves on a method that carries other
/// attributes, so that they expand first. It turns the `async fn` they produce into the
/// `ValueTask` method. Its argument is empty or `?Send`, as the outer attribute's was.
#[doc(hidden)]
#[proc_macro_attribute]
pub fn async_trait_method(args: TokenStream, input: TokenStream) -> TokenStream {
    method::expand_deferred(args.into(), input.into()).into()
}
