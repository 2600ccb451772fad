//! The end-to-end harness. It lives in `crates/test-support`, shared with the benchmarks and
//! `zoho-auth`'s tests; this crate re-exports it so the tests here keep naming it `e2e::…`.

pub use test_support::*;
