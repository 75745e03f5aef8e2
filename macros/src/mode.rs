//! The attribute's argument: nothing, or `?Send`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{Error, Token};

/// Which task the methods return.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `#[async_trait]`: `ValueTask`, whose future must be `Send`.
    Send,
    /// `#[async_trait(?Send)]`: `LocalValueTask`, whose future need not be.
    Local,
}

mod keyword {
    syn::custom_keyword!(Send);
}

impl Mode {
    /// Reads the attribute's argument tokens.
    pub(crate) fn from_args(args: TokenStream) -> syn::Result<Self> {
        let whole = |input: ParseStream<'_>| {
            let mode: Mode = input.parse()?;
            if input.is_empty() {
                Ok(mode)
            } else {
                Err(input.error("unexpected tokens"))
            }
        };
        syn::parse::Parser::parse2(whole, args).map_err(|_| {
            Error::new(
                Span::call_site(),
                "expected #[async_trait] or #[async_trait(?Send)]",
            )
        })
    }

    /// The task type's path, with no generic arguments, reported at `span`.
    pub(crate) fn task_path(self, span: Span) -> TokenStream {
        match self {
            Mode::Send => quote_spanned!(span=> ::valuetask::ValueTask),
            Mode::Local => quote_spanned!(span=> ::valuetask::LocalValueTask),
        }
    }

    /// The argument to hand on to the helper attribute of a deferred method.
    pub(crate) fn as_args(self) -> TokenStream {
        match self {
            Mode::Send => TokenStream::new(),
            Mode::Local => quote!(?Send),
        }
    }
}

/// Nothing, or `?Send`; what follows is the caller's business.
impl Parse for Mode {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if !input.peek(Token![?]) {
            return Ok(Mode::Send);
        }
        input.parse::<Token![?]>()?;
        input.parse::<keyword::Send>()?;
        Ok(Mode::Local)
    }
}
