//! An Esplora-style REST source ([`EsploraSource`]) over one or more base URLs with failover.
//!
//! `esplora-client` supplies Esplora's JSON shapes (tx status, block status, outspends; history
//! pages and merkle proofs are read into this module's bounded shapes); the requests go through the crate's own HTTP transport
//! (`http::HttpAgent`, crate-private), whose TLS trust is configured per source
//! ([`EsploraConfig::ca_file`]): `esplora-client`'s blocking client (minreq 2) only knows one
//! process-wide set of roots. Headers and blocks are fetched raw (`/block/:hash/header` as hex,
//! `/block/:hash/raw` as bytes) and decoded by the Qtum codec, then checked against the hash
//! asked for: Bitcoin's 80-byte decoder cannot read a Qtum header.
//!
//! A confirmation is only reported after the merkle proof checks against a header whose real
//! hash was verified and that header is the one the server places at the proof's height.
//!
//! Everything a server sends is bounded, so a broken or lying server costs an error and a
//! failover to the next base URL, never a hang, a panic or unbounded memory:
//!
//! | what | bound | |
//! |---|---|---|
//! | any response body | 64 MiB (the transport's cap) and [`EsploraConfig::timeout`] end to end | a slow trickle times out |
//! | script history pages | every page after the first must bring only new confirmed transactions (a server ignoring `last_seen` repeats itself and is caught on the second page); at most [`EsploraConfig::max_history_txs`] confirmed transactions (10,000: 400 pages) | |
//! | entries in one history page | 100 (Esplora sends at most 50 mempool + 25 confirmed) | checked while parsing |
//! | merkle proof depth | 32 levels ([`verify::MAX_MERKLE_DEPTH`]) | checked while parsing |
//! | a header | 2,048 hex digits (a Qtum header is 181 bytes plus a block signature) | checked before decoding |
//!
//! A violation is [`ChainError::InvalidResponse`], an endpoint fault: the call moves on to the
//! next base URL (see [`ChainError::is_endpoint_fault`]). History pages and proofs are read into
//! small shapes of this module (txid and status; height, branch and position): the rest of each
//! transaction's JSON is skipped, never held.

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::hex::FromHex;
use bitcoin::{BlockHash, OutPoint, Script, Transaction, Txid};
use esplora_client::{BlockStatus, OutputStatus};
use serde::de::{DeserializeOwned, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use qtum_primitives::block::QtumBlock;
use qtum_primitives::header::QtumHeader;

use crate::http::{self, Counter, EndpointHealth, Failover, HttpAgent};
use crate::verify;
use crate::{BlockRef, ChainError, ChainSource, FeeEstimates, HistoryEntry, Spend, TxStatus};

/// Configuration of an [`EsploraSource`].
///
/// | field | default | note |
/// |---|---|---|
/// | `timeout` | 10 s | per HTTP request |
/// | `retry_after` | 5 s | back-off of a failed base URL, doubling per consecutive failure up to 32× |
/// | `ca_file` | none: the webpki roots | PEM file of the CA(s) `https://` base URLs are trusted by |
/// | `url_ca_files` | none | a CA file for one base URL, in place of `ca_file` |
/// | `max_history_txs` | 10,000 | confirmed transactions read for one script (400 pages of 25); a server listing more fails over |
#[derive(Clone)]
pub struct EsploraConfig {
    /// Base URLs (e.g. `http://127.0.0.1:3002`, or `https://host/api` with the crate's `https`
    /// feature), in order of preference.
    pub base_urls: Vec<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Back-off of an endpoint after a fault.
    pub retry_after: Duration,
    /// With the `https` feature: a PEM file whose certificates are the only roots this source's
    /// `https://` base URLs are trusted by (a private CA). `None` trusts the webpki roots
    /// (Mozilla's list, compiled in).
    pub ca_file: Option<PathBuf>,
    /// A CA file for one base URL (servers of different operators, each with its own private
    /// CA), taking the place of `ca_file` for it.
    pub url_ca_files: HashMap<String, PathBuf>,
    /// Most confirmed transactions read for one script's history. A history that goes on
    /// beyond is treated as a lying server ([`ChainError::InvalidResponse`]): it bounds the
    /// number of pages a server can make a sync read.
    pub max_history_txs: usize,
}

/// The base URLs are shown redacted (an API key in a query string stays out of logs).
impl std::fmt::Debug for EsploraConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self.base_urls.iter().map(|u| http::redact_url(u)).collect();
        f.debug_struct("EsploraConfig")
            .field("base_urls", &urls)
            .field("timeout", &self.timeout)
            .field("retry_after", &self.retry_after)
            .field("ca_file", &self.ca_file)
            .field(
                "url_ca_files",
                &self.url_ca_files.values().collect::<Vec<_>>(),
            )
            .field("max_history_txs", &self.max_history_txs)
            .finish()
    }
}

impl EsploraConfig {
    /// The defaults above for `base_urls`.
    pub fn new(base_urls: Vec<String>) -> EsploraConfig {
        EsploraConfig {
            base_urls,
            timeout: Duration::from_secs(10),
            retry_after: Duration::from_secs(5),
            ca_file: None,
            url_ca_files: HashMap::new(),
            max_history_txs: 10_000,
        }
    }

    /// Trust `ca_file` (PEM) instead of the webpki roots for `https://` base URLs.
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> EsploraConfig {
        self.ca_file = Some(ca_file.into());
        self
    }

    /// Trust `ca_file` (PEM) for `base_url` only.
    pub fn with_ca_file_for(
        mut self,
        base_url: impl Into<String>,
        ca_file: impl Into<PathBuf>,
    ) -> EsploraConfig {
        self.url_ca_files.insert(base_url.into(), ca_file.into());
        self
    }
}

#[derive(Debug)]
struct Endpoint {
    base: String,
    /// The HTTP agent with this base URL's TLS trust.
    http: HttpAgent,
}

impl Endpoint {
    fn url(&self) -> String {
        http::redact_url(&self.base)
    }
}

/// Headers kept by hash; a hash names exactly one header, so the cache never goes stale.
const HEADER_CACHE_LIMIT: usize = 20_000;

/// Confirmed transactions per history page, as Esplora pages them; a shorter page is the last.
const CHAIN_PAGE: usize = 25;
/// Most entries accepted in one history page: Esplora sends at most 75 (50 mempool + 25
/// confirmed).
const MAX_PAGE_ENTRIES: usize = 100;
/// Longest header accepted, in hex digits: 181 bytes and a block signature (72 bytes, two with
/// a delegation) are under 400 bytes.
const MAX_HEADER_HEX: usize = 2_048;

/// A JSON array of at most `MAX` entries, refused while parsing as soon as it has more.
struct Bounded<T, const MAX: usize>(Vec<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for Bounded<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for Entries<T, MAX> {
            type Value = Bounded<T, MAX>;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "an array of at most {MAX} entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = seq.next_element()? {
                    if out.len() == MAX {
                        return Err(serde::de::Error::custom(format!("more than {MAX} entries")));
                    }
                    out.push(entry);
                }
                Ok(Bounded(out))
            }
        }
        deserializer.deserialize_seq(Entries(PhantomData))
    }
}

/// What a history page says of a transaction; the rest of its JSON is skipped.
#[derive(Debug, Deserialize)]
struct PageTx {
    txid: Txid,
    status: PageStatus,
}

#[derive(Debug, Deserialize)]
struct PageStatus {
    confirmed: bool,
    block_height: Option<u32>,
}

/// Esplora's merkle proof, with the branch bounded.
#[derive(Deserialize)]
struct Proof {
    block_height: u32,
    merkle: Bounded<Txid, { verify::MAX_MERKLE_DEPTH }>,
    pos: usize,
}

/// A script's history read page by page, refusing a server that does not page honestly.
struct HistoryPages {
    entries: Vec<HistoryEntry>,
    at: HashMap<Txid, usize>,
    confirmed: HashSet<Txid>,
    last_seen: Option<Txid>,
    max_confirmed: usize,
}

impl HistoryPages {
    fn new(max_confirmed: usize) -> HistoryPages {
        HistoryPages {
            entries: Vec::new(),
            at: HashMap::new(),
            confirmed: HashSet::new(),
            last_seen: None,
            max_confirmed,
        }
    }

    /// The path of the next page of the script `script_hash` (hex).
    fn next_path(&self, script_hash: &str) -> String {
        match self.last_seen {
            Some(last) => format!("/scripthash/{script_hash}/txs/chain/{last}"),
            None => format!("/scripthash/{script_hash}/txs"),
        }
    }

    /// Takes one page; `Ok(true)` when another one follows.
    ///
    /// The first page lists mempool transactions, then the newest confirmed ones; each later
    /// page the confirmed transactions after the last one seen. A later page with an
    /// unconfirmed transaction or a confirmed one seen before (a server ignoring `last_seen`
    /// sends the same page again), a confirmed transaction without its height, or more than
    /// `max_confirmed` confirmed transactions in all, is an invalid answer.
    fn take(&mut self, page: Vec<PageTx>) -> Result<bool, ChainError> {
        let later = self.last_seen.is_some();
        let mut confirmed_in_page = 0;
        for tx in page {
            let height = match (tx.status.confirmed, tx.status.block_height) {
                (true, Some(height)) => Some(height),
                (true, None) => {
                    return Err(ChainError::InvalidResponse(format!(
                        "history lists {} as confirmed without its height",
                        tx.txid
                    )))
                }
                (false, _) if later => {
                    return Err(ChainError::InvalidResponse(format!(
                        "a confirmed-history page lists the unconfirmed {}",
                        tx.txid
                    )))
                }
                (false, _) => None,
            };
            if height.is_some() {
                if !self.confirmed.insert(tx.txid) {
                    return Err(ChainError::InvalidResponse(format!(
                        "history page repeats {}: the server does not page by last_seen",
                        tx.txid
                    )));
                }
                if self.confirmed.len() > self.max_confirmed {
                    return Err(ChainError::InvalidResponse(format!(
                        "history of more than {} confirmed transactions",
                        self.max_confirmed
                    )));
                }
                confirmed_in_page += 1;
                self.last_seen = Some(tx.txid);
            }
            match self.at.get(&tx.txid) {
                // Listed as unconfirmed, then as confirmed (mined meanwhile): keep the latter.
                Some(&i) => {
                    if height.is_some() {
                        self.entries[i].height = height;
                    }
                }
                None => {
                    self.at.insert(tx.txid, self.entries.len());
                    self.entries.push(HistoryEntry {
                        txid: tx.txid,
                        height,
                    });
                }
            }
        }
        Ok(confirmed_in_page >= CHAIN_PAGE)
    }
}

/// A [`ChainSource`] over Esplora-style REST servers (such as `qtum-esplora`).
#[derive(Debug)]
pub struct EsploraSource {
    endpoints: Failover<Endpoint>,
    counter: Counter,
    headers: Mutex<HashMap<BlockHash, QtumHeader>>,
    max_history_txs: usize,
}

/// A non-2xx answer as an error: the status and (the start of) the body.
fn status_error(status: u16, body: &[u8]) -> ChainError {
    ChainError::Source {
        code: i64::from(status),
        message: String::from_utf8_lossy(body).chars().take(300).collect(),
    }
}

fn malformed(path: &str, e: impl core::fmt::Display) -> ChainError {
    ChainError::InvalidResponse(format!("{path}: malformed answer: {e}"))
}

/// Esplora reports a refused broadcast as HTTP 400 with the node's error, e.g.
/// `sendrawtransaction RPC error: {"code":-26,"message":"dust"}`; recover code and reason.
fn rejection(status: u16, message: &str) -> ChainError {
    if let Some(start) = message.find('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&message[start..]) {
            let code = v
                .get("code")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(-26);
            if let Some(reason) = v.get("message").and_then(serde_json::Value::as_str) {
                return ChainError::Rejected {
                    code,
                    reason: reason.to_string(),
                };
            }
        }
    }
    if status == 400 {
        ChainError::Rejected {
            code: -26,
            reason: message.trim().to_string(),
        }
    } else {
        ChainError::Source {
            code: i64::from(status),
            message: message.to_string(),
        }
    }
}

impl EsploraSource {
    /// A source over `config.base_urls` (tried in order, failing over on faults).
    pub fn new(config: EsploraConfig) -> Result<EsploraSource, ChainError> {
        if config.base_urls.is_empty() {
            return Err(ChainError::Unsupported(
                "an Esplora source needs at least one base URL".into(),
            ));
        }
        // Retries are ours (failover with back-off), never inside a call where they would hide a
        // failing endpoint.
        let mut endpoints = Vec::with_capacity(config.base_urls.len());
        for url in &config.base_urls {
            HttpAgent::check_url(url)?;
            let ca_file = config.url_ca_files.get(url).or(config.ca_file.as_ref());
            let http = HttpAgent::new(config.timeout, ca_file.map(PathBuf::as_path));
            if let Some(e) = http.config_error() {
                return Err(e.clone());
            }
            endpoints.push(Endpoint {
                base: url.trim_end_matches('/').to_string(),
                http,
            });
        }
        Ok(EsploraSource {
            endpoints: Failover::new(endpoints, config.retry_after),
            counter: Counter::default(),
            headers: Mutex::new(HashMap::new()),
            max_history_txs: config.max_history_txs,
        })
    }

    /// Health of each base URL, for a status page.
    pub fn endpoint_health(&self) -> Vec<EndpointHealth> {
        self.endpoints.health(Endpoint::url)
    }

    fn run<T>(&self, f: impl FnMut(&Endpoint) -> Result<T, ChainError>) -> Result<T, ChainError> {
        self.endpoints.run(Endpoint::url, f)
    }

    /// A GET, counted; 404 is `Ok(None)`, any other non-200 status an error.
    fn get_raw(&self, ep: &Endpoint, path: &str) -> Result<Option<Vec<u8>>, ChainError> {
        self.counter.bump();
        let response = ep.http.get(&format!("{}{path}", ep.base))?;
        match response.status {
            200 => Ok(Some(response.body)),
            404 => Ok(None),
            status => Err(status_error(status, &response.body)),
        }
    }

    /// A GET of JSON into one of `esplora-client`'s shapes; 404 is `Ok(None)`.
    fn get_json<T: DeserializeOwned>(
        &self,
        ep: &Endpoint,
        path: &str,
    ) -> Result<Option<T>, ChainError> {
        match self.get_raw(ep, path)? {
            None => Ok(None),
            Some(body) => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| malformed(path, e)),
        }
    }

    /// A GET of a text answer that parses as `T` (a hash); 404 is `Ok(None)`.
    fn get_parsed<T: core::str::FromStr>(
        &self,
        ep: &Endpoint,
        path: &str,
    ) -> Result<Option<T>, ChainError>
    where
        T::Err: core::fmt::Display,
    {
        match self.get_raw(ep, path)? {
            None => Ok(None),
            Some(body) => {
                let text = std::str::from_utf8(&body).map_err(|e| malformed(path, e))?;
                text.trim()
                    .parse()
                    .map(Some)
                    .map_err(|e| malformed(path, e))
            }
        }
    }

    fn not_found(what: String) -> ChainError {
        ChainError::Source {
            code: 404,
            message: format!("{what} not found"),
        }
    }

    fn header_on(&self, ep: &Endpoint, hash: &BlockHash) -> Result<QtumHeader, ChainError> {
        if let Some(header) = self.cached_header(hash) {
            return Ok(header);
        }
        let body = self
            .get_raw(ep, &format!("/block/{hash}/header"))?
            .ok_or_else(|| ChainError::Source {
                code: 404,
                message: format!("block {hash} not found"),
            })?;
        let text = std::str::from_utf8(&body)
            .map_err(|_| ChainError::InvalidResponse("header is not hex text".into()))?
            .trim();
        if text.len() > MAX_HEADER_HEX {
            return Err(ChainError::InvalidResponse(format!(
                "header of {} hex digits (at most {MAX_HEADER_HEX})",
                text.len()
            )));
        }
        let bytes = Vec::from_hex(text)
            .map_err(|_| ChainError::InvalidResponse("header is not hex".into()))?;
        let header = verify::header_from_bytes(&bytes, hash)?;
        let mut cache = self.headers.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= HEADER_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(*hash, header.clone());
        Ok(header)
    }

    fn cached_header(&self, hash: &BlockHash) -> Option<QtumHeader> {
        self.headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .cloned()
    }

    fn block_hash_on(&self, ep: &Endpoint, height: u32) -> Result<Option<BlockHash>, ChainError> {
        self.get_parsed(ep, &format!("/block-height/{height}"))
    }

    fn tip_on(&self, ep: &Endpoint) -> Result<(BlockRef, QtumHeader), ChainError> {
        let hash: BlockHash = self
            .get_parsed(ep, "/blocks/tip/hash")?
            .ok_or_else(|| EsploraSource::not_found("tip".into()))?;
        let status: BlockStatus = self
            .get_json(ep, &format!("/block/{hash}/status"))?
            .ok_or_else(|| EsploraSource::not_found(format!("block {hash}")))?;
        let height = match (status.in_best_chain, status.height) {
            (true, Some(height)) => height,
            // The tip moved between the two calls; the caller retries.
            _ => {
                return Err(ChainError::Unreachable(
                    "tip changed while reading it".into(),
                ))
            }
        };
        let header = self.header_on(ep, &hash)?;
        Ok((BlockRef::of(&header, height), header))
    }

    fn tx_status_on(&self, ep: &Endpoint, txid: &Txid) -> Result<TxStatus, ChainError> {
        let Some(status) =
            self.get_json::<esplora_client::TxStatus>(ep, &format!("/tx/{txid}/status"))?
        else {
            return Ok(TxStatus::Unknown);
        };
        if !status.confirmed {
            return Ok(TxStatus::Unconfirmed);
        }
        let (Some(hash), Some(height)) = (status.block_hash, status.block_height) else {
            return Err(ChainError::InvalidResponse(format!(
                "confirmed status of {txid} without its block"
            )));
        };
        let Some(proof) = self.get_json::<Proof>(ep, &format!("/tx/{txid}/merkle-proof"))? else {
            // Unconfirmed again between two calls (a reorg); the next sync sees the new state.
            return Ok(TxStatus::Unconfirmed);
        };
        if proof.block_height != height {
            return Err(ChainError::InvalidResponse(format!(
                "merkle proof of {txid} is for height {}, its status says {height}",
                proof.block_height
            )));
        }
        let header = self.header_on(ep, &hash)?;
        verify::check_merkle_branch(&header, txid, &proof.merkle.0, proof.pos)?;
        // The proven block must be the best chain's block at that height.
        if self.block_hash_on(ep, height)? != Some(hash) {
            return Ok(TxStatus::Unconfirmed);
        }
        Ok(TxStatus::Confirmed {
            block: BlockRef::of(&header, height),
            header,
            position: proof.pos,
        })
    }
}

impl ChainSource for EsploraSource {
    fn describe(&self) -> String {
        match self.endpoints.first() {
            Some(ep) => format!("esplora {}", ep.url()),
            None => "esplora".into(),
        }
    }

    fn tip(&self) -> Result<BlockRef, ChainError> {
        Ok(self.run(|ep| self.tip_on(ep))?.0)
    }

    fn tip_header(&self) -> Result<(BlockRef, QtumHeader), ChainError> {
        self.run(|ep| self.tip_on(ep))
    }

    fn block_hash_at(&self, height: u32) -> Result<Option<BlockHash>, ChainError> {
        self.run(|ep| self.block_hash_on(ep, height))
    }

    fn header(&self, hash: &BlockHash) -> Result<QtumHeader, ChainError> {
        self.run(|ep| self.header_on(ep, hash))
    }

    fn block(&self, hash: &BlockHash) -> Result<QtumBlock, ChainError> {
        self.run(|ep| {
            let bytes = self
                .get_raw(ep, &format!("/block/{hash}/raw"))?
                .ok_or_else(|| ChainError::Source {
                    code: 404,
                    message: format!("block {hash} not found"),
                })?;
            verify::block_from_bytes(&bytes, hash)
        })
    }

    fn transaction(&self, txid: &Txid) -> Result<Option<Transaction>, ChainError> {
        self.run(|ep| {
            let tx = match self.get_raw(ep, &format!("/tx/{txid}/raw"))? {
                None => None,
                Some(bytes) => Some(
                    bitcoin::consensus::deserialize::<Transaction>(&bytes).map_err(|e| {
                        ChainError::InvalidResponse(format!("undecodable transaction: {e}"))
                    })?,
                ),
            };
            if let Some(tx) = &tx {
                verify::check_txid(tx, txid)?;
            }
            Ok(tx)
        })
    }

    fn tx_status(&self, txid: &Txid) -> Result<TxStatus, ChainError> {
        self.run(|ep| self.tx_status_on(ep, txid))
    }

    fn script_history(&self, script: &Script) -> Result<Vec<HistoryEntry>, ChainError> {
        let script_hash = format!("{:x}", sha256::Hash::hash(script.as_bytes()));
        self.run(|ep| {
            let mut pages = HistoryPages::new(self.max_history_txs);
            loop {
                let path = pages.next_path(&script_hash);
                let page: Option<Bounded<PageTx, MAX_PAGE_ENTRIES>> = self.get_json(ep, &path)?;
                if !pages.take(page.map(|p| p.0).unwrap_or_default())? {
                    return Ok(pages.entries);
                }
            }
        })
    }

    fn outspend(&self, outpoint: &OutPoint) -> Result<Option<Spend>, ChainError> {
        self.run(|ep| {
            let status: Option<OutputStatus> = self.get_json(
                ep,
                &format!("/tx/{}/outspend/{}", outpoint.txid, outpoint.vout),
            )?;
            let Some(status) = status.filter(|s| s.spent) else {
                return Ok(None);
            };
            let (Some(txid), Some(vin)) = (status.txid, status.vin) else {
                return Err(ChainError::InvalidResponse(
                    "spent output without its spender".into(),
                ));
            };
            let vin = u32::try_from(vin)
                .map_err(|_| ChainError::InvalidResponse("vin out of range".into()))?;
            let height = status
                .status
                .filter(|s| s.confirmed)
                .and_then(|s| s.block_height);
            Ok(Some(Spend { txid, vin, height }))
        })
    }

    fn broadcast(&self, tx: &Transaction) -> Result<Txid, ChainError> {
        self.run(|ep| {
            self.counter.bump();
            let response = ep.http.post(
                &format!("{}/tx", ep.base),
                &[("Content-Type", "text/plain")],
                serialize_hex(tx).as_bytes(),
            )?;
            match response.status {
                200..=299 => Ok(tx.compute_txid()),
                status if status < 500 => {
                    Err(rejection(status, &String::from_utf8_lossy(&response.body)))
                }
                status => Err(status_error(status, &response.body)),
            }
        })
    }

    fn fee_estimates(&self) -> Result<FeeEstimates, ChainError> {
        self.run(|ep| {
            let map: HashMap<u16, f64> = self
                .get_json(ep, "/fee-estimates")?
                .ok_or_else(|| EsploraSource::not_found("/fee-estimates".into()))?;
            let mut by_target: Vec<(u16, u32)> = map
                .into_iter()
                .filter(|(_, v)| v.is_finite() && *v > 0.0)
                // sat/vB → sat/kW is ×250; round up so the floor survives.
                .map(|(target, sat_per_vb)| {
                    (
                        target,
                        (sat_per_vb * 250.0).ceil().min(f64::from(u32::MAX)) as u32,
                    )
                })
                .collect();
            by_target.sort();
            Ok(FeeEstimates { by_target })
        })
    }

    fn requests_made(&self) -> u64 {
        self.counter.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txid(n: u32) -> Txid {
        Txid::from_byte_array(sha256::Hash::hash(&n.to_le_bytes()).to_byte_array())
    }

    /// A page of `n` confirmed transactions numbered from `first`, at descending heights.
    fn page(first: u32, n: u32) -> Vec<PageTx> {
        (first..first + n)
            .map(|i| PageTx {
                txid: txid(i),
                status: PageStatus {
                    confirmed: true,
                    block_height: Some(100_000 - i),
                },
            })
            .collect()
    }

    fn unconfirmed(i: u32) -> PageTx {
        PageTx {
            txid: txid(i),
            status: PageStatus {
                confirmed: false,
                block_height: None,
            },
        }
    }

    #[test]
    fn honest_pages_are_read_to_the_short_one() {
        let mut pages = HistoryPages::new(10_000);
        assert_eq!(pages.next_path("ab"), "/scripthash/ab/txs");
        let mut first = vec![unconfirmed(1_000)];
        first.extend(page(0, 25));
        assert_eq!(pages.take(first), Ok(true));
        assert_eq!(
            pages.next_path("ab"),
            format!("/scripthash/ab/txs/chain/{}", txid(24))
        );
        assert_eq!(pages.take(page(25, 25)), Ok(true));
        assert_eq!(pages.take(page(50, 3)), Ok(false));
        assert_eq!(pages.entries.len(), 54);
        assert_eq!(pages.entries[0].height, None);
        assert_eq!(pages.entries[53].height, Some(100_000 - 52));
    }

    #[test]
    fn a_mempool_entry_mined_meanwhile_is_kept_once_as_confirmed() {
        let mut pages = HistoryPages::new(10_000);
        let mut first = vec![unconfirmed(3)];
        first.extend(page(0, 5));
        assert_eq!(pages.take(first), Ok(false));
        assert_eq!(pages.entries.len(), 5);
        assert_eq!(pages.entries[0].txid, txid(3));
        assert_eq!(pages.entries[0].height, Some(100_000 - 3));
    }

    #[test]
    fn dishonest_paging_is_an_endpoint_fault() {
        // The same page again (last_seen ignored).
        let mut pages = HistoryPages::new(10_000);
        assert_eq!(pages.take(page(0, 25)), Ok(true));
        let e = pages.take(page(0, 25)).expect_err("repeat");
        assert!(
            e.is_endpoint_fault() && e.to_string().contains("last_seen"),
            "{e}"
        );
        // A later page that overlaps the previous one.
        let mut pages = HistoryPages::new(10_000);
        assert_eq!(pages.take(page(0, 25)), Ok(true));
        assert!(pages.take(page(20, 25)).is_err());
        // Mempool entries where only confirmed ones belong.
        let mut pages = HistoryPages::new(10_000);
        assert_eq!(pages.take(page(0, 25)), Ok(true));
        assert!(pages.take(vec![unconfirmed(99)]).is_err());
        // Confirmed without a height.
        let mut pages = HistoryPages::new(10_000);
        let mut bad = page(0, 1);
        bad[0].status.block_height = None;
        assert!(pages.take(bad).is_err());
        // Fresh pages forever stop at the cap: 100 transactions are 4 full pages.
        let mut pages = HistoryPages::new(100);
        let mut taken = 0;
        let end = loop {
            match pages.take(page(taken * 25, 25)) {
                Ok(true) => taken += 1,
                other => break other,
            }
        };
        assert_eq!(taken, 4);
        assert!(matches!(end, Err(ChainError::InvalidResponse(m)) if m.contains("more than 100")));
    }

    #[test]
    fn bounded_arrays_are_refused_while_parsing() {
        let entries = |n: usize| {
            let list: Vec<String> = (0..n)
                .map(|i| {
                    format!(
                        r#"{{"txid":"{}","status":{{"confirmed":false}},"vin":[]}}"#,
                        txid(i as u32)
                    )
                })
                .collect();
            format!("[{}]", list.join(","))
        };
        let ok: Bounded<PageTx, MAX_PAGE_ENTRIES> =
            serde_json::from_str(&entries(MAX_PAGE_ENTRIES)).expect("at the bound");
        assert_eq!(ok.0.len(), MAX_PAGE_ENTRIES);
        let too_many = serde_json::from_str::<Bounded<PageTx, MAX_PAGE_ENTRIES>>(&entries(
            MAX_PAGE_ENTRIES + 1,
        ));
        assert!(too_many.is_err());
        let branch: Vec<String> = (0..33).map(|i| format!("\"{}\"", txid(i))).collect();
        let proof = format!(
            r#"{{"block_height":5,"merkle":[{}],"pos":0}}"#,
            branch.join(",")
        );
        assert!(serde_json::from_str::<Proof>(&proof).is_err());
        let proof = format!(
            r#"{{"block_height":5,"merkle":[{}],"pos":0}}"#,
            branch[..32].join(",")
        );
        assert_eq!(
            serde_json::from_str::<Proof>(&proof)
                .expect("32 levels")
                .merkle
                .0
                .len(),
            32
        );
    }

    #[test]
    fn rejection_reason_survives_the_rest_layer() {
        let e = rejection(
            400,
            r#"sendrawtransaction RPC error: {"code":-26,"message":"dust"}"#,
        );
        assert_eq!(
            e,
            ChainError::Rejected {
                code: -26,
                reason: "dust".into()
            }
        );
        let e = rejection(400, "bad-txns-inputs-missingorspent");
        assert_eq!(
            e,
            ChainError::Rejected {
                code: -26,
                reason: "bad-txns-inputs-missingorspent".into()
            }
        );
    }
}
