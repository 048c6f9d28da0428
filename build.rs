//! Marks the build when the black-box tests can reach PostgreSQL, so that
//! without `ROSTER_TEST_POSTGRES_URL` their PostgreSQL half is reported as
//! ignored instead of passing without having run.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=ROSTER_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("ROSTER_TEST_POSTGRES_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
