//! BOLT 11 invoices on Qtum (`lnqc`, `lntq`, `lnqcrt`), through the patched `lightning-invoice`.
//!
//! Decoding works on the signed raw invoice, so invoices that a modern node cannot pay (those
//! made by Qtum's 2019 Eclair fork carry no payment secret) still decode and show their signature
//! status; [`DecodedInvoice::payable_on`] is the one gate that says whether we may pay one.

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::{PubkeyHash, ScriptBuf, ScriptHash, WitnessProgram};
use lightning::routing::router::RouteHintHop;
use lightning_invoice::{
    Bolt11Invoice, Bolt11ParseError, Bolt11SemanticError, Currency, Fallback, InvoiceBuilder,
    ParseOrSemanticError, SignedRawBolt11Invoice,
};

use crate::qtum::address::QtumAddress;
use crate::qtum::network::Network;

/// BOLT 11's default expiry when an invoice has no `x` field: one hour.
pub const DEFAULT_EXPIRY_SECS: u64 = 3600;
/// BOLT 11's default `min_final_cltv_expiry_delta` when an invoice has no `c` field.
pub const DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA: u64 = 18;

/// Why an invoice cannot be used. Messages are written for a person reading them in an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceError {
    /// The text is not a BOLT 11 invoice at all (bad bech32, bad checksum, truncated data).
    Malformed(String),
    /// A Lightning invoice for a chain that is not Qtum (for example Bitcoin's `lnbc…`).
    NotQtum {
        /// The currency prefix found, such as `bc` or `tb`.
        prefix: String,
    },
    /// A Qtum invoice for another Qtum network than the one asked for.
    WrongNetwork {
        /// The network the caller uses.
        expected: Network,
        /// The network the invoice is for.
        found: Network,
    },
    /// The signature does not match the payee's key: the invoice was altered or forged.
    InvalidSignature,
    /// The invoice has no payment secret (pre-2020 invoices, such as Qtum Eclair's), which every
    /// current node requires to pay.
    MissingPaymentSecret,
    /// The invoice decodes but breaks a BOLT 11 rule that makes it unpayable.
    Unpayable(String),
}

impl fmt::Display for InvoiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvoiceError::Malformed(why) => write!(f, "not a valid Lightning invoice: {why}"),
            InvoiceError::NotQtum { prefix } => write!(
                f,
                "this is a Lightning invoice for another blockchain (prefix ln{prefix}), not Qtum"
            ),
            InvoiceError::WrongNetwork { expected, found } => {
                write!(f, "this invoice is for Qtum {found}, but this node runs on Qtum {expected}")
            }
            InvoiceError::InvalidSignature => {
                f.write_str("the invoice signature is not valid: it may have been tampered with")
            }
            InvoiceError::MissingPaymentSecret => f.write_str(
                "the invoice has no payment secret (an old-style invoice); ask the payee for a new invoice",
            ),
            InvoiceError::Unpayable(why) => write!(f, "the invoice cannot be paid: {why}"),
        }
    }
}

impl std::error::Error for InvoiceError {}

/// The invoice's description: the text itself or, for long descriptions, its SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceDescription {
    /// The description text (`d` field).
    Direct(String),
    /// The SHA-256 of the description (`h` field).
    Hash(sha256::Hash),
}

/// Everything an app shows before paying an invoice.
#[derive(Debug, Clone)]
pub struct DecodedInvoice {
    signed: SignedRawBolt11Invoice,
    /// The Qtum network the invoice is for.
    pub network: Network,
    /// The amount asked for, in millisatoshi; `None` for "any amount".
    pub amount_msat: Option<u64>,
    /// The payment hash.
    pub payment_hash: sha256::Hash,
    /// The payee's node id: from the `n` field, or recovered from the signature.
    pub payee_pubkey: PublicKey,
    /// The description or its hash.
    pub description: InvoiceDescription,
    /// Creation time, seconds since the Unix epoch.
    pub timestamp_secs: u64,
    /// Seconds after `timestamp_secs` when the invoice expires.
    pub expiry_secs: u64,
    /// The final hop's CLTV delta in blocks (the `c` field, or BOLT 11's default of 18).
    pub min_final_cltv_expiry_delta: u64,
    /// On-chain fallback addresses, as Qtum addresses of the invoice's network.
    pub fallback_addresses: Vec<QtumAddress>,
    /// Private route hints (`r` fields), each a path of hops towards the payee.
    pub route_hints: Vec<Vec<RouteHintHop>>,
    /// Whether the invoice carries a payment secret (`s` field).
    pub payment_secret_present: bool,
    /// Whether the signature verifies against the payee's key.
    pub signature_valid: bool,
}

/// The `lightning-invoice` currency that stands for a Qtum network (see patches/).
pub fn currency(network: Network) -> Currency {
    match network {
        Network::Mainnet => Currency::Bitcoin,
        Network::Testnet => Currency::BitcoinTestnet,
        Network::Regtest => Currency::Regtest,
    }
}

/// The Qtum network of a `lightning-invoice` currency, if it is one of Qtum's.
pub fn network_of(currency: &Currency) -> Option<Network> {
    match currency {
        Currency::Bitcoin => Some(Network::Mainnet),
        Currency::BitcoinTestnet => Some(Network::Testnet),
        Currency::Regtest => Some(Network::Regtest),
        Currency::Simnet | Currency::Signet => None,
    }
}

/// Bring user input to the canonical form: no whitespace, no `lightning:` URI scheme, lower case
/// (bech32 allows all-upper-case, which QR codes use).
fn normalize(text: &str) -> String {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    match lower.strip_prefix("lightning:") {
        Some(rest) => rest.trim_start_matches("//").to_string(),
        None => lower,
    }
}

/// The currency part of an invoice's human-readable part (`bc` in `lnbc2500u1…`).
fn currency_prefix(invoice: &str) -> Option<String> {
    let hrp_end = invoice.rfind('1')?;
    let rest = invoice.get(..hrp_end)?.strip_prefix("ln")?;
    Some(
        rest.chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect(),
    )
}

fn parse_error_text(err: &Bolt11ParseError) -> String {
    err.to_string()
}

impl DecodedInvoice {
    /// Decode an invoice of any Qtum network. Accepts a `lightning:` prefix and any letter case.
    pub fn decode(text: &str) -> Result<DecodedInvoice, InvoiceError> {
        let text = normalize(text);
        if text.is_empty() {
            return Err(InvoiceError::Malformed("empty text".into()));
        }
        let signed = match SignedRawBolt11Invoice::from_str(&text) {
            Ok(signed) => signed,
            Err(Bolt11ParseError::UnknownCurrency) => {
                let prefix = currency_prefix(&text).unwrap_or_default();
                return Err(InvoiceError::NotQtum { prefix });
            }
            Err(e) => return Err(InvoiceError::Malformed(parse_error_text(&e))),
        };
        let raw = signed.raw_invoice();
        let currency = raw.currency();
        let network = network_of(&currency).ok_or_else(|| InvoiceError::NotQtum {
            prefix: currency.to_string(),
        })?;

        let payment_hash = raw
            .payment_hash()
            .map(|h| h.0)
            .ok_or_else(|| InvoiceError::Malformed("no payment hash".into()))?;
        let description = match (raw.description(), raw.description_hash()) {
            (Some(d), None) => InvoiceDescription::Direct(d.as_inner().0.clone()),
            (None, Some(h)) => InvoiceDescription::Hash(h.0),
            (Some(_), Some(_)) => {
                return Err(InvoiceError::Malformed(
                    "both a description and a description hash".into(),
                ))
            }
            (None, None) => {
                return Err(InvoiceError::Malformed(
                    "neither a description nor a description hash".into(),
                ))
            }
        };
        let amount_msat = match raw.amount_pico_btc() {
            None => None,
            Some(pico) if pico % 10 == 0 => Some(pico / 10),
            Some(_) => {
                return Err(InvoiceError::Malformed(
                    "amount is not a whole number of millisatoshi".into(),
                ))
            }
        };
        let (payee_pubkey, signature_valid) = match raw.payee_pub_key() {
            Some(key) => (key.0, signed.check_signature()),
            None => match signed.recover_payee_pub_key() {
                Ok(key) => (key.0, true),
                Err(_) => return Err(InvoiceError::InvalidSignature),
            },
        };
        let mut fallback_addresses = Vec::new();
        for fallback in raw.fallbacks() {
            let script = fallback_script(fallback)?;
            let address = QtumAddress::from_script(&script, network)
                .map_err(|e| InvoiceError::Malformed(format!("fallback address: {e}")))?;
            fallback_addresses.push(address);
        }
        let route_hints = raw
            .private_routes()
            .into_iter()
            .map(|r| r.0.clone())
            .collect();

        Ok(DecodedInvoice {
            network,
            amount_msat,
            payment_hash,
            payee_pubkey,
            description,
            timestamp_secs: raw.data.timestamp.as_unix_timestamp(),
            expiry_secs: raw
                .expiry_time()
                .map(|x| x.as_seconds())
                .unwrap_or(DEFAULT_EXPIRY_SECS),
            min_final_cltv_expiry_delta: raw
                .min_final_cltv_expiry_delta()
                .map(|c| c.0)
                .unwrap_or(DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA),
            fallback_addresses,
            route_hints,
            payment_secret_present: raw.payment_secret().is_some(),
            signature_valid,
            signed: signed.clone(),
        })
    }

    /// Decode an invoice and check it is for `network`.
    pub fn decode_for(text: &str, network: Network) -> Result<DecodedInvoice, InvoiceError> {
        let decoded = DecodedInvoice::decode(text)?;
        if decoded.network != network {
            return Err(InvoiceError::WrongNetwork {
                expected: network,
                found: decoded.network,
            });
        }
        Ok(decoded)
    }

    /// Seconds since the Unix epoch at which the invoice expires.
    pub fn expires_at_secs(&self) -> u64 {
        self.timestamp_secs.saturating_add(self.expiry_secs)
    }

    /// Whether the invoice has expired at `now` (seconds since the Unix epoch).
    pub fn is_expired_at(&self, now_secs: u64) -> bool {
        now_secs >= self.expires_at_secs()
    }

    /// The invoice in its canonical (lower-case) text form.
    pub fn to_text(&self) -> String {
        self.signed.to_string()
    }

    /// Check everything that paying this invoice on `network` needs (network, signature,
    /// payment secret, BOLT 11 semantics) and return LDK's invoice. Expiry is the caller's check,
    /// since it depends on the clock.
    pub fn payable_on(&self, network: Network) -> Result<Bolt11Invoice, InvoiceError> {
        if self.network != network {
            return Err(InvoiceError::WrongNetwork {
                expected: network,
                found: self.network,
            });
        }
        if !self.signature_valid {
            return Err(InvoiceError::InvalidSignature);
        }
        if !self.payment_secret_present {
            return Err(InvoiceError::MissingPaymentSecret);
        }
        Bolt11Invoice::from_signed(self.signed.clone()).map_err(|e| match e {
            Bolt11SemanticError::InvalidSignature => InvoiceError::InvalidSignature,
            Bolt11SemanticError::NoPaymentSecret => InvoiceError::MissingPaymentSecret,
            other => InvoiceError::Unpayable(other.to_string()),
        })
    }
}

/// Decode straight to LDK's invoice type, with our typed errors.
pub fn parse_payable(text: &str, network: Network) -> Result<Bolt11Invoice, InvoiceError> {
    DecodedInvoice::decode(text)?.payable_on(network)
}

fn fallback_script(fallback: &Fallback) -> Result<ScriptBuf, InvoiceError> {
    Ok(match fallback {
        Fallback::PubKeyHash(hash) => {
            ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(hash.to_byte_array()))
        }
        Fallback::ScriptHash(hash) => {
            ScriptBuf::new_p2sh(&ScriptHash::from_byte_array(hash.to_byte_array()))
        }
        Fallback::SegWitProgram { version, program } => {
            let program = WitnessProgram::new(*version, program)
                .map_err(|e| InvoiceError::Malformed(format!("fallback witness program: {e}")))?;
            ScriptBuf::new_witness_program(&program)
        }
    })
}

/// What to put in a new invoice. Amounts in millisatoshi; `None` asks the payer to choose.
#[derive(Debug, Clone)]
pub struct InvoiceRequest {
    /// Network the invoice is for.
    pub network: Network,
    /// Amount in millisatoshi, or `None` for a variable-amount invoice.
    pub amount_msat: Option<u64>,
    /// Description shown to the payer.
    pub description: String,
    /// Payment hash (SHA-256 of the preimage).
    pub payment_hash: sha256::Hash,
    /// Payment secret.
    pub payment_secret: [u8; 32],
    /// Seconds until expiry.
    pub expiry_secs: u64,
    /// Final hop CLTV delta in blocks (always written as the `c` field).
    pub min_final_cltv_expiry_delta: u64,
    /// Creation time (seconds since the Unix epoch).
    pub timestamp_secs: u64,
}

/// Build and sign an invoice with `node_secret`. The node itself creates invoices through LDK's
/// `ChannelManager::create_bolt11_invoice`; this exists for tools and tests that have a key.
pub fn create_signed(
    request: &InvoiceRequest,
    node_secret: &SecretKey,
) -> Result<Bolt11Invoice, InvoiceError> {
    let description = lightning_invoice::Description::new(request.description.clone())
        .map_err(|e| InvoiceError::Unpayable(e.to_string()))?;
    let mut builder = InvoiceBuilder::new(currency(request.network))
        .invoice_description(lightning_invoice::Bolt11InvoiceDescription::Direct(
            description,
        ))
        .payment_hash(request.payment_hash)
        .payment_secret(lightning::types::payment::PaymentSecret(
            request.payment_secret,
        ))
        .duration_since_epoch(Duration::from_secs(request.timestamp_secs))
        .min_final_cltv_expiry_delta(request.min_final_cltv_expiry_delta)
        .expiry_time(Duration::from_secs(request.expiry_secs));
    if let Some(msat) = request.amount_msat {
        builder = builder.amount_milli_satoshis(msat);
    }
    let secp = Secp256k1::signing_only();
    builder
        .build_signed(|hash| secp.sign_ecdsa_recoverable(hash, node_secret))
        .map_err(|e| InvoiceError::Unpayable(e.to_string()))
}

impl From<ParseOrSemanticError> for InvoiceError {
    fn from(e: ParseOrSemanticError) -> Self {
        match e {
            ParseOrSemanticError::ParseError(Bolt11ParseError::UnknownCurrency) => {
                InvoiceError::NotQtum {
                    prefix: String::new(),
                }
            }
            ParseOrSemanticError::ParseError(p) => InvoiceError::Malformed(p.to_string()),
            ParseOrSemanticError::SemanticError(Bolt11SemanticError::NoPaymentSecret) => {
                InvoiceError::MissingPaymentSecret
            }
            ParseOrSemanticError::SemanticError(Bolt11SemanticError::InvalidSignature) => {
                InvoiceError::InvalidSignature
            }
            ParseOrSemanticError::SemanticError(s) => InvoiceError::Unpayable(s.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_slice(&[byte; 32]).expect("valid key")
    }

    fn request(network: Network, amount_msat: Option<u64>) -> InvoiceRequest {
        InvoiceRequest {
            network,
            amount_msat,
            description: "coffee".into(),
            payment_hash: sha256::Hash::hash(b"preimage"),
            payment_secret: [7; 32],
            expiry_secs: 3600,
            min_final_cltv_expiry_delta: 144,
            timestamp_secs: 1_800_000_000,
        }
    }

    #[test]
    fn create_parse_verify_each_network() {
        for (network, prefix) in [
            (Network::Mainnet, "lnqc"),
            (Network::Testnet, "lntq"),
            (Network::Regtest, "lnqcrt"),
        ] {
            let invoice = create_signed(&request(network, Some(1_000)), &key(3)).expect("signs");
            let text = invoice.to_string();
            assert!(text.starts_with(&format!("{prefix}10n1")), "{text}");
            let decoded = DecodedInvoice::decode_for(&text, network).expect("decodes");
            assert_eq!(decoded.amount_msat, Some(1_000));
            assert!(decoded.signature_valid);
            assert!(decoded.payment_secret_present);
            assert_eq!(decoded.min_final_cltv_expiry_delta, 144);
            let secp = Secp256k1::new();
            assert_eq!(
                decoded.payee_pubkey,
                PublicKey::from_secret_key(&secp, &key(3))
            );
            assert!(decoded.payable_on(network).is_ok());
            assert_eq!(decoded.to_text(), text);
        }
    }

    #[test]
    fn one_msat_and_variable_amount() {
        let one = create_signed(&request(Network::Regtest, Some(1)), &key(4)).expect("signs");
        assert_eq!(
            DecodedInvoice::decode(&one.to_string())
                .expect("ok")
                .amount_msat,
            Some(1)
        );
        let any = create_signed(&request(Network::Regtest, None), &key(4)).expect("signs");
        assert_eq!(
            DecodedInvoice::decode(&any.to_string())
                .expect("ok")
                .amount_msat,
            None
        );
    }

    #[test]
    fn prefix_and_case_are_accepted() {
        let text = create_signed(&request(Network::Testnet, Some(5_000)), &key(5))
            .expect("signs")
            .to_string();
        let upper = format!("LIGHTNING:{}", text.to_ascii_uppercase());
        let decoded = DecodedInvoice::decode(&upper).expect("decodes");
        assert_eq!(decoded.network, Network::Testnet);
        assert_eq!(decoded.to_text(), text);
    }

    #[test]
    fn wrong_network_is_typed() {
        let text = create_signed(&request(Network::Testnet, Some(5_000)), &key(5))
            .expect("signs")
            .to_string();
        assert_eq!(
            DecodedInvoice::decode_for(&text, Network::Mainnet).unwrap_err(),
            InvoiceError::WrongNetwork {
                expected: Network::Mainnet,
                found: Network::Testnet
            }
        );
    }

    /// Re-encode an invoice's data under another human-readable part, with a valid checksum,
    /// the way an invoice of another chain would look.
    fn with_hrp(text: &str, hrp: &str) -> String {
        use bitcoin::bech32::primitives::decode::CheckedHrpstring;
        use bitcoin::bech32::{Bech32, Fe32IterExt, Hrp};
        let parsed = CheckedHrpstring::new::<lightning_invoice::Bolt11Bech32>(text).expect("ok");
        let data: Vec<_> = parsed.fe32_iter::<&mut dyn Iterator<Item = u8>>().collect();
        let hrp = Hrp::parse(hrp).expect("valid hrp");
        data.into_iter()
            .with_checksum::<Bech32>(&hrp)
            .chars()
            .collect()
    }

    #[test]
    fn other_chains_are_not_qtum() {
        let text = create_signed(&request(Network::Mainnet, Some(1_000)), &key(5))
            .expect("signs")
            .to_string();
        for (hrp, prefix) in [
            ("lnbc10n", "bc"),
            ("lntb10n", "tb"),
            ("lnbcrt10n", "bcrt"),
            ("lntbs10n", "tbs"),
        ] {
            let foreign = with_hrp(&text, hrp);
            match DecodedInvoice::decode(&foreign) {
                Err(InvoiceError::NotQtum { prefix: found }) => assert_eq!(found, prefix),
                other => panic!("{hrp}: expected NotQtum, got {other:?}"),
            }
        }
        // The same data under a Qtum prefix decodes (the signature no longer matches the payee,
        // since the prefix is signed, so the recovered key differs from the real payee).
        let moved = with_hrp(&text, "lntq10n");
        let decoded = DecodedInvoice::decode(&moved).expect("decodes");
        assert_eq!(decoded.network, Network::Testnet);
        let secp = Secp256k1::new();
        assert_ne!(
            decoded.payee_pubkey,
            PublicKey::from_secret_key(&secp, &key(5))
        );
    }

    #[test]
    fn tampering_breaks_the_signature_or_checksum() {
        let text = create_signed(&request(Network::Regtest, Some(5_000)), &key(6))
            .expect("signs")
            .to_string();
        // Flip one character in the data part: bech32's checksum catches it.
        let mut chars: Vec<char> = text.chars().collect();
        let i = chars.len() - 20;
        chars[i] = if chars[i] == 'q' { 'p' } else { 'q' };
        let tampered: String = chars.into_iter().collect();
        assert!(matches!(
            DecodedInvoice::decode(&tampered),
            Err(InvoiceError::Malformed(_))
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        for text in ["", "   ", "lnqc", "hello", "lnqc1qqqqqq", "lightning:"] {
            assert!(DecodedInvoice::decode(text).is_err(), "{text:?}");
        }
    }
}
