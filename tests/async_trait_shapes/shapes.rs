// Every input shape the attribute accepts, written once and included twice by
// tests/async_trait_compat.rs: under `use async_trait::async_trait;` and under
// `use valuetask::async_trait;`. Both must compile, and `run` must return the same log.
//
// The including module provides `async_trait`, the attribute under test.

use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What the methods did, in order, for comparing the two expansions.
pub type Log = Arc<Mutex<Vec<String>>>;

fn note(log: &Log, entry: impl Into<String>) {
    log.lock().unwrap().push(entry.into());
}

// ---- receivers, associated functions, default bodies --------------------------------

#[async_trait]
pub trait Receivers {
    type Item;

    async fn by_value(self) -> String
    where
        Self: Sized;
    async fn by_ref(&self) -> String;
    async fn by_mut(&mut self, add: u32) -> u32;
    async fn boxed(self: Box<Self>) -> String;
    async fn arc(self: Arc<Self>) -> String;
    async fn pinned(self: Pin<&mut Self>) -> u32;
    #[allow(clippy::needless_arbitrary_self_type)]
    async fn typed_ref(self: &Self) -> String;
    /// An associated function, kept out of the `dyn` vtable.
    async fn make(value: u32) -> Self::Item
    where
        Self: Sized;

    /// A default body calling the other methods, through `self`, `Self` and `<Self>`.
    async fn calls(&mut self) -> String {
        yield_once().await;
        let n = self.by_mut(1).await;
        let r = self.by_ref().await;
        let t = <Self>::typed_ref(self).await;
        format!("{n} {r} {t}")
    }
}

/// Associated consts and types, used by default bodies.
#[async_trait]
pub trait Constants {
    const NAME: &'static str;
    type Unit: Default + Send;

    async fn named(&self) -> &'static str {
        Self::NAME
    }
    async fn unit() -> Self::Unit {
        Self::Unit::default()
    }
}

#[async_trait]
impl Constants for Counter {
    const NAME: &'static str = "counter";
    type Unit = ();
}

#[derive(Default)]
pub struct Counter {
    count: u32,
}

#[async_trait]
impl Receivers for Counter {
    type Item = Counter;

    async fn by_value(self) -> String {
        format!("by_value {}", self.count)
    }

    async fn by_ref(&self) -> String {
        yield_once().await;
        format!("by_ref {}", self.count)
    }

    async fn by_mut(&mut self, add: u32) -> u32 {
        self.count += add;
        yield_once().await;
        self.count
    }

    async fn boxed(self: Box<Self>) -> String {
        format!("boxed {}", self.count)
    }

    async fn arc(self: Arc<Self>) -> String {
        yield_once().await;
        format!("arc {}", self.count)
    }

    async fn pinned(mut self: Pin<&mut Self>) -> u32 {
        self.count += 10;
        self.count
    }

    async fn typed_ref(self: &Self) -> String {
        format!("typed_ref {}", self.count)
    }

    async fn make(value: u32) -> Counter {
        Counter { count: value }
    }
}

/// `mut self` and `mut self: &Self`: the binding's `mut` stays in the body.
#[async_trait]
pub trait MutBindings {
    async fn take(mut self) -> Vec<u8>
    where
        Self: Sized;
    async fn rebind(&self) -> usize;
}

#[async_trait]
impl MutBindings for Vec<u8> {
    async fn take(mut self) -> Vec<u8> {
        self.push(1);
        self
    }

    async fn rebind(mut self: &Self) -> usize {
        let empty: &Vec<u8> = &Vec::new();
        let before = self.len();
        self = empty;
        before + self.len()
    }
}

// ---- generics and lifetimes ---------------------------------------------------------

#[async_trait]
pub trait Generic<T: Send + 'static> {
    async fn put(&self, value: T) -> Vec<T>;
    async fn map<U: Send, F>(&self, value: U, f: F) -> (U, T)
    where
        F: FnOnce(&U) -> T + Send;
    async fn array<const N: usize>(items: [u8; N]) -> usize {
        items.len()
    }
    async fn with_bound<'b, X: Display + Send + Sync + 'b>(&self, x: &'b X) -> String
    where
        T: 'async_trait,
    {
        yield_once().await;
        format!("<{x}>")
    }
}

pub struct Maker;

#[async_trait]
impl Generic<String> for Maker {
    async fn put(&self, value: String) -> Vec<String> {
        yield_once().await;
        vec![value.clone(), value]
    }

    async fn map<U: Send, F>(&self, value: U, f: F) -> (U, String)
    where
        F: FnOnce(&U) -> String + Send,
    {
        let out = f(&value);
        (value, out)
    }
}

pub struct Text<'a>(pub &'a str);

#[async_trait]
pub trait Lifetimes<'a> {
    async fn first(text: Text<'a>) -> &'a str;
    async fn elided(&self, s: &str, t: &'_ str) -> usize;
    async fn explicit<'x, 'y: 'x>(&self, x: &'x str, y: &'y str) -> &'x str;
    async fn chained(&self, text: &'a &'a str) -> &'a str {
        *text
    }
    async fn both(one: Text<'a>, two: Text<'_>) -> String {
        let first = Self::first(one).await;
        format!("{first}{}", two.0)
    }
}

pub struct Splitter;

#[async_trait]
impl<'a> Lifetimes<'a> for Splitter {
    async fn first(text: Text<'a>) -> &'a str {
        text.0.split(' ').next().unwrap_or("")
    }

    async fn elided(&self, s: &str, t: &'_ str) -> usize {
        yield_once().await;
        s.len() + t.len()
    }

    async fn explicit<'x, 'y: 'x>(&self, x: &'x str, y: &'y str) -> &'x str {
        if x.len() >= y.len() { x } else { y }
    }
}

/// An impl for a type with a lifetime, elided in the impl header.
pub struct Borrowing<'a>(pub &'a str);

#[async_trait]
pub trait Loader {
    async fn load(&self, key: &str) -> String;
}

#[async_trait]
impl Loader for Borrowing<'_> {
    async fn load(&self, key: &str) -> String {
        format!("{}:{key}", self.0)
    }
}

// ---- impl Trait arguments, patterns -------------------------------------------------

#[async_trait]
pub trait Arguments {
    async fn callback(&self, f: impl FnMut(&str) -> usize + Send) -> usize;
    async fn by_ref(value: &(impl Display + Sync)) -> String {
        value.to_string()
    }
    async fn destructure(&self, pair: (u8, u8), point: Point) -> u32;
    async fn wildcard(&self, _: Flag<'_>, flag: &AtomicUsize) -> usize;
    async fn reference_pattern(&self, pair: &(u8, u8)) -> u8;
}

pub struct Point {
    pub x: u32,
    pub y: u32,
}

/// Counts its drops, so the order of drops can be compared.
pub struct Flag<'a>(pub &'a AtomicUsize);

impl Drop for Flag<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(100, Ordering::SeqCst);
    }
}

pub struct Args;

#[async_trait]
impl Arguments for Args {
    async fn callback(&self, mut f: impl FnMut(&str) -> usize + Send) -> usize {
        yield_once().await;
        f("four") + f("two")
    }

    async fn destructure(&self, (a, mut b): (u8, u8), Point { x, y: ref why }: Point) -> u32 {
        b += 1;
        u32::from(a) + u32::from(b) + x + *why
    }

    async fn wildcard(&self, _: Flag<'_>, flag: &AtomicUsize) -> usize {
        // The `_` argument lives until the body ends, as in an `async fn`.
        yield_once().await;
        flag.fetch_add(1, Ordering::SeqCst)
    }

    async fn reference_pattern(&self, &(a, b): &(u8, u8)) -> u8 {
        a + b
    }
}

// ---- attributes, cfg, unsafe, visibility --------------------------------------------

#[async_trait]
pub trait Attributes {
    /// A documented method.
    #[allow(non_snake_case)]
    async fn camelCase(&self) -> u8;
    #[cfg(any())]
    async fn compiled_out(&self) -> NoSuchType;
    #[cfg(all())]
    async fn compiled_in(&self) -> u8 {
        7
    }
    async fn cfg_args(&self, a: u8, b: u8) -> u8;
}

pub struct Attributed;

#[async_trait]
impl Attributes for Attributed {
    #[allow(non_snake_case)]
    #[inline]
    async fn camelCase(&self) -> u8 {
        1
    }

    async fn cfg_args(&self, #[cfg(any())] a: NoSuchType, #[cfg(all())] a: u8, b: u8) -> u8 {
        a * b
    }
}

/// # Safety
///
/// Nothing to uphold: the shape is what is tested.
#[async_trait]
pub unsafe trait UnsafeTrait {
    async fn unsafe_trait_method(&self) -> u8 {
        3
    }
}

// SAFETY: the trait asks nothing.
#[async_trait]
unsafe impl UnsafeTrait for Attributed {}

#[async_trait]
pub(crate) trait CrateVisible: Sync {
    async fn visible(&self) -> u8 {
        4
    }
}

#[async_trait]
impl CrateVisible for Attributed {}

// ---- impls for references and for dyn Trait; supertraits ---------------------------

#[async_trait]
pub trait Service: Send + Sync {
    async fn call(&self, n: u32) -> u32;
}

pub struct Double;

#[async_trait]
impl Service for Double {
    async fn call(&self, n: u32) -> u32 {
        yield_once().await;
        n * 2
    }
}

#[async_trait]
impl<S: ?Sized + Service> Service for &S {
    async fn call(&self, n: u32) -> u32 {
        (**self).call(n).await + 1
    }
}

#[async_trait]
impl<S: ?Sized + Service> Service for Box<S> {
    async fn call(&self, n: u32) -> u32 {
        (**self).call(n).await + 10
    }
}

#[async_trait]
pub trait Describe {
    async fn describe(&self) -> String;
}

#[async_trait]
impl Describe for dyn Service {
    async fn describe(&self) -> String {
        format!("service({})", self.call(1).await)
    }
}

#[async_trait]
impl Describe for dyn Fn(u8) -> u8 + Send + Sync {
    async fn describe(&self) -> String {
        format!("fn({})", self(2))
    }
}

/// Outputs that need not be `Send` (a generic `T`, an associated type), awaited by a
/// forwarding impl: its future holds the inner call's future across the `.await`.
#[async_trait]
pub trait Forward: Send + Sync {
    type Output;
    async fn output(&self) -> Self::Output;
    async fn run<F, T>(&self, work: F) -> T
    where
        F: FnOnce(u8) -> T + Send;
}

#[async_trait]
impl Forward for Double {
    type Output = Rc<u8>;

    async fn output(&self) -> Rc<u8> {
        yield_once().await;
        Rc::new(8)
    }

    async fn run<F, T>(&self, work: F) -> T
    where
        F: FnOnce(u8) -> T + Send,
    {
        yield_once().await;
        work(2)
    }
}

#[async_trait]
impl<P: ?Sized + Forward> Forward for &P {
    type Output = P::Output;

    async fn output(&self) -> P::Output {
        (**self).output().await
    }

    async fn run<F, T>(&self, work: F) -> T
    where
        F: FnOnce(u8) -> T + Send,
    {
        (**self).run(work).await
    }
}

/// `Sync` as a supertrait, spelled out with its path: no `Self: Sync` is added.
#[async_trait]
pub trait PathSupertrait: ::core::marker::Sync {
    async fn default_ref(&self) -> u8 {
        5
    }
}

impl PathSupertrait for Double {}

/// A generic blanket impl whose body calls a bound's method through `Self`.
pub trait Named {
    fn name() -> &'static str;
}

#[async_trait]
pub trait Greet {
    async fn greet() -> String;
}

#[async_trait]
impl<T: Named> Greet for T {
    async fn greet() -> String {
        format!("hello {}", Self::name())
    }
}

impl Named for Double {
    fn name() -> &'static str {
        "double"
    }
}

// ---- bodies: self in macros, inference, recursion, early return ---------------------

#[async_trait]
pub trait Bodies {
    async fn in_macro(&self) -> String;
    async fn local_macro(&self) -> usize {
        macro_rules! length {
            () => {
                self.in_macro().await.len()
            };
        }
        length!()
    }
    async fn inferred() -> Box<dyn Iterator<Item = u8> + Send> {
        Box::new(vec![1, 2].into_iter())
    }
    async fn early(&self, stop: bool) -> &'static str {
        if stop {
            return "early";
        }
        yield_once().await;
        "late"
    }
    async fn recurse(&self, depth: u32) -> u32
    where
        Self: Sync,
    {
        if depth == 0 { 0 } else { 1 + self.recurse(depth - 1).await }
    }
    async fn impl_in_return(&self) -> Result<impl AsRef<str> + Send + Sync, ()>;
    async fn nested_item(&self) -> u8 {
        struct Inner;
        impl Inner {
            fn get(self) -> u8 {
                let _ = self;
                9
            }
        }
        Inner.get()
    }
}

#[async_trait]
impl Bodies for String {
    async fn in_macro(&self) -> String {
        format!("{}!", self)
    }

    async fn impl_in_return(&self) -> Result<impl AsRef<str> + Send + Sync, ()> {
        Ok("in return")
    }
}

// ---- ?Send: Rc and RefCell held across .await --------------------------------------

#[async_trait(?Send)]
pub trait LocalCache {
    async fn get(&self, key: &str) -> Option<Rc<String>>;
    async fn insert(&self, key: String, value: String);
    async fn get_or_insert(&self, key: &str) -> Rc<String> {
        if let Some(value) = self.get(key).await {
            return value;
        }
        self.insert(key.to_owned(), key.to_uppercase()).await;
        self.get(key).await.unwrap()
    }
}

#[derive(Default)]
pub struct RcCache {
    map: RefCell<Vec<(String, Rc<String>)>>,
    hits: Cell<u32>,
}

#[async_trait(?Send)]
impl LocalCache for RcCache {
    async fn get(&self, key: &str) -> Option<Rc<String>> {
        let held = Rc::new(key.to_owned());
        yield_once().await;
        let map = self.map.borrow();
        let found = map.iter().find(|(k, _)| *k == *held).map(|(_, v)| Rc::clone(v));
        self.hits.set(self.hits.get() + u32::from(found.is_some()));
        found
    }

    async fn insert(&self, key: String, value: String) {
        let mut map = self.map.borrow_mut();
        map.push((key, Rc::new(value)));
    }
}

/// `?Send` with a `Sync` supertrait and a default body, as a `dyn` object.
#[async_trait(?Send)]
pub trait LocalDefault: Sync {
    async fn value(&self) -> u8 {
        6
    }
}

#[async_trait(?Send)]
impl LocalDefault for Double {}

// ---- drop order ---------------------------------------------------------------------

#[async_trait]
pub trait DropOrder {
    async fn consume(_: Flag<'_>, flag: &AtomicUsize);
    async fn consume_self(self, flag: &AtomicUsize)
    where
        Self: Sized;
}

#[async_trait]
impl DropOrder for Flag<'_> {
    async fn consume(_: Flag<'_>, flag: &AtomicUsize) {
        flag.fetch_add(1, Ordering::SeqCst);
    }

    async fn consume_self(self, flag: &AtomicUsize) {
        // `self` is dropped after this, when the body ends.
        flag.store(flag.load(Ordering::SeqCst) * 2, Ordering::SeqCst);
    }
}

// ---- more shapes: where clauses, Self constructors, macros, patterns ----------------

/// Where clauses on the trait, including one written through a macro.
macro_rules! same {
    ($($tt:tt)*) => {
        $($tt)*
    };
}

#[async_trait]
pub trait Bounded
where
    Box<Self>: Sized,
    same!(Self): Sized + Send,
{
    async fn one() -> u8 {
        1
    }
    async fn build(value: u8) -> Self;
    async fn consume(mut self) -> u8 {
        self.bump();
        self.value()
    }
    fn bump(&mut self);
    fn value(&self) -> u8;
}

#[derive(Debug, PartialEq)]
pub struct Unit;
pub struct Tuple(pub u8);

#[async_trait]
impl Bounded for Unit {
    async fn build(_: u8) -> Self {
        Self
    }
    fn bump(&mut self) {}
    fn value(&self) -> u8 {
        0
    }
}

#[async_trait]
impl Bounded for Tuple {
    async fn build(value: u8) -> Self {
        let made = Self(value);
        let Self(inner) = made;
        Self(inner)
    }
    fn bump(&mut self) {
        self.0 += 1;
    }
    fn value(&self) -> u8 {
        self.0
    }
}

/// A trait and its impl made by `macro_rules!`, with generic parameters from fragments.
macro_rules! make_trait {
    ($name:ident, $param:ident : $bound:ident, $ty:ty, $value:expr) => {
        #[async_trait]
        pub trait $name {
            async fn echo<$param: $bound>(&self, x: $param) -> $param {
                x
            }
            async fn id(&self) -> i32;
        }

        #[async_trait]
        impl $name for $ty {
            async fn id(&self) -> i32 {
                $value
            }
        }
    };
}

make_trait!(Made, K: Send, Unit, 42);

/// A default type parameter bounded by `'async_trait`; `-> ()` written out; module paths
/// starting with `self::`; returns coerced to a trait object.
pub trait Shape {
    fn sides(&self) -> u8;
}

impl Shape for Unit {
    fn sides(&self) -> u8 {
        4
    }
}

static SQUARE: Unit = Unit;

fn module_level() -> u8 {
    11
}

#[async_trait]
#[allow(unused_qualifications)]
pub trait Misc<T = ()> {
    async fn label(&self) -> &str
    where
        T: 'async_trait,
    {
        "default"
    }
    async fn unit(&mut self) -> () {
        let _ = &mut self;
    }
    async fn module_path(&self) -> u8 {
        self::module_level()
    }
    async fn shape() -> &'static dyn Shape {
        return &SQUARE;
    }
}

#[async_trait]
impl<T> Misc<T> for Unit {}

/// Patterns with `_` and `..` parts; `#[cfg]` on generic parameters and arguments.
#[async_trait]
pub trait Patterns {
    async fn parts(pair: Pair<Flag<'_>, u8>, flag: &AtomicUsize) -> usize;
    async fn rest(pair: Pair<Flag<'_>, u8>, flag: &AtomicUsize) -> usize;
    async fn cfg_generic<#[cfg(all())] G: Send + 'static>(#[cfg(all())] g: G) -> usize;
}

pub struct Pair<A, B>(pub A, pub B);

#[async_trait]
impl Patterns for Unit {
    // When the `_` and `..` parts are dropped differs: async-trait drops them as the
    // pattern binds, valuetask when the body ends, as an `async fn` does (pinned in
    // tests/async_trait.rs). Here only the bindings are compared.
    async fn parts(Pair(_, b): Pair<Flag<'_>, u8>, flag: &AtomicUsize) -> usize {
        let _ = flag;
        usize::from(b)
    }

    async fn rest(Pair { 1: b, .. }: Pair<Flag<'_>, u8>, flag: &AtomicUsize) -> usize {
        let _ = flag;
        usize::from(b)
    }

    async fn cfg_generic<#[cfg(all())] G: Send + 'static>(#[cfg(all())] g: G) -> usize {
        size_of_val(&g)
    }
}

/// `self` captured by a `select!`-like macro in the body.
#[async_trait]
pub trait Selects {
    async fn pick(self: Arc<Self>) -> u8;
}

#[async_trait]
impl Selects for Tuple {
    async fn pick(self: Arc<Self>) -> u8 {
        futures::select! {
            value = futures::FutureExt::fuse(async { self.0 }) => value,
        }
    }
}

// ---- running it all -----------------------------------------------------------------

/// Drives every shape above and logs the results; the caller runs it on an executor.
pub async fn run(log: Log) {
    let mut counter = Counter { count: 1 };
    note(&log, counter.by_ref().await);
    note(&log, counter.calls().await);
    note(&log, Box::new(Counter { count: 2 }).boxed().await);
    note(&log, Arc::new(Counter { count: 3 }).arc().await);
    let mut pinned = Counter { count: 4 };
    note(&log, Pin::new(&mut pinned).pinned().await.to_string());
    note(&log, Counter::make(5).await.by_value().await);
    note(&log, counter.named().await);
    {
        let object: &dyn Receivers<Item = Counter> = &counter;
        note(&log, object.by_ref().await);
        note(&log, format!("{:?}", Counter::unit().await));
    }
    let mut boxed: Box<dyn Receivers<Item = Counter> + Send> = Box::new(Counter::default());
    note(&log, boxed.calls().await);

    note(&log, format!("{:?}", vec![9u8].take().await));
    note(&log, vec![1u8, 2].rebind().await.to_string());

    note(&log, format!("{:?}", Maker.put("x".to_owned()).await));
    note(&log, format!("{:?}", Maker.map(3u8, |n| n.to_string()).await));
    note(&log, <Maker as Generic<String>>::array([1, 2, 3]).await.to_string());
    note(&log, Maker.with_bound(&42).await);

    let text = String::from("alpha beta");
    note(&log, Splitter::first(Text(&text)).await);
    note(&log, Splitter.elided("ab", "cde").await.to_string());
    note(&log, Splitter.explicit("long", "s").await);
    let chained: &str = &text;
    note(&log, Splitter.chained(&chained).await);
    note(&log, Splitter::both(Text(&text), Text("!")).await);
    note(&log, Borrowing(&text).load("k").await);

    note(&log, Args.callback(|s| s.len()).await.to_string());
    note(&log, Args::by_ref(&"shown").await);
    note(&log, Args.destructure((1, 2), Point { x: 3, y: 4 }).await.to_string());
    let flag = AtomicUsize::new(0);
    let before = Args.wildcard(Flag(&flag), &flag).await;
    note(&log, format!("wildcard {before} {}", flag.load(Ordering::SeqCst)));
    note(&log, Args.reference_pattern(&(2, 3)).await.to_string());

    note(&log, Attributed.camelCase().await.to_string());
    note(&log, Attributed.compiled_in().await.to_string());
    note(&log, Attributed.cfg_args(2, 3).await.to_string());
    note(&log, Attributed.unsafe_trait_method().await.to_string());
    note(&log, Attributed.visible().await.to_string());

    let service: &dyn Service = &Double;
    note(&log, service.call(4).await.to_string());
    note(&log, (&service).call(4).await.to_string());
    let boxed_service: Box<dyn Service> = Box::new(Double);
    note(&log, boxed_service.call(4).await.to_string());
    note(&log, Box::new(Double).call(4).await.to_string());
    note(&log, service.describe().await);
    let function: &(dyn Fn(u8) -> u8 + Send + Sync) = &|n| n * 3;
    note(&log, function.describe().await);
    note(&log, Double.default_ref().await.to_string());
    note(&log, <&Double as Forward>::output(&&Double).await.to_string());
    note(&log, <&Double as Forward>::run(&&Double, |n| Rc::new(n * 3)).await.to_string());
    note(&log, Double::greet().await);

    let string = String::from("hi");
    note(&log, string.in_macro().await);
    note(&log, string.local_macro().await.to_string());
    note(&log, format!("{:?}", String::inferred().await.collect::<Vec<_>>()));
    note(&log, string.early(true).await);
    note(&log, string.early(false).await);
    note(&log, string.recurse(5).await.to_string());
    note(&log, string.impl_in_return().await.unwrap().as_ref());
    note(&log, string.nested_item().await.to_string());

    note(&log, format!("{}", Unit::one().await));
    note(&log, format!("{:?}", Unit::build(1).await));
    note(&log, format!("{}", Tuple::build(4).await.consume().await));
    note(&log, format!("{}", Unit.echo(5u8).await));
    note(&log, format!("{}", Unit.id().await));
    note(&log, <Unit as Misc>::label(&Unit).await);
    let mut unit = Unit;
    <Unit as Misc<u8>>::unit(&mut unit).await;
    note(&log, format!("{}", <Unit as Misc>::module_path(&Unit).await));
    note(&log, format!("{}", <Unit as Misc>::shape().await.sides()));
    let flag = AtomicUsize::new(0);
    let parts = Unit::parts(Pair(Flag(&flag), 2), &flag).await;
    note(&log, format!("parts {parts} {}", flag.load(Ordering::SeqCst)));
    let flag = AtomicUsize::new(0);
    let rest = Unit::rest(Pair(Flag(&flag), 2), &flag).await;
    note(&log, format!("rest {rest} {}", flag.load(Ordering::SeqCst)));
    note(&log, format!("{}", Unit::cfg_generic(7u32).await));
    note(&log, format!("{}", Arc::new(Tuple(3)).pick().await));

    let flag = AtomicUsize::new(0);
    Flag::consume(Flag(&flag), &flag).await;
    note(&log, format!("consume {}", flag.load(Ordering::SeqCst)));
    let flag = AtomicUsize::new(1);
    Flag(&flag).consume_self(&flag).await;
    note(&log, format!("consume_self {}", flag.load(Ordering::SeqCst)));
    let flag = AtomicUsize::new(0);
    let pending = Flag::consume(Flag(&flag), &flag);
    note(&log, format!("not run yet {}", flag.load(Ordering::SeqCst)));
    drop(pending);
    note(&log, format!("dropped unrun {}", flag.load(Ordering::SeqCst)));
}

/// The `?Send` shapes, which must run on one thread.
pub async fn run_local(log: Log) {
    let cache = RcCache::default();
    note(&log, cache.get_or_insert("a").await.as_str());
    note(&log, cache.get_or_insert("a").await.as_str());
    note(&log, format!("hits {}", cache.hits.get()));
    let object: &dyn LocalCache = &cache;
    note(&log, format!("{:?}", object.get("a").await));
    let local: &dyn LocalDefault = &Double;
    note(&log, local.value().await.to_string());
}

/// Futures that must be `Send`, checked at compile time.
pub fn assert_send() {
    fn send<T: Send>(_: T) {}
    let counter = Counter::default();
    send(counter.by_ref());
    send(Double.call(1));
    send(String::new().recurse(1));
    send(run(Log::default()));
    send(<&Double as Forward>::output(&&Double));
    send(<&Double as Forward>::run(&&Double, Rc::new));
    let _ = PhantomData::<dyn Service>;
}

/// A future that returns `Pending` once (waking itself), then `Ready`.
pub fn yield_once() -> impl Future<Output = ()> + Send {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
}
