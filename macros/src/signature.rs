//! A method's signature: `async fn name(args) -> T` becomes
//! `fn name<.., 'async_trait>(args) -> Task<'async_trait, T>`, with the lifetimes and
//! bounds the crate docs list under "The lifetimes and bounds it adds".

use proc_macro2::{Ident, Span};
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::visit_mut::{self, VisitMut};
use syn::{
    BoundLifetimes, FnArg, GenericParam, Generics, Lifetime, LifetimeParam,
    ParenthesizedGenericArguments, Path, Receiver, ReturnType, Signature, Token, Type, TypeBareFn,
    TypeImplTrait, TypeParamBound, TypeReference, WherePredicate, parse_quote, parse_quote_spanned,
};

use crate::mode::Mode;
use crate::scope::Scope;

/// Where the generated parts of a method are reported: at its `async`, which they
/// replace, while resolving names as the attribute's own tokens do.
pub(crate) fn generated_span(signature: &Signature) -> Span {
    let written = signature
        .asyncness
        .map_or(signature.fn_token.span, |token| token.span);
    Span::call_site().located_at(written)
}

/// Rewrites `signature` in place; `extra` are further `where` predicates (the receiver
/// bounds of a default body). The arguments' patterns are the body's business.
pub(crate) fn rewrite(signature: &mut Signature, scope: &Scope, extra: Vec<WherePredicate>) {
    let span = generated_span(signature);
    let task_lifetime = Lifetime::new("'async_trait", span);
    let mut arguments = ArgumentLifetimes::new(task_lifetime.clone());
    for input in &mut signature.inputs {
        match input {
            FnArg::Receiver(receiver) => arguments.visit_receiver(receiver),
            FnArg::Typed(argument) => arguments.visit_type_mut(&mut argument.ty),
        }
    }

    let mut declared = Vec::new();
    let mut type_bounds: Vec<(Type, TypeParamBound)> = Vec::new();
    let mut generic_types = scope.generic_types.clone();
    for param in &signature.generics.params {
        match param {
            GenericParam::Lifetime(param) => declared.push(param.lifetime.clone()),
            GenericParam::Type(param) => {
                let ident = &param.ident;
                let bound = TypeParamBound::Lifetime(task_lifetime.clone());
                type_bounds.push((parse_quote!(#ident), bound));
                generic_types.push(ident.clone());
            }
            GenericParam::Const(_) => {}
        }
    }
    if scope.mode == Mode::Send {
        type_bounds.extend(borrowed_auto_traits(&signature.inputs, &generic_types));
    }
    let generics = &mut signature.generics;
    for lifetime in &declared {
        place_lifetime_bound(generics, lifetime, &task_lifetime);
    }
    for (ty, bound) in type_bounds {
        place_type_bound(generics, ty, bound);
    }
    // Lifetime parameters come first: the named ones go after the user's.
    let position = generics
        .params
        .iter()
        .take_while(|param| matches!(param, GenericParam::Lifetime(_)))
        .count();
    let mut added: Vec<GenericParam> = arguments
        .named
        .iter()
        .map(|lifetime| {
            let mut param = LifetimeParam::new(lifetime.clone());
            param.bounds.push(task_lifetime.clone());
            GenericParam::Lifetime(param)
        })
        .collect();
    added.push(GenericParam::Lifetime(LifetimeParam::new(
        task_lifetime.clone(),
    )));
    for (offset, param) in added.into_iter().enumerate() {
        generics.params.insert(position + offset, param);
    }

    generics.lt_token.get_or_insert(Token![<](span));
    generics.gt_token.get_or_insert(Token![>](span));
    let predicates = &mut generics.make_where_clause().predicates;
    let declared: Vec<String> = declared
        .iter()
        .map(|lifetime| lifetime.ident.to_string())
        .collect();
    for outer in arguments.outer_lifetimes(&declared) {
        predicates.push(parse_quote!(#outer: #task_lifetime));
    }
    predicates.push(parse_quote!(Self: #task_lifetime));
    predicates.extend(extra);

    // The output's elided lifetimes are resolved as the compiler would (the receiver's,
    // or the only one in the arguments) and written out, since the arguments' now have
    // names and eliding a named lifetime draws a warning in the user's code.
    if let (ReturnType::Type(_, ty), Some(lifetime)) =
        (&mut signature.output, arguments.elision_source())
    {
        ElidedInOutput(lifetime).visit_type_mut(ty);
    }
    let output = match &signature.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let task = scope.mode.task_path(span);
    signature.output = parse_quote_spanned!(span=> -> #task<#task_lifetime, #output>);
    signature.asyncness = None;
}

/// Walks the argument types: names each elided lifetime, notes each one written out,
/// and bounds each `impl Trait` by the task lifetime.
struct ArgumentLifetimes {
    task_lifetime: Lifetime,
    /// The names given to elided lifetimes, in order: `'life0`, `'life1`, ...
    named: Vec<Lifetime>,
    /// Lifetimes written in the argument types, in order, repeats included.
    written: Vec<Lifetime>,
    /// Lifetimes bound by a `for<..>` somewhere in the arguments.
    higher_ranked: Vec<String>,
    /// The lifetime of a `&self` or `&mut self` receiver.
    receiver: Option<Lifetime>,
}

impl ArgumentLifetimes {
    fn new(task_lifetime: Lifetime) -> Self {
        ArgumentLifetimes {
            task_lifetime,
            named: Vec::new(),
            written: Vec::new(),
            higher_ranked: Vec::new(),
            receiver: None,
        }
    }

    fn name_elided(&mut self, span: Span) -> Lifetime {
        let lifetime = Lifetime::new(&format!("'life{}", self.named.len()), span);
        self.named.push(lifetime.clone());
        lifetime
    }

    /// `&self` and `&mut self` spell their type twice (the shorthand and `ty`, which
    /// syn fills in as `&Self`); both must get the same name.
    fn visit_receiver(&mut self, receiver: &mut Receiver) {
        shorten_receiver(receiver);
        if receiver.colon_token.is_some() {
            self.visit_type_mut(&mut receiver.ty);
            if let Type::Reference(ty) = &*receiver.ty {
                self.receiver.clone_from(&ty.lifetime);
            }
            return;
        }
        let Some((ampersand, lifetime)) = &mut receiver.reference else {
            return;
        };
        let lifetime = match lifetime {
            Some(written) => {
                self.visit_lifetime_mut(written);
                written.clone()
            }
            None => {
                let named = self.name_elided(ampersand.span);
                *lifetime = Some(named.clone());
                named
            }
        };
        if let Type::Reference(ty) = &mut *receiver.ty {
            ty.lifetime = Some(lifetime.clone());
        }
        self.receiver = Some(lifetime);
    }

    fn bound_impl_trait(&mut self, ty: &mut TypeImplTrait) {
        visit_mut::visit_type_impl_trait_mut(self, ty);
        let bound = TypeParamBound::Lifetime(self.task_lifetime.clone());
        ty.bounds.push(bound);
    }

    /// Where the output's elided lifetimes come from: the receiver's reference, else the
    /// arguments' only lifetime; `None` when elision would not apply.
    fn elision_source(&self) -> Option<Lifetime> {
        if self.receiver.is_some() {
            return self.receiver.clone();
        }
        let mut all = self.named.iter().chain(
            self.written
                .iter()
                .filter(|lifetime| !self.higher_ranked.contains(&lifetime.ident.to_string())),
        );
        let first = all.next()?;
        all.all(|other| other.ident == first.ident)
            .then(|| first.clone())
    }

    /// The lifetimes written in the arguments that the method does not declare: the
    /// trait's or impl's own, each once.
    fn outer_lifetimes(&self, declared: &[String]) -> Vec<Lifetime> {
        let mut outer: Vec<Lifetime> = Vec::new();
        for lifetime in &self.written {
            let name = lifetime.ident.to_string();
            let skip = name == "static"
                || lifetime.ident == self.task_lifetime.ident
                || declared.contains(&name)
                || self.higher_ranked.contains(&name)
                || outer.iter().any(|seen| seen.ident == lifetime.ident);
            if !skip {
                outer.push(lifetime.clone());
            }
        }
        outer
    }
}

impl VisitMut for ArgumentLifetimes {
    fn visit_type_reference_mut(&mut self, ty: &mut TypeReference) {
        match &mut ty.lifetime {
            Some(lifetime) => self.visit_lifetime_mut(lifetime),
            None => ty.lifetime = Some(self.name_elided(ty.and_token.span)),
        }
        self.visit_type_mut(&mut ty.elem);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut Lifetime) {
        if lifetime.ident == "_" {
            *lifetime = self.name_elided(lifetime.apostrophe);
        } else {
            self.written.push(lifetime.clone());
        }
    }

    /// `impl Trait` becomes `(impl Trait + 'async_trait)`: in parentheses, since
    /// `&impl A + 'b` would not parse, unless it had them already.
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Paren(paren) = ty
            && let Type::ImplTrait(inner) = &mut *paren.elem
        {
            self.bound_impl_trait(inner);
            return;
        }
        let Type::ImplTrait(inner) = ty else {
            return visit_mut::visit_type_mut(self, ty);
        };
        self.bound_impl_trait(inner);
        *ty = parse_quote!((#inner));
    }

    // `Fn(&str) -> T` and `fn(&str)`: their elided lifetimes are higher-ranked.
    fn visit_parenthesized_generic_arguments_mut(&mut self, _: &mut ParenthesizedGenericArguments) {
    }

    fn visit_type_bare_fn_mut(&mut self, _: &mut TypeBareFn) {}

    fn visit_bound_lifetimes_mut(&mut self, bound: &mut BoundLifetimes) {
        for param in &bound.lifetimes {
            if let GenericParam::Lifetime(param) = param {
                self.higher_ranked.push(param.lifetime.ident.to_string());
            }
        }
    }
}

/// Writes one lifetime in place of each elided one in a return type.
struct ElidedInOutput(Lifetime);

impl VisitMut for ElidedInOutput {
    fn visit_type_reference_mut(&mut self, ty: &mut TypeReference) {
        if ty.lifetime.is_none() {
            ty.lifetime = Some(self.0.clone());
        }
        visit_mut::visit_type_reference_mut(self, ty);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut Lifetime) {
        if lifetime.ident == "_" {
            *lifetime = self.0.clone();
        }
    }

    fn visit_parenthesized_generic_arguments_mut(&mut self, _: &mut ParenthesizedGenericArguments) {
    }

    fn visit_type_bare_fn_mut(&mut self, _: &mut TypeBareFn) {}
}

/// Under `Send`, an argument that borrows a type whose auto traits are unknown here (it
/// mentions a generic type, or `Self` in a trait) needs them for the task to be `Send`:
/// `&T` needs `T: Sync`, `&mut T` needs `T: Send`. Both trait and impl state the bound,
/// so a generic impl need not.
fn borrowed_auto_traits(
    inputs: &Punctuated<FnArg, Token![,]>,
    generic_types: &[Ident],
) -> Vec<(Type, TypeParamBound)> {
    let mut bounds = Vec::new();
    for input in inputs {
        let FnArg::Typed(argument) = input else {
            continue;
        };
        let mut ty = &*argument.ty;
        while let Type::Paren(inner) = ty {
            ty = &inner.elem;
        }
        let Type::Reference(reference) = ty else {
            continue;
        };
        let borrowed = &*reference.elem;
        if !mentions(borrowed, generic_types) {
            continue;
        }
        let bound = match reference.mutability {
            Some(_) => parse_quote!(::core::marker::Send),
            None => parse_quote!(::core::marker::Sync),
        };
        bounds.push((borrowed.clone(), bound));
    }
    bounds
}

/// Whether `ty` names one of `generic_types`, and no `impl Trait` (which cannot be
/// named in a bound).
fn mentions(ty: &Type, generic_types: &[Ident]) -> bool {
    struct Finder<'a> {
        generic_types: &'a [Ident],
        generic: bool,
        impl_trait: bool,
    }
    impl Visit<'_> for Finder<'_> {
        fn visit_path(&mut self, path: &Path) {
            if let Some(first) = path.segments.first() {
                self.generic |= self.generic_types.contains(&first.ident);
            }
            visit::visit_path(self, path);
        }
        fn visit_type_impl_trait(&mut self, _: &TypeImplTrait) {
            self.impl_trait = true;
        }
    }
    let mut finder = Finder {
        generic_types,
        generic: false,
        impl_trait: false,
    };
    finder.visit_type(ty);
    finder.generic && !finder.impl_trait
}

// A bound goes where the user bounds that parameter already, on it or in the `where`
// clause, so that it is never stated in two places (clippy's
// `multiple_bound_locations` would point at the user's code).

/// Adds `lifetime: bound` for a lifetime parameter of the method.
fn place_lifetime_bound(generics: &mut Generics, lifetime: &Lifetime, bound: &Lifetime) {
    let in_where = generics.where_clause.as_mut().and_then(|clause| {
        clause
            .predicates
            .iter_mut()
            .find_map(|predicate| match predicate {
                WherePredicate::Lifetime(predicate) if predicate.lifetime == *lifetime => {
                    Some(predicate)
                }
                _ => None,
            })
    });
    if let Some(predicate) = in_where {
        predicate.bounds.push(bound.clone());
        return;
    }
    for param in generics.params.iter_mut() {
        if let GenericParam::Lifetime(param) = param
            && param.lifetime == *lifetime
        {
            param.bounds.push(bound.clone());
        }
    }
}

/// Adds `ty: bound`: on the type parameter `ty` names, or in the `where` clause.
fn place_type_bound(generics: &mut Generics, ty: Type, bound: TypeParamBound) {
    let written = ty.to_token_stream().to_string();
    let in_where = generics.where_clause.as_mut().and_then(|clause| {
        clause
            .predicates
            .iter_mut()
            .find_map(|predicate| match predicate {
                WherePredicate::Type(predicate)
                    if predicate.lifetimes.is_none()
                        && predicate.bounded_ty.to_token_stream().to_string() == written =>
                {
                    Some(predicate)
                }
                _ => None,
            })
    });
    if let Some(predicate) = in_where {
        predicate.bounds.push(bound);
        return;
    }
    let param = generics
        .params
        .iter_mut()
        .find_map(|param| match (param, &ty) {
            (GenericParam::Type(param), Type::Path(path))
                if path.qself.is_none() && path.path.is_ident(&param.ident) =>
            {
                Some(param)
            }
            _ => None,
        });
    match param {
        Some(param) => param.bounds.push(bound),
        None => generics
            .make_where_clause()
            .predicates
            .push(parse_quote!(#ty: #bound)),
    }
}

/// `self: &Self` and `self: &mut Self` become `&self` and `&mut self`, which mean the
/// same; clippy's `needless_arbitrary_self_type` would otherwise point at them, once
/// the lifetime is named, in the user's code. A `mut` binding is left alone.
fn shorten_receiver(receiver: &mut Receiver) {
    if receiver.colon_token.is_none() || receiver.mutability.is_some() {
        return;
    }
    let Type::Reference(reference) = &*receiver.ty else {
        return;
    };
    let Type::Path(path) = &*reference.elem else {
        return;
    };
    if path.qself.is_some() || !path.path.is_ident("Self") {
        return;
    }
    receiver.reference = Some((reference.and_token, reference.lifetime.clone()));
    receiver.mutability = reference.mutability;
    receiver.colon_token = None;
}
