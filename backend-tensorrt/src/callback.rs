//! The boundary where TensorRT calls back into Rust (logger, INT8 calibrator, debug
//! listener): a panic in the Rust code must not unwind into C++ (undefined behaviour, and an
//! abort from an `extern "C"` function). [`guarded`] catches it and gives its message, which
//! each callback turns into an error or a logged line.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`, catching a panic: `Err` with the panic's message.
///
/// The callbacks give up on the data `f` touched after a panic (the build or run fails, or
/// the log line is lost), so the state it may have left half-changed is never read again as
/// if it were whole: asserting unwind safety is sound for them.
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::guarded;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(guarded(|| 7), Ok(7));
        assert_eq!(guarded(|| -> i32 { panic!("static text") }), Err("static text".to_owned()));
        let n = 3;
        assert_eq!(guarded(|| -> i32 { panic!("formatted {n}") }), Err("formatted 3".to_owned()));
    }
}
