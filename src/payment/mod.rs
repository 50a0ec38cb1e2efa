//! Payments: receiving (`receive`), sending (`send`), the persisted history of every payment
//! (`store`, read through the calls below) and the router that applies a payment's limits
//! (`router`).

mod receive;
pub(crate) mod router;
mod send;
pub mod store;

pub use send::{InvoicePreview, PaymentFeeEstimate, SendOptions};

use std::time::Duration;

use crate::error::NodeError;
use crate::node::Node;
use crate::types::PaymentId;
use store::{PaymentDetails, PaymentFilter};

impl Node {
    /// One payment by id.
    pub fn payment(&self, id: &PaymentId) -> Result<Option<PaymentDetails>, NodeError> {
        self.inner.payments.get(id)
    }

    /// Payments, newest first, filtered and paginated.
    pub fn list_payments(&self, filter: PaymentFilter) -> Result<Vec<PaymentDetails>, NodeError> {
        self.inner.payments.list(&filter)
    }

    /// Wait until the payment `id` is no longer pending (or `timeout` passes); returns it.
    /// Woken when the payment settles, not by polling.
    pub fn wait_payment(
        &self,
        id: &PaymentId,
        timeout: Duration,
    ) -> Result<PaymentDetails, NodeError> {
        self.inner
            .payments
            .wait_settled(id, crate::deadline_after(timeout))?
            .ok_or_else(|| NodeError::UnknownPayment(id.to_string()))
    }
}
