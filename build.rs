//! Records the build time for the version line four-letter words print
//! ("3.8.0-zkserver-<version>, built on <date> UTC"), as Java's does.
//! SOURCE_DATE_EPOCH, when set, makes the build reproducible. Also records
//! the compiler's version, which envi prints as java.version.

use std::time::{SystemTime, UNIX_EPOCH};

include!("src/common/civil_date.rs");

fn main() {
    // The compiler's version stands for Java's java.version in envi.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "rustc (unknown version)".to_string(), |v| v.trim().to_string());
    println!("cargo:rustc-env=ZKSERVER_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=src/common/civil_date.rs");
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0));
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    println!(
        "cargo:rustc-env=ZKSERVER_BUILD_DATE={:04}-{:02}-{:02} {:02}:{:02} UTC",
        y,
        m,
        d,
        rem / 3600,
        (rem % 3600) / 60
    );
}
