//! The SDK's on-chain Qtum wallet.
