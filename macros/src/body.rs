//! A method's body: `{ statements }` becomes
//! `{ Task::from_future(async move { output type; moves; statements }) }`, where the
//! moves take every argument into the async block as an `async fn` would (the crate docs
//! list the parts and why each is there).
//!
//! `self` cannot be rebound by a `let`, so the block binds the receiver to a local of its
//! own, `__self`, declared `mut` (as async-trait's input language allows `&mut self` on
//! any receiver), and the body's uses of `self` are renamed to it.

use proc_macro2::{Group, Ident, Spacing, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::visit::{self, Visit};
use syn::visit_mut::{self, VisitMut};
use syn::{
    Attribute, Block, ExprPath, FnArg, Item, Macro, Pat, PatIdent, ReturnType, Signature, Type,
    TypeImplTrait, parse_quote_spanned,
};

use crate::mode::Mode;
use crate::signature;

/// Rewrites `block`, and the argument patterns of `signature` it takes over. Call it
/// before the signature loses its `async`, whose span the async block gets, so that
/// errors about the future point at the `async` the user wrote.
pub(crate) fn rewrite(signature: &mut Signature, block: &mut Block, mode: Mode) {
    let span = signature::generated_span(signature);
    let mut moves = TokenStream::new();
    for (index, input) in signature.inputs.iter_mut().enumerate() {
        match input {
            FnArg::Receiver(receiver) => {
                // The local is `mut`; the argument need not be.
                if receiver.reference.is_none() {
                    receiver.mutability = None;
                }
                let self_token = receiver.self_token;
                let local = SelfRenamer::local(self_token.span);
                moves.extend(quote_spanned! {self_token.span=>
                    #[allow(unused_mut)]
                    let mut #local = #self_token;
                });
                SelfRenamer.visit_block_mut(block);
            }
            FnArg::Typed(argument) => {
                let cfgs = configuration(&argument.attrs);
                moves.extend(take_argument(index, &mut argument.pat, &cfgs));
            }
        }
    }
    let task = mode.task_path(span);
    // An async block's output type is inferred from its first `return` or its tail, with
    // no expected type, so `return &value` could not coerce to `&dyn Trait`. A `return`
    // of the declared type that never runs, placed first, fixes the type for the rest.
    let declared_output = match &signature.output {
        ReturnType::Type(_, output) if !mentions_impl_trait(output) => quote! {
            #[allow(unreachable_code, clippy::diverging_sub_expression)]
            if false {
                let __output: #output = loop {};
                return __output;
            }
        },
        ReturnType::Type(..) | ReturnType::Default => TokenStream::new(),
    };
    let statements = &block.stmts;
    *block = parse_quote_spanned! {span=>
        {
            #task::from_future(async move {
                #declared_output
                #moves
                #(#statements)*
            })
        }
    };
}

/// The statements that move one argument into the async block, binding the user's
/// pattern there; the signature keeps a plain name for it.
fn take_argument(index: usize, pattern: &mut Pat, cfgs: &TokenStream) -> TokenStream {
    if let Pat::Ident(PatIdent {
        by_ref: None,
        mutability,
        ident,
        subpat: None,
        ..
    }) = pattern
    {
        // The signature binds the name immutably; the block rebinds it as written.
        let mutability = mutability.take();
        return quote!(#cfgs let #mutability #ident = #ident;);
    }
    // Hygienic, so the body cannot see it: only the pattern's own names are visible.
    let incoming = format_ident!("__arg{}", index, span = Span::mixed_site());
    let plain = Pat::Ident(PatIdent {
        attrs: Vec::new(),
        by_ref: None,
        mutability: None,
        ident: incoming.clone(),
        subpat: None,
    });
    let written = std::mem::replace(pattern, plain);
    // Moved into a local first, so a `_` (or `..`) keeps its value to the end.
    // `mut`, for patterns that bind `ref mut`.
    let mut moves = quote! {
        #cfgs
        #[allow(unused_mut)]
        let mut #incoming = #incoming;
    };
    if !matches!(written, Pat::Wild(_)) {
        moves.extend(quote!(#cfgs let #written = #incoming;));
    }
    moves
}

/// The `#[cfg]` and `#[cfg_attr]` of an argument, which its `let` must carry too.
fn configuration(attributes: &[Attribute]) -> TokenStream {
    attributes
        .iter()
        .filter(|attribute| {
            attribute.path().is_ident("cfg") || attribute.path().is_ident("cfg_attr")
        })
        .map(|attribute| quote!(#attribute))
        .collect()
}

/// Renames `self` to the block's local in a body: in expressions, and in the tokens of
/// macro calls and `macro_rules!` definitions, but not in nested items, whose `self` is
/// their own, nor in paths such as `self::item`.
struct SelfRenamer;

impl SelfRenamer {
    fn local(span: Span) -> Ident {
        Ident::new("__self", span)
    }

    /// Whether the `self` before `next` is not the receiver's value: a path (`self::`),
    /// or a name followed by a lone `=`, as in the field list of a span or an event
    /// (`self = ?value`, which `#[tracing::instrument]` writes for the receiver). An
    /// assignment `self = ..` in a macro call stays on the receiver's binding too, which
    /// is not `mut`, so it fails to compile rather than assign the wrong thing.
    fn names_not_the_value(next: Option<&TokenTree>) -> bool {
        let Some(TokenTree::Punct(punct)) = next else {
            return false;
        };
        match punct.as_char() {
            ':' => true,
            '=' => punct.spacing() == Spacing::Alone,
            _ => false,
        }
    }

    fn rename_tokens(tokens: TokenStream) -> TokenStream {
        let mut renamed = Vec::new();
        let mut tokens = tokens.into_iter().peekable();
        while let Some(token) = tokens.next() {
            let token = match token {
                TokenTree::Ident(ident) if ident == "self" => {
                    if Self::names_not_the_value(tokens.peek()) {
                        TokenTree::Ident(ident)
                    } else {
                        TokenTree::Ident(Self::local(ident.span()))
                    }
                }
                TokenTree::Group(group) => {
                    let mut renamed =
                        Group::new(group.delimiter(), Self::rename_tokens(group.stream()));
                    renamed.set_span(group.span());
                    TokenTree::Group(renamed)
                }
                other => other,
            };
            renamed.push(token);
        }
        renamed.into_iter().collect()
    }
}

impl VisitMut for SelfRenamer {
    fn visit_expr_path_mut(&mut self, expression: &mut ExprPath) {
        let path = &mut expression.path;
        if expression.qself.is_none() && path.is_ident("self") {
            let segment = &mut path.segments[0];
            segment.ident = Self::local(segment.ident.span());
        }
        visit_mut::visit_expr_path_mut(self, expression);
    }

    fn visit_item_mut(&mut self, item: &mut Item) {
        if let Item::Macro(item) = item {
            self.visit_macro_mut(&mut item.mac);
        }
    }

    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        mac.tokens = Self::rename_tokens(std::mem::take(&mut mac.tokens));
    }
}

/// Whether `ty` holds an `impl Trait` anywhere.
fn mentions_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl Visit<'_> for Finder {
        fn visit_type_impl_trait(&mut self, ty: &TypeImplTrait) {
            self.0 = true;
            visit::visit_type_impl_trait(self, ty);
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}
