//! UniFFI's command-line generator, pinned to the runtime version of the SDK.
//!
//! `scripts/gen-bindings.sh` runs it in library mode:
//! `uniffi-bindgen generate --library target/…/libqtum_lightning.so --language kotlin --out-dir …`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
