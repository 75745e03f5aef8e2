//! A method's signature: `async fn name(args) -> T` becomes
//! `fn name<.., 'async_trait>(args) -> Task<'async_trait, T>`, with the lifetimes and
//! bounds the crate docs list under "The lifetimes and bounds it adds".

use proc_macro2::Span;
use quote::quote;
use syn::visit_mut::{self, VisitMut};
use syn::{
    BoundLifetimes, FnArg, GenericParam, Lifetime, LifetimeParam, ParenthesizedGenericArguments,
    Receiver, ReturnType, Signature, Type, TypeBareFn, TypeImplTrait, TypeParamBound,
    TypeReference, WherePredicate, parse_quote,
};

use crate::mode::Mode;

/// The lifetime every task of the method lives for.
pub(crate) fn task_lifetime() -> Lifetime {
    Lifetime::new("'async_trait", Span::call_site())
}

/// Rewrites `signature` in place; `extra` are further `where` predicates (the receiver
/// bounds of a default body). The arguments' patterns are the body's business.
pub(crate) fn rewrite(signature: &mut Signature, mode: Mode, extra: Vec<WherePredicate>) {
    let task_lifetime = task_lifetime();
    let mut arguments = ArgumentLifetimes::new(task_lifetime.clone());
    for input in &mut signature.inputs {
        match input {
            FnArg::Receiver(receiver) => arguments.visit_receiver(receiver),
            FnArg::Typed(argument) => arguments.visit_type_mut(&mut argument.ty),
        }
    }

    let generics = &mut signature.generics;
    let mut declared = Vec::new();
    for param in generics.params.iter_mut() {
        match param {
            GenericParam::Lifetime(param) => {
                declared.push(param.lifetime.ident.to_string());
                param.bounds.push(task_lifetime.clone());
            }
            GenericParam::Type(param) => {
                param
                    .bounds
                    .push(TypeParamBound::Lifetime(task_lifetime.clone()));
            }
            GenericParam::Const(_) => {}
        }
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

    let predicates = &mut generics.make_where_clause().predicates;
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
    let task = mode.task_path();
    signature.output = parse_quote!(-> #task<#task_lifetime, #output>);
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

    fn visit_type_impl_trait_mut(&mut self, ty: &mut TypeImplTrait) {
        visit_mut::visit_type_impl_trait_mut(self, ty);
        ty.bounds
            .push(TypeParamBound::Lifetime(self.task_lifetime.clone()));
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
