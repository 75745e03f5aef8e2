//! One `async fn` of a trait or an impl, turned into a method returning a task; and the
//! helper attribute that does it later, after the method's other attributes expanded.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Attribute, Block, Error, FnArg, ImplItemFn, Pat, Signature, WherePredicate};

use crate::scope::Scope;
use crate::{body, signature};

/// Rewrites one `async fn`: its body, if it has one, then its signature. `extra` are
/// `where` predicates to add (a default body's receiver bounds).
pub(crate) fn rewrite(
    signature: &mut Signature,
    block: Option<&mut Block>,
    scope: &Scope,
    extra: Vec<WherePredicate>,
) {
    match block {
        Some(block) => body::rewrite(signature, block, scope.mode),
        None => unbind_declaration(signature),
    }
    signature::rewrite(signature, scope, extra);
}

/// A declaration without a body may not bind patterns: `mut self` and `mut name` lose
/// their `mut`, and any other pattern becomes `_` (they belong to the impl's body).
fn unbind_declaration(signature: &mut Signature) {
    for input in &mut signature.inputs {
        match input {
            FnArg::Receiver(receiver) if receiver.reference.is_none() => {
                receiver.mutability = None;
            }
            FnArg::Receiver(_) => {}
            FnArg::Typed(argument) => match &mut *argument.pat {
                Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
                    ident.mutability = None;
                }
                Pat::Wild(_) => {}
                pattern => *pattern = syn::parse_quote!(_),
            },
        }
    }
}

/// Rewrites a method with a body now, or, when it carries an attribute that may be a
/// macro, leaves that for the helper attribute (see [`defer`]); `extra` goes into its
/// `where` clause either way.
pub(crate) fn rewrite_body(
    attributes: &mut Vec<Attribute>,
    signature: &mut Signature,
    block: &mut Block,
    scope: &Scope,
    extra: Vec<WherePredicate>,
) {
    if attributes.iter().all(is_inert) {
        rewrite(signature, Some(block), scope, extra);
    } else {
        signature
            .generics
            .make_where_clause()
            .predicates
            .extend(extra);
        defer(attributes, scope);
    }
}

/// Whether the compiler keeps `attribute` as it is. Any other attribute may be a macro
/// written for an `async fn` (such as `#[tracing::instrument]`), so a method carrying one
/// is left an `async fn` until that macro has expanded: see [`defer`].
fn is_inert(attribute: &Attribute) -> bool {
    const INERT: &[&str] = &[
        "allow",
        "cfg",
        "cold",
        "deny",
        "deprecated",
        "doc",
        "expect",
        "forbid",
        "inline",
        "must_use",
        "track_caller",
        "warn",
    ];
    let path = attribute.path();
    if let Some(ident) = path.get_ident() {
        return INERT.iter().any(|inert| ident == inert);
    }
    let tool = path
        .segments
        .first()
        .map(|segment| segment.ident.to_string());
    matches!(tool.as_deref(), Some("clippy" | "rustfmt"))
}

/// Leaves the method an `async fn` with the helper attribute below the user's own, so
/// theirs expand first, on the `async fn` they were written for.
fn defer(attributes: &mut Vec<Attribute>, scope: &Scope) {
    let args = scope.to_args();
    attributes.push(syn::parse_quote!(#[::valuetask::__async_trait_method(#args)]));
}

/// The helper attribute: the same rewrite, on a method the outer attribute deferred.
pub(crate) fn expand_deferred(args: TokenStream, input: TokenStream) -> TokenStream {
    let scope: Scope = match syn::parse2(args) {
        Ok(scope) => scope,
        Err(error) => return error.to_compile_error(),
    };
    let mut method: ImplItemFn = match syn::parse2(input) {
        Ok(method) => method,
        Err(error) => return error.to_compile_error(),
    };
    if method.sig.asyncness.is_none() {
        let error = Error::new_spanned(
            &method.sig,
            "#[async_trait] expected an `async fn` here, but an attribute on this method \
             rewrote it into something else before it could expand; an attribute used with \
             #[async_trait] must keep the method an `async fn` (as #[tracing::instrument] does)",
        );
        let error = error.to_compile_error();
        return quote!(#method #error);
    }
    rewrite(&mut method.sig, Some(&mut method.block), &scope, Vec::new());
    quote!(#method)
}
