//! Payments: the persisted history of every payment, inbound and outbound, and the router
//! that applies a payment's limits.

pub(crate) mod router;
pub mod store;
