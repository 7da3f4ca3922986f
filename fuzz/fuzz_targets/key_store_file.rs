//! What the TLS set-up reads from bytes it did not make: a JKS key or trust
//! store (`jks_file_loader::parse`, our own reader, with the password the
//! seeds were sealed with and with another) and a client certificate's
//! subject as the x509 provider names it (`client_id`). Neither may panic
//! or allocate beyond the input's size.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zkserver::common::jks_file_loader::parse;
use zkserver::server::auth::x509_authentication_provider::client_id;
use zkserver_fuzz::set_alloc_limit;

fuzz_target!(|data: &[u8]| {
    set_alloc_limit(4 * data.len() + 64 * 1024);
    let _ = parse(data, "secret");
    let _ = parse(data, "");
    let _ = client_id(data);
});
