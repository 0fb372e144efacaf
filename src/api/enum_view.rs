//! API enums that show a domain enum variant for variant (the API owns the wire names).

/// Declares an API enum with the variants of a domain enum, and the conversion from it.
/// The API owns the wire names and the schema; a variant added to the domain enum does
/// not compile until the API shows it too.
macro_rules! enum_view {
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

pub(super) use enum_view;
