//! Where an operation of a [`ResetCore`] stands: [`ResetCore::status`],
//! [`ResetCore::try_status`], and the [`Source`] implementation that a
//! [`ValueTask::from_source`](crate::ValueTask::from_source) drives.

use std::task::{Context, Poll};

use super::ResetCore;
use super::misuse::stale_token;
use crate::source::{Source, Status, Token};
use crate::sync::Ordering;

impl<T> ResetCore<T> {
    /// Where operation `token` stands.
    ///
    /// # Panics
    ///
    /// Panics if `token` is stale; [`try_status`](Self::try_status) answers `None` instead.
    pub fn status(&self, token: Token) -> Status {
        // ORDERING: Acquire pairs with the completer's Release publication, so a `Ready`
        // answer means a poll that follows finds the value.
        let state = self.load(Ordering::Acquire);
        if state.token() != token {
            stale_token(state.token(), token, "status");
        }
        state.status()
    }

    /// Where operation `token` stands, or `None` if `token` is not the current
    /// operation's. Never panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::{ResetCore, Status};
    ///
    /// let core = ResetCore::new();
    /// let token = core.token();
    /// assert_eq!(core.try_status(token), Some(Status::Pending));
    /// core.complete(token, 1).unwrap();
    /// assert_eq!(core.try_status(token), Some(Status::Ready));
    /// core.reset();
    /// assert_eq!(core.try_status(token), None); // stale
    /// ```
    pub fn try_status(&self, token: Token) -> Option<Status> {
        // ORDERING: Acquire, as in `status`.
        let state = self.load(Ordering::Acquire);
        (state.token() == token).then(|| state.status())
    }
}

impl<T: Send> Source<T> for ResetCore<T> {
    #[inline]
    fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<T> {
        ResetCore::poll_result(self, token, cx)
    }

    #[inline]
    fn status(&self, token: Token) -> Status {
        ResetCore::status(self, token)
    }

    #[inline]
    fn try_status(&self, token: Token) -> Option<Status> {
        ResetCore::try_status(self, token)
    }
}
