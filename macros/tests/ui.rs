//! Compile-time behaviour of `#[derive(Endpoint)]`: accepted forms build, every misuse fails
//! with a spanned message (checked against the `.stderr` files next to each case).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
