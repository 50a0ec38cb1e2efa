//! The identifiers of the SDK's API, as real types: LDK's and rust-bitcoin's where they exist,
//! [`UserChannelId`] for the app's channel handle. Apps in Kotlin, Swift and Python see each as
//! a string (`uniffi::custom_type!` below: lowercase hex for ids and hashes, `txid:vout` for an
//! outpoint, decimal for a user channel id); a string that does not parse is refused at the FFI
//! edge with a typed error. Stored rows keep the same text, so older databases read unchanged.

use core::fmt;
use core::str::FromStr;

use bitcoin::hex::FromHex;

pub use bitcoin::secp256k1::PublicKey;
pub use bitcoin::{OutPoint, Txid};
pub use lightning::ln::channelmanager::PaymentId;
pub use lightning::ln::types::ChannelId;
pub use lightning::types::payment::{PaymentHash, PaymentPreimage};

/// The id an app gives a channel when it opens it (or the node gives an inbound one): stable
/// from `open_channel` to the close, unlike the channel id, which is only known once the
/// funding transaction exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserChannelId(pub u128);

impl fmt::Display for UserChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for UserChannelId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.trim()
            .parse::<u128>()
            .map(UserChannelId)
            .map_err(|e| format!("user channel id {s:?}: {e}"))
    }
}

/// How an identifier is written as text (the form apps and stored rows use) and read back.
pub trait IdText: Sized {
    /// Its text form.
    fn to_text(&self) -> String;
    /// Read from text (surrounding spaces and upper-case hex accepted).
    fn from_text(text: &str) -> Result<Self, String>;
}

/// 32 bytes from 64 hex digits. The error never quotes the text: it may be a preimage.
pub(crate) fn hex32(text: &str, what: &str) -> Result<[u8; 32], String> {
    <[u8; 32]>::from_hex(text.trim()).map_err(|_| {
        format!(
            "{what}: expected 64 hex digits, got {} characters that are not",
            text.trim().chars().count()
        )
    })
}

macro_rules! hex32_id {
    ($ty:ty, $what:expr) => {
        impl IdText for $ty {
            fn to_text(&self) -> String {
                bitcoin::hex::DisplayHex::to_lower_hex_string(&self.0[..])
            }
            fn from_text(text: &str) -> Result<Self, String> {
                hex32(text, $what).map(Self)
            }
        }
    };
}

hex32_id!(ChannelId, "channel id");
hex32_id!(PaymentId, "payment id");
hex32_id!(PaymentHash, "payment hash");
hex32_id!(PaymentPreimage, "preimage");

impl IdText for UserChannelId {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> Result<Self, String> {
        text.parse()
    }
}

impl IdText for PublicKey {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|e| format!("node id {text:?}: {e}"))
    }
}

impl IdText for Txid {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|e| format!("transaction id {text:?}: {e}"))
    }
}

impl IdText for OutPoint {
    fn to_text(&self) -> String {
        format!("{}:{}", self.txid, self.vout)
    }
    fn from_text(text: &str) -> Result<Self, String> {
        let bad = || format!("outpoint {text:?}: expected txid:vout");
        let (txid, vout) = text.trim().split_once(':').ok_or_else(bad)?;
        Ok(OutPoint {
            txid: txid.parse().map_err(|_| bad())?,
            vout: vout.parse().map_err(|_| bad())?,
        })
    }
}

/// Serde as the text form (stored events keep their strings).
pub(crate) mod as_text {
    use super::IdText;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: IdText, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_text())
    }

    pub fn deserialize<'de, T: IdText, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        T::from_text(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde of an optional identifier as an optional text.
pub(crate) mod opt_text {
    use super::IdText;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: IdText, S: Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_some(&v.to_text()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: IdText, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| T::from_text(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

// At the FFI edge: an id from a foreign caller that does not parse is the call's own typed
// error (UniFFI hands an argument's lift error to the function when it is the function's error
// type). Node ids cross the same way (`crate::ffi`).
#[cfg(feature = "uniffi")]
mod ffi_types {
    use super::*;
    use crate::error::NodeError;

    /// Parse an id from a foreign caller; `error` makes the call's error from the text given
    /// and what is wrong with it.
    fn lift<T: IdText>(
        text: String,
        error: impl Fn(String, String) -> NodeError,
    ) -> uniffi::Result<T> {
        T::from_text(&text).map_err(|why| uniffi::deps::anyhow::Error::from(error(text, why)))
    }

    /// A channel id that does not parse names no channel: the same error as an unknown one.
    fn unknown_channel(text: String, _why: String) -> NodeError {
        NodeError::UnknownChannel(text)
    }

    fn invalid(_text: String, why: String) -> NodeError {
        NodeError::InvalidInput(why)
    }

    uniffi::custom_type!(ChannelId, String, {
        remote,
        lower: |v| v.to_text(),
        try_lift: |s| lift(s, unknown_channel),
    });
    uniffi::custom_type!(PaymentId, String, {
        remote,
        lower: |v| v.to_text(),
        try_lift: |s| lift(s, invalid),
    });
    uniffi::custom_type!(PaymentHash, String, {
        remote,
        lower: |v| v.to_text(),
        try_lift: |s| lift(s, invalid),
    });
    uniffi::custom_type!(PaymentPreimage, String, {
        remote,
        lower: |v| v.to_text(),
        try_lift: |s| lift(s, invalid),
    });
    uniffi::custom_type!(Txid, String, {
        remote,
        lower: |v| v.to_text(),
        try_lift: |s| lift(s, invalid),
    });
    uniffi::custom_type!(OutPoint, String, {
        remote,
        lower: |v| v.to_text(),
        try_lift: |s| lift(s, invalid),
    });
    uniffi::custom_type!(UserChannelId, String, {
        lower: |v| v.to_text(),
        try_lift: |s| lift(s, invalid),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip_and_bad_text_is_refused() {
        let id = ChannelId([0xab; 32]);
        assert_eq!(ChannelId::from_text(&id.to_text()), Ok(id));
        assert_eq!(ChannelId::from_text(&id.to_text().to_uppercase()), Ok(id));
        assert!(ChannelId::from_text("nope").is_err());
        let user = UserChannelId(u128::MAX);
        assert_eq!(UserChannelId::from_text(&user.to_text()), Ok(user));
        assert!(UserChannelId::from_text("-1").is_err());
        let txo = OutPoint {
            txid: Txid::from_text(&"11".repeat(32)).expect("txid"),
            vout: 7,
        };
        assert_eq!(OutPoint::from_text(&txo.to_text()), Ok(txo));
        assert!(OutPoint::from_text("x:1").is_err());
    }
}
