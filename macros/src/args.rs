//! The attribute's arguments: nothing, or `?Send`.

use proc_macro2::Span;
use syn::Token;
use syn::parse::{Error, Parse, ParseStream, Result};

/// What the attribute was given.
#[derive(Clone, Copy)]
pub(crate) struct Args {
    /// `?Send`: the methods return `LocalValueTask`, and no `Send` is required.
    pub(crate) local: bool,
}

mod kw {
    syn::custom_keyword!(Send);
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> Result<Self> {
        if input.is_empty() {
            return Ok(Args { local: false });
        }
        let local = (|| -> Result<()> {
            input.parse::<Token![?]>()?;
            input.parse::<kw::Send>()?;
            Ok(())
        })();
        match local {
            Ok(()) if input.is_empty() => Ok(Args { local: true }),
            _ => Err(Error::new(
                Span::call_site(),
                "expected #[async_trait] or #[async_trait(?Send)]",
            )),
        }
    }
}
