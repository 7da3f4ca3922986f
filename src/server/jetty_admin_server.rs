//! The AdminServer's settings. zkserver has no AdminServer (its commands
//! are answered as four-letter words on the client port); it still reads
//! the system properties Java's JettyAdminServer and AdminServerFactory
//! read, so that a bad value is refused and start-up shows what Java would
//! have served.

use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminServerSettings {
    /// zookeeper.admin.enableServer (zoo.cfg `admin.enableServer`): on
    /// unless exactly `false`.
    pub enable_server: bool,
    /// zookeeper.admin.serverAddress (default 0.0.0.0).
    pub server_address: String,
    /// zookeeper.admin.serverPort (default 8080).
    pub server_port: i32,
    /// zookeeper.admin.idleTimeout (ms, default 30000).
    pub idle_timeout_ms: i32,
    /// zookeeper.admin.commandURL (default /commands).
    pub command_url: String,
}

impl AdminServerSettings {
    pub fn read(props: &SystemProperties) -> Result<AdminServerSettings, ConfigError> {
        Ok(AdminServerSettings {
            enable_server: props.equals("zookeeper.admin.enableServer", "false") != Some(true),
            server_address: props.string_or("zookeeper.admin.serverAddress", "0.0.0.0"),
            server_port: props.int("zookeeper.admin.serverPort", 8080)?,
            idle_timeout_ms: props.int("zookeeper.admin.idleTimeout", 30000)?,
            command_url: props.string_or("zookeeper.admin.commandURL", "/commands"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_as_java() {
        let read = |pairs: &[(&str, &str)]| AdminServerSettings::read(&SystemProperties::of(pairs));
        let s = read(&[]).unwrap();
        assert!(s.enable_server);
        assert_eq!((s.server_address.as_str(), s.server_port, s.idle_timeout_ms), ("0.0.0.0", 8080, 30000));
        assert_eq!(s.command_url, "/commands");
        let s = read(&[("admin.enableServer", "false"), ("admin.serverPort", "9090")]).unwrap();
        assert!(!s.enable_server);
        assert_eq!(s.server_port, 9090);
        // Only exactly "false" disables the admin server, as in Java.
        assert!(read(&[("admin.enableServer", "no")]).unwrap().enable_server);
        assert_eq!(read(&[("admin.serverPort", "x")]).unwrap_err().to_string(), "admin.serverPort: \"x\" is not a number");
    }
}
