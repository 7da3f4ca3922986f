//! KerberosName: a principal `service[/host][@REALM]` split into its parts,
//! and its short name under the DEFAULT auth_to_local rule (the only rule
//! zkserver has: other `zookeeper.security.auth_to_local` rules are refused
//! at start).
//! Used by the NIO workers when a SASL client has authenticated (the
//! `kerberos.remove*FromPrincipal` rules) and by the sasl ACL provider.

use crate::quorum::quorum_peer_config::system_properties::SystemProperties;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerberosName {
    pub service_name: String,
    pub host_name: Option<String>,
    pub realm: Option<String>,
}

impl KerberosName {
    /// Java's constructor: `([^/@]*)(/([^/@]*))?@([^/@]*)` when it matches
    /// the whole name; otherwise a name without '@' is a bare service name
    /// and one with '@' is malformed (None).
    pub fn parse(name: &str) -> Option<KerberosName> {
        if let Some((left, realm)) = name.split_once('@') {
            if realm.contains(['/', '@']) {
                return None;
            }
            let (service, host) = match left.split_once('/') {
                Some((s, h)) => (s, Some(h)),
                None => (left, None),
            };
            if host.is_some_and(|h| h.contains('/')) {
                return None;
            }
            return Some(KerberosName {
                service_name: service.to_string(),
                host_name: host.map(str::to_string),
                realm: Some(realm.to_string()),
            });
        }
        Some(KerberosName { service_name: name.to_string(), host_name: None, realm: None })
    }

    /// getShortName with the DEFAULT rule: a simple name is itself; a
    /// principal of the default realm is its service name; anything else
    /// matches no rule (None).
    pub fn short_name(&self, default_realm: &str) -> Option<String> {
        match (&self.host_name, &self.realm) {
            (None, None) => Some(self.service_name.clone()),
            (_, Some(realm)) if realm == default_realm && !self.service_name.contains(['/', '@']) => {
                Some(self.service_name.clone())
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for KerberosName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.service_name)?;
        if let Some(h) = &self.host_name {
            write!(f, "/{h}")?;
        }
        if let Some(r) = &self.realm {
            write!(f, "@{r}")?;
        }
        Ok(())
    }
}

/// KerberosUtil.getDefaultRealm as the JDK finds it: the system property
/// `java.security.krb5.realm`, else `default_realm` in the `[libdefaults]`
/// of the file `java.security.krb5.conf` names, else of /etc/krb5.conf;
/// "" when there is none (as Java, which then matches no realm).
pub fn default_realm(props: &SystemProperties) -> String {
    configured_default_realm(props).unwrap_or_default()
}

/// The default realm when a Kerberos configuration gives one.
pub fn configured_default_realm(props: &SystemProperties) -> Option<String> {
    if let Some(r) = props.string("java.security.krb5.realm") {
        return Some(r);
    }
    let path = props.string("java.security.krb5.conf").unwrap_or_else(|| "/etc/krb5.conf".to_string());
    std::fs::read_to_string(path).ok().and_then(|text| libdefaults_realm(&text))
}

/// `default_realm` of the `[libdefaults]` section of a krb5.conf text.
fn libdefaults_realm(text: &str) -> Option<String> {
    let mut in_libdefaults = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_libdefaults = line == "[libdefaults]";
        } else if in_libdefaults {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == "default_realm" {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> KerberosName {
        KerberosName::parse(s).unwrap()
    }

    #[test]
    fn names_split_as_java_splits_them() {
        assert_eq!(name("bob"), KerberosName { service_name: "bob".into(), host_name: None, realm: None });
        let n = name("zookeeper/host.example.com@EXAMPLE.COM");
        assert_eq!(n.service_name, "zookeeper");
        assert_eq!(n.host_name.as_deref(), Some("host.example.com"));
        assert_eq!(n.realm.as_deref(), Some("EXAMPLE.COM"));
        assert_eq!(n.to_string(), "zookeeper/host.example.com@EXAMPLE.COM");
        assert_eq!(name("a/b/c").service_name, "a/b/c", "no '@': taken whole");
        assert_eq!(name("bob@").realm.as_deref(), Some(""));
        for bad in ["a@b@c", "a/b/c@R", "a@R/x"] {
            assert!(KerberosName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_default_rule_shortens_only_the_default_realm() {
        assert_eq!(name("bob").short_name("").as_deref(), Some("bob"));
        assert_eq!(name("bob@EXAMPLE.COM").short_name("EXAMPLE.COM").as_deref(), Some("bob"));
        assert_eq!(name("zk/h@EXAMPLE.COM").short_name("EXAMPLE.COM").as_deref(), Some("zk"));
        assert_eq!(name("bob@OTHER").short_name("EXAMPLE.COM"), None);
        assert_eq!(name("bob@OTHER").short_name(""), None);
    }

    #[test]
    fn krb5_conf_default_realm() {
        let text = "[logging]\n default_realm = NO\n[libdefaults]\n  dns_lookup_kdc = false\n  default_realm = EXAMPLE.COM\n[realms]\n";
        assert_eq!(libdefaults_realm(text).as_deref(), Some("EXAMPLE.COM"));
        assert_eq!(libdefaults_realm("[realms]\n"), None);
        let p = SystemProperties::of(&[("java.security.krb5.realm", "R.ORG")]);
        assert_eq!(default_realm(&p), "R.ORG");
    }
}
