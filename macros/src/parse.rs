//! The item under the attribute: a trait, or an impl of a trait.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::{Error, Parse, ParseStream, Result};
use syn::{Attribute, ItemImpl, ItemTrait, Token, Visibility};

pub(crate) enum Item {
    Trait(ItemTrait),
    Impl(ItemImpl),
}

const WHERE_IT_GOES: &str = "#[async_trait] goes on a trait or on an impl of a trait \
     (`impl Trait for Type`); an inherent impl or a free function can use `async fn` as it is";

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let ahead = input.fork();
        ahead.parse::<Visibility>()?;
        if ahead.peek(Token![unsafe]) {
            ahead.parse::<Token![unsafe]>()?;
        }
        if ahead.peek(Token![auto]) {
            ahead.parse::<Token![auto]>()?;
        }
        if ahead.peek(Token![trait]) {
            let mut item: ItemTrait = input.parse()?;
            item.attrs = attrs;
            Ok(Item::Trait(item))
        } else if ahead.peek(Token![impl]) {
            let mut item: ItemImpl = input.parse()?;
            if item.trait_.is_none() {
                return Err(Error::new(
                    Span::call_site(),
                    format!("expected a trait impl: {WHERE_IT_GOES}"),
                ));
            }
            item.attrs = attrs;
            Ok(Item::Impl(item))
        } else {
            Err(Error::new(
                Span::call_site(),
                format!("expected a trait or a trait impl: {WHERE_IT_GOES}"),
            ))
        }
    }
}

impl ToTokens for Item {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Item::Trait(item) => item.to_tokens(tokens),
            Item::Impl(item) => item.to_tokens(tokens),
        }
    }
}
