//! The expansion: every `async fn` of the trait or impl becomes a plain `fn` returning
//! `::valuetask::ValueTask<'async_trait, T>` (or `LocalValueTask` under `?Send`), its
//! body moved into `from_future(async move { ... })`.

use std::collections::BTreeSet;
use std::mem;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, TokenStreamExt, format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{
    Attribute, Block, FnArg, GenericArgument, GenericParam, Generics, Ident, ImplItem, Pat,
    PatIdent, PathArguments, ReturnType, Signature, Token, TraitItem, Type, TypeInfer,
    TypeParamBound, TypePath, Visibility, WhereClause, WherePredicate, parse_quote,
    parse_quote_spanned,
};

use crate::lifetimes::{BoundImplTrait, NameLifetimes};
use crate::parse::Item;
use crate::receiver::{RenameSelf, block_mentions_self, sig_mentions_self};

/// Where a method is: what its signature may refer to besides its own generics.
#[derive(Clone, Copy)]
enum Context<'a> {
    Trait {
        generics: &'a Generics,
        supertraits: &'a Punctuated<TypeParamBound, Token![+]>,
    },
    Impl {
        generics: &'a Generics,
        /// Associated types defined as `impl Trait` (nightly), which a body's type
        /// annotation must not repeat.
        impl_trait_types: &'a BTreeSet<Ident>,
    },
}

impl Context<'_> {
    fn generics(&self) -> &Generics {
        match self {
            Context::Trait { generics, .. } | Context::Impl { generics, .. } => generics,
        }
    }
}

/// What the attribute cannot turn into a method returning a task, with what to write
/// instead, at the offending token.
fn unsupported(sig: &Signature) -> Option<syn::Error> {
    if let Some(constness) = &sig.constness {
        return Some(syn::Error::new(
            constness.span,
            "an async trait method cannot be `const`: remove `const` \
             (the method returns a ValueTask built at run time)",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Some(syn::Error::new(
            abi.extern_token.span,
            "an async trait method cannot have an `extern` ABI: remove it, or write a plain \
             `extern fn` outside the trait that blocks on the task",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Some(syn::Error::new(
            variadic.dots.spans[0],
            "an async trait method cannot be variadic: take a slice or a tuple instead",
        ));
    }
    None
}

/// Expands `item` in place; returns the errors for methods it left alone.
pub(crate) fn expand(item: &mut Item, local: bool) -> Vec<syn::Error> {
    let mut errors = Vec::new();
    match item {
        Item::Trait(item) => {
            let context = Context::Trait {
                generics: &item.generics,
                supertraits: &item.supertraits,
            };
            for inner in &mut item.items {
                let TraitItem::Fn(method) = inner else {
                    continue;
                };
                if method.sig.asyncness.is_none() {
                    continue;
                }
                if let Some(error) = unsupported(&method.sig) {
                    errors.push(error);
                    continue;
                }
                let mut has_self = sig_mentions_self(&method.sig);
                match &mut method.default {
                    Some(block) => {
                        has_self |= block_mentions_self(block);
                        transform_block(context, &mut method.sig, block, local);
                        method.attrs.push(allow_lints_with_body());
                    }
                    None => method.attrs.push(allow_lints_without_body()),
                }
                let has_default = method.default.is_some();
                transform_sig(context, &mut method.sig, has_self, has_default, local);
            }
        }
        Item::Impl(item) => {
            let impl_trait_types = item
                .items
                .iter()
                .filter_map(|inner| match inner {
                    ImplItem::Type(ty) if matches!(ty.ty, Type::ImplTrait(_)) => {
                        Some(ty.ident.clone())
                    }
                    _ => None,
                })
                .collect();
            let context = Context::Impl {
                generics: &item.generics,
                impl_trait_types: &impl_trait_types,
            };
            for inner in &mut item.items {
                match inner {
                    ImplItem::Fn(method) if method.sig.asyncness.is_some() => {
                        if let Some(error) = unsupported(&method.sig) {
                            errors.push(error);
                            continue;
                        }
                        let has_self = sig_mentions_self(&method.sig);
                        transform_block(context, &mut method.sig, &mut method.block, local);
                        transform_sig(context, &mut method.sig, has_self, false, local);
                        method.attrs.push(allow_lints_with_body());
                    }
                    ImplItem::Verbatim(tokens) => {
                        // `async fn f();` without a body, which syn keeps as tokens: its
                        // signature still changes, so that rustc's error is about the
                        // missing body.
                        let mut method = match syn::parse2::<BodilessFn>(tokens.clone()) {
                            Ok(method) if method.sig.asyncness.is_some() => method,
                            _ => continue,
                        };
                        let has_self = sig_mentions_self(&method.sig);
                        transform_sig(context, &mut method.sig, has_self, false, local);
                        method.attrs.push(allow_lints_with_body());
                        *tokens = method.into_token_stream();
                    }
                    _ => {}
                }
            }
        }
    }
    errors
}

/// The lints the expansion would trip in user code that has none of the problem.
fn allow_lints_with_body() -> Attribute {
    parse_quote! {
        #[allow(
            elided_named_lifetimes,
            clippy::async_yields_async,
            clippy::diverging_sub_expression,
            clippy::let_unit_value,
            clippy::needless_arbitrary_self_type,
            clippy::no_effect_underscore_binding,
            clippy::shadow_same,
            clippy::type_complexity,
            clippy::type_repetition_in_bounds,
            clippy::used_underscore_binding
        )]
    }
}

fn allow_lints_without_body() -> Attribute {
    parse_quote! {
        #[allow(
            elided_named_lifetimes,
            clippy::type_complexity,
            clippy::type_repetition_in_bounds
        )]
    }
}

/// The path of the returned type, at `span`: errors about the call to its `from_future`
/// then point at the method's `async`, not at the attribute.
fn task_type(local: bool, span: Span) -> TokenStream {
    if local {
        quote_spanned!(span=> ::valuetask::LocalValueTask)
    } else {
        quote_spanned!(span=> ::valuetask::ValueTask)
    }
}

fn where_clause(clause: &mut Option<WhereClause>) -> &mut Punctuated<WherePredicate, Token![,]> {
    &mut clause
        .get_or_insert_with(|| WhereClause {
            where_token: Default::default(),
            predicates: Punctuated::new(),
        })
        .predicates
}

/// The bounds a default body needs on `Self` for its future to be `Send`, by receiver:
/// `&self` shares `Self` (`Sync`), `Arc<Self>` shares and may drop it (`Sync + Send`),
/// any other receiver moves or mutably borrows it (`Send`).
fn inferred_self_bounds(sig: &Signature) -> &'static [&'static str] {
    let Some(receiver) = sig.receiver() else {
        return &["Send"];
    };
    match &*receiver.ty {
        Type::Reference(ty) if ty.mutability.is_none() => &["Sync"],
        Type::Path(ty) if is_arc_of_self(ty) => &["Sync", "Send"],
        _ => &["Send"],
    }
}

fn is_arc_of_self(ty: &TypePath) -> bool {
    let Some(last) = ty.path.segments.last() else {
        return false;
    };
    if last.ident != "Arc" {
        return false;
    }
    let PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return false;
    };
    arguments.args.len() == 1
        && matches!(&arguments.args[0], GenericArgument::Type(Type::Path(arg)) if arg.path.is_ident("Self"))
}

/// Whether the supertraits already say `bound` (`Sync`, `core::marker::Sync`, ...).
fn has_supertrait(supertraits: &Punctuated<TypeParamBound, Token![+]>, bound: &str) -> bool {
    supertraits.iter().any(|supertrait| {
        let TypeParamBound::Trait(supertrait) = supertrait else {
            return false;
        };
        let segments = &supertrait.path.segments;
        supertrait.path.is_ident(bound)
            || segments.len() == 3
                && (segments[0].ident == "std" || segments[0].ident == "core")
                && segments[1].ident == "marker"
                && segments[2].ident == bound
    })
}

// In:
//     async fn f<T>(&self, x: &T) -> Ret;
// Out:
//     fn f<'life0, 'life1, 'async_trait, T>(&'life0 self, x: &'life1 T)
//         -> ::valuetask::ValueTask<'async_trait, Ret>
//     where
//         T: 'async_trait,
//         'life0: 'async_trait,
//         'life1: 'async_trait,
//         Self: 'async_trait;
fn transform_sig(
    context: Context<'_>,
    sig: &mut Signature,
    has_self: bool,
    has_default: bool,
    local: bool,
) {
    let asyncness = sig
        .asyncness
        .take()
        .expect("only async methods are transformed");
    sig.fn_token.span = asyncness.span;

    let (arrow, ret) = match &sig.output {
        ReturnType::Default => (quote!(->), quote!(())),
        ReturnType::Type(arrow, ret) => (quote!(#arrow), quote!(#ret)),
    };

    // Name every elided lifetime of the arguments.
    let mut names = NameLifetimes::new();
    for arg in &mut sig.inputs {
        match arg {
            FnArg::Receiver(receiver) if receiver.colon_token.is_none() => {
                // `&self`, `&'a mut self`: the lifetime is written in `reference` and
                // repeated in `ty`, `&Self`.
                if let Some((ampersand, lifetime)) = &mut receiver.reference {
                    names.visit_optional(lifetime, ampersand.span);
                    if let Type::Reference(ty) = &mut *receiver.ty {
                        ty.lifetime.clone_from(lifetime);
                    }
                }
            }
            FnArg::Receiver(receiver) => names.visit_type_mut(&mut receiver.ty),
            FnArg::Typed(arg) => names.visit_type_mut(&mut arg.ty),
        }
    }

    // Every generic parameter of the method outlives 'async_trait.
    let Generics {
        params,
        where_clause: clause,
        ..
    } = &mut sig.generics;
    for param in params.iter_mut() {
        match param {
            GenericParam::Type(param) => {
                let name = &param.ident;
                let span = param
                    .colon_token
                    .take()
                    .map_or_else(|| name.span(), |colon| colon.span);
                if param.attrs.is_empty() {
                    let bounds = mem::take(&mut param.bounds);
                    where_clause(clause)
                        .push(parse_quote_spanned!(span=> #name: 'async_trait + #bounds));
                } else {
                    // A `#[cfg]` on the parameter must stay with its bound.
                    param.bounds.push(parse_quote!('async_trait));
                }
            }
            GenericParam::Lifetime(param) => {
                let span = param
                    .colon_token
                    .take()
                    .map_or_else(|| param.lifetime.span(), |colon| colon.span);
                if param.attrs.is_empty() {
                    let bounds = mem::take(&mut param.bounds);
                    let name = &param.lifetime;
                    where_clause(clause)
                        .push(parse_quote_spanned!(span=> #name: 'async_trait + #bounds));
                } else {
                    param.bounds.push(parse_quote!('async_trait));
                }
            }
            GenericParam::Const(_) => {}
        }
    }

    // So does every lifetime of the trait or impl that the arguments name.
    for param in context.generics().lifetimes() {
        if names.explicit.contains(&param.lifetime) {
            let lifetime = &param.lifetime;
            let span = lifetime.span();
            where_clause(&mut sig.generics.where_clause)
                .push(parse_quote_spanned!(span=> #lifetime: 'async_trait));
        }
    }

    if sig.generics.lt_token.is_none() {
        sig.generics.lt_token = Some(Token![<](sig.ident.span()));
    }
    if sig.generics.gt_token.is_none() {
        sig.generics.gt_token = Some(Token![>](sig.paren_token.span.join()));
    }

    for elided in &names.elided {
        sig.generics.params.push(parse_quote!(#elided));
        where_clause(&mut sig.generics.where_clause)
            .push(parse_quote_spanned!(elided.span()=> #elided: 'async_trait));
    }
    sig.generics.params.push(parse_quote!('async_trait));

    if has_self {
        let bounds = if local {
            &[][..]
        } else {
            inferred_self_bounds(sig)
        };
        let bounds = bounds
            .iter()
            .filter(|bound| match context {
                Context::Trait { supertraits, .. } => {
                    has_default && !has_supertrait(supertraits, bound)
                }
                Context::Impl { .. } => false,
            })
            .map(|bound| {
                let bound = Ident::new(bound, Span::call_site());
                quote!(::core::marker::#bound)
            });
        where_clause(&mut sig.generics.where_clause).push(parse_quote! {
            Self: #(#bounds +)* 'async_trait
        });
    }

    // Patterns stay in the body: the signature keeps plain names.
    for (i, arg) in sig.inputs.iter_mut().enumerate() {
        match arg {
            FnArg::Receiver(receiver) => {
                if receiver.reference.is_none() {
                    // `mut self`: the binding's `mut` belongs to the body.
                    receiver.mutability = None;
                }
            }
            FnArg::Typed(arg) => {
                if !matches!(*arg.ty, Type::Reference(_)) {
                    if let Pat::Ident(pat) = &mut *arg.pat {
                        pat.by_ref = None;
                        pat.mutability = None;
                    } else {
                        let positional = positional_arg(i, &arg.pat);
                        arg.pat = parse_quote!(#positional);
                    }
                }
                BoundImplTrait.visit_type_mut(&mut arg.ty);
            }
        }
    }

    let task = task_type(local, Span::call_site());
    sig.output = parse_quote!(#arrow #task<'async_trait, #ret>);
}

// In:
//     async fn f(&self, x: &T, (a, b): (A, B)) -> Ret { body }
// Out:
//     ::valuetask::ValueTask::from_future(async move {
//         if let Some(__ret) = None::<Ret> { return __ret; } // fixes the block's type
//         let __self = self;
//         let (a, b) = { let __arg2 = __arg2; __arg2 };
//         let __ret: Ret = { body, with `self` renamed `__self` };
//         __ret
//     })
fn transform_block(context: Context<'_>, sig: &mut Signature, block: &mut Block, local: bool) {
    let mut has_receiver = false;
    let decls: Vec<TokenStream> = sig
        .inputs
        .iter()
        .enumerate()
        .map(|(i, arg)| match arg {
            FnArg::Receiver(receiver) => {
                has_receiver = true;
                let self_token = &receiver.self_token;
                let renamed = Ident::new("__self", self_token.span);
                // `mut self`, `mut self: Box<Self>`, and `&mut self` (whose body may
                // reborrow `&mut self`) keep a `mut` binding.
                let mutability = &receiver.mutability;
                quote!(let #mutability #renamed = #self_token;)
            }
            FnArg::Typed(arg) => {
                // A `#[cfg]` on the argument goes with its binding.
                let cfgs = arg.attrs.iter().filter(|attr| attr.path().is_ident("cfg"));
                if let Type::Reference(_) = *arg.ty {
                    // Moved into the block as it is, pattern and all.
                    quote!()
                } else if let Pat::Ident(PatIdent {
                    ident, mutability, ..
                }) = &*arg.pat
                {
                    quote!(#(#cfgs)* let #mutability #ident = #ident;)
                } else {
                    let positional = positional_arg(i, &arg.pat);
                    let pat = &arg.pat;
                    if let Pat::Wild(_) = **pat {
                        // Keep it alive until the body ends, as `_` does in an `async fn`.
                        quote!(#(#cfgs)* let #positional = #positional;)
                    } else {
                        quote!(#(#cfgs)* let #pat = { let #positional = #positional; #positional };)
                    }
                }
            }
        })
        .collect();

    if has_receiver {
        RenameSelf.visit_block_mut(block);
    }

    let body = match &mut sig.output {
        ReturnType::Default => quote! {
            #(#decls)*
            let _: () = #block;
        },
        ReturnType::Type(_, ret) => {
            if names_impl_trait_type(context, ret) {
                if decls.is_empty() {
                    let stmts = &block.stmts;
                    quote!(#(#stmts)*)
                } else {
                    quote!(#(#decls)* #block)
                }
            } else {
                let mut inferred = (**ret).clone();
                ImplTraitToInfer.visit_type_mut(&mut inferred);
                quote! {
                    if let ::core::option::Option::Some(__ret) = ::core::option::Option::None::<#inferred> {
                        #[allow(unreachable_code)]
                        return __ret;
                    }
                    #(#decls)*
                    let __ret: #inferred = #block;
                    #[allow(unreachable_code)]
                    __ret
                }
            }
        }
    };
    let span = sig.asyncness.map_or_else(Span::call_site, |a| a.span);
    let task = task_type(local, span);
    let call = quote_spanned!(span=> #task::from_future(async move { #body }));
    block.stmts = parse_quote!(#call);
}

/// `__argN`, for the argument at `i` whose pattern moves into the body; hygienic, so it
/// cannot clash with the user's names.
fn positional_arg(i: usize, pat: &Pat) -> Ident {
    let span = pat.span().resolved_at(Span::mixed_site());
    format_ident!("__arg{}", i, span = span)
}

/// Whether `ret` names an associated type of the impl defined as `impl Trait`.
fn names_impl_trait_type(context: Context<'_>, ret: &mut Type) -> bool {
    struct Find<'a> {
        names: &'a BTreeSet<Ident>,
        found: bool,
    }

    impl VisitMut for Find<'_> {
        fn visit_type_path_mut(&mut self, ty: &mut TypePath) {
            let segments = &ty.path.segments;
            if ty.qself.is_none()
                && segments.len() == 2
                && segments[0].ident == "Self"
                && self.names.contains(&segments[1].ident)
            {
                self.found = true;
            }
            visit_mut::visit_type_path_mut(self, ty);
        }
    }

    match context {
        Context::Trait { .. } => false,
        Context::Impl {
            impl_trait_types, ..
        } => {
            let mut find = Find {
                names: impl_trait_types,
                found: false,
            };
            find.visit_type_mut(ret);
            find.found
        }
    }
}

/// Replaces `impl Trait` with `_`, for the type annotation inside the body.
struct ImplTraitToInfer;

impl VisitMut for ImplTraitToInfer {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(impl_trait) = ty {
            *ty = Type::Infer(TypeInfer {
                underscore_token: Token![_](impl_trait.impl_token.span),
            });
        }
        visit_mut::visit_type_mut(self, ty);
    }
}

/// A method without a body in an impl, which syn leaves as tokens.
struct BodilessFn {
    attrs: Vec<Attribute>,
    vis: Visibility,
    defaultness: Option<Token![default]>,
    sig: Signature,
    semi_token: Token![;],
}

impl Parse for BodilessFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        Ok(Self {
            attrs: input.call(Attribute::parse_outer)?,
            vis: input.parse()?,
            defaultness: input.parse()?,
            sig: input.parse()?,
            semi_token: input.parse()?,
        })
    }
}

impl ToTokens for BodilessFn {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.append_all(&self.attrs);
        self.vis.to_tokens(tokens);
        self.defaultness.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.semi_token.to_tokens(tokens);
    }
}
