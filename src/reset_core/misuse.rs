//! The panics of a misused `ResetCore`: each names the token, and
//! a stale one says truthfully whether it is older or newer than the current one.

use crate::source::Token;

#[cold]
#[inline(never)]
#[track_caller]
pub(super) fn already_taken(token: Token) -> ! {
    panic!(
        "ResetCore::poll_result: the result of token {token:?} was already taken; \
         a ValueTask polled after completion, or two tasks share one token"
    )
}

#[cold]
#[inline(never)]
#[track_caller]
pub(super) fn two_pollers(token: Token) -> ! {
    panic!(
        "ResetCore::poll_result: token {token:?} is being polled from two places at once; \
         one operation has one consumer"
    )
}

#[cold]
#[inline(never)]
#[track_caller]
pub(super) fn stale_token(current: Token, token: Token, method: &str) -> ! {
    let (token, current_generation) = (token.generation(), current.generation());
    if token == current_generation {
        panic!(
            "ResetCore::{method}: stale token: generation {token} is being reset to \
             generation {} right now; the producer started the next operation while a task \
             still polled this one",
            current.next().generation()
        )
    }
    if Token::new(token).is_older_than(current) {
        panic!(
            "ResetCore::{method}: stale token: generation {token} is older than the core's \
             current generation {current_generation}; the core was reset after this token \
             was handed out (the producer started the next operation while a task still \
             held this one)"
        )
    }
    panic!(
        "ResetCore::{method}: stale token: generation {token} is newer than the core's \
         current generation {current_generation}; this core never handed it out (a token \
         of another core, or made with Token::new)"
    )
}
