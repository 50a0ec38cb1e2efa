//! One parser for whatever a user pasted or scanned: a BOLT 11 invoice, a node URI or id, a
//! Qtum address, a `qtum:` payment URI (BIP 21's form, with an optional `lightning=` invoice),
//! an LNURL or a Lightning Address. Nothing is fetched: LNURL and Lightning Address come back
//! as the URL an app would ask, so the app decides whether to go online.

use std::str::FromStr;

use crate::error::NodeError;
use crate::node::Node;
use crate::payment::InvoicePreview;
use crate::peer::NodeUri;
use crate::qtum::address::{AddressError, QtumAddress};
use crate::types::PublicKey;

/// What a piece of text turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ParsedInput {
    /// A BOLT 11 invoice (pay it with `send` or `send_using_amount`).
    Bolt11 {
        /// The invoice, without any `lightning:` prefix.
        invoice: String,
        /// What it asks for.
        preview: InvoicePreview,
    },
    /// A node to connect or open a channel to.
    NodeUri {
        /// `pubkey@host:port`, normalised.
        uri: String,
        /// The node id.
        node_id: PublicKey,
    },
    /// A bare node id (a keysend destination).
    NodeId {
        /// The node id.
        node_id: PublicKey,
    },
    /// A Qtum address of this node's network.
    Address {
        /// The address.
        address: String,
    },
    /// A `qtum:` payment URI. When it carries an invoice, paying that is usually preferred.
    PaymentUri {
        /// Its on-chain address, when it has one.
        address: Option<String>,
        /// The amount asked, in satoshi.
        amount_sat: Option<u64>,
        /// `label=`.
        label: Option<String>,
        /// `message=`.
        message: Option<String>,
        /// The `lightning=` invoice, when there is one.
        invoice: Option<String>,
        /// What that invoice asks for.
        invoice_preview: Option<InvoicePreview>,
    },
    /// An LNURL (`lnurl1…` or an `lnurlp://`, `lnurlw://`, `keyauth://` link): the URL to ask.
    Lnurl {
        /// The decoded URL (`https://…`, or `http://` for `.onion` hosts).
        url: String,
    },
    /// A Lightning Address (`user@domain`).
    LightningAddress {
        /// The address, lower case.
        address: String,
        /// The LNURL-pay URL it stands for.
        url: String,
    },
}

/// Longest input read: invoices with many route hints run to a few thousand characters.
const MAX_INPUT_LEN: usize = 8_192;

fn invalid(what: impl Into<String>) -> NodeError {
    NodeError::InvalidInput(what.into())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn address_error(e: AddressError) -> NodeError {
    match e {
        e @ AddressError::WrongNetwork { .. } => NodeError::WrongNetwork(e.to_string()),
        other => NodeError::InvalidAddress(other.to_string()),
    }
}

/// Percent-decoding of a URI parameter (`+` stays a plus, as BIP 21 says nothing of forms).
fn percent_decode(text: &str) -> Result<String, NodeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| invalid(format!("bad percent escape in {text:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid("a URI parameter is not UTF-8"))
}

/// A decimal QTUM amount (at most 8 decimals) in satoshi, without floating point.
pub(crate) fn parse_qtum_amount(text: &str) -> Result<u64, NodeError> {
    let bad = || invalid(format!("amount {text:?}: expected QTUM like 1.5"));
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if frac.len() > 8 {
        return Err(invalid(format!(
            "amount {text:?}: more than 8 decimals (a satoshi is 0.00000001 QTUM)"
        )));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac_sat: u64 = format!("{frac:0<8}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(100_000_000)
        .and_then(|s| s.checked_add(frac_sat))
        .filter(|s| *s <= 107_822_406 * 100_000_000)
        .ok_or_else(|| invalid(format!("amount {text:?} is more QTUM than will ever exist")))
}

/// The URL an `lnurl1…` string encodes.
fn decode_lnurl(text: &str) -> Result<String, NodeError> {
    let (hrp, data) = bitcoin::bech32::decode(text)
        .map_err(|e| invalid(format!("LNURL does not decode: {e}")))?;
    if !hrp.as_str().eq_ignore_ascii_case("lnurl") {
        return Err(invalid("not an LNURL"));
    }
    let url = String::from_utf8(data).map_err(|_| invalid("the LNURL is not a URL"))?;
    check_lnurl_url(url)
}

/// LUD-01: clear-text HTTP only for onion services.
fn check_lnurl_url(url: String) -> Result<String, NodeError> {
    let lower = url.to_ascii_lowercase();
    let host = lower
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if lower.starts_with("https://") && !host.is_empty() {
        return Ok(url);
    }
    if lower.starts_with("http://") && host.ends_with(".onion") {
        return Ok(url);
    }
    Err(invalid(format!(
        "the LNURL points to {url:?}: only https (or http to an onion service) is allowed"
    )))
}

/// `lnurlp://host/path` (LUD-17) as the URL to ask.
fn lud17_url(scheme_less: &str) -> Result<String, NodeError> {
    let host = scheme_less.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(invalid("the LNURL link has no host"));
    }
    let scheme = if host.to_ascii_lowercase().ends_with(".onion") {
        "http"
    } else {
        "https"
    };
    Ok(format!("{scheme}://{scheme_less}"))
}

/// `user@domain` as a Lightning Address (LUD-16), or `None` when it is not one.
fn lightning_address(text: &str) -> Option<(String, String)> {
    let (user, domain) = text.split_once('@')?;
    let user = user.to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    let user_ok = !user.is_empty()
        && user.len() <= 64
        && user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.+".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    (user_ok && domain_ok).then_some((user, domain))
}

impl Node {
    /// Work out what `text` is (see [`ParsedInput`]): any case, surrounding spaces and
    /// `lightning:` prefixes accepted. Invoices and addresses of another Qtum network, and
    /// Bitcoin ones, are refused (`WrongNetwork`); text that is none of these is
    /// `InvalidInput`. Nothing is fetched.
    pub fn parse_input(&self, text: &str) -> Result<ParsedInput, NodeError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("nothing to read"));
        }
        if text.len() > MAX_INPUT_LEN {
            return Err(invalid(format!(
                "{} characters: longer than anything this reads",
                text.len()
            )));
        }
        if let Some(rest) = strip_prefix_ignore_case(text, "lightning:") {
            return match self.parse_input(rest.trim_start_matches('/'))? {
                bolt11 @ ParsedInput::Bolt11 { .. } => Ok(bolt11),
                lnurl @ ParsedInput::Lnurl { .. } => Ok(lnurl),
                la @ ParsedInput::LightningAddress { .. } => Ok(la),
                _ => Err(invalid("a lightning: link holds an invoice or an LNURL")),
            };
        }
        if let Some(rest) = strip_prefix_ignore_case(text, "qtum:") {
            return self.parse_payment_uri(rest);
        }
        for scheme in ["lnurlp://", "lnurlw://", "lnurlc://", "keyauth://"] {
            if let Some(rest) = strip_prefix_ignore_case(text, scheme) {
                return Ok(ParsedInput::Lnurl {
                    url: lud17_url(rest)?,
                });
            }
        }
        if strip_prefix_ignore_case(text, "lnurl1").is_some() {
            return Ok(ParsedInput::Lnurl {
                url: decode_lnurl(text)?,
            });
        }
        if strip_prefix_ignore_case(text, "ln").is_some() && !text.contains('@') {
            return self.parse_invoice(text);
        }
        if let Some((id, _)) = text.split_once('@') {
            if id.len() == 66 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                let uri = NodeUri::from_str(text)
                    .map_err(|e| NodeError::InvalidNodeUri(e.to_string()))?;
                return Ok(ParsedInput::NodeUri {
                    uri: uri.to_string(),
                    node_id: uri.node_id,
                });
            }
            return match lightning_address(text) {
                Some((user, domain)) => {
                    let scheme = if domain.ends_with(".onion") {
                        "http"
                    } else {
                        "https"
                    };
                    Ok(ParsedInput::LightningAddress {
                        url: format!("{scheme}://{domain}/.well-known/lnurlp/{user}"),
                        address: format!("{user}@{domain}"),
                    })
                }
                None => Err(invalid(
                    "not a node URI (pubkey@host:port) nor a Lightning Address (user@domain)",
                )),
            };
        }
        if text.len() == 66 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let node_id = super::parse_node_id(text)?;
            return Ok(ParsedInput::NodeId { node_id });
        }
        match QtumAddress::from_str_for(text, self.network()) {
            Ok(address) => Ok(ParsedInput::Address {
                address: address.to_string(),
            }),
            Err(e @ AddressError::WrongNetwork { .. }) => Err(address_error(e)),
            Err(_) => Err(invalid(
                "not an invoice, node, Qtum address, qtum: URI, LNURL or Lightning Address",
            )),
        }
    }

    fn parse_invoice(&self, text: &str) -> Result<ParsedInput, NodeError> {
        let preview = self.decode_invoice(text)?;
        if preview.network != self.network() {
            return Err(NodeError::WrongNetwork(format!(
                "an invoice for Qtum {:?}; this node is on {:?}",
                preview.network,
                self.network()
            )));
        }
        Ok(ParsedInput::Bolt11 {
            invoice: text.to_ascii_lowercase(),
            preview,
        })
    }

    /// `qtum:<address>?amount=…&label=…&message=…&lightning=…` (BIP 21's rules: an unknown
    /// `req-` parameter makes the URI unusable; other unknown ones are ignored).
    fn parse_payment_uri(&self, rest: &str) -> Result<ParsedInput, NodeError> {
        let rest = rest.trim_start_matches('/');
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let address = if path.is_empty() {
            None
        } else {
            let address = QtumAddress::from_str_for(&percent_decode(path)?, self.network())
                .map_err(address_error)?;
            Some(address.to_string())
        };
        let (mut amount_sat, mut label, mut message, mut invoice) = (None, None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = key.to_ascii_lowercase();
            let value = percent_decode(value)?;
            let slot = match key.as_str() {
                "amount" => {
                    let sat = parse_qtum_amount(&value)?;
                    if amount_sat.replace(sat).is_some() {
                        return Err(invalid("the URI gives the amount twice"));
                    }
                    continue;
                }
                "label" => &mut label,
                "message" => &mut message,
                "lightning" => &mut invoice,
                other if other.starts_with("req-") => {
                    return Err(invalid(format!(
                        "the URI requires {other:?}, which this wallet does not understand"
                    )))
                }
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(invalid(format!("the URI gives {key} twice")));
            }
        }
        let invoice_preview = match &invoice {
            Some(text) => match self.parse_invoice(text)? {
                ParsedInput::Bolt11 { preview, .. } => Some(preview),
                _ => None,
            },
            None => None,
        };
        if address.is_none() && invoice.is_none() {
            return Err(invalid(
                "the qtum: URI has neither an address nor an invoice",
            ));
        }
        if let (Some(sat), Some(preview)) = (amount_sat, &invoice_preview) {
            if let Some(msat) = preview.amount_msat {
                if msat != sat.saturating_mul(1000) {
                    return Err(invalid("the URI's amount and its invoice's amount differ"));
                }
            }
        }
        Ok(ParsedInput::PaymentUri {
            address,
            amount_sat,
            label,
            message,
            invoice: invoice.map(|i| i.to_ascii_lowercase()),
            invoice_preview,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact() {
        assert_eq!(parse_qtum_amount("1").unwrap(), 100_000_000);
        assert_eq!(parse_qtum_amount("0.00000001").unwrap(), 1);
        assert_eq!(parse_qtum_amount("1.5").unwrap(), 150_000_000);
        assert_eq!(parse_qtum_amount(".5").unwrap(), 50_000_000);
        assert_eq!(parse_qtum_amount("20.").unwrap(), 2_000_000_000);
        for bad in ["", ".", "1.000000001", "-1", "1e3", "1,5", "0x10", "1.5.1"] {
            assert!(parse_qtum_amount(bad).is_err(), "{bad}");
        }
        assert!(
            parse_qtum_amount("184467440737").is_err(),
            "beyond the supply"
        );
    }

    #[test]
    fn lnurl_decodes_to_its_url() {
        // LUD-01's example.
        let lnurl = "LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEPNXSCRVWFNV9NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS";
        assert_eq!(
            decode_lnurl(lnurl).unwrap(),
            "https://service.com/api?q=3fc3645b439ce8e7f2553a69e5267081d96dcd340693afabe04be7b0ccd178df"
        );
        assert!(
            decode_lnurl(&lnurl.replace("FNS", "FNT")).is_err(),
            "checksum"
        );
        assert!(check_lnurl_url("http://service.com/x".into()).is_err());
        assert!(check_lnurl_url("http://abc.onion/x".into()).is_ok());
        assert!(check_lnurl_url("https:///x".into()).is_err());
    }

    #[test]
    fn lightning_addresses() {
        assert_eq!(
            lightning_address("Alice@Example.com"),
            Some(("alice".into(), "example.com".into()))
        );
        assert_eq!(lightning_address("a@localhost"), None);
        assert_eq!(lightning_address("a b@example.com"), None);
        assert_eq!(lightning_address("@example.com"), None);
        assert_eq!(lightning_address("a@-x.com"), None);
    }

    #[test]
    fn percent_escapes() {
        assert_eq!(percent_decode("a%20b").unwrap(), "a b");
        assert!(percent_decode("a%2").is_err());
        assert!(percent_decode("%ff").is_err(), "not UTF-8");
    }
}
