//! Finding `Self` and `self`, and renaming `self` to `__self` inside a body.

use proc_macro2::{Group, Ident, TokenStream, TokenTree};
use syn::visit_mut::{self, VisitMut};
use syn::{Block, ExprPath, Item, Macro, Path, Receiver, Signature, TypePath};

/// Whether the signature mentions `Self` or has a receiver.
pub(crate) fn sig_mentions_self(sig: &Signature) -> bool {
    let mut finder = FindSelf(false);
    finder.visit_signature_mut(&mut sig.clone());
    finder.0
}

/// Whether the body mentions `Self` (nested items aside).
pub(crate) fn block_mentions_self(block: &Block) -> bool {
    let mut finder = FindSelf(false);
    finder.visit_block_mut(&mut block.clone());
    finder.0
}

/// Whether `tokens` contain `fn` at any depth: then a `self` in them more likely belongs
/// to a function of their own.
fn mentions_fn(tokens: &TokenStream) -> bool {
    tokens.clone().into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "fn",
        TokenTree::Group(group) => mentions_fn(&group.stream()),
        _ => false,
    })
}

fn mentions_self_type(tokens: &TokenStream) -> bool {
    tokens.clone().into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "Self",
        TokenTree::Group(group) => mentions_self_type(&group.stream()),
        _ => false,
    })
}

struct FindSelf(bool);

impl VisitMut for FindSelf {
    fn visit_expr_path_mut(&mut self, expr: &mut ExprPath) {
        self.0 |= expr.path.segments[0].ident == "Self";
        visit_mut::visit_expr_path_mut(self, expr);
    }

    fn visit_type_path_mut(&mut self, ty: &mut TypePath) {
        self.0 |= ty.path.segments[0].ident == "Self";
        visit_mut::visit_type_path_mut(self, ty);
    }

    fn visit_receiver_mut(&mut self, _: &mut Receiver) {
        self.0 = true;
    }

    fn visit_item_mut(&mut self, _: &mut Item) {
        // A nested item's `Self` is its own.
    }

    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        if !mentions_fn(&mac.tokens) {
            self.0 |= mentions_self_type(&mac.tokens);
        }
    }
}

/// Renames the receiver `self` to `__self` in a body moved into an `async move` block.
pub(crate) struct RenameSelf;

fn rename(ident: &mut Ident) -> bool {
    if ident == "self" {
        *ident = Ident::new("__self", ident.span());
        true
    } else {
        false
    }
}

impl RenameSelf {
    /// Renames `self` in a macro's tokens; returns whether it renamed any.
    fn rename_in_tokens(&mut self, tokens: &mut TokenStream) -> bool {
        let mut renamed = false;
        let out: TokenStream = tokens
            .clone()
            .into_iter()
            .map(|tree| match tree {
                TokenTree::Ident(mut ident) => {
                    renamed |= rename(&mut ident);
                    TokenTree::Ident(ident)
                }
                TokenTree::Group(group) => {
                    let mut inner = group.stream();
                    renamed |= self.rename_in_tokens(&mut inner);
                    let mut new = Group::new(group.delimiter(), inner);
                    new.set_span(group.span());
                    TokenTree::Group(new)
                }
                other => other,
            })
            .collect();
        if renamed {
            *tokens = out;
        }
        renamed
    }
}

impl VisitMut for RenameSelf {
    fn visit_ident_mut(&mut self, ident: &mut Ident) {
        rename(ident);
    }

    fn visit_path_mut(&mut self, path: &mut Path) {
        // `self` alone is the receiver; `self::item` is a module path.
        if path.segments.len() == 1 {
            self.visit_ident_mut(&mut path.segments[0].ident);
        }
        for segment in &mut path.segments {
            self.visit_path_arguments_mut(&mut segment.arguments);
        }
    }

    fn visit_item_mut(&mut self, item: &mut Item) {
        // Nested items have their own `self`, except a local `macro_rules!`, which may use
        // the receiver, and `select!`-like macros that parse as items but are expressions.
        if let Item::Macro(item) = item {
            let name = item.mac.path.segments.last().map(|s| s.ident.to_string());
            if item.mac.path.is_ident("macro_rules") || name.as_deref() == Some("select") {
                self.visit_macro_mut(&mut item.mac);
            }
        }
    }

    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        // A `self` in a macro's input cannot be told apart from one the macro introduces;
        // if the input defines a `fn`, its `self` is most likely that function's.
        if !mentions_fn(&mac.tokens) {
            self.rename_in_tokens(&mut mac.tokens);
        }
    }
}
