//! A Lightning Network node SDK for Qtum, built on LDK.
