//! DigestAuthenticationProvider: `user:password` auth, stored in ACLs as
//! `user:base64(sha1(user:password))`; the super digest grants everything.

use crate::jute::records::Id;
use crate::server::server_cnxn::ServerCnxn;
use base64::Engine;
use sha1::{Digest, Sha1};

/// `user:password` -> `user:base64(sha1(user:password))`.
pub fn generate_digest(id_password: &str) -> String {
    let user = id_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(id_password.as_bytes());
    format!("{}:{}", user, base64::engine::general_purpose::STANDARD.encode(hash))
}

pub fn handle_authentication(super_digest: Option<&str>, cnxn: &dyn ServerCnxn, auth: &[u8]) -> bool {
    let id = String::from_utf8_lossy(auth);
    let digest = generate_digest(&id);
    if super_digest == Some(digest.as_str()) {
        cnxn.add_auth_info(Id::new("super", ""));
    }
    cnxn.add_auth_info(Id::new("digest", &digest));
    true
}

pub fn is_valid(id: &str) -> bool {
    id.split(':').count() == 2
}

#[cfg(test)]
mod tests {
    #[test]
    fn digest_matches_zookeeper() {
        // As printed by org.apache.zookeeper.server.auth.DigestAuthenticationProvider super:admin
        assert_eq!(super::generate_digest("super:admin"), "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=");
    }
}
