//! Receiving: BOLT 11 invoices (fixed or open amount, a description or its hash) and hold
//! invoices the app settles or refuses.

use bitcoin::hashes::Hash;
use lightning::ln::channelmanager::Bolt11InvoiceParameters;
use lightning::types::payment::{PaymentHash, PaymentPreimage};
use lightning_invoice::{Bolt11InvoiceDescription, Description};

use crate::error::NodeError;
use crate::node::Node;
use crate::payment::store::{new_payment, PaymentDetails, PaymentDirection, PaymentKind};
use crate::types::PaymentId;

/// An invoice description carried in the invoice (at most 639 bytes).
fn direct(description: &str) -> Result<Bolt11InvoiceDescription, NodeError> {
    Description::new(description.to_string())
        .map(Bolt11InvoiceDescription::Direct)
        .map_err(|e| NodeError::InvalidInvoice(format!("description: {e}")))
}

impl Node {
    fn create_invoice(
        &self,
        amount_msat: Option<u64>,
        description: &str,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        self.create_invoice_described(amount_msat, direct(description)?, expiry_secs, None)
    }

    fn create_invoice_described(
        &self,
        amount_msat: Option<u64>,
        description: Bolt11InvoiceDescription,
        expiry_secs: Option<u32>,
        hold_for: Option<PaymentHash>,
    ) -> Result<String, NodeError> {
        self.require_running()?;
        let inner = &self.inner;
        if amount_msat == Some(0) {
            return Err(NodeError::InvalidAmount(
                "an invoice for 0 msat cannot be paid".into(),
            ));
        }
        let text = match &description {
            Bolt11InvoiceDescription::Direct(d) => Some(d.as_inner().0.clone()),
            Bolt11InvoiceDescription::Hash(_) => None,
        };
        let params = Bolt11InvoiceParameters {
            amount_msats: amount_msat,
            description,
            invoice_expiry_delta_secs: Some(
                expiry_secs.unwrap_or(inner.config.invoice_expiry_secs),
            ),
            min_final_cltv_expiry_delta: Some(inner.config.min_final_cltv_expiry_delta),
            payment_hash: hold_for,
        };
        let invoice = inner
            .channel_manager
            .create_bolt11_invoice(params)
            .map_err(|e| NodeError::InvalidInvoice(e.to_string()))?;
        let hash = PaymentHash(invoice.payment_hash().to_byte_array());
        let kind = match hold_for {
            Some(_) => PaymentKind::Bolt11Hold,
            None => PaymentKind::Bolt11,
        };
        let mut row = new_payment(PaymentId(hash.0), PaymentDirection::Inbound, kind, hash);
        row.amount_msat = amount_msat;
        row.description = text;
        row.invoice = Some(invoice.to_string());
        row.counterparty_node_id = None;
        inner.payments.insert(&row)?;
        Ok(invoice.to_string())
    }

    /// A Qtum BOLT 11 invoice for `amount_msat` (1 msat and up), expiring after `expiry_secs`
    /// (default: the configured one hour). Route hints for private channels are included.
    pub fn receive(
        &self,
        amount_msat: u64,
        description: &str,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        self.create_invoice(Some(amount_msat), description, expiry_secs)
    }

    /// A Qtum BOLT 11 invoice that lets the payer choose the amount.
    pub fn receive_variable_amount(
        &self,
        description: &str,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        self.create_invoice(None, description, expiry_secs)
    }

    /// An invoice that commits to a description by its SHA-256 (`description_hash`, 64 hex
    /// digits) instead of carrying it, as LNURL-pay asks (the hash of its metadata) and for
    /// descriptions longer than an invoice can hold. `amount_msat` `None`: the payer chooses.
    pub fn receive_for_description_hash(
        &self,
        amount_msat: Option<u64>,
        description_hash: &str,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        use bitcoin::hashes::sha256;
        let bytes = crate::types::hex32(description_hash, "description hash")
            .map_err(NodeError::InvalidInvoice)?;
        let hash = lightning_invoice::Sha256(sha256::Hash::from_byte_array(bytes));
        self.create_invoice_described(
            amount_msat,
            Bolt11InvoiceDescription::Hash(hash),
            expiry_secs,
            None,
        )
    }

    /// A hold invoice: an invoice for `payment_hash`, whose preimage only the
    /// app knows. When it is paid the node does not settle it: a `PaymentClaimable` event says
    /// how much waits and until which block; the app then calls [`Node::claim_for_hash`] with
    /// the preimage or [`Node::fail_for_hash`]. Unclaimed by the deadline, the node fails it
    /// back (the payer's channels are never put at risk). `amount_msat` `None`: any amount.
    pub fn receive_for_hash(
        &self,
        payment_hash: PaymentHash,
        amount_msat: Option<u64>,
        description: &str,
        expiry_secs: Option<u32>,
    ) -> Result<String, NodeError> {
        let known = self.inner.payments.get(&PaymentId(payment_hash.0))?;
        if known.is_some() {
            return Err(NodeError::DuplicatePayment);
        }
        self.create_invoice_described(
            amount_msat,
            direct(description)?,
            expiry_secs,
            Some(payment_hash),
        )
    }

    /// Claim a paid hold invoice with its `preimage`: the payment settles and
    /// a `PaymentReceived` event follows. The preimage is stored before the claim, so a node
    /// killed in between claims again when it starts. Claiming a settled one again is fine.
    pub fn claim_for_hash(
        &self,
        payment_hash: &PaymentHash,
        preimage: &PaymentPreimage,
    ) -> Result<(), NodeError> {
        use bitcoin::hashes::sha256;
        self.require_running()?;
        let hash = payment_hash;
        if sha256::Hash::hash(&preimage.0).to_byte_array() != hash.0 {
            return Err(NodeError::InvalidInput(
                "the preimage does not hash to this payment hash".into(),
            ));
        }
        let row = self.hold_invoice(hash)?;
        match row.status {
            crate::payment::store::PaymentStatus::Succeeded => return Ok(()),
            crate::payment::store::PaymentStatus::Failed => {
                return Err(NodeError::NotClaimable(format!(
                    "{hash} was failed back: {}",
                    row.failure_reason.unwrap_or_default()
                )))
            }
            crate::payment::store::PaymentStatus::Pending => {}
        }
        if row.claim_deadline_height.is_none() {
            return Err(NodeError::NotClaimable(format!(
                "nothing has been paid to {hash} yet"
            )));
        }
        self.inner
            .payments
            .set_preimage(&PaymentId(hash.0), preimage)?;
        if crate::node::take_injected_failure(&self.inner, "claim") {
            log::error!("injected failure: the process dies between storing and making a claim");
            std::process::abort();
        }
        self.inner.channel_manager.claim_funds(*preimage);
        Ok(())
    }

    /// Fail a hold invoice back: whatever waits is returned to the payer, and later payments
    /// to it are refused. The payer sees a failure as from a recipient that rejected it.
    pub fn fail_for_hash(&self, payment_hash: &PaymentHash) -> Result<(), NodeError> {
        self.require_running()?;
        let hash = payment_hash;
        let row = self.hold_invoice(hash)?;
        match row.status {
            crate::payment::store::PaymentStatus::Succeeded => Err(NodeError::InvalidInput(
                format!("{hash} is already claimed"),
            )),
            _ if row.preimage.is_some() => {
                Err(NodeError::InvalidInput(format!("{hash} is being claimed")))
            }
            _ => {
                // Recorded first: a payment arriving meanwhile is refused by the handler.
                self.inner
                    .payments
                    .fail(&PaymentId(hash.0), "failed back by the app")?;
                self.inner.channel_manager.fail_htlc_backwards(hash);
                Ok(())
            }
        }
    }

    fn hold_invoice(&self, hash: &PaymentHash) -> Result<PaymentDetails, NodeError> {
        match self.inner.payments.get(&PaymentId(hash.0))? {
            Some(row) if row.is_hold_invoice() => Ok(row),
            Some(_) => Err(NodeError::InvalidInput(format!(
                "{hash} is not a hold invoice (made by receive_for_hash)"
            ))),
            None => Err(NodeError::UnknownPayment(hash.to_string())),
        }
    }
}
