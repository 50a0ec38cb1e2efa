//! The HTTP+JSON API: routes, authentication, the JSON forms of the SDK's types, and errors.
//!
//! Every request carries the configured password (`Authorization: Bearer <password>`, or HTTP
//! Basic with any user name, as Eclair's API took it), compared in constant time. Bodies are
//! JSON objects whose unknown fields are refused, so a misspelt option is an error rather than a
//! silently used default. An error is `{"error": {"type", "kind", "message"}}`: `type` is
//! `NodeError` for the SDK's typed errors (with `kind` its variant) and `ApiError` for the API's
//! own (authentication, routing, the request itself).

use std::sync::Arc;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use qtum_http::{Request, Response};
use qtum_lightning::types::IdText;
use qtum_lightning::{
    ChannelId, Node, NodeError, PaymentDetails, PaymentDirection, PaymentFilter, PaymentId,
    PaymentKind, PaymentStatus, PeerInfo, PublicKey,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::events::EventLog;

/// The OpenAPI description served at `/v1/openapi.json` (and checked against [`ROUTES`] by the
/// tests).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route: method and path pattern (`{id}`: one path segment).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/info"),
    ("GET", "/v1/peers"),
    ("POST", "/v1/peers/connect"),
    ("POST", "/v1/peers/disconnect"),
    ("GET", "/v1/channels"),
    ("POST", "/v1/channels/open"),
    ("POST", "/v1/channels/close"),
    ("POST", "/v1/channels/force-close"),
    ("POST", "/v1/channels/fees"),
    ("POST", "/v1/invoices"),
    ("POST", "/v1/invoices/decode"),
    ("POST", "/v1/payments/pay"),
    ("POST", "/v1/payments/keysend"),
    ("GET", "/v1/payments"),
    ("GET", "/v1/payments/{id}"),
    ("POST", "/v1/onchain/address"),
    ("GET", "/v1/onchain/balance"),
    ("POST", "/v1/onchain/send"),
    ("GET", "/v1/recovery"),
    ("POST", "/v1/recovery/start"),
    ("POST", "/v1/recovery/stop"),
    ("GET", "/v1/events"),
    ("GET", "/v1/openapi.json"),
];

/// The most payments one page lists.
pub const MAX_PAGE: u32 = 1_000;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: u16,
    kind: String,
    error_type: &'static str,
    message: String,
}

impl ApiError {
    fn api(status: u16, kind: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind: kind.into(),
            error_type: "ApiError",
            message: message.into(),
        }
    }

    /// The answer: the status and the JSON error object.
    pub fn response(&self) -> Response {
        let body = json!({"error": {
            "type": self.error_type,
            "kind": self.kind,
            "message": self.message,
        }});
        let mut r = Response::json(self.status, body.to_string().into_bytes());
        if self.status == 401 {
            r.headers
                .push(("WWW-Authenticate", "Bearer realm=\"qtum-lnd\"".into()));
        }
        r
    }
}

/// The answers the HTTP layer itself gives (oversize, malformed, timeouts), in the API's JSON
/// error form.
pub fn transport_error(status: u16, text: &str) -> Response {
    let kind = match status {
        413 => "RequestTooLarge",
        431 => "HeaderTooLarge",
        408 => "RequestTimeout",
        503 => "Busy",
        405 => "MethodNotAllowed",
        _ => "BadRequest",
    };
    ApiError::api(status, kind, text).response()
}

/// The variant name and HTTP status of an SDK error.
fn node_error_status(e: &NodeError) -> (u16, &'static str) {
    use NodeError as E;
    match e {
        E::NotRunning => (503, "NotRunning"),
        E::InvalidNodeUri(_) => (400, "InvalidNodeUri"),
        E::InvalidNodeId(_) => (400, "InvalidNodeId"),
        E::ConnectionFailed(_) => (502, "ConnectionFailed"),
        E::PeerNotConnected(_) => (409, "PeerNotConnected"),
        E::InvalidAmount(_) => (400, "InvalidAmount"),
        E::UnknownChannel(_) => (404, "UnknownChannel"),
        E::ChannelFailed(_) => (409, "ChannelFailed"),
        E::InsufficientFunds(_) => (409, "InsufficientFunds"),
        E::InvalidAddress(_) => (400, "InvalidAddress"),
        E::InvalidInvoice(_) => (400, "InvalidInvoice"),
        E::WrongNetwork(_) => (400, "WrongNetwork"),
        E::CannotPayOwnInvoice => (400, "CannotPayOwnInvoice"),
        E::InsufficientCapacity(_) => (409, "InsufficientCapacity"),
        E::InvoiceExpired => (400, "InvoiceExpired"),
        E::DuplicatePayment => (409, "DuplicatePayment"),
        E::PaymentFailed(_) => (409, "PaymentFailed"),
        E::UnknownPayment(_) => (404, "UnknownPayment"),
        E::ChainSource(_) => (503, "ChainSource"),
        E::Wallet(_) => (500, "Wallet"),
        E::Persistence(_) => (500, "Persistence"),
        E::StorageFull(_) => (507, "StorageFull"),
        E::Halted(_) => (503, "Halted"),
        E::AlreadyRunning => (409, "AlreadyRunning"),
        E::Listen(_) => (500, "Listen"),
        E::SystemResources(_) => (503, "SystemResources"),
        E::InvalidInput(_) => (400, "InvalidInput"),
        E::CannotBumpFee(_) => (409, "CannotBumpFee"),
        E::NotClaimable(_) => (409, "NotClaimable"),
        E::BackupFailed(_) => (500, "BackupFailed"),
        E::NoLiquiditySource => (409, "NoLiquiditySource"),
        E::LiquiditySourceUnavailable(_) => (503, "LiquiditySourceUnavailable"),
        E::LiquidityRefused(_) => (422, "LiquidityRefused"),
        E::LiquidityQuoteExpired => (409, "LiquidityQuoteExpired"),
        E::LiquidityFeeTooHigh(_) => (409, "LiquidityFeeTooHigh"),
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        let (status, kind) = node_error_status(&e);
        ApiError {
            status,
            kind: kind.into(),
            error_type: "NodeError",
            message: e.to_string(),
        }
    }
}

/// The constant-time comparison of a presented password with the configured one: both are
/// hashed first, so neither their contents nor their lengths change the time taken.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let a = sha256::Hash::hash(given).to_byte_array();
    let b = sha256::Hash::hash(expected).to_byte_array();
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The password a request presents: `Bearer <password>` or Basic `user:password`.
fn presented_password(request: &Request) -> Option<Vec<u8>> {
    let value = request.header("authorization")?;
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.as_bytes().to_vec());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64_decode(rest)?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        return Some(decoded[colon + 1..].to_vec());
    }
    None
}

/// Standard base64 (with padding), enough for an HTTP Basic header.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

/// The API over one node.
pub struct Api {
    node: Arc<Node>,
    password: String,
    events: Arc<EventLog>,
}

type Answer = Result<Value, ApiError>;

fn body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = if request.body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &request.body
    };
    serde_json::from_slice(bytes).map_err(|e| {
        let kind = if e.is_data() {
            "InvalidRequest"
        } else {
            "MalformedJson"
        };
        ApiError::api(400, kind, format!("request body: {e}"))
    })
}

fn query_value<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .query()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn query_number<T: std::str::FromStr>(
    request: &Request,
    name: &str,
) -> Result<Option<T>, ApiError> {
    match query_value(request, name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::api(
                400,
                "InvalidRequest",
                format!("query parameter {name}: not a number"),
            )
        }),
    }
}

fn id<T: IdText>(text: &str, what: &str) -> Result<T, ApiError> {
    T::from_text(text).map_err(|why| ApiError::api(400, "InvalidRequest", format!("{what}: {why}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectBody {
    uri: String,
    #[serde(default = "yes")]
    persist: bool,
}

fn yes() -> bool {
    true
}

/// A body that must be empty (`{}` or nothing).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeIdBody {
    node_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    uri: String,
    amount_sat: u64,
    push_msat: Option<u64>,
    #[serde(default)]
    announce: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelBody {
    channel_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeesBody {
    channel_id: String,
    base_msat: Option<u32>,
    proportional_millionths: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceBody {
    amount_msat: Option<u64>,
    #[serde(default)]
    description: String,
    expiry_secs: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecodeBody {
    invoice: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayBody {
    invoice: String,
    amount_msat: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysendBody {
    node_id: String,
    amount_msat: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    address: String,
    amount_sat: Option<u64>,
    #[serde(default)]
    all: bool,
    fee_rate_sat_per_vb: Option<u64>,
}

fn peer_json(p: &PeerInfo) -> Value {
    json!({
        "node_id": p.node_id.to_text(),
        "address": p.address,
        "is_connected": p.is_connected,
        "is_persisted": p.is_persisted,
    })
}

fn payment_json(p: &PaymentDetails) -> Value {
    json!({
        "id": p.id.to_text(),
        "direction": match p.direction {
            PaymentDirection::Inbound => "inbound",
            PaymentDirection::Outbound => "outbound",
        },
        "kind": match p.kind {
            PaymentKind::Bolt11 => "bolt11",
            PaymentKind::Spontaneous => "keysend",
            PaymentKind::Bolt11Hold => "bolt11_hold",
        },
        "status": match p.status {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
        },
        "amount_msat": p.amount_msat,
        "fee_paid_msat": p.fee_paid_msat,
        "payment_hash": p.payment_hash.to_text(),
        // The proof of payment, for the operator who asked for it (never logged).
        "preimage": p.preimage.as_ref().map(IdText::to_text),
        "description": p.description,
        "invoice": p.invoice,
        "failure_reason": p.failure_reason,
        "counterparty_node_id": p.counterparty_node_id.as_ref().map(IdText::to_text),
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    })
}

fn parse_direction(text: &str) -> Result<PaymentDirection, ApiError> {
    match text {
        "inbound" => Ok(PaymentDirection::Inbound),
        "outbound" => Ok(PaymentDirection::Outbound),
        _ => Err(ApiError::api(
            400,
            "InvalidRequest",
            "direction must be inbound or outbound",
        )),
    }
}

fn parse_status(text: &str) -> Result<PaymentStatus, ApiError> {
    match text {
        "pending" => Ok(PaymentStatus::Pending),
        "succeeded" => Ok(PaymentStatus::Succeeded),
        "failed" => Ok(PaymentStatus::Failed),
        _ => Err(ApiError::api(
            400,
            "InvalidRequest",
            "status must be pending, succeeded or failed",
        )),
    }
}

impl Api {
    /// An API over `node`, taking `password`, serving `events`.
    pub fn new(node: Arc<Node>, password: String, events: Arc<EventLog>) -> Api {
        Api {
            node,
            password,
            events,
        }
    }

    /// Answers one request.
    pub fn handle(&self, request: &Request) -> Response {
        let path = request.path();
        let known = ROUTES.iter().any(|(_, pattern)| matches(pattern, path));
        if !known {
            return ApiError::api(404, "UnknownRoute", format!("no route {path}")).response();
        }
        // The API's description is public: it holds nothing about this node.
        if path == "/v1/openapi.json" && request.method == "GET" {
            return Response::json(200, OPENAPI.as_bytes().to_vec());
        }
        let authorized = presented_password(request)
            .is_some_and(|given| same_secret(&given, self.password.as_bytes()));
        if !authorized {
            return ApiError::api(401, "Unauthorized", "a valid API password is required")
                .response();
        }
        let Some(_) = ROUTES
            .iter()
            .find(|(method, pattern)| *method == request.method && matches(pattern, path))
        else {
            return ApiError::api(
                405,
                "MethodNotAllowed",
                format!("{} is not allowed on {path}", request.method),
            )
            .response();
        };
        match self.route(request, path) {
            Ok(value) => Response::json(200, value.to_string().into_bytes()),
            Err(e) => {
                if e.status >= 500 {
                    log::warn!("{} {path}: {}", request.method, e.message);
                }
                e.response()
            }
        }
    }

    fn route(&self, request: &Request, path: &str) -> Answer {
        let node = &*self.node;
        match (request.method.as_str(), path) {
            ("GET", "/v1/info") => Ok(self.info()),
            ("GET", "/v1/peers") => Ok(Value::Array(
                node.list_peers().iter().map(peer_json).collect(),
            )),
            ("POST", "/v1/peers/connect") => {
                let b: ConnectBody = body(request)?;
                node.connect(&b.uri, b.persist)?;
                Ok(json!({}))
            }
            ("POST", "/v1/peers/disconnect") => {
                let b: NodeIdBody = body(request)?;
                let node_id: PublicKey = id(&b.node_id, "node_id")?;
                node.disconnect(&node_id)?;
                Ok(json!({}))
            }
            ("GET", "/v1/channels") => serde_json::to_value(node.list_channels())
                .map_err(|e| ApiError::api(500, "Internal", e.to_string())),
            ("POST", "/v1/channels/open") => {
                let b: OpenBody = body(request)?;
                let user_channel_id =
                    node.open_channel(&b.uri, b.amount_sat, b.push_msat, b.announce)?;
                Ok(json!({"user_channel_id": user_channel_id.to_text()}))
            }
            ("POST", "/v1/channels/close") => {
                let b: ChannelBody = body(request)?;
                let channel_id: ChannelId = id(&b.channel_id, "channel_id")?;
                node.close_channel(&channel_id)?;
                Ok(json!({}))
            }
            ("POST", "/v1/channels/force-close") => {
                let b: ChannelBody = body(request)?;
                let channel_id: ChannelId = id(&b.channel_id, "channel_id")?;
                node.force_close_channel(&channel_id, Some("closed by the operator".into()))?;
                Ok(json!({}))
            }
            ("POST", "/v1/channels/fees") => {
                let b: FeesBody = body(request)?;
                let channel_id: ChannelId = id(&b.channel_id, "channel_id")?;
                if b.base_msat.is_none() && b.proportional_millionths.is_none() {
                    return Err(ApiError::api(
                        400,
                        "InvalidRequest",
                        "give base_msat, proportional_millionths or both",
                    ));
                }
                node.set_channel_fees(&channel_id, b.base_msat, b.proportional_millionths)?;
                Ok(json!({}))
            }
            ("POST", "/v1/invoices") => {
                let b: InvoiceBody = body(request)?;
                let invoice = match b.amount_msat {
                    Some(amount) => node.receive(amount, &b.description, b.expiry_secs)?,
                    None => node.receive_variable_amount(&b.description, b.expiry_secs)?,
                };
                let preview = node.decode_invoice(&invoice)?;
                Ok(json!({
                    "invoice": invoice,
                    "payment_hash": preview.payment_hash.to_text(),
                    "expiry_secs": preview.expiry_secs,
                }))
            }
            ("POST", "/v1/invoices/decode") => {
                let b: DecodeBody = body(request)?;
                let p = node.decode_invoice(b.invoice.trim())?;
                Ok(json!({
                    "network": p.network.to_string(),
                    "amount_msat": p.amount_msat,
                    "payee_node_id": p.payee_node_id.to_text(),
                    "payment_hash": p.payment_hash.to_text(),
                    "description": p.description,
                    "description_hash": p.description_hash,
                    "timestamp": p.timestamp,
                    "expiry_secs": p.expiry_secs,
                    "is_expired": p.is_expired,
                    "min_final_cltv_expiry_delta": p.min_final_cltv_expiry_delta,
                    "fallback_addresses": p.fallback_addresses,
                    "is_payable": p.is_payable,
                }))
            }
            ("POST", "/v1/payments/pay") => {
                let b: PayBody = body(request)?;
                let invoice = b.invoice.trim();
                let payment_id = match b.amount_msat {
                    Some(amount) => node.send_using_amount(invoice, amount, None)?,
                    None => node.send(invoice, None)?,
                };
                Ok(json!({"payment_id": payment_id.to_text()}))
            }
            ("POST", "/v1/payments/keysend") => {
                let b: KeysendBody = body(request)?;
                let node_id: PublicKey = id(&b.node_id, "node_id")?;
                let payment_id = node.send_spontaneous(&node_id, b.amount_msat, None)?;
                Ok(json!({"payment_id": payment_id.to_text()}))
            }
            ("GET", "/v1/payments") => {
                let limit = query_number::<u32>(request, "limit")?.unwrap_or(100);
                if limit == 0 || limit > MAX_PAGE {
                    return Err(ApiError::api(
                        400,
                        "InvalidRequest",
                        format!("limit must be 1 to {MAX_PAGE}"),
                    ));
                }
                let filter = PaymentFilter {
                    direction: query_value(request, "direction")
                        .map(parse_direction)
                        .transpose()?,
                    status: query_value(request, "status")
                        .map(parse_status)
                        .transpose()?,
                    offset: query_number::<u32>(request, "offset")?.unwrap_or(0),
                    limit,
                };
                let offset = filter.offset;
                let list = node.list_payments(filter)?;
                Ok(json!({
                    "offset": offset,
                    "limit": limit,
                    "payments": list.iter().map(payment_json).collect::<Vec<_>>(),
                }))
            }
            ("GET", p) if p.starts_with("/v1/payments/") => {
                let text = &p["/v1/payments/".len()..];
                let payment_id: PaymentId = id(text, "payment id")?;
                match node.payment(&payment_id)? {
                    Some(details) => Ok(payment_json(&details)),
                    None => Err(NodeError::UnknownPayment(text.to_string()).into()),
                }
            }
            ("POST", "/v1/onchain/address") => {
                let EmptyBody {} = body(request)?;
                Ok(json!({"address": node.new_address()?}))
            }
            ("GET", "/v1/recovery") => Ok(recovery_json(node.channel_recovery())),
            ("POST", "/v1/recovery/start") => {
                let EmptyBody {} = body(request)?;
                Ok(recovery_json(Some(node.start_channel_recovery()?)))
            }
            ("POST", "/v1/recovery/stop") => {
                let EmptyBody {} = body(request)?;
                node.stop_channel_recovery()?;
                Ok(recovery_json(None))
            }
            ("GET", "/v1/onchain/balance") => {
                let b = node.onchain_balance();
                let all = node.balances();
                Ok(json!({
                    "confirmed_sat": b.confirmed_sat,
                    "unconfirmed_sat": b.unconfirmed_sat,
                    "pending_incoming_sat": b.pending_incoming_sat,
                    "immature_sat": b.immature_sat,
                    "locked_sat": b.locked_sat,
                    "spendable_sat": b.spendable_sat,
                    "total_sat": b.total_sat,
                    "lightning_sat": all.lightning_sat,
                    "closing_sat": all.closing_sat,
                }))
            }
            ("POST", "/v1/onchain/send") => {
                let b: SendBody = body(request)?;
                let txid = match (b.amount_sat, b.all) {
                    (Some(amount), false) => {
                        node.send_to_address(&b.address, amount, b.fee_rate_sat_per_vb)?
                    }
                    (None, true) => node.send_all_to_address(&b.address, b.fee_rate_sat_per_vb)?,
                    _ => {
                        return Err(ApiError::api(
                            400,
                            "InvalidRequest",
                            "give amount_sat or all: true",
                        ))
                    }
                };
                Ok(json!({"txid": txid.to_text()}))
            }
            ("GET", "/v1/events") => {
                let after = query_number::<u64>(request, "after")?.unwrap_or(0);
                let wait = query_number::<u64>(request, "wait")?.unwrap_or(0);
                let wait = Duration::from_secs(
                    wait.min(crate::config::DaemonConfig::max_poll().as_secs()),
                );
                Ok(self.events.poll(after, wait))
            }
            _ => Err(ApiError::api(
                404,
                "UnknownRoute",
                format!("no route {path}"),
            )),
        }
    }

    fn info(&self) -> Value {
        let node = &*self.node;
        let status = node.status();
        let channels = node.list_channels();
        json!({
            "node_id": node.node_id().to_text(),
            "uri": node.node_uri(),
            "network": node.network().to_string(),
            "version": env!("CARGO_PKG_VERSION"),
            "is_running": status.is_running,
            "synced_height": status.synced_height,
            "synced_block_hash": status.synced_block_hash,
            "last_sync_timestamp": status.last_sync_timestamp,
            "degraded_reasons": status.degraded_reasons,
            "halted_reason": status.halted_reason,
            "channels": channels.len(),
            "usable_channels": channels.iter().filter(|c| c.is_usable).count(),
            "peers": node.list_peers().iter().filter(|p| p.is_connected).count(),
        })
    }
}

/// A recovery without backup as the API shows it (`active: false` when none is on).
fn recovery_json(recovery: Option<qtum_lightning::ChannelRecovery>) -> Value {
    match recovery {
        None => json!({ "active": false }),
        Some(r) => json!({
            "active": true,
            "from_height": r.from_height,
            "scanned_to_height": r.scanned_to_height,
            "found": r.found.iter().map(|f| json!({
                "outpoint": f.outpoint.to_string(),
                "amount_sat": f.amount_sat,
                "height": f.height,
            })).collect::<Vec<_>>(),
            "found_sat": r.found_sat,
            "notice": r.notice,
        }),
    }
}

/// Whether `path` fits `pattern` (`{x}` matches one non-empty segment).
pub fn matches(pattern: &str, path: &str) -> bool {
    let mut p = pattern.split('/');
    let mut q = path.split('/');
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.starts_with('{') && a.ends_with('}') => {
                if b.is_empty() {
                    return false;
                }
            }
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// Reads `value` as the body of `path`'s request (for the test that keeps the OpenAPI
/// description and the request types in step).
#[cfg(test)]
fn read_body(path: &str, value: Value) -> Result<(), serde_json::Error> {
    use serde_json::from_value as read;
    match path {
        "/v1/peers/connect" => read::<ConnectBody>(value).map(drop),
        "/v1/peers/disconnect" => read::<NodeIdBody>(value).map(drop),
        "/v1/channels/open" => read::<OpenBody>(value).map(drop),
        "/v1/channels/close" | "/v1/channels/force-close" => read::<ChannelBody>(value).map(drop),
        "/v1/channels/fees" => read::<FeesBody>(value).map(drop),
        "/v1/invoices" => read::<InvoiceBody>(value).map(drop),
        "/v1/invoices/decode" => read::<DecodeBody>(value).map(drop),
        "/v1/payments/pay" => read::<PayBody>(value).map(drop),
        "/v1/payments/keysend" => read::<KeysendBody>(value).map(drop),
        "/v1/onchain/send" => read::<SendBody>(value).map(drop),
        "/v1/onchain/address" | "/v1/recovery/start" | "/v1/recovery/stop" => {
            read::<EmptyBody>(value).map(drop)
        }
        other => panic!("no body type for {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_description_matches_the_routes_and_bodies() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for method in ops.as_object().expect("operations").keys() {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served, "openapi.json and ROUTES differ");

        let sample = |schema: &Value| match schema["type"].as_str() {
            Some("integer") => json!(1),
            Some("boolean") => json!(true),
            _ => json!("x"),
        };
        for (method, path) in &served {
            let op = &doc["paths"][path.as_str()][method.to_lowercase()];
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if method == "GET" {
                assert!(schema.is_null(), "{path}: a GET takes no body");
                continue;
            }
            let props = schema["properties"].as_object().expect("properties");
            let required: Vec<&str> = schema["required"]
                .as_array()
                .expect("required")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            // Every documented field is known to the request type...
            let full: serde_json::Map<String, Value> =
                props.iter().map(|(k, v)| (k.clone(), sample(v))).collect();
            read_body(path, Value::Object(full.clone()))
                .unwrap_or_else(|e| panic!("{path}: documented fields refused: {e}"));
            // ...the required ones are enough, and each is needed...
            let minimal: serde_json::Map<String, Value> = full
                .iter()
                .filter(|(k, _)| required.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            read_body(path, Value::Object(minimal.clone()))
                .unwrap_or_else(|e| panic!("{path}: required fields not enough: {e}"));
            for field in &required {
                let mut less = minimal.clone();
                less.remove(*field);
                assert!(
                    read_body(path, Value::Object(less)).is_err(),
                    "{path}: {field} is documented as required but is optional"
                );
            }
            // ...and an undocumented field is refused.
            let mut more = full;
            more.insert("undocumented".into(), json!(1));
            assert!(read_body(path, Value::Object(more)).is_err(), "{path}");
        }
    }

    #[test]
    fn secrets_compare_by_content_only() {
        assert!(same_secret(
            b"correct horse battery",
            b"correct horse battery"
        ));
        assert!(!same_secret(
            b"correct horse batterx",
            b"correct horse battery"
        ));
        assert!(!same_secret(b"", b"correct horse battery"));
    }

    #[test]
    fn base64_of_basic_auth() {
        assert_eq!(
            base64_decode("dXNlcjpwYXNz").as_deref(),
            Some(&b"user:pass"[..])
        );
        assert_eq!(base64_decode("OmE=").as_deref(), Some(&b":a"[..]));
        assert_eq!(base64_decode("OmFi").as_deref(), Some(&b":ab"[..]));
        assert_eq!(base64_decode("Om==").as_deref(), Some(&b":"[..]));
        assert_eq!(base64_decode("Om=").as_deref(), None);
        assert_eq!(base64_decode("O!==").as_deref(), None);
    }

    #[test]
    fn route_patterns() {
        assert!(matches("/v1/payments/{id}", "/v1/payments/ab"));
        assert!(!matches("/v1/payments/{id}", "/v1/payments/"));
        assert!(!matches("/v1/payments/{id}", "/v1/payments/a/b"));
        assert!(matches("/v1/info", "/v1/info"));
        assert!(!matches("/v1/info", "/v1/info/"));
    }
}
