//! Records the build time for the version line four-letter words print
//! ("3.8.0-zkserver-<version>, built on <date> UTC"), as Java's does.
//! SOURCE_DATE_EPOCH, when set, makes the build reproducible.

use std::time::{SystemTime, UNIX_EPOCH};

include!("src/common/civil_date.rs");

fn main() {
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
