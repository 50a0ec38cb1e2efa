//! A Qtum regtest node for one machine.
