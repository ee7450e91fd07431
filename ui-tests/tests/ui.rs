//! Compile-pass and compile-fail cases of the macros. The `.stderr` files pin the diagnostics
//! to the toolchain named in README.md; regenerate them with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*.rs");
}
