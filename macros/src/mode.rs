//! The attribute's argument: nothing, or `?Send`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
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
        syn::parse2(args).map_err(|_| {
            Error::new(
                Span::call_site(),
                "expected #[async_trait] or #[async_trait(?Send)]",
            )
        })
    }

    /// The task type's path, with no generic arguments.
    pub(crate) fn task_path(self) -> TokenStream {
        match self {
            Mode::Send => quote!(::valuetask::ValueTask),
            Mode::Local => quote!(::valuetask::LocalValueTask),
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

impl Parse for Mode {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Ok(Mode::Send);
        }
        input.parse::<Token![?]>()?;
        input.parse::<keyword::Send>()?;
        if input.is_empty() {
            Ok(Mode::Local)
        } else {
            Err(input.error("unexpected tokens after ?Send"))
        }
    }
}
