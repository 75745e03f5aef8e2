//! The shape the pool slot gives its state word: one `u64` with the generation
//! (the [`Token`](crate::Token)) in the high 32 bits and named flags in the low bits, as
//! a `Copy` type with named predicates and a `Debug` that prints the flags.

/// Defines a state-word type. Each flag is a bit number, a doc comment saying what it
/// means and who may touch which cell while it is set, the names of its predicate and
/// of the setter that returns the word with the flag set. For each flag it
/// also defines an associated constant of the type, for `without` and the
/// read-modify-writes that set or clear it.
macro_rules! state_word {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$flag_meta:meta])* $flag:ident = $bit:literal => $is:ident, $with:ident; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq)]
        $vis struct $name(u64);

        #[allow(dead_code)] // a word uses a subset of the generated accessors
        impl $name {
            $(
                $(#[$flag_meta])*
                $vis const $flag: $name = $name(1 << $bit);

                $vis const fn $is(self) -> bool {
                    self.0 & Self::$flag.0 != 0
                }

                $vis const fn $with(self) -> Self {
                    Self(self.0 | Self::$flag.0)
                }
            )*

            /// The word's raw bits, as the atomic holds them.
            $vis const fn from_bits(bits: u64) -> Self {
                Self(bits)
            }

            $vis const fn bits(self) -> u64 {
                self.0
            }

            /// Generation `token`, no flags.
            $vis const fn fresh(token: $crate::Token) -> Self {
                Self(token.state_bits())
            }

            /// The generation, as a token.
            $vis const fn token(self) -> $crate::Token {
                $crate::Token::from_state_bits(self.0)
            }

            /// The word with `flags` cleared.
            $vis const fn without(self, flags: Self) -> Self {
                Self(self.0 & !flags.0)
            }

            /// The flags of `self` and `other` together.
            $vis const fn union(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }

            /// Whether any of `flags` is set.
            $vis const fn any(self, flags: Self) -> bool {
                self.0 & flags.0 != 0
            }

            /// Whether no flag is set but those of `flags`.
            $vis const fn only(self, flags: Self) -> bool {
                self.0 & (u32::MAX as u64) & !flags.0 == 0
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}(generation {}", stringify!($name), self.token().generation())?;
                $(
                    if self.$is() {
                        f.write_str(concat!(" | ", stringify!($flag)))?;
                    }
                )*
                f.write_str(")")
            }
        }
    };
}

pub(crate) use state_word;
