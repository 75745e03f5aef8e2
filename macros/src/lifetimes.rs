//! Naming the elided lifetimes of a signature, and bounding `impl Trait` arguments.

use std::mem;

use proc_macro2::{Span, TokenStream};
use syn::visit_mut::{self, VisitMut};
use syn::{
    Expr, GenericArgument, Lifetime, ReturnType, Type, TypeBareFn, TypeImplTrait, TypeParen,
    TypePtr, TypeReference, parse_quote_spanned, token,
};

/// Gives every elided lifetime of the argument types a name, `'life0`, `'life1`, ...,
/// and records the explicit ones.
pub(crate) struct NameLifetimes {
    /// The names given, in order.
    pub(crate) elided: Vec<Lifetime>,
    /// The lifetimes written out.
    pub(crate) explicit: Vec<Lifetime>,
}

impl NameLifetimes {
    pub(crate) fn new() -> Self {
        Self {
            elided: Vec::new(),
            explicit: Vec::new(),
        }
    }

    /// A new name, `'lifeN`, at `span`.
    pub(crate) fn fresh(&mut self, span: Span) -> Lifetime {
        let lifetime = Lifetime::new(&format!("'life{}", self.elided.len()), span);
        self.elided.push(lifetime.clone());
        lifetime
    }

    /// Names `lifetime` if it is missing or `'_`; records it otherwise.
    pub(crate) fn visit_optional(&mut self, lifetime: &mut Option<Lifetime>, span: Span) {
        match lifetime {
            None => *lifetime = Some(self.fresh(span)),
            Some(lifetime) => self.visit_named(lifetime),
        }
    }

    fn visit_named(&mut self, lifetime: &mut Lifetime) {
        if lifetime.ident == "_" {
            *lifetime = self.fresh(lifetime.span());
        } else {
            self.explicit.push(lifetime.clone());
        }
    }
}

impl VisitMut for NameLifetimes {
    fn visit_type_reference_mut(&mut self, ty: &mut TypeReference) {
        self.visit_optional(&mut ty.lifetime, ty.and_token.span);
        visit_mut::visit_type_reference_mut(self, ty);
    }

    fn visit_generic_argument_mut(&mut self, argument: &mut GenericArgument) {
        if let GenericArgument::Lifetime(lifetime) = argument {
            self.visit_named(lifetime);
        }
        visit_mut::visit_generic_argument_mut(self, argument);
    }
}

/// Adds `'async_trait +` to every `impl Trait` argument type, so the future may hold it,
/// parenthesising it where the added `+` would otherwise be ambiguous.
pub(crate) struct BoundImplTrait;

impl VisitMut for BoundImplTrait {
    fn visit_type_impl_trait_mut(&mut self, ty: &mut TypeImplTrait) {
        let span = ty.impl_token.span;
        ty.bounds
            .insert(0, parse_quote_spanned!(span=> 'async_trait));
        if let Some(mut pair) = ty.bounds.pairs_mut().next() {
            if let Some(plus) = pair.punct_mut() {
                plus.spans = [span];
            }
        }
        visit_mut::visit_type_impl_trait_mut(self, ty);
    }

    fn visit_type_reference_mut(&mut self, ty: &mut TypeReference) {
        parenthesize_impl_trait(&mut ty.elem, ty.and_token.span);
        visit_mut::visit_type_reference_mut(self, ty);
    }

    fn visit_type_ptr_mut(&mut self, ty: &mut TypePtr) {
        parenthesize_impl_trait(&mut ty.elem, ty.star_token.span);
        visit_mut::visit_type_ptr_mut(self, ty);
    }

    fn visit_type_bare_fn_mut(&mut self, ty: &mut TypeBareFn) {
        if let ReturnType::Type(arrow, ret) = &mut ty.output {
            parenthesize_impl_trait(ret, arrow.spans[0]);
        }
        visit_mut::visit_type_bare_fn_mut(self, ty);
    }

    fn visit_expr_mut(&mut self, _: &mut Expr) {
        // An `impl Trait` inside an array length belongs to a nested item.
    }
}

fn parenthesize_impl_trait(elem: &mut Type, span: Span) {
    if let Type::ImplTrait(_) = elem {
        let inner = mem::replace(elem, Type::Verbatim(TokenStream::new()));
        *elem = Type::Paren(TypeParen {
            paren_token: token::Paren(span),
            elem: Box::new(inner),
        });
    }
}
