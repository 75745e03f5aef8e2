//! What the rewrite of one method needs to know of the trait or impl around it, handed
//! to the helper attribute when the method's rewrite is deferred.

use proc_macro2::{Ident, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{GenericParam, Generics, Token};

use crate::mode::Mode;

/// The enclosing trait's or impl's part in a method's rewrite.
pub(crate) struct Scope {
    pub(crate) mode: Mode,
    /// The type parameters of the trait or impl, and `Self` in a trait: the types whose
    /// auto traits are not known where the method is written.
    pub(crate) generic_types: Vec<Ident>,
}

impl Scope {
    /// The scope of a trait (`Self` is generic there) or of an impl.
    pub(crate) fn new(mode: Mode, generics: &Generics, self_is_generic: bool) -> Self {
        let mut generic_types: Vec<Ident> = generics
            .params
            .iter()
            .filter_map(|param| match param {
                GenericParam::Type(param) => Some(param.ident.clone()),
                _ => None,
            })
            .collect();
        if self_is_generic {
            generic_types.push(Ident::new("Self", proc_macro2::Span::call_site()));
        }
        Scope {
            mode,
            generic_types,
        }
    }

    /// The helper attribute's arguments: `?Send` or nothing, then `;` and the types.
    pub(crate) fn to_args(&self) -> TokenStream {
        let mode = self.mode.as_args();
        let types = &self.generic_types;
        quote!(#mode; #(#types),*)
    }
}

impl Parse for Scope {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mode = input.parse()?;
        input.parse::<Token![;]>()?;
        let types = Punctuated::<Ident, Token![,]>::parse_terminated_with(input, Ident::parse_any)?;
        Ok(Scope {
            mode,
            generic_types: types.into_iter().collect(),
        })
    }
}
