//! Payments: the persisted history of every payment, inbound and outbound.

pub mod store;
