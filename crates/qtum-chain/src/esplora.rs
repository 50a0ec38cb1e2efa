//! An Esplora-style REST source ([`EsploraSource`]) over one or more base URLs with failover.
//!
//! `esplora-client` (blocking, on `minreq`) does the JSON and transaction calls: tx status,
//! merkle proof, outspends, script-hash history, fee estimates, broadcast. Its header and block
//! calls decode Bitcoin's 80-byte header and cannot read Qtum's, so headers and blocks are
//! fetched raw (`/block/:hash/header` as hex, `/block/:hash/raw` as bytes) and decoded by the
//! Qtum codec, then checked against the hash asked for.
//!
//! A confirmation is only reported after the merkle proof checks against a header whose real
//! hash was verified and that header is the one the server places at the proof's height.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bitcoin::hex::FromHex;
use bitcoin::{BlockHash, OutPoint, Script, Transaction, Txid};
use esplora_client::{BlockingClient, Builder};

use qtum_primitives::block::QtumBlock;
use qtum_primitives::header::QtumHeader;

use crate::http::{self, Counter, EndpointHealth, Failover};
use crate::verify;
use crate::{BlockRef, ChainError, ChainSource, FeeEstimates, HistoryEntry, Spend, TxStatus};

/// Configuration of an [`EsploraSource`].
///
/// | field | default | note |
/// |---|---|---|
/// | `timeout` | 10 s | per HTTP request (whole seconds, rounded up) |
/// | `retry_after` | 5 s | back-off of a failed base URL, doubling per consecutive failure up to 32× |
#[derive(Debug, Clone)]
pub struct EsploraConfig {
    /// Base URLs (e.g. `http://127.0.0.1:3002` or `https://host/api`), in order of preference.
    pub base_urls: Vec<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Back-off of an endpoint after a fault.
    pub retry_after: Duration,
}

impl EsploraConfig {
    /// The defaults above for `base_urls`.
    pub fn new(base_urls: Vec<String>) -> EsploraConfig {
        EsploraConfig {
            base_urls,
            timeout: Duration::from_secs(10),
            retry_after: Duration::from_secs(5),
        }
    }
}

#[derive(Debug)]
struct Endpoint {
    client: BlockingClient,
}

impl Endpoint {
    fn url(&self) -> String {
        http::redact_url(self.client.url())
    }
}

/// Headers kept by hash; a hash names exactly one header, so the cache never goes stale.
const HEADER_CACHE_LIMIT: usize = 20_000;

/// A [`ChainSource`] over Esplora-style REST servers (such as `qtum-esplora`).
#[derive(Debug)]
pub struct EsploraSource {
    endpoints: Failover<Endpoint>,
    counter: Counter,
    headers: Mutex<HashMap<BlockHash, QtumHeader>>,
}

/// Maps an `esplora-client` error.
fn map_error(e: esplora_client::Error) -> ChainError {
    use esplora_client::Error as E;
    match e {
        E::Minreq(minreq::Error::SerdeJsonError(e)) => {
            ChainError::InvalidResponse(format!("malformed JSON: {e}"))
        }
        E::Minreq(minreq::Error::InvalidUtf8InBody(_)) => {
            ChainError::InvalidResponse("body is not UTF-8".into())
        }
        E::Minreq(e) => http::transport_error(e),
        E::HttpResponse { status, message } => ChainError::Source {
            code: i64::from(status),
            message: message.chars().take(300).collect(),
        },
        E::TransactionNotFound(txid) => ChainError::Source {
            code: 404,
            message: format!("transaction {txid} not found"),
        },
        E::HeaderHashNotFound(hash) => ChainError::Source {
            code: 404,
            message: format!("block {hash} not found"),
        },
        E::HeaderHeightNotFound(h) => ChainError::Source {
            code: 404,
            message: format!("no block at height {h}"),
        },
        other => ChainError::InvalidResponse(format!("{other:?}")),
    }
}

fn is_not_found(e: &ChainError) -> bool {
    matches!(e, ChainError::Source { code: 404, .. })
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
        let secs = http::timeout_secs(config.timeout);
        let endpoints = config
            .base_urls
            .iter()
            .map(|url| Endpoint {
                // Retries are ours (failover with back-off); esplora-client's own would sleep
                // inside a call and hide a failing endpoint.
                client: Builder::new(url.trim_end_matches('/'))
                    .timeout(secs)
                    .max_retries(0)
                    .build_blocking(),
            })
            .collect();
        Ok(EsploraSource {
            endpoints: Failover::new(endpoints, config.retry_after),
            counter: Counter::default(),
            headers: Mutex::new(HashMap::new()),
        })
    }

    /// Health of each base URL, for a status page.
    pub fn endpoint_health(&self) -> Vec<EndpointHealth> {
        self.endpoints.health(Endpoint::url)
    }

    fn run<T>(&self, f: impl FnMut(&Endpoint) -> Result<T, ChainError>) -> Result<T, ChainError> {
        self.endpoints.run(Endpoint::url, f)
    }

    /// One `esplora-client` call, counted.
    fn counted<T>(
        &self,
        call: impl FnOnce() -> Result<T, esplora_client::Error>,
    ) -> Result<T, ChainError> {
        self.counter.bump();
        call().map_err(map_error)
    }

    /// A raw GET; 404 is `Ok(None)`.
    fn get_raw(&self, ep: &Endpoint, path: &str) -> Result<Option<Vec<u8>>, ChainError> {
        let request = ep.client.get_request(path).map_err(map_error)?;
        self.counter.bump();
        let response = request.send().map_err(http::transport_error)?;
        match response.status_code {
            200 => Ok(Some(response.into_bytes())),
            404 => Ok(None),
            status => Err(ChainError::Source {
                code: i64::from(status),
                message: String::from_utf8_lossy(response.as_bytes())
                    .chars()
                    .take(300)
                    .collect(),
            }),
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
            .map_err(|_| ChainError::InvalidResponse("header is not hex text".into()))?;
        let bytes = Vec::from_hex(text.trim())
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
        match self.counted(|| ep.client.get_block_hash(height)) {
            Ok(hash) => Ok(Some(hash)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn tip_on(&self, ep: &Endpoint) -> Result<(BlockRef, QtumHeader), ChainError> {
        let hash = self.counted(|| ep.client.get_tip_hash())?;
        let status = self.counted(|| ep.client.get_block_status(&hash))?;
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
        let status = match self.counted(|| ep.client.get_tx_status(txid)) {
            Ok(status) => status,
            Err(e) if is_not_found(&e) => return Ok(TxStatus::Unknown),
            Err(e) => return Err(e),
        };
        if !status.confirmed {
            return Ok(TxStatus::Unconfirmed);
        }
        let (Some(hash), Some(height)) = (status.block_hash, status.block_height) else {
            return Err(ChainError::InvalidResponse(format!(
                "confirmed status of {txid} without its block"
            )));
        };
        let Some(proof) = self.counted(|| ep.client.get_merkle_proof(txid))? else {
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
        verify::check_merkle_branch(&header, txid, &proof.merkle, proof.pos)?;
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
            let tx = match self.counted(|| ep.client.get_tx(txid)) {
                Ok(tx) => tx,
                Err(e) if is_not_found(&e) => None,
                Err(e) => return Err(e),
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
        self.run(|ep| {
            let mut entries = Vec::new();
            let mut last_seen = None;
            loop {
                let page = match self.counted(|| ep.client.scripthash_txs(script, last_seen)) {
                    Ok(page) => page,
                    Err(e) if is_not_found(&e) => Vec::new(),
                    Err(e) => return Err(e),
                };
                let mut confirmed_in_page = 0;
                for tx in &page {
                    let height = if tx.status.confirmed {
                        tx.status.block_height
                    } else {
                        None
                    };
                    if tx.status.confirmed {
                        confirmed_in_page += 1;
                        last_seen = Some(tx.txid);
                    }
                    if !entries.iter().any(|e: &HistoryEntry| e.txid == tx.txid) {
                        entries.push(HistoryEntry {
                            txid: tx.txid,
                            height,
                        });
                    }
                }
                // Esplora pages confirmed history 25 at a time; a short page is the last.
                if confirmed_in_page < 25 {
                    break;
                }
            }
            Ok(entries)
        })
    }

    fn outspend(&self, outpoint: &OutPoint) -> Result<Option<Spend>, ChainError> {
        self.run(|ep| {
            let status = match self.counted(|| {
                ep.client
                    .get_output_status(&outpoint.txid, u64::from(outpoint.vout))
            }) {
                Ok(status) => status,
                Err(e) if is_not_found(&e) => None,
                Err(e) => return Err(e),
            };
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
            match ep.client.broadcast(tx) {
                Ok(()) => Ok(tx.compute_txid()),
                Err(esplora_client::Error::HttpResponse { status, message }) if status < 500 => {
                    Err(rejection(status, &message))
                }
                Err(e) => Err(map_error(e)),
            }
        })
    }

    fn fee_estimates(&self) -> Result<FeeEstimates, ChainError> {
        self.run(|ep| {
            let map = self.counted(|| ep.client.get_fee_estimates())?;
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
