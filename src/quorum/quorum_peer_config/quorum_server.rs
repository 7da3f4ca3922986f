//! The ensemble members named by `server.N` lines (Java's
//! QuorumPeer.QuorumServer) and the membership they form with the optional
//! `group.N` / `weight.N` lines and the `version` key (the data QuorumMaj and
//! QuorumHierarchical are built from). Parsed by the main thread at start-up;
//! host names are kept as written and resolved by whoever dials or binds.

use super::ConfigError;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// A host (name or IP literal, IPv6 without brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// Resolves the host now (DNS for names).
    pub fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok((self.host.as_str(), self.port).to_socket_addrs()?.collect())
    }

    /// The host as Java's `delimitedHostString` prints it: IPv6 in
    /// brackets, and an IPv6 literal in InetAddress's full form
    /// (`[0:0:0:0:0:0:0:1]` for `::1`), since Java keeps no name for a
    /// literal and prints its address.
    pub fn delimited_host(&self) -> String {
        if let Ok(ip) = self.host.parse::<std::net::Ipv6Addr>() {
            format!("[{}]", crate::common::net_utils::host_address(ip.into()))
        } else if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.delimited_host(), self.port)
    }
}

/// QuorumPeer.LearnerType. The discriminant is Java's ordinal (printed by
/// the `conf` command as `peerType=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnerType {
    Participant = 0,
    Observer = 1,
}

impl LearnerType {
    /// `participant` / `observer`, case-insensitively.
    pub fn parse(s: &str) -> Option<LearnerType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "participant" => Some(LearnerType::Participant),
            "observer" => Some(LearnerType::Observer),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LearnerType::Participant => "participant",
            LearnerType::Observer => "observer",
        }
    }
}

/// One `server.N=host:quorumPort:electionPort[:type][|...][;[clientHost:]clientPort]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumServer {
    pub id: i64,
    /// Quorum (leader-follower) addresses; more than one only with
    /// `multiAddress.enabled`.
    pub addrs: Vec<HostPort>,
    /// Leader-election addresses, one per entry of `addrs`.
    pub election_addrs: Vec<HostPort>,
    /// The client address from the `;` part, or for this server the static
    /// `clientPort`/`clientPortAddress` (then `client_addr_from_static`).
    pub client_addr: Option<HostPort>,
    pub client_addr_from_static: bool,
    pub peer_type: LearnerType,
    /// The host of the last address in the line (Java's `hostname`).
    pub hostname: String,
}

/// Java's String.split: trailing empty pieces are dropped.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// ConfigUtils.getHostAndPort: `host:a:b...` or `[v6]:a:b...`, split on ':'.
fn host_and_ports<'a>(key: &str, s: &'a str) -> Result<Vec<&'a str>, ConfigError> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(ConfigError::bad_value(key, s, "starts with '[' but has no matching ']'"));
        };
        let host = &rest[..close];
        let after = &rest[close + 1..];
        if after.is_empty() {
            return Ok(vec![host]);
        }
        let Some(ports) = after.strip_prefix(':').filter(|p| !p.is_empty()) else {
            return Err(ConfigError::bad_value(key, s, "has no port after ']:'"));
        };
        let mut parts = vec![host];
        parts.extend(java_split(ports, ':'));
        return Ok(parts);
    }
    Ok(java_split(s, ':'))
}

fn parse_port(key: &str, whole: &str, port: &str) -> Result<u16, ConfigError> {
    let n: i64 = port
        .parse()
        .map_err(|_| ConfigError::bad_value(key, whole, &format!("has port {port:?} which is not a number")))?;
    u16::try_from(n).map_err(|_| ConfigError::bad_value(key, whole, &format!("has port {n} out of range")))
}

const WRONG_FORMAT: &str =
    "is not host:port:port[:type] (several joined by '|') optionally followed by ;[host:]clientPort";

impl QuorumServer {
    /// Parses the value of `server.<id>`.
    pub fn parse(id: i64, value: &str, multi_address_enabled: bool) -> Result<QuorumServer, ConfigError> {
        let key = format!("server.{id}");
        let key = key.as_str();
        let value = value.trim();
        let server_client = java_split(value, ';');
        if server_client.len() > 2 {
            return Err(ConfigError::bad_value(key, value, WRONG_FORMAT));
        }
        let client_addr = match server_client.get(1) {
            None => None,
            Some(client) => {
                let parts = host_and_ports(key, client)?;
                let (host, port) = match parts.as_slice() {
                    [port] => ("0.0.0.0", *port),
                    [host, port] => (*host, *port),
                    _ => return Err(ConfigError::bad_value(key, value, WRONG_FORMAT)),
                };
                Some(HostPort { host: host.to_string(), port: parse_port(key, value, port)? })
            }
        };
        let server_part = server_client.first().copied().unwrap_or("");
        let addresses = java_split(server_part, '|');
        if addresses.len() > 1 && !multi_address_enabled {
            return Err(ConfigError::bad_value(
                key,
                value,
                "lists several addresses but multiAddress.enabled is false",
            ));
        }
        let mut addrs = Vec::new();
        let mut election_addrs = Vec::new();
        let mut peer_type: Option<LearnerType> = None;
        let mut hostname = String::new();
        for address in addresses {
            let parts = host_and_ports(key, address)?;
            if !(3..=4).contains(&parts.len()) {
                return Err(ConfigError::bad_value(key, value, WRONG_FORMAT));
            }
            let host = parts[0];
            if host.is_empty() {
                return Err(ConfigError::bad_value(key, value, "has an empty host"));
            }
            let quorum_port = parse_port(key, value, parts[1])?;
            let election_port = parse_port(key, value, parts[2])?;
            if quorum_port == election_port {
                return Err(ConfigError::bad_value(key, value, "uses the same port for quorum and election"));
            }
            if let Some(type_str) = parts.get(3) {
                let t = LearnerType::parse(type_str).ok_or_else(|| {
                    ConfigError::bad_value(key, value, &format!("has unknown peer type {type_str:?}"))
                })?;
                match peer_type {
                    Some(prev) if prev != t => {
                        return Err(ConfigError::bad_value(key, value, "gives its addresses different peer types"))
                    }
                    _ => peer_type = Some(t),
                }
            }
            addrs.push(HostPort { host: host.to_string(), port: quorum_port });
            election_addrs.push(HostPort { host: host.to_string(), port: election_port });
            hostname = host.to_string();
        }
        Ok(QuorumServer {
            id,
            addrs,
            election_addrs,
            client_addr,
            client_addr_from_static: false,
            peer_type: peer_type.unwrap_or(LearnerType::Participant),
            hostname,
        })
    }

    /// The value part of the `server.N=` line as Java's QuorumServer.toString
    /// writes it (addresses sorted by host, client part only when it came
    /// from the server line itself).
    pub fn to_config_value(&self) -> String {
        let mut quorum: Vec<&HostPort> = self.addrs.iter().collect();
        let mut election: Vec<&HostPort> = self.election_addrs.iter().collect();
        quorum.sort_by(|a, b| a.host.cmp(&b.host));
        election.sort_by(|a, b| a.host.cmp(&b.host));
        let mut out = quorum
            .iter()
            .zip(election.iter())
            .map(|(q, e)| format!("{}:{}:{}", q.delimited_host(), q.port, e.port))
            .collect::<Vec<_>>()
            .join("|");
        out.push(':');
        out.push_str(self.peer_type.name());
        if let Some(client) = self.client_addr.as_ref().filter(|_| !self.client_addr_from_static) {
            out.push(';');
            out.push_str(&client.to_string());
        }
        out
    }
}

/// The membership of the ensemble: what Java's QuorumMaj (majority) or
/// QuorumHierarchical (groups and weights) is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumSpec {
    /// The `version` key (hex); 0 when absent.
    pub version: i64,
    /// Every member, participants and observers, by server id.
    pub servers: BTreeMap<i64, QuorumServer>,
    /// True when any `group`/`weight` key was given (QuorumHierarchical).
    pub hierarchical: bool,
    /// `group.G=sid:sid...`: group id to its server ids.
    pub groups: BTreeMap<i64, Vec<i64>>,
    /// Server weights (`weight.N`; participants default to 1). Only filled
    /// for hierarchical quorums.
    pub weights: BTreeMap<i64, i64>,
}

/// Whether a key belongs to the membership (server, group, weight).
pub fn is_membership_key(key: &str) -> bool {
    key.starts_with("server.") || key.starts_with("group") || key.starts_with("weight")
}

fn id_after_dot(key: &str) -> Result<i64, ConfigError> {
    let suffix = key.split_once('.').map(|(_, s)| s).unwrap_or("");
    suffix.parse().map_err(|_| ConfigError::Invalid(format!("{key}: {suffix:?} after the dot is not a number")))
}

impl QuorumSpec {
    /// Builds the membership from config pairs. Keys other than the
    /// membership keys and `version` are ignored when `only_membership` is
    /// false (zoo.cfg) and refused when it is true (a dynamic config file).
    pub fn from_pairs(
        pairs: &[(String, String)],
        multi_address_enabled: bool,
        only_membership: bool,
    ) -> Result<QuorumSpec, ConfigError> {
        let mut spec = QuorumSpec::default();
        let mut group_of: BTreeMap<i64, i64> = BTreeMap::new();
        for (key, value) in pairs {
            let key = key.trim();
            let value = value.trim();
            if key.starts_with("server.") {
                let sid = id_after_dot(key)?;
                spec.servers.insert(sid, QuorumServer::parse(sid, value, multi_address_enabled)?);
            } else if key.starts_with("group") {
                spec.hierarchical = true;
                let gid = id_after_dot(key)?;
                let mut members = Vec::new();
                for s in java_split(value, ':') {
                    let sid: i64 = s.trim().parse().map_err(|_| {
                        ConfigError::bad_value(key, value, &format!("has {s:?} which is not a server id"))
                    })?;
                    if let Some(other) = group_of.insert(sid, gid) {
                        return Err(ConfigError::Invalid(format!(
                            "server {sid} is in more than one group (group.{other} and group.{gid})"
                        )));
                    }
                    members.push(sid);
                }
                spec.groups.entry(gid).or_default().extend(members);
            } else if key.starts_with("weight") {
                spec.hierarchical = true;
                let sid = id_after_dot(key)?;
                let weight: i64 = value.parse().map_err(|_| ConfigError::bad_value(key, value, "is not a number"))?;
                spec.weights.insert(sid, weight);
            } else if key == "version" {
                spec.version = i64::from_str_radix(value, 16)
                    .map_err(|_| ConfigError::bad_value(key, value, "is not a hexadecimal number"))?;
            } else if only_membership {
                return Err(ConfigError::Invalid(format!(
                    "{key}: not allowed in a dynamic config file (only server.N, group.N, weight.N)"
                )));
            }
        }
        if spec.hierarchical {
            for qs in spec.servers.values().filter(|s| s.peer_type == LearnerType::Participant) {
                if !group_of.contains_key(&qs.id) {
                    return Err(ConfigError::Invalid(format!(
                        "server.{}: a participant must be in a group when group/weight keys are used",
                        qs.id
                    )));
                }
                spec.weights.entry(qs.id).or_insert(1);
            }
        }
        Ok(spec)
    }

    /// Members that vote (participants).
    pub fn voting_members(&self) -> impl Iterator<Item = &QuorumServer> {
        self.servers.values().filter(|s| s.peer_type == LearnerType::Participant)
    }

    /// Members that only observe.
    pub fn observing_members(&self) -> impl Iterator<Item = &QuorumServer> {
        self.servers.values().filter(|s| s.peer_type == LearnerType::Observer)
    }

    /// A server's vote weight: 1 in a majority quorum, its `weight.N` (or 1)
    /// in a hierarchical one; 0 for a server that has no weight there.
    pub fn weight(&self, sid: i64) -> i64 {
        if self.hierarchical {
            self.weights.get(&sid).copied().unwrap_or(0)
        } else {
            1
        }
    }

    /// The membership as Java's QuorumVerifier.toString writes it (the
    /// `membership:` part of `conf`, and the dynamic config file format).
    pub fn to_config_string(&self) -> String {
        let mut out = String::new();
        for (sid, qs) in &self.servers {
            out.push_str(&format!("server.{sid}={}\n", qs.to_config_value()));
        }
        if self.hierarchical {
            for (gid, members) in &self.groups {
                let list = members.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(":");
                out.push_str(&format!("group.{gid}={list}\n"));
            }
            for (sid, w) in &self.weights {
                out.push_str(&format!("weight.{sid}={w}\n"));
            }
        }
        out.push_str(&format!("version={:x}", self.version));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort { host: host.to_string(), port }
    }

    fn err(id: i64, value: &str) -> String {
        QuorumServer::parse(id, value, false).unwrap_err().to_string()
    }

    #[test]
    fn plain_server_line() {
        let qs = QuorumServer::parse(1, "zk1.example:2888:3888", false).unwrap();
        assert_eq!(qs.addrs, vec![hp("zk1.example", 2888)]);
        assert_eq!(qs.election_addrs, vec![hp("zk1.example", 3888)]);
        assert_eq!(qs.client_addr, None);
        assert_eq!(qs.peer_type, LearnerType::Participant);
        assert_eq!(qs.hostname, "zk1.example");
        assert_eq!(qs.to_config_value(), "zk1.example:2888:3888:participant");
    }

    #[test]
    fn observer_with_client_port_and_ipv6() {
        let qs = QuorumServer::parse(2, "[::1]:2888:3888:Observer;2181", false).unwrap();
        assert_eq!(qs.addrs, vec![hp("::1", 2888)]);
        assert_eq!(qs.peer_type, LearnerType::Observer);
        assert_eq!(qs.client_addr, Some(hp("0.0.0.0", 2181)));
        assert_eq!(qs.to_config_value(), "[0:0:0:0:0:0:0:1]:2888:3888:observer;0.0.0.0:2181");
        let qs = QuorumServer::parse(3, "h:1:2;127.0.0.1:2181", false).unwrap();
        assert_eq!(qs.client_addr, Some(hp("127.0.0.1", 2181)));
    }

    #[test]
    fn multi_address() {
        let qs = QuorumServer::parse(1, "b:1:2|a:3:4", true).unwrap();
        assert_eq!(qs.addrs, vec![hp("b", 1), hp("a", 3)]);
        assert_eq!(qs.hostname, "a");
        assert_eq!(qs.to_config_value(), "a:3:4|b:1:2:participant");
        assert!(err(1, "b:1:2|a:3:4").contains("multiAddress.enabled is false"));
        let e = QuorumServer::parse(1, "b:1:2:observer|a:3:4:participant", true).unwrap_err();
        assert!(e.to_string().contains("different peer types"), "{e}");
    }

    #[test]
    fn bad_server_lines() {
        assert!(err(1, "host:2888").starts_with("server.1: \"host:2888\" is not host:port:port"));
        assert!(err(1, "host:2888:3888:observer:x").contains("is not host:port:port"));
        assert!(err(1, "host:2888:").contains("is not host:port:port"));
        assert!(err(1, "host:abc:3888").contains("port \"abc\" which is not a number"));
        assert!(err(1, "host:2888:70000").contains("port 70000 out of range"));
        assert!(err(1, "host:2888:2888").contains("same port"));
        assert!(err(1, "host:1:2:leader").contains("unknown peer type \"leader\""));
        assert!(err(1, "h:1:2;a:b:c").contains("is not host:port:port"));
        assert!(err(1, "h:1:2;x;y").contains("is not host:port:port"));
        assert!(err(1, "[::1:2888:3888").contains("no matching ']'"));
        assert!(err(1, "[::1]2888:3888").contains("no port after"));
        assert!(err(1, ":1:2").contains("empty host"));
        // IPv6 only in brackets, as ConfigUtils.getHostAndPort splits on
        // every ':' otherwise: too many parts for a server or client part.
        assert!(err(1, "::1:2888:3888").contains("is not host:port:port"));
        assert!(err(1, "fe80::1:2888:3888:participant").contains("is not host:port:port"));
        assert!(err(1, "[::1]:2888:3888;::1:2181").contains("is not host:port:port"));
    }

    #[test]
    fn ipv6_everywhere_in_a_server_line() {
        let qs = QuorumServer::parse(1, "[::1]:2888:3888;[::1]:2181", false).unwrap();
        assert_eq!((qs.addrs.clone(), qs.election_addrs.clone()), (vec![hp("::1", 2888)], vec![hp("::1", 3888)]));
        assert_eq!(qs.client_addr, Some(hp("::1", 2181)));
        assert_eq!(qs.to_config_value(), "[0:0:0:0:0:0:0:1]:2888:3888:participant;[0:0:0:0:0:0:0:1]:2181");
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn majority_spec() {
        let spec = QuorumSpec::from_pairs(
            &pairs(&[
                ("server.2", "h2:1:2"),
                ("server.1", "h1:1:2"),
                ("server.3", "h3:1:2:observer"),
                ("tickTime", "2000"),
                ("version", "1a"),
            ]),
            false,
            false,
        )
        .unwrap();
        assert!(!spec.hierarchical);
        assert_eq!(spec.voting_members().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(spec.observing_members().map(|s| s.id).collect::<Vec<_>>(), vec![3]);
        assert_eq!(spec.weight(3), 1);
        assert_eq!(
            spec.to_config_string(),
            "server.1=h1:1:2:participant\nserver.2=h2:1:2:participant\nserver.3=h3:1:2:observer\nversion=1a"
        );
    }

    #[test]
    fn hierarchical_spec() {
        let spec = QuorumSpec::from_pairs(
            &pairs(&[
                ("server.1", "h1:1:2"),
                ("server.2", "h2:1:2"),
                ("server.3", "h3:1:2"),
                ("group.1", "1:2"),
                ("group.2", "3"),
                ("weight.3", "0"),
            ]),
            false,
            false,
        )
        .unwrap();
        assert!(spec.hierarchical);
        assert_eq!(spec.weight(1), 1);
        assert_eq!(spec.weight(3), 0);
        assert!(spec.to_config_string().contains("group.1=1:2\ngroup.2=3\nweight.1=1\nweight.2=1\nweight.3=0\n"));
    }

    #[test]
    fn bad_specs() {
        let e = |list: &[(&str, &str)], only: bool| {
            QuorumSpec::from_pairs(&pairs(list), false, only).unwrap_err().to_string()
        };
        assert!(e(&[("server.x", "h:1:2")], false).contains("server.x: \"x\" after the dot is not a number"));
        assert!(e(&[("server.1", "h:1:2"), ("group.1", "1"), ("group.2", "1")], false).contains("more than one group"));
        assert!(e(&[("server.1", "h:1:2"), ("server.2", "h:3:4"), ("group.1", "1")], false)
            .contains("server.2: a participant must be in a group"));
        assert!(e(&[("weight.1", "x")], false).contains("weight.1: \"x\" is not a number"));
        assert!(e(&[("version", "zz")], false).contains("not a hexadecimal"));
        assert!(e(&[("tickTime", "1")], true).contains("tickTime: not allowed in a dynamic config file"));
    }
}
