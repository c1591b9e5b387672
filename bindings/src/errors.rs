//! The one place where core errors become JS errors. The core's stable code (`ERR_OCDBT_CHECKSUM`,
//! ...) travels as a `[CODE] ` prefix of the message because napi-rs async functions can only
//! reject with its own `Status` codes; `ts/errors.ts` strips the prefix and picks the
//! `OrbaxError` subclass by code.

use napi::Error;

/// Converts a core error into a JS error carrying its stable code.
pub fn to_js(err: orbax_checkpoint::Error) -> Error {
    coded(err.code(), err.to_string())
}

/// A JS error with an explicit code.
pub fn coded(code: &str, message: impl std::fmt::Display) -> Error {
    Error::from_reason(format!("[{code}] {message}"))
}

/// A failure of the async glue itself (a panicked blocking task).
pub fn join_error(err: impl std::fmt::Display) -> Error {
    coded(
        "ERR_INTERNAL",
        format!("internal error in a background task: {err}"),
    )
}
