//! API enums that mirror a domain enum variant for variant.

/// Declares an API enum with the variants of a domain enum, and the conversion from it.
/// The API owns the wire names and the schema; a variant added to the domain enum does
/// not compile until the API shows it too.
macro_rules! mirror_enum {
    ($(#[$meta:meta])* pub enum $view:ident mirrors $domain:ident { $($variant:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
        $(#[$meta])*
        pub enum $view {
            $($variant),+
        }

        impl From<$domain> for $view {
            fn from(value: $domain) -> Self {
                match value {
                    $($domain::$variant => Self::$variant),+
                }
            }
        }
    };
}

pub(super) use mirror_enum;
