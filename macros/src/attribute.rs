//! The attribute on a trait or a trait impl: which methods it rewrites, now or later,
//! and the receiver bounds a default body needs.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{
    Error, FnArg, ImplItem, Item, ItemImpl, ItemTrait, Signature, TraitItem, Type, TypeParamBound,
    WherePredicate, parse_quote,
};

use crate::method;
use crate::mode::Mode;
use crate::scope::Scope;

const WHERE_IT_GOES: &str = "#[async_trait] goes on a trait or on an impl of a trait \
     (`impl Trait for Type`); an inherent impl or a free function can use `async fn` as it is";

/// The whole attribute: the item comes back rewritten, followed by any errors.
pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mode = match Mode::from_args(args) {
        Ok(mode) => mode,
        Err(error) => return error.to_compile_error(),
    };
    let item: Item = match syn::parse2(input) {
        Ok(item) => item,
        Err(error) => return error.to_compile_error(),
    };
    match item {
        Item::Trait(mut item) => {
            let errors = rewrite_trait(&mut item, mode);
            quote!(#item #(#errors)*)
        }
        Item::Impl(mut item) if item.trait_.is_some() => {
            let errors = rewrite_impl(&mut item, mode);
            quote!(#item #(#errors)*)
        }
        Item::Impl(item) => refuse(quote!(#item), "expected a trait impl"),
        item => refuse(quote!(#item), "expected a trait or a trait impl"),
    }
}

/// Leaves the item as written, so only this error shows.
fn refuse(item: TokenStream, what: &str) -> TokenStream {
    let error = Error::new(Span::call_site(), format!("{what}: {WHERE_IT_GOES}"));
    let error = error.to_compile_error();
    quote!(#item #error)
}

fn rewrite_trait(item: &mut ItemTrait, mode: Mode) -> Vec<TokenStream> {
    let has = TraitBounds::of(item);
    let scope = Scope::new(mode, &item.generics, true);
    let mut errors = Vec::new();
    for entry in &mut item.items {
        let TraitItem::Fn(function) = entry else {
            continue;
        };
        if !accept(&function.sig, &mut errors) {
            continue;
        }
        let Some(block) = &mut function.default else {
            method::rewrite(&mut function.sig, None, &scope, Vec::new());
            continue;
        };
        let bounds = match mode {
            Mode::Send => has.missing_for(&function.sig),
            Mode::Local => Vec::new(),
        };
        method::rewrite_body(
            &mut function.attrs,
            &mut function.sig,
            block,
            &scope,
            bounds,
        );
    }
    errors
}

fn rewrite_impl(item: &mut ItemImpl, mode: Mode) -> Vec<TokenStream> {
    let scope = Scope::new(mode, &item.generics, false);
    let mut errors = Vec::new();
    for entry in &mut item.items {
        let ImplItem::Fn(function) = entry else {
            continue;
        };
        if !accept(&function.sig, &mut errors) {
            continue;
        }
        let block = &mut function.block;
        method::rewrite_body(
            &mut function.attrs,
            &mut function.sig,
            block,
            &scope,
            Vec::new(),
        );
    }
    errors
}

/// Whether the method is one to rewrite: an `async fn` that is not `const`.
fn accept(signature: &Signature, errors: &mut Vec<TokenStream>) -> bool {
    if signature.asyncness.is_none() {
        return false;
    }
    if let Some(constness) = signature.constness {
        let message = "an async trait method cannot be `const`: remove `const` \
                       (the method returns a ValueTask built at run time)";
        errors.push(Error::new(constness.span, message).to_compile_error());
        return false;
    }
    true
}

/// The auto traits a trait already requires of `Self`, as a supertrait or in its
/// `where` clause.
struct TraitBounds {
    send: bool,
    sync: bool,
}

/// What a default body's captured receiver needs of `Self` for its future to be `Send`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReceiverNeeds {
    Nothing,
    Send,
    Sync,
    SendAndSync,
}

impl TraitBounds {
    fn of(item: &ItemTrait) -> Self {
        let mut bounds = TraitBounds {
            send: false,
            sync: false,
        };
        let on_self = item
            .generics
            .where_clause
            .iter()
            .flat_map(|clause| &clause.predicates)
            .filter_map(|predicate| match predicate {
                WherePredicate::Type(predicate) if is_self(&predicate.bounded_ty) => {
                    Some(&predicate.bounds)
                }
                _ => None,
            });
        for bound in item.supertraits.iter().chain(on_self.flatten()) {
            let TypeParamBound::Trait(bound) = bound else {
                continue;
            };
            let Some(last) = bound.path.segments.last() else {
                continue;
            };
            bounds.send |= last.ident == "Send";
            bounds.sync |= last.ident == "Sync";
        }
        bounds
    }

    /// The `where` predicates a default body with this signature needs and the trait
    /// does not already give.
    fn missing_for(&self, signature: &Signature) -> Vec<WherePredicate> {
        let needs = match signature.inputs.first() {
            Some(FnArg::Receiver(receiver)) if receiver.colon_token.is_none() => {
                match &receiver.reference {
                    Some(_) if receiver.mutability.is_none() => ReceiverNeeds::Sync,
                    _ => ReceiverNeeds::Send,
                }
            }
            Some(FnArg::Receiver(receiver)) => needs_of_pointer(&receiver.ty),
            _ => ReceiverNeeds::Nothing,
        };
        let (send, sync) = match needs {
            ReceiverNeeds::Nothing => (false, false),
            ReceiverNeeds::Send => (true, false),
            ReceiverNeeds::Sync => (false, true),
            ReceiverNeeds::SendAndSync => (true, true),
        };
        let mut missing = Vec::new();
        if send && !self.send {
            missing.push(parse_quote!(Self: ::core::marker::Send));
        }
        if sync && !self.sync {
            missing.push(parse_quote!(Self: ::core::marker::Sync));
        }
        missing
    }
}

/// What a typed receiver (`self: Type`) needs: a shared reference shares `Self`, an
/// exclusive one or an owning `Box` moves it, `Pin` needs what its pointer needs, and
/// any other pointer (`Arc<Self>`, `Rc<Self>`) may do both.
fn needs_of_pointer(ty: &Type) -> ReceiverNeeds {
    match ty {
        Type::Reference(reference) if reference.mutability.is_some() => ReceiverNeeds::Send,
        Type::Reference(_) => ReceiverNeeds::Sync,
        Type::Paren(inner) => needs_of_pointer(&inner.elem),
        Type::Path(_) if is_self(ty) => ReceiverNeeds::Send,
        Type::Path(path) => {
            let Some(last) = path.path.segments.last() else {
                return ReceiverNeeds::SendAndSync;
            };
            if last.ident == "Box" {
                return ReceiverNeeds::Send;
            }
            if last.ident == "Pin"
                && let syn::PathArguments::AngleBracketed(arguments) = &last.arguments
                && let Some(syn::GenericArgument::Type(pointer)) = arguments.args.first()
            {
                return needs_of_pointer(pointer);
            }
            ReceiverNeeds::SendAndSync
        }
        _ => ReceiverNeeds::SendAndSync,
    }
}

fn is_self(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.is_ident("Self"))
}
