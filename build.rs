//! Marks the build when the black-box tests can reach PostgreSQL, so that
//! without `ROSTER_TEST_POSTGRES_URL` their PostgreSQL half is reported as
//! ignored instead of passing without having run. With
//! `ROSTER_TEST_REQUIRE_POSTGRES=1` they always run, and fail without a URL.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=ROSTER_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=ROSTER_TEST_REQUIRE_POSTGRES");
    println!("cargo::rerun-if-changed=build.rs");
    // The SCIM conformance suite runs when a Python that has it is named.
    println!("cargo::rustc-check-cfg=cfg(scim_conformance)");
    println!("cargo::rerun-if-env-changed=ROSTER_TEST_SCIM_PYTHON");
    if std::env::var_os("ROSTER_TEST_SCIM_PYTHON").is_some_and(|p| !p.is_empty()) {
        println!("cargo::rustc-cfg=scim_conformance");
    }
    // The console's browser tests run where a ChromeDriver is installed
    // (Debian's chromium-driver) or named; elsewhere they are ignored and
    // say so.
    println!("cargo::rustc-check-cfg=cfg(browser_tests)");
    println!("cargo::rerun-if-env-changed=ROSTER_TEST_CHROMEDRIVER");
    let driver = std::env::var_os("ROSTER_TEST_CHROMEDRIVER")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromedriver".into());
    if driver.exists() {
        println!("cargo::rustc-cfg=browser_tests");
    }
    let url = std::env::var_os("ROSTER_TEST_POSTGRES_URL").is_some_and(|url| !url.is_empty());
    let required = std::env::var_os("ROSTER_TEST_REQUIRE_POSTGRES").is_some_and(|v| v == "1");
    if url || required {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
