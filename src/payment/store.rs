//! The payment store: every payment, inbound and outbound, in the node's SQLite database.
//!
//! Rows are written before LDK is asked to send (so an event can never find no row) and updated
//! from LDK's events; a restart keeps them. Columns are explicit and the table is versioned in
//! `payments_meta`, so later versions add columns with migrations, never a reset.

use qtum_sql::{params, Connection, OptionalExtension, Row};

use crate::error::NodeError;
use crate::io::db::SharedConnection;
use crate::types::{IdText, PaymentHash, PaymentId, PaymentPreimage, PublicKey};

/// Direction of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PaymentDirection {
    /// We are paid.
    Inbound,
    /// We pay.
    Outbound,
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PaymentStatus {
    /// In flight (outbound) or waiting to be paid (inbound invoice).
    Pending,
    /// Done: the preimage is known.
    Succeeded,
    /// Given up; `failure_reason` says why.
    Failed,
}

/// What kind of payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PaymentKind {
    /// Paid or received through a BOLT 11 invoice.
    Bolt11,
    /// Spontaneous (keysend): no invoice.
    Spontaneous,
    /// A hold invoice (`receive_for_hash`): the app knows the preimage and decides, once it
    /// is paid, whether to claim or fail it back.
    Bolt11Hold,
}

/// A custom TLV record carried by a payment's onion (keysend messages, podcasting "boosts").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CustomRecord {
    /// The record type: 65,536 or above (BOLT 4 keeps lower types for the protocol).
    pub type_num: u64,
    /// Its value, as sent.
    pub value: Vec<u8>,
}

/// One payment. Its `Debug` hides the preimage (the proof of payment, and for a payment not
/// yet settled upstream, what claims it).
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PaymentDetails {
    /// Payment id: the payment hash for invoices, random for keysend.
    pub id: PaymentId,
    /// Inbound or outbound.
    pub direction: PaymentDirection,
    /// Invoice or keysend.
    pub kind: PaymentKind,
    /// Pending, succeeded or failed.
    pub status: PaymentStatus,
    /// Amount in millisatoshi (received, or delivered to the payee); `None` for an unpaid
    /// variable-amount invoice.
    pub amount_msat: Option<u64>,
    /// Routing fees paid (outbound), in millisatoshi, once known.
    pub fee_paid_msat: Option<u64>,
    /// Payment hash.
    pub payment_hash: PaymentHash,
    /// Preimage, once the payment succeeded (or, for a hold invoice, once the app claimed it).
    pub preimage: Option<PaymentPreimage>,
    /// The invoice's description, when there was one.
    pub description: Option<String>,
    /// The BOLT 11 invoice, for invoice payments.
    pub invoice: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// The counterparty node (payee for outbound), when known.
    pub counterparty_node_id: Option<PublicKey>,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Last change, seconds since the Unix epoch.
    pub updated_at: u64,
    /// For a hold invoice that has been paid and waits for `claim_for_hash`: the block height
    /// by which it must be claimed (after it, the node fails the payment back).
    pub claim_deadline_height: Option<u32>,
    /// Custom records the payment carried (received keysend payments; sent ones with records).
    pub custom_records: Vec<CustomRecord>,
}

impl std::fmt::Debug for PaymentDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentDetails")
            .field("id", &self.id)
            .field("direction", &self.direction)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("amount_msat", &self.amount_msat)
            .field("fee_paid_msat", &self.fee_paid_msat)
            .field("payment_hash", &self.payment_hash)
            .field("preimage", &self.preimage.as_ref().map(|_| "<redacted>"))
            .field("description", &self.description)
            .field("invoice", &self.invoice)
            .field("failure_reason", &self.failure_reason)
            .field("counterparty_node_id", &self.counterparty_node_id)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("claim_deadline_height", &self.claim_deadline_height)
            .field("custom_records", &self.custom_records.len())
            .finish()
    }
}

impl PaymentDetails {
    /// Whether this is the row of a hold invoice this node made (`receive_for_hash`).
    pub fn is_hold_invoice(&self) -> bool {
        self.kind == PaymentKind::Bolt11Hold && self.direction == PaymentDirection::Inbound
    }
}

/// Which payments to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PaymentFilter {
    /// Only this direction.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub direction: Option<PaymentDirection>,
    /// Only this status.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub status: Option<PaymentStatus>,
    /// Skip this many (newest first).
    #[cfg_attr(feature = "uniffi", uniffi(default = 0))]
    pub offset: u32,
    /// Return at most this many (0: all).
    #[cfg_attr(feature = "uniffi", uniffi(default = 0))]
    pub limit: u32,
}

const SCHEMA_VERSION: i64 = 1;

fn direction_str(d: PaymentDirection) -> &'static str {
    match d {
        PaymentDirection::Inbound => "inbound",
        PaymentDirection::Outbound => "outbound",
    }
}

fn status_str(s: PaymentStatus) -> &'static str {
    match s {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Succeeded => "succeeded",
        PaymentStatus::Failed => "failed",
    }
}

fn kind_str(k: PaymentKind) -> &'static str {
    match k {
        PaymentKind::Bolt11 => "bolt11",
        PaymentKind::Spontaneous => "spontaneous",
        PaymentKind::Bolt11Hold => "bolt11_hold",
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn to_err(e: qtum_sql::Error) -> NodeError {
    crate::io::db::node_error("payments", &e)
}

fn text_col<T: IdText>(row: &Row, name: &str) -> qtum_sql::Result<T> {
    let text: String = row.get(name)?;
    T::from_text(&text).map_err(qtum_sql::Error::conversion)
}

fn opt_text_col<T: IdText>(row: &Row, name: &str) -> qtum_sql::Result<Option<T>> {
    let text: Option<String> = row.get(name)?;
    text.map(|t| T::from_text(&t).map_err(qtum_sql::Error::conversion))
        .transpose()
}

fn from_row(row: &Row) -> qtum_sql::Result<PaymentDetails> {
    let direction: String = row.get("direction")?;
    let status: String = row.get("status")?;
    let kind: String = row.get("kind")?;
    Ok(PaymentDetails {
        id: text_col(row, "id")?,
        direction: if direction == "inbound" {
            PaymentDirection::Inbound
        } else {
            PaymentDirection::Outbound
        },
        kind: match kind.as_str() {
            "spontaneous" => PaymentKind::Spontaneous,
            "bolt11_hold" => PaymentKind::Bolt11Hold,
            _ => PaymentKind::Bolt11,
        },
        status: match status.as_str() {
            "succeeded" => PaymentStatus::Succeeded,
            "failed" => PaymentStatus::Failed,
            _ => PaymentStatus::Pending,
        },
        amount_msat: row.get::<_, Option<i64>>("amount_msat")?.map(|v| v as u64),
        fee_paid_msat: row
            .get::<_, Option<i64>>("fee_paid_msat")?
            .map(|v| v as u64),
        payment_hash: text_col(row, "payment_hash")?,
        preimage: opt_text_col(row, "preimage")?,
        description: row.get("description")?,
        invoice: row.get("invoice")?,
        failure_reason: row.get("failure_reason")?,
        counterparty_node_id: opt_text_col(row, "counterparty_node_id")?,
        created_at: row.get::<_, i64>("created_at")? as u64,
        updated_at: row.get::<_, i64>("updated_at")? as u64,
        claim_deadline_height: row
            .get::<_, Option<i64>>("claim_deadline_height")?
            .and_then(|v| u32::try_from(v).ok()),
        custom_records: records_from_text(row.get::<_, Option<String>>("custom_records")?),
    })
}

fn records_from_text(text: Option<String>) -> Vec<CustomRecord> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn records_to_text(records: &[CustomRecord]) -> Option<String> {
    if records.is_empty() {
        None
    } else {
        serde_json::to_string(records).ok()
    }
}

/// The `payments` table.
pub struct PaymentStore {
    conn: SharedConnection,
    /// Bumped whenever a payment settles (succeeds or fails), so waiters wake on the change
    /// instead of polling the table.
    settled: (std::sync::Mutex<u64>, std::sync::Condvar),
}

impl PaymentStore {
    /// The store on the node's database (its table comes from the node's migrations; the
    /// old per-table version row is still checked so a newer layout is never misread).
    pub fn open(conn: SharedConnection) -> Result<PaymentStore, NodeError> {
        let version: Option<i64> = conn
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .query_row(
                "SELECT schema_version FROM payments_meta WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(to_err)?;
        match version {
            None | Some(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(NodeError::Persistence(format!(
                    "the payment table has schema {v}; this SDK understands {SCHEMA_VERSION}"
                )))
            }
        }
        Ok(PaymentStore {
            conn,
            settled: (std::sync::Mutex::new(0), std::sync::Condvar::new()),
        })
    }

    fn notify_settled(&self) {
        *self.settled.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.settled.1.notify_all();
    }

    /// Wait until payment `id` is no longer pending or `deadline` passes; returns the payment
    /// as it then stands (`None`: no such payment). Woken by [`PaymentStore::succeed`] and
    /// [`PaymentStore::fail`], not by polling.
    pub fn wait_settled(
        &self,
        id: &PaymentId,
        deadline: std::time::Instant,
    ) -> Result<Option<PaymentDetails>, NodeError> {
        loop {
            // Read the generation before the row: a change after the read bumps it, and the
            // wait below returns at once.
            let seen = *self.settled.0.lock().unwrap_or_else(|p| p.into_inner());
            let payment = self.get(id)?;
            let Some(payment) = payment else {
                return Ok(None);
            };
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if payment.status != PaymentStatus::Pending || left.is_zero() {
                return Ok(Some(payment));
            }
            let guard = self.settled.0.lock().unwrap_or_else(|p| p.into_inner());
            let _ = self
                .settled
                .1
                .wait_timeout_while(guard, left, |generation| *generation == seen)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Record a new outbound payment, refusing it when the same payment hash already has an
    /// outbound row that is pending or succeeded (`DuplicatePayment`); a failed one is replaced
    /// (paying a failed invoice again). One transaction: two concurrent sends of one invoice
    /// cannot both pass.
    pub fn start_outbound(&self, p: &PaymentDetails) -> Result<(), NodeError> {
        let conn = self.conn();
        let tx = conn.transaction().map_err(to_err)?;
        let live: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM payments
                 WHERE payment_hash = ?1 AND direction = 'outbound' AND status != 'failed'",
                params![p.payment_hash.to_text()],
                |r| r.get(0),
            )
            .map_err(to_err)?;
        if live > 0 {
            return Err(NodeError::DuplicatePayment);
        }
        tx.execute(
            "DELETE FROM payments WHERE id = ?1 AND status = 'failed'",
            params![p.id.to_text()],
        )
        .map_err(to_err)?;
        insert_row(&tx, p)?;
        tx.commit().map_err(to_err)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Insert a new payment (fails if the id exists).
    pub fn insert(&self, p: &PaymentDetails) -> Result<(), NodeError> {
        insert_row(&self.conn(), p)
    }

    /// One payment by id.
    pub fn get(&self, id: &PaymentId) -> Result<Option<PaymentDetails>, NodeError> {
        self.conn()
            .query_row(
                "SELECT * FROM payments WHERE id = ?1",
                params![id.to_text()],
                from_row,
            )
            .optional()
            .map_err(to_err)
    }

    /// Payments with this hash in this direction.
    pub fn by_hash(
        &self,
        payment_hash: &PaymentHash,
        direction: PaymentDirection,
    ) -> Result<Vec<PaymentDetails>, NodeError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT * FROM payments WHERE payment_hash = ?1 AND direction = ?2")
            .map_err(to_err)?;
        stmt.query_map(
            params![payment_hash.to_text(), direction_str(direction)],
            from_row,
        )
        .map_err(to_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(to_err)
    }

    /// Mark a payment succeeded.
    pub fn succeed(
        &self,
        id: &PaymentId,
        preimage: Option<&PaymentPreimage>,
        amount_msat: Option<u64>,
        fee_paid_msat: Option<u64>,
    ) -> Result<bool, NodeError> {
        self.conn()
            .execute(
                "UPDATE payments SET status = 'succeeded',
                     preimage = COALESCE(?2, preimage),
                     amount_msat = COALESCE(?3, amount_msat),
                     fee_paid_msat = COALESCE(?4, fee_paid_msat),
                     failure_reason = NULL,
                     updated_at = ?5
                 WHERE id = ?1",
                params![
                    id.to_text(),
                    preimage.map(IdText::to_text),
                    amount_msat.map(|v| v as i64),
                    fee_paid_msat.map(|v| v as i64),
                    now_secs() as i64
                ],
            )
            .map(|n| n > 0)
            .map_err(to_err)
            .inspect(|_| self.notify_settled())
    }

    /// Mark a payment failed (a succeeded payment stays succeeded).
    pub fn fail(&self, id: &PaymentId, reason: &str) -> Result<bool, NodeError> {
        self.conn()
            .execute(
                "UPDATE payments SET status = 'failed', failure_reason = ?2, updated_at = ?3
                 WHERE id = ?1 AND status != 'succeeded'",
                params![id.to_text(), reason, now_secs() as i64],
            )
            .map(|n| n > 0)
            .map_err(to_err)
            .inspect(|_| self.notify_settled())
    }

    /// A hold invoice was paid: HTLCs wait to be claimed by `deadline` (`None`: they are
    /// gone again, failed back by the node near their expiry). `custom_records` replace the
    /// stored ones when given.
    pub fn set_claimable(
        &self,
        id: &PaymentId,
        amount_msat: Option<u64>,
        deadline: Option<u32>,
        custom_records: &[CustomRecord],
    ) -> Result<bool, NodeError> {
        self.conn()
            .execute(
                "UPDATE payments SET claim_deadline_height = ?2,
                     amount_msat = COALESCE(?3, amount_msat),
                     custom_records = COALESCE(?4, custom_records),
                     updated_at = ?5
                 WHERE id = ?1 AND status = 'pending'",
                params![
                    id.to_text(),
                    deadline.map(i64::from),
                    amount_msat.map(|v| v as i64),
                    records_to_text(custom_records),
                    now_secs() as i64
                ],
            )
            .map(|n| n > 0)
            .map_err(to_err)
    }

    /// Record the preimage the app gave to claim a hold invoice, before the claim is made: a
    /// restart finds it and claims again.
    pub fn set_preimage(
        &self,
        id: &PaymentId,
        preimage: &PaymentPreimage,
    ) -> Result<bool, NodeError> {
        self.conn()
            .execute(
                "UPDATE payments SET preimage = ?2, updated_at = ?3
                 WHERE id = ?1 AND status = 'pending'",
                params![id.to_text(), preimage.to_text(), now_secs() as i64],
            )
            .map(|n| n > 0)
            .map_err(to_err)
    }

    /// Record the custom records of a payment.
    pub fn set_custom_records(
        &self,
        id: &PaymentId,
        records: &[CustomRecord],
    ) -> Result<(), NodeError> {
        if records.is_empty() {
            return Ok(());
        }
        self.conn()
            .execute(
                "UPDATE payments SET custom_records = ?2 WHERE id = ?1",
                params![id.to_text(), records_to_text(records)],
            )
            .map(|_| ())
            .map_err(to_err)
    }

    /// Hold invoices the app claimed (preimage stored) whose claim has not completed yet.
    pub fn hold_claims_in_progress(&self) -> Result<Vec<PaymentDetails>, NodeError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT * FROM payments WHERE kind = 'bolt11_hold' AND status = 'pending'
                     AND preimage IS NOT NULL",
            )
            .map_err(to_err)?;
        stmt.query_map([], from_row)
            .map_err(to_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(to_err)
    }

    /// Payments, newest first.
    pub fn list(&self, filter: &PaymentFilter) -> Result<Vec<PaymentDetails>, NodeError> {
        let conn = self.conn();
        // No limit: the largest one (PostgreSQL refuses SQLite's -1).
        let limit: i64 = if filter.limit == 0 {
            i64::MAX
        } else {
            i64::from(filter.limit)
        };
        let mut stmt = conn
            .prepare_cached(
                "SELECT * FROM payments
                 WHERE (CAST(?1 AS TEXT) IS NULL OR direction = ?1)
                   AND (CAST(?2 AS TEXT) IS NULL OR status = ?2)
                 ORDER BY created_at DESC, rowid DESC
                 LIMIT ?3 OFFSET ?4",
            )
            .map_err(to_err)?;
        stmt.query_map(
            params![
                filter.direction.map(direction_str),
                filter.status.map(status_str),
                limit,
                i64::from(filter.offset)
            ],
            from_row,
        )
        .map_err(to_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(to_err)
    }
}

fn insert_row(conn: &Connection, p: &PaymentDetails) -> Result<(), NodeError> {
    conn.execute(
        "INSERT INTO payments (id, direction, kind, status, amount_msat, fee_paid_msat,
                 payment_hash, preimage, description, invoice, failure_reason,
                 counterparty_node_id, created_at, updated_at, claim_deadline_height,
                 custom_records)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            p.id.to_text(),
            direction_str(p.direction),
            kind_str(p.kind),
            status_str(p.status),
            p.amount_msat.map(|v| v as i64),
            p.fee_paid_msat.map(|v| v as i64),
            p.payment_hash.to_text(),
            p.preimage.as_ref().map(IdText::to_text),
            p.description,
            p.invoice,
            p.failure_reason,
            p.counterparty_node_id.as_ref().map(IdText::to_text),
            p.created_at as i64,
            p.updated_at as i64,
            p.claim_deadline_height.map(i64::from),
            records_to_text(&p.custom_records),
        ],
    )
    .map(|_| ())
    .map_err(to_err)
}

/// A new payment row with timestamps set to now.
pub(crate) fn new_payment(
    id: PaymentId,
    direction: PaymentDirection,
    kind: PaymentKind,
    payment_hash: PaymentHash,
) -> PaymentDetails {
    let now = now_secs();
    PaymentDetails {
        id,
        direction,
        kind,
        status: PaymentStatus::Pending,
        amount_msat: None,
        fee_paid_msat: None,
        payment_hash,
        preimage: None,
        description: None,
        invoice: None,
        failure_reason: None,
        counterparty_node_id: None,
        created_at: now,
        updated_at: now,
        claim_deadline_height: None,
        custom_records: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id (and hash) made of one repeated byte, for readable tests.
    fn id(b: u8) -> PaymentId {
        PaymentId([b; 32])
    }

    fn hash(b: u8) -> PaymentHash {
        PaymentHash([b; 32])
    }

    fn store(name: &str) -> (PaymentStore, crate::io::db::Db, std::path::PathBuf) {
        let dir = crate::io::db::tests::temp_dir(&format!("pay-{name}"));
        let db = crate::io::db::Db::open(&dir).expect("db");
        (PaymentStore::open(db.shared()).expect("store"), db, dir)
    }

    #[test]
    fn lifecycle_filters_and_reopen() {
        let (s, db, dir) = store("life");
        let mut out = new_payment(
            id(0xaa),
            PaymentDirection::Outbound,
            PaymentKind::Bolt11,
            hash(0xaa),
        );
        out.amount_msat = Some(1_000);
        s.insert(&out).expect("insert");
        assert!(s.insert(&out).is_err(), "ids are unique");
        let inbound = new_payment(
            id(0xbb),
            PaymentDirection::Inbound,
            PaymentKind::Bolt11,
            hash(0xbb),
        );
        s.insert(&inbound).expect("insert");

        assert!(s
            .succeed(&id(0xaa), Some(&PaymentPreimage([0x11; 32])), None, Some(5))
            .expect("update"));
        assert!(
            !s.fail(&id(0xaa), "late failure").expect("no change"),
            "success is final"
        );
        assert!(s.fail(&id(0xbb), "expired").expect("update"));

        let got = s.get(&id(0xaa)).expect("get").expect("exists");
        assert_eq!(got.status, PaymentStatus::Succeeded);
        assert_eq!((got.amount_msat, got.fee_paid_msat), (Some(1_000), Some(5)));
        assert_eq!(got.preimage, Some(PaymentPreimage([0x11; 32])));

        let only_failed = PaymentFilter {
            status: Some(PaymentStatus::Failed),
            ..Default::default()
        };
        let failed = s.list(&only_failed).expect("list");
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].failure_reason.as_deref(), Some("expired"));
        let outbound = PaymentFilter {
            direction: Some(PaymentDirection::Outbound),
            ..Default::default()
        };
        assert_eq!(s.list(&outbound).expect("list").len(), 1);
        let page = PaymentFilter {
            limit: 1,
            offset: 1,
            ..Default::default()
        };
        assert_eq!(s.list(&page).expect("list").len(), 1);

        drop(s);
        drop(db);
        let db = crate::io::db::Db::open(&dir).expect("reopen");
        let s = PaymentStore::open(db.shared()).expect("reopen");
        assert_eq!(s.list(&PaymentFilter::default()).expect("list").len(), 2);
        // A failed outbound payment can be tried again under the same id; a pending or
        // succeeded one cannot be paid twice.
        let mut retry = new_payment(
            id(0xcc),
            PaymentDirection::Outbound,
            PaymentKind::Bolt11,
            hash(0xcc),
        );
        s.start_outbound(&retry).expect("first attempt");
        assert_eq!(
            s.start_outbound(&retry),
            Err(NodeError::DuplicatePayment),
            "pending"
        );
        s.fail(&id(0xcc), "no route").expect("fail");
        retry.amount_msat = Some(7);
        s.start_outbound(&retry).expect("retry after failure");
        let again = s.get(&id(0xcc)).expect("get").expect("row");
        assert_eq!(
            (again.status, again.amount_msat),
            (PaymentStatus::Pending, Some(7))
        );
        assert_eq!(
            s.start_outbound(&out),
            Err(NodeError::DuplicatePayment),
            "succeeded"
        );
    }

    #[test]
    fn waiters_wake_when_a_payment_settles() {
        let (s, _db, _dir) = store("wait");
        let s = std::sync::Arc::new(s);
        let row = new_payment(
            id(0xdd),
            PaymentDirection::Outbound,
            PaymentKind::Bolt11,
            hash(0xdd),
        );
        s.insert(&row).expect("insert");
        let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let s = s.clone();
            std::thread::spawn(move || {
                let _ = tx.send(s.wait_settled(&id(0xdd), far));
            });
        }
        // The waiter is parked on the condition variable (or about to be): settling the payment
        // must wake it, not the hour-long deadline (a waiter that missed the notification
        // would leave the channel silent for an hour).
        std::thread::sleep(std::time::Duration::from_millis(50));
        s.succeed(&id(0xdd), None, None, None).expect("succeed");
        let settled = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("woken by the settlement")
            .expect("wait")
            .expect("row");
        assert_eq!(settled.status, PaymentStatus::Succeeded);
        assert!(s.wait_settled(&id(0x99), far).expect("wait").is_none());
        // A deadline already passed returns the pending row as it stands.
        let pending = new_payment(
            id(0xee),
            PaymentDirection::Outbound,
            PaymentKind::Bolt11,
            hash(0xee),
        );
        s.insert(&pending).expect("insert");
        let now = std::time::Instant::now();
        let still = s.wait_settled(&id(0xee), now).expect("wait").expect("row");
        assert_eq!(still.status, PaymentStatus::Pending);
    }
}
