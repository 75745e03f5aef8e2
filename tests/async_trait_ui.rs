//! What `#[valuetask::async_trait]` rejects, and where the errors point: at the input
//! that is wrong, in the user's code, with what to write instead (trybuild; the expected
//! messages are in tests/ui/*.stderr, from the pinned toolchain's rustc).

#[test]
#[cfg_attr(miri, ignore = "trybuild runs rustc")]
fn compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
