//! `#[tracing::instrument]` on methods under `#[valuetask::async_trait]`: the span is made
//! when the task is first polled, is entered around every poll of the body (not only
//! around the call that makes the task), is named after the method, and takes tracing's
//! own arguments (`skip`, `fields`, `err`, `ret`, `level`) as written. A subscriber of
//! this file records what tracing reports, and the tests poll the tasks by hand.

mod support;

use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use support::poll::{poll_noop, yield_once};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use valuetask::{LocalValueTask, ValueTask, async_trait};

// ---- the traits and impls under test ------------------------------------------------

#[async_trait]
trait Counter: Send + Sync {
    async fn add(&self, amount: u32) -> u32;
    async fn check(&self, limit: u32) -> Result<u32, String>;
    async fn quiet(&self, secret: &str) -> usize;
    /// A default body, instrumented in the trait.
    #[tracing::instrument(level = "debug", skip(self))]
    async fn twice(&self, amount: u32) -> u32 {
        let first = self.add(amount).await;
        yield_once().await;
        first + self.add(amount).await
    }
}

#[derive(Debug)]
struct Base(u32);

#[async_trait]
impl Counter for Base {
    /// Suspends once, so the body is polled twice.
    #[tracing::instrument(fields(base = self.0), ret)]
    async fn add(&self, amount: u32) -> u32 {
        tracing::info!(inside = amount);
        yield_once().await;
        tracing::info!(after = amount);
        self.0 + amount
    }

    #[tracing::instrument(skip(self), err)]
    async fn check(&self, limit: u32) -> Result<u32, String> {
        yield_once().await;
        if limit < self.0 {
            return Err(format!("{limit} is under {}", self.0));
        }
        Ok(limit - self.0)
    }

    #[tracing::instrument(skip_all, level = "trace")]
    async fn quiet(&self, secret: &str) -> usize {
        secret.len()
    }
}

#[async_trait(?Send)]
trait LocalCounter {
    async fn add(&self, amount: u32) -> u32;
}

#[async_trait(?Send)]
impl LocalCounter for std::rc::Rc<Base> {
    #[tracing::instrument(skip(self))]
    async fn add(&self, amount: u32) -> u32 {
        yield_once().await;
        self.0 + amount
    }
}

// ---- a subscriber that records what it is told --------------------------------------

/// What the subscriber saw, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// A span was made: its name, level and fields (`name=value`).
    New(&'static str, Level, Vec<String>),
    Enter(&'static str),
    Exit(&'static str),
    /// An event: its level, its fields, and the spans entered when it happened,
    /// innermost last.
    Event(Level, Vec<String>, Vec<&'static str>),
}

#[derive(Clone, Default)]
struct Recorder {
    inner: Arc<Mutex<RecorderState>>,
}

#[derive(Default)]
struct RecorderState {
    /// Span names by id (ids are indexes + 1).
    names: Vec<&'static str>,
    /// The spans entered now, innermost last.
    entered: Vec<&'static str>,
    seen: Vec<Seen>,
}

/// Collects fields as `name=value`, with `Debug` formatting.
struct Fields(Vec<String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    fn name_of(&self, id: &Id) -> &'static str {
        let index = usize::try_from(id.into_u64() - 1).unwrap();
        self.inner.lock().unwrap().names[index]
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(Vec::new());
        span.record(&mut fields);
        let metadata = span.metadata();
        let mut state = self.inner.lock().unwrap();
        state.names.push(metadata.name());
        let seen = Seen::New(metadata.name(), *metadata.level(), fields.0);
        state.seen.push(seen);
        Id::from_u64(u64::try_from(state.names.len()).unwrap())
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let mut state = self.inner.lock().unwrap();
        let entered = state.entered.clone();
        let seen = Seen::Event(*event.metadata().level(), fields.0, entered);
        state.seen.push(seen);
    }

    fn enter(&self, span: &Id) {
        let name = self.name_of(span);
        let mut state = self.inner.lock().unwrap();
        state.entered.push(name);
        state.seen.push(Seen::Enter(name));
    }

    fn exit(&self, span: &Id) {
        let name = self.name_of(span);
        let mut state = self.inner.lock().unwrap();
        assert_eq!(state.entered.pop(), Some(name), "spans exit in order");
        state.seen.push(Seen::Exit(name));
    }
}

/// Polls `task` to its end under a fresh recorder, one poll at a time, drops it, and
/// returns the output, the number of polls, and what the recorder saw. The task is made
/// before the recorder is installed, so anything the call itself traced would be lost:
/// the span must come from the polls. (tracing enters the span once more to drop the
/// body's future: the last enter and exit.)
fn run<F: Future + Unpin>(mut task: F) -> (F::Output, usize, Vec<Seen>) {
    let recorder = Recorder::default();
    let (output, polls) = tracing::subscriber::with_default(recorder.clone(), || {
        let mut polls = 0;
        loop {
            polls += 1;
            if let Poll::Ready(output) = poll_noop(&mut task) {
                drop(task);
                return (output, polls);
            }
        }
    });
    (output, polls, recorder.seen())
}

/// How often the span named `name` was entered.
fn enters(seen: &[Seen], name: &str) -> usize {
    seen.iter()
        .filter(|seen| matches!(seen, Seen::Enter(entered) if *entered == name))
        .count()
}

fn info(fields: &[&str], within: &[&'static str]) -> Seen {
    let fields = fields.iter().map(|field| (*field).to_owned()).collect();
    Seen::Event(Level::INFO, fields, within.to_vec())
}

// ---- the tests ----------------------------------------------------------------------

#[test]
fn the_span_is_entered_around_every_poll_of_the_body() {
    let base = Base(10);
    let task: ValueTask<'_, u32> = base.add(5);
    let (output, polls, seen) = run(task);
    assert_eq!(output, 15);
    assert_eq!(polls, 2);
    assert_eq!(
        seen,
        [
            // `self` is recorded under its own name, as on any instrumented method.
            Seen::New(
                "add",
                Level::INFO,
                vec!["self=Base(10)".into(), "amount=5".into(), "base=10".into()]
            ),
            Seen::Enter("add"),
            info(&["inside=5"], &["add"]),
            Seen::Exit("add"),
            Seen::Enter("add"),
            info(&["after=5"], &["add"]),
            info(&["return=15"], &["add"]),
            Seen::Exit("add"),
            Seen::Enter("add"),
            Seen::Exit("add"),
        ]
    );
}

#[test]
fn err_reports_the_error_and_skip_leaves_self_out() {
    let base = Base(10);
    let (output, polls, seen) = run(base.check(3));
    assert_eq!(output, Err("3 is under 10".to_owned()));
    assert_eq!(polls, 2);
    assert_eq!(
        seen[0],
        Seen::New("check", Level::INFO, vec!["limit=3".into()])
    );
    let error = Seen::Event(
        Level::ERROR,
        vec!["error=3 is under 10".into()],
        vec!["check"],
    );
    assert!(seen.contains(&error), "{seen:?}");
    assert_eq!(enters(&seen, "check"), polls + 1, "{seen:?}");

    let (output, _, seen) = run(base.check(12));
    assert_eq!(output, Ok(2));
    let errors = seen
        .iter()
        .filter(|seen| matches!(seen, Seen::Event(Level::ERROR, ..)));
    assert_eq!(errors.count(), 0, "{seen:?}");
}

#[test]
fn level_and_skip_all_are_kept() {
    let base = Base(1);
    let (output, polls, seen) = run(base.quiet("hidden"));
    assert_eq!((output, polls), (6, 1));
    assert_eq!(
        seen,
        [
            Seen::New("quiet", Level::TRACE, Vec::new()),
            Seen::Enter("quiet"),
            Seen::Exit("quiet"),
            Seen::Enter("quiet"),
            Seen::Exit("quiet"),
        ]
    );
}

#[test]
fn an_instrumented_default_body_nests_the_spans_of_the_methods_it_awaits() {
    let base = Base(1);
    let (output, _, seen) = run(base.twice(2));
    assert_eq!(output, 6);
    assert_eq!(
        seen[0],
        Seen::New("twice", Level::DEBUG, vec!["amount=2".into()])
    );
    // Every event of `add` happened inside `add` inside `twice`.
    let nested = seen.iter().filter(|seen| match seen {
        Seen::Event(_, _, within) => within == &["twice", "add"],
        _ => false,
    });
    assert_eq!(nested.count(), 6, "{seen:?}");
    let made = seen.iter().filter(|seen| matches!(seen, Seen::New(..)));
    assert_eq!(made.count(), 3, "one span for twice, one per add: {seen:?}");
}

#[test]
fn an_instrumented_local_method_spans_its_polls() {
    let base = std::rc::Rc::new(Base(4));
    let task: LocalValueTask<'_, u32> = base.add(1);
    let (output, polls, seen) = run(task);
    assert_eq!((output, polls), (5, 2));
    assert_eq!(
        seen[0],
        Seen::New("add", Level::INFO, vec!["amount=1".into()])
    );
    assert_eq!(enters(&seen, "add"), polls + 1, "{seen:?}");
}

#[test]
fn a_task_dropped_unpolled_makes_no_span() {
    let base = Base(1);
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || drop(base.add(1)));
    assert_eq!(recorder.seen(), []);
}
