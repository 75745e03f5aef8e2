//! Transforming a [`ValueTask`]'s result without giving up its ready path: `map`, and
//! `From<T>` for the ready value.

use crate::task::ValueTask;

impl<'a, T: Send + 'a> ValueTask<'a, T> {
    /// A task whose result is `f` of this task's result.
    ///
    /// A ready task stays ready: `f` runs at once and nothing is allocated, so a `dyn`
    /// method can transform a cache hit and keep the fast path. Otherwise `f` runs when
    /// the result arrives, in a pooled future ([`from_future`](Self::from_future)).
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::ValueTask;
    ///
    /// let task = ValueTask::ready(20).map(|n| n + 1);
    /// assert!(task.is_ready()); // still the ready value, no allocation
    /// assert_eq!(task.into_ready().ok(), Some(21));
    ///
    /// let later = ValueTask::from_future(async { 20 }).map(|n| n * 2);
    /// assert_eq!(futures::executor::block_on(later), 40);
    /// ```
    pub fn map<U: Send, F>(self, f: F) -> ValueTask<'a, U>
    where
        F: FnOnce(T) -> U + Send + 'a,
    {
        match self.into_ready() {
            Ok(value) => ValueTask::ready(f(value)),
            Err(task) => ValueTask::from_future(async move { f(task.await) }),
        }
    }
}

/// The ready value: `ValueTask::from(v)` is [`ValueTask::ready(v)`](ValueTask::ready),
/// so `value.into()` returns a cache hit from a method whose return type is a task.
impl<T: Send> From<T> for ValueTask<'_, T> {
    #[inline]
    fn from(value: T) -> Self {
        Self::ready(value)
    }
}
