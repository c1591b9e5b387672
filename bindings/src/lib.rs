//! The napi-rs crate of orbax-ts: one module per concept, only conversions and async glue.

pub mod commit;
pub mod errors;
pub mod item;
pub mod json;
pub mod location;
pub mod metadata;
pub mod save;
pub mod storage;
pub mod transfer;

use napi_derive::napi;

/// The version of the native core, to check that the loader found the right binary.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
