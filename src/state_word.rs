//! The crate's one shape of protocol state word: a `Copy` type over the word's bits with
//! named flags in the low bits, named predicates, and a `Debug` that prints the flags.
//! A word may carry a generation (the [`Token`](crate::Token)) in its high 32 bits; it
//! is then a `u64`.

/// Defines a state-word type.
///
/// `struct Name(u64) with generation { .. }` is a word with the generation in its high
/// 32 bits; `struct Name(WORD) { .. }` one of flags only, over the integer type `WORD`
/// its atomic holds.
///
/// Each flag is a bit number and a doc comment saying what it means and who may touch
/// which cell while it is set, then optionally the name of its predicate and of the
/// setter that returns the word with the flag set (a word that tests its flags with
/// [`has`] names neither). Each flag is also an associated constant of the type, for
/// `has`, `without` and the read-modify-writes that set or clear it.
macro_rules! state_word {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident(u64) with generation {
            $($flags:tt)*
        }
    ) => {
        $crate::state_word::state_word! {
            @flags $(#[$meta])* $vis struct $name(u64) { $($flags)* }
        }

        impl $name {
            /// Generation `token`, no flags.
            $vis const fn fresh(token: $crate::Token) -> Self {
                Self(token.state_bits())
            }

            /// The generation, as a token.
            $vis const fn token(self) -> $crate::Token {
                $crate::Token::from_state_bits(self.0)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let generation = self.token().generation();
                write!(f, "{}(generation {generation}", stringify!($name))?;
                for (flag, name) in Self::FLAGS {
                    if self.any(*flag) {
                        write!(f, " | {name}")?;
                    }
                }
                f.write_str(")")
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident($word:ty) {
            $($flags:tt)*
        }
    ) => {
        $crate::state_word::state_word! {
            @flags $(#[$meta])* $vis struct $name($word) { $($flags)* }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                let mut separator = "";
                for (flag, name) in Self::FLAGS {
                    if self.any(*flag) {
                        write!(f, "{separator}{name}")?;
                        separator = " | ";
                    }
                }
                if separator.is_empty() {
                    f.write_str("EMPTY")?;
                }
                f.write_str(")")
            }
        }
    };
    (
        @flags
        $(#[$meta:meta])*
        $vis:vis struct $name:ident($word:ty) {
            $(
                $(#[$flag_meta:meta])*
                $flag:ident = $bit:literal $(=> $is:ident $(, $with:ident)?)?;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq)]
        $vis struct $name($word);

        impl $name {
            $(
                $(#[$flag_meta])*
                $vis const $flag: $name = $name(1 << $bit);

                $(
                    $vis const fn $is(self) -> bool {
                        self.has(Self::$flag)
                    }

                    $(
                        $vis const fn $with(self) -> Self {
                            self.union(Self::$flag)
                        }
                    )?
                )?
            )*

            /// Every flag with its name, for `Debug`.
            const FLAGS: &'static [($name, &'static str)] =
                &[$(($name::$flag, stringify!($flag))),*];

            /// The word's raw bits, as the atomic holds them.
            $vis const fn from_bits(bits: $word) -> Self {
                Self(bits)
            }

            $vis const fn bits(self) -> $word {
                self.0
            }

            /// Whether every flag of `flags` is set.
            $vis const fn has(self, flags: Self) -> bool {
                self.0 & flags.0 == flags.0
            }

            /// Whether any of `flags` is set.
            $vis const fn any(self, flags: Self) -> bool {
                self.0 & flags.0 != 0
            }

            /// The flags of `self` and `other` together.
            $vis const fn union(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }

            /// The word with `flags` cleared.
            $vis const fn without(self, flags: Self) -> Self {
                Self(self.0 & !flags.0)
            }
        }
    };
}

pub(crate) use state_word;
