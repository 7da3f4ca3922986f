use super::*;
use std::net::{IpAddr, Ipv4Addr};
use tempfile::TempDir;

/// A temporary directory holding a zoo.cfg (and whatever else a test adds).
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { dir: tempfile::tempdir().expect("tempdir") }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, text).expect("write");
        path
    }

    fn myid(&self, id: &str) {
        fs::create_dir_all(self.data_dir()).expect("mkdir");
        fs::write(self.data_dir().join("myid"), id).expect("write myid");
    }

    /// Writes zoo.cfg with `dataDir` pointing into the fixture plus `body`.
    fn cfg(&self, body: &str) -> PathBuf {
        self.write("zoo.cfg", &format!("dataDir={}\n{body}", self.data_dir().display()))
    }

    fn parse(&self, body: &str) -> Result<QuorumPeerConfig, ConfigError> {
        QuorumPeerConfig::parse(&self.cfg(body), &[])
    }

    fn parse_with(&self, body: &str, overrides: &[(&str, &str)]) -> Result<QuorumPeerConfig, ConfigError> {
        let o: Vec<(String, String)> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        QuorumPeerConfig::parse(&self.cfg(body), &o)
    }

    fn ok(&self, body: &str) -> QuorumPeerConfig {
        self.parse(body).unwrap_or_else(|e| panic!("config refused: {e}"))
    }

    fn err(&self, body: &str) -> String {
        match self.parse(body) {
            Ok(_) => panic!("config accepted:\n{body}"),
            Err(e) => e.to_string(),
        }
    }

    fn err_with(&self, body: &str, overrides: &[(&str, &str)]) -> String {
        match self.parse_with(body, overrides) {
            Ok(_) => panic!("config accepted:\n{body}"),
            Err(e) => e.to_string(),
        }
    }
}

const ENSEMBLE: &str = "initLimit=10\nsyncLimit=5\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n";

#[test]
fn java_defaults() {
    let f = Fixture::new();
    let c = f.ok("clientPort=2181\n");
    assert_eq!(c.tick_time, 3000);
    assert_eq!(c.min_session_timeout, 6000);
    assert_eq!(c.max_session_timeout, 60000);
    assert_eq!(c.max_client_cnxns, 60);
    assert_eq!(c.client_port_listen_backlog, -1);
    assert_eq!(c.data_dir, f.data_dir());
    assert_eq!(c.data_log_dir, f.data_dir());
    assert_eq!(c.client_port_address, Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 2181)));
    assert_eq!(c.snap_retain_count, 3);
    assert_eq!(c.purge_interval, 0);
    assert!(c.standalone_enabled && !c.reconfig_enabled && c.sync_enabled);
    assert!(c.is_standalone());
    assert_eq!(c.server_id, None);
    assert_eq!(c.peer_type, LearnerType::Participant);
}

#[test]
fn values_are_trimmed_and_all_separators_work() {
    let f = Fixture::new();
    let c = f.ok("clientPort : 2182   \ntickTime 2000\t\nmaxClientCnxns=\\\n  10\n");
    assert_eq!(c.client_port_address.map(|a| a.port()), Some(2182));
    assert_eq!(c.tick_time, 2000);
    assert_eq!(c.max_client_cnxns, 10);
    assert_eq!(c.min_session_timeout, 4000);
    assert_eq!(c.max_session_timeout, 40000);
}

#[test]
fn explicit_session_timeouts() {
    let f = Fixture::new();
    let c = f.ok("tickTime=2000\nminSessionTimeout=1000\nmaxSessionTimeout=-1\n");
    assert_eq!((c.min_session_timeout, c.max_session_timeout), (1000, 40000));
}

#[test]
fn client_port_address() {
    let f = Fixture::new();
    let c = f.ok("clientPort=2181\nclientPortAddress=127.0.0.1\n");
    assert_eq!(c.client_port_address, Some("127.0.0.1:2181".parse().unwrap()));
    let c = f.ok("clientPort=2181\nclientPortAddress=[::1]\n");
    assert_eq!(c.client_port_address, Some("[::1]:2181".parse().unwrap()));
    // No client port at all is allowed (quorum configs give it per server).
    assert_eq!(f.ok("").client_port_address, None);
}

#[test]
fn relative_data_dir_is_made_absolute() {
    let f = Fixture::new();
    let path = f.write("rel.cfg", "dataDir=some/rel\ndataLogDir=./logs\n");
    let c = QuorumPeerConfig::parse(&path, &[]).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(c.data_dir, cwd.join("some/rel"));
    assert_eq!(c.data_log_dir, cwd.join("logs"));
}

#[test]
fn snap_retain_count_is_raised_to_three() {
    let f = Fixture::new();
    assert_eq!(f.ok("autopurge.snapRetainCount=1\n").snap_retain_count, 3);
    assert_eq!(f.ok("autopurge.snapRetainCount=7\nautopurge.purgeInterval=24\n").snap_retain_count, 7);
}

#[test]
fn quorum_cnxn_threads_size_has_java_s_floor() {
    let f = Fixture::new();
    assert_eq!(f.ok("").quorum_cnxn_threads_size, 20);
    assert_eq!(f.ok("quorum.cnxn.threads.size=5\n").quorum_cnxn_threads_size, 20);
    assert_eq!(f.ok("quorum.cnxn.threads.size=-5\n").quorum_cnxn_threads_size, 20);
    assert_eq!(f.ok("quorum.cnxn.threads.size=50\n").quorum_cnxn_threads_size, 50);
    assert!(f.err("quorum.cnxn.threads.size=many\n").starts_with("quorum.cnxn.threads.size:"));
}

#[test]
fn missing_and_unreadable_file() {
    let f = Fixture::new();
    let e = QuorumPeerConfig::parse(&f.dir.path().join("nope.cfg"), &[]).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(e.to_string().starts_with("cannot read "), "{e}");
    // A directory cannot be read as a file either.
    let e = QuorumPeerConfig::parse(f.dir.path(), &[]).unwrap_err();
    assert!(e.to_string().starts_with("cannot read "), "{e}");
}

#[test]
fn validation_errors_name_the_key_and_value() {
    let f = Fixture::new();
    let no_data_dir = f.write("x.cfg", "clientPort=2181\n");
    assert_eq!(QuorumPeerConfig::parse(&no_data_dir, &[]).unwrap_err().to_string(), "dataDir is not set");
    assert_eq!(f.err("clientPort=abc\n"), "clientPort: \"abc\" is not a number");
    assert_eq!(f.err("clientPort=99999999999\n"), "clientPort: \"99999999999\" is out of range");
    assert_eq!(f.err("clientPort=70000\n"), "clientPort: \"70000\" is not a port (1-65535)");
    assert_eq!(f.err("clientPort=-1\n"), "clientPort: \"-1\" is not a port (1-65535)");
    assert_eq!(f.err("clientPortAddress=127.0.0.1\n"), "clientPortAddress is set but clientPort is not set");
    assert_eq!(f.err("tickTime=0\n"), "tickTime is not set");
    assert_eq!(f.err("tickTime=-5\n"), "tickTime: \"-5\" must be positive");
    assert_eq!(f.err("tickTime=2k\n"), "tickTime: \"2k\" is not a number");
    assert_eq!(
        f.err("minSessionTimeout=5000\nmaxSessionTimeout=4000\n"),
        "minSessionTimeout (5000) must not be larger than maxSessionTimeout (4000)"
    );
    assert_eq!(
        f.err("tickTime=2000\nminSessionTimeout=50000\n"),
        "minSessionTimeout (50000) must not be larger than maxSessionTimeout (40000)"
    );
    assert_eq!(f.err("maxClientCnxns=lots\n"), "maxClientCnxns: \"lots\" is not a number");
    assert_eq!(f.err("initLimit=x\n"), "initLimit: \"x\" is not a number");
    assert_eq!(f.err("localSessionsEnabled=yes\n"), "localSessionsEnabled: \"yes\" is not true or false");
    assert_eq!(f.err("standaloneEnabled=1\n"), "standaloneEnabled: \"1\" is not true or false");
    assert_eq!(f.err("electionAlg=1\n"), "electionAlg: \"1\" is not supported (only 3)");
    assert_eq!(f.err("peerType=leader\n"), "peerType: \"leader\" is not observer or participant");
    assert_eq!(f.err("autopurge.purgeInterval=1h\n"), "autopurge.purgeInterval: \"1h\" is not a number");
    assert_eq!(f.err("dataLogDir=\n"), "dataLogDir: \"\" is empty");
    assert_eq!(f.err("clientPort=2181\nclientPort=21\\n81\n"), "clientPort: \"21\\n81\" is not a number");
    assert!(f.err("a=\\u00zz\n").contains("malformed \\uXXXX escape"));
}

#[test]
fn observer_master_port_on_participants_and_observers() {
    let f = Fixture::new();
    f.myid("3\n");
    let c = f.parse(&format!("clientPort=2181\n{ENSEMBLE}observerMasterPort=2191\n")).expect("participant");
    assert_eq!((c.peer_type, c.observer_master_port), (LearnerType::Participant, 2191));
    let e = f.err(&format!("clientPort=2181\n{ENSEMBLE}observerMasterPort=65536\n"));
    assert_eq!(e, "observerMasterPort: \"65536\" is not a port number");
    let observer = ENSEMBLE.replace("server.3=127.0.0.1:2890:3890", "server.3=127.0.0.1:2890:3890:observer");
    let c = f.parse(&format!("clientPort=2181\n{observer}peerType=observer\nobserverMasterPort=2191\n")).expect("observer");
    assert_eq!((c.peer_type, c.observer_master_port), (LearnerType::Observer, 2191));
}

#[test]
fn unsupported_features_are_refused() {
    let f = Fixture::new();
    assert_eq!(f.ok("secureClientPort=2281\n").secure_client_port_address.map(|a| a.port()), Some(2281));
    assert_eq!(
        f.err("secureClientPortAddress=0.0.0.0\n"),
        "secureClientPortAddress is set but secureClientPort is not set"
    );
    assert!(f.ok("sslQuorum=false\nportUnification=false\n").is_standalone());
}

#[test]
fn quorum_tls_keys_are_read_with_the_ssl_quorum_prefix() {
    let f = Fixture::new();
    let c = f.ok_with(
        "sslQuorum=true\nportUnification=true\nsslQuorumReloadCertFiles=true\n",
        &[("ssl.quorum.hostnameVerification", "false"), ("zookeeper.ssl.quorum.clientAuth", "want"), ("ssl.clientAuth", "none")],
    );
    assert!(c.ssl_quorum && c.port_unification && c.ssl_quorum_reload_cert_files);
    let ssl = c.quorum_ssl.expect("ssl.quorum settings");
    assert!(!ssl.hostname_verification && ssl.cert_reload);
    assert_eq!(ssl.client_auth, crate::common::x509_util::ClientAuth::Want);
    // Read only when quorum TLS is on; a bad value is refused by name.
    assert!(f.ok_with("", &[("ssl.quorum.protocol", "SSLv3")]).quorum_ssl.is_none());
    let e = f.err_with("sslQuorum=true\n", &[("ssl.quorum.protocol", "SSLv3")]);
    assert!(e.starts_with("ssl.quorum.protocol: "), "{e}");
}

#[test]
fn quorum_sasl_keys_as_java_checks_them() {
    let f = Fixture::new();
    let c = f.ok("quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\nquorum.auth.serverRequireSasl=true\n\
                  quorum.auth.server.saslLoginContext=QS\n");
    assert!(c.quorum_auth.enable_sasl && c.quorum_auth.learner_require_sasl && c.quorum_auth.server_require_sasl);
    assert_eq!((c.quorum_auth.server_login_context.as_str(), c.quorum_auth.learner_login_context.as_str()), ("QS", "QuorumLearner"));
    assert_eq!(
        f.err("quorum.auth.serverRequireSasl=true\n"),
        "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.serverRequireSasl"
    );
    assert_eq!(
        f.err("quorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true\n"),
        "quorum.auth.learnerRequireSasl is disabled, so cannot enable quorum.auth.serverRequireSasl"
    );
}

#[test]
fn system_properties_in_both_forms_and_places() {
    let f = Fixture::new();
    // zoo.cfg, without and with the prefix.
    let c = f.ok("snapCount=5000\nzookeeper.nio.numWorkerThreads=3\n4lw.commands.whitelist=stat, ruok\n");
    assert_eq!(c.properties().int("zookeeper.nio.numWorkerThreads", 0), Ok(3));
    assert_eq!(c.properties().string("zookeeper.snapCount").as_deref(), Some("5000"));
    assert_eq!(c.properties().string("snapCount").as_deref(), Some("5000"));
    assert_eq!(c.properties().string("nio.numWorkerThreads").as_deref(), Some("3"));
    assert_eq!(c.properties().string("zookeeper.unknown"), None);
    let whitelist = c.properties().string("zookeeper.4lw.commands.whitelist");
    assert_eq!(whitelist.as_deref(), Some("stat, ruok"));
    // -D, without and with the prefix; jute.maxbuffer has no prefix in Java.
    let c = f.ok_with("", &[("nio.numSelectorThreads", "4"), ("zookeeper.jute.maxbuffer", "0x100")]);
    assert_eq!(c.properties().int("zookeeper.nio.numSelectorThreads", 0), Ok(4));
    assert_eq!(c.properties().int("jute.maxbuffer", 0), Ok(256));
    let c = f.ok_with("", &[("jute.maxbuffer", "2000")]);
    assert_eq!(c.properties().int("jute.maxbuffer", 0), Ok(2000));
    // -D wins over zoo.cfg, whatever the forms.
    let c = f.ok_with("zookeeper.snapCount=5000\n", &[("snapCount", "7000")]);
    assert_eq!(c.properties().int("zookeeper.snapCount", 0), Ok(7000));
    // The last -D of a name wins.
    let c = f.ok_with("", &[("zookeeper.maxBatchSize", "5"), ("zookeeper.maxBatchSize", "6")]);
    assert_eq!(c.properties().int("zookeeper.maxBatchSize", 0), Ok(6));
}

#[test]
fn overrides_replace_zoo_cfg_keys() {
    let f = Fixture::new();
    let c = f.ok_with("clientPort=2181\n", &[("clientPort", "2182"), ("zookeeper.tickTime", "1000")]);
    assert_eq!(c.client_port_address.map(|a| a.port()), Some(2182));
    assert_eq!(c.tick_time, 1000);
    assert_eq!(f.err_with("clientPort=2181\n", &[("clientPort", "x")]), "clientPort: \"x\" is not a number");
}

#[test]
fn parse_override_syntax() {
    assert_eq!(parse_override("a=b").unwrap(), ("a".to_string(), "b".to_string()));
    assert_eq!(parse_override(" a = b=c ").unwrap(), ("a".to_string(), "b=c".to_string()));
    assert_eq!(parse_override("a=").unwrap(), ("a".to_string(), String::new()));
    assert_eq!(parse_override("novalue").unwrap_err().to_string(), "-D: \"novalue\" is not of the form key=value");
    assert!(parse_override("=v").is_err());
}

#[test]
fn metrics_provider_keys() {
    // The keys reach the property store, where the provider's settings
    // read them (and refuse a class they do not know).
    let f = Fixture::new();
    let c = f.ok("metricsProvider.className=com.example.Other\nmetricsProvider.httpPort=7000\n");
    assert_eq!(c.properties().string("metricsProvider.className").as_deref(), Some("com.example.Other"));
    assert_eq!(c.properties().string("metricsProvider.httpPort").as_deref(), Some("7000"));
    assert!(crate::server::metrics::prometheus::MetricsProviderSettings::read(c.properties()).is_err());
}

#[test]
fn quorum_config() {
    let f = Fixture::new();
    f.myid("2\n");
    let c = f.ok(&format!("clientPort=2181\n{ENSEMBLE}"));
    assert!(!c.is_standalone());
    assert_eq!(c.server_id, Some(2));
    assert_eq!(c.init_limit, 10);
    assert_eq!(c.sync_limit, 5);
    assert_eq!(c.quorum_verifier.servers.len(), 3);
    let me = c.my_quorum_server().unwrap();
    assert_eq!(me.addrs, vec![HostPort { host: "127.0.0.1".into(), port: 2889 }]);
    // The static client port is recorded on this server's entry.
    assert_eq!(me.client_addr, Some(HostPort { host: "0.0.0.0".into(), port: 2181 }));
    assert!(me.client_addr_from_static);
    assert_eq!(me.to_config_value(), "127.0.0.1:2889:3889:participant");
}

#[test]
fn quorum_client_address_from_server_line() {
    let f = Fixture::new();
    f.myid("1");
    let body =
        "initLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888;127.0.0.1:2191\nserver.2=127.0.0.1:2889:3889;2192\n";
    let c = f.ok(body);
    assert_eq!(c.client_port_address, Some("127.0.0.1:2191".parse().unwrap()));
    // A static clientPort that agrees is fine; one that differs is refused.
    assert!(f.parse(&format!("clientPort=2191\n{body}")).is_ok());
    let e = f.err(&format!("clientPort=2000\n{body}"));
    assert!(e.contains("server.1: client address 127.0.0.1:2191 differs"), "{e}");
}

#[test]
fn observer_peer_type_comes_from_the_server_list() {
    let f = Fixture::new();
    f.myid("3");
    let body = "initLimit=5\nsyncLimit=2\nserver.1=h1:1:2\nserver.2=h2:1:2\nserver.3=h3:1:2:observer\n";
    assert_eq!(f.ok(body).peer_type, LearnerType::Observer);
    assert_eq!(f.ok(&format!("peerType=observer\n{body}")).peer_type, LearnerType::Observer);
    f.myid("1");
    assert_eq!(f.ok(&format!("peerType=observer\n{body}")).peer_type, LearnerType::Participant);
}

#[test]
fn quorum_validation_errors() {
    let f = Fixture::new();
    // No myid file.
    assert!(f.err(ENSEMBLE).starts_with("myid file is missing ("));
    f.myid("2");
    assert_eq!(f.err("server.1=h:1:2\nserver.2=h:3:4\nsyncLimit=5\n"), "initLimit is not set");
    assert_eq!(f.err("server.1=h:1:2\nserver.2=h:3:4\ninitLimit=5\n"), "syncLimit is not set");
    assert!(f.err(&format!("{ENSEMBLE}server.4=h:2888\n")).starts_with("server.4: \"h:2888\" is not host:port:port"));
    assert!(f.err(&format!("{ENSEMBLE}server.x=h:1:2\n")).starts_with("server.x:"));
    f.myid("9");
    assert_eq!(f.ok(ENSEMBLE).server_id, Some(9), "a myid outside the list is refused by the peer, not the config");
    f.myid("two");
    assert!(f.err(ENSEMBLE).ends_with("myid: \"two\" is not a server id"));
    assert_eq!(f.err("server.1=h:1:2:observer\n"), "observers without participants is an invalid configuration");
    assert_eq!(
        f.err("standaloneEnabled=false\n"),
        "standaloneEnabled is false, so at least one participant server.N line is required"
    );
}

#[test]
fn single_server_line_is_standalone_unless_disabled() {
    let f = Fixture::new();
    let c = f.ok("clientPort=2181\nserver.1=127.0.0.1:2888:3888\n");
    assert!(c.is_standalone());
    assert_eq!(c.server_id, None);
    f.myid("1");
    let c = f.ok("clientPort=2181\nstandaloneEnabled=false\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\n");
    assert!(!c.is_standalone());
    assert_eq!(c.server_id, Some(1));
}

#[test]
fn dynamic_config_file() {
    let f = Fixture::new();
    f.myid("1");
    let dynamic = f.write(
        "zoo.cfg.dynamic.100000000",
        "server.1=127.0.0.1:2888:3888:participant;2181\nserver.2=127.0.0.1:2889:3889:participant;2182\n",
    );
    let body = format!("initLimit=5\nsyncLimit=2\nreconfigEnabled=true\ndynamicConfigFile={}\n", dynamic.display());
    let c = f.ok(&body);
    assert!(!c.is_standalone());
    assert!(c.reconfig_enabled);
    assert_eq!(c.quorum_verifier.version, 0x100000000);
    assert_eq!(c.client_port_address.map(|a| a.port()), Some(2181));
    assert_eq!(c.last_seen_quorum_verifier, None);

    // A pending reconfiguration next to zoo.cfg.
    f.write("zoo.cfg.dynamic.next", "server.1=127.0.0.1:2888:3888\nversion=200000000\n");
    let c = f.ok(&body);
    let next = c.last_seen_quorum_verifier.expect("dynamic.next read");
    assert_eq!(next.version, 0x200000000);
    assert_eq!(next.servers.len(), 1);

    // Membership keys must not also be in zoo.cfg.
    let e = f.err(&format!("{body}server.3=h:1:2\n"));
    assert_eq!(e, "server.3: must be in the dynamic config file when dynamicConfigFile is set");
    // The dynamic file holds only membership keys and no version.
    let bad = f.write("zoo.cfg.dynamic.5", "server.1=h:1:2\nversion=5\n");
    assert!(f.err(&format!("dynamicConfigFile={}\n", bad.display())).contains("must not hold a version key"));
    let bad = f.write("zoo.cfg.dynamic.6", "server.1=h:1:2\ntickTime=5\n");
    assert!(f.err(&format!("dynamicConfigFile={}\n", bad.display())).contains("tickTime: not allowed"));
    let missing = f.dir.path().join("absent.dynamic");
    assert!(f.err(&format!("dynamicConfigFile={}\n", missing.display())).starts_with("cannot read "));
}

#[test]
fn version_suffix_of_dynamic_files() {
    assert_eq!(version_from_filename(Path::new("/a/zoo.cfg.dynamic.100000000")), Some(0x100000000));
    assert_eq!(version_from_filename(Path::new("zoo.cfg.dynamic.0")), Some(0));
    assert_eq!(version_from_filename(Path::new("zoo.cfg.dynamic")), None);
    assert_eq!(version_from_filename(Path::new("dynamic")), None);
}

#[test]
fn dump_conf_standalone() {
    let f = Fixture::new();
    let c = f.ok("clientPort=2181\ntickTime=2000\n");
    fs::create_dir_all(f.data_dir().join("version-2")).unwrap();
    fs::write(f.data_dir().join("version-2/log.1"), [0u8; 100]).unwrap();
    let d = f.data_dir().join("version-2");
    let expected = format!(
        "clientPort=2181\nsecureClientPort=-1\ndataDir={0}\ndataDirSize=100\ndataLogDir={0}\ndataLogSize=100\n\
         tickTime=2000\nmaxClientCnxns=60\nminSessionTimeout=4000\nmaxSessionTimeout=40000\n\
         clientPortListenBacklog=-1\nserverId=0\n",
        d.display()
    );
    assert_eq!(c.dump_conf(ConfView::Standalone), expected);
    // Without a client port Java prints -1 for the port and maxClientCnxns.
    let c = f.ok("");
    assert!(c.dump_conf(ConfView::Standalone).starts_with("clientPort=-1\n"));
    assert!(c.dump_conf(ConfView::Standalone).contains("\nmaxClientCnxns=-1\n"));
}

#[test]
fn dump_conf_quorum_and_read_only() {
    let f = Fixture::new();
    f.myid("2");
    let c = f.ok(&format!("clientPort=2181\ndataLogDir={}\n{ENSEMBLE}", f.dir.path().join("logs").display()));
    let out = c.dump_conf(ConfView::Quorum(&c.quorum_verifier));
    let snap = f.data_dir().join("version-2");
    let log = f.dir.path().join("logs/version-2");
    let expected = format!(
        "clientPort=2181\nsecureClientPort=-1\ndataDir={}\ndataDirSize=0\ndataLogDir={}\ndataLogSize=0\n\
         tickTime=3000\nmaxClientCnxns=60\nminSessionTimeout=6000\nmaxSessionTimeout=60000\n\
         clientPortListenBacklog=-1\nserverId=2\ninitLimit=10\nsyncLimit=5\nelectionAlg=3\n\
         electionPort=3889\nquorumPort=2889\npeerType=0\nmembership: \n\
         server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\n\
         server.3=127.0.0.1:2890:3890:participant\nversion=0",
        snap.display(),
        log.display()
    );
    assert_eq!(out, expected);
    let ro = c.dump_conf(ConfView::ReadOnly);
    assert!(ro.contains("\nserverId=2\n"), "{ro}");
    assert!(ro.ends_with("quorumPort=2889\npeerType=0\n"), "{ro}");
}

impl Fixture {
    fn ok_with(&self, body: &str, overrides: &[(&str, &str)]) -> QuorumPeerConfig {
        self.parse_with(body, overrides).unwrap_or_else(|e| panic!("config refused: {e}"))
    }
}

#[test]
fn security_properties_of_missing_features_are_refused() {
    let f = Fixture::new();
    // Off values of switches are Java's defaults and pass.
    f.ok("kerberos.canonicalizeHostNames=false\naudit.enable=false\n");
    // The AdminServer's HTTPS works (with the ssl.quorum stores).
    f.ok("admin.forceHttps=true\nadmin.portUnification=true\n");
    for (key, value) in [
        ("kerberos.canonicalizeHostNames", "true"),
        ("audit.enable", "true"),
    ] {
        let e = f.err_with("", &[(key, value)]);
        assert!(e.starts_with(&format!("{key}: ")) && e.contains("not supported"), "{key}: {e}");
        let e = f.err(&format!("{key}={value}\n"));
        assert!(e.starts_with(&format!("{key}: ")) && e.contains("not supported"), "{key} in zoo.cfg: {e}");
    }
}

#[test]
fn a_reconfigurable_ensemble_keeps_zoo_cfg_bak_and_moves_its_membership_out() {
    let f = Fixture::new();
    f.myid("1");
    let body = "initLimit=5\nsyncLimit=2\nreconfigEnabled=true\nclientPort=2181\n\
                server.2=127.0.0.1:2889:3889\nserver.1=127.0.0.1:2888:3888\npeerType=participant\n";
    let c = f.ok(body);
    let original = fs::read_to_string(&c.config_file).expect("zoo.cfg");
    assert_eq!(fs::read_to_string(f.dir.path().join("zoo.cfg.bak")).expect("zoo.cfg.bak"), original);

    let mut spec = c.quorum_verifier.clone();
    spec.version = 0x1_0000_0000;
    let dynamic = c.dynamic_config_filename(spec.version);
    assert_eq!(dynamic, f.dir.path().join("zoo.cfg.dynamic.100000000"));
    write_dynamic_config(&dynamic, &spec, false).expect("write");
    // Sorted, no version line, no trailing newline; the client address
    // from the static clientPort is not written.
    assert_eq!(
        fs::read_to_string(&dynamic).expect("read"),
        "server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant"
    );
    edit_static_config(&c.config_file, &dynamic, false).expect("edit");
    let edited = fs::read_to_string(&c.config_file).expect("zoo.cfg");
    assert!(!edited.contains("server.") && !edited.contains("peerType") && edited.contains("clientPort=2181\n"), "{edited}");
    let canonical = fs::canonicalize(&dynamic).expect("canonical");
    assert!(edited.ends_with(&format!("dynamicConfigFile={}\n", canonical.display())), "{edited}");

    // The rewritten zoo.cfg reads back with the version from the file name.
    let again = QuorumPeerConfig::parse(&c.config_file, &[]).expect("parse the rewritten zoo.cfg");
    assert_eq!(again.quorum_verifier.version, 0x1_0000_0000);
    assert_eq!(again.quorum_verifier.servers.len(), 2);
    // A server line naming its client address takes clientPort out too.
    edit_static_config(&c.config_file, &dynamic, true).expect("edit");
    assert!(!fs::read_to_string(&c.config_file).expect("zoo.cfg").contains("clientPort"));
    let next = c.next_dynamic_config_filename();
    write_dynamic_config(&next, &spec, true).expect("write next");
    assert!(fs::read_to_string(&next).expect("next").ends_with("version=100000000"));
}

#[test]
fn a_config_string_parses_with_its_version() {
    let spec = parse_dynamic_config("server.1=h:1:2:participant;0.0.0.0:3\nserver.2=h:4:5:observer\nversion=1f", false)
        .expect("parse");
    assert_eq!((spec.version, spec.voting_members().count(), spec.observing_members().count()), (0x1f, 1, 1));
    assert!(parse_dynamic_config("server.1=nonsense", false).is_err());
}

/// What zkserver does with a key Java 3.8's quorum code reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyStatus {
    /// A component reads it and acts as Java does (some since this table).
    Works,
    /// Start-up is refused, with a line naming the key.
    Refused,
}

/// Where a table entry's sample goes.
#[derive(Debug, Clone, Copy)]
enum Sample {
    /// Lines added to a three-server zoo.cfg.
    Cfg(&'static str),
    /// A `-D` system property value.
    D(&'static str),
}

use KeyStatus::{Refused, Works};
use Sample::{Cfg, D};

/// Every key QuorumPeerConfig.parseProperties handles and every system
/// property the quorum classes (QuorumPeer, Leader, Learner, Follower,
/// Observer, ObserverMaster, LearnerHandler, LearnerMaster,
/// QuorumCnxManager, FastLeaderElection, CommitProcessor, the request
/// processors, LeaderZooKeeperServer) read in Java 3.8.0, with a sample
/// value that turns it on, and what zkserver does with it.
const JAVA_QUORUM_KEYS: &[(&str, Sample, KeyStatus)] = &[
    // QuorumPeerConfig.parseProperties.
    ("dataDir", Cfg(""), Works),
    ("dataLogDir", Cfg("dataLogDir=/tmp/zk-log"), Works),
    ("clientPort", Cfg("clientPort=2181"), Works),
    ("localSessionsEnabled", Cfg("localSessionsEnabled=true"), Works),
    ("localSessionsUpgradingEnabled", Cfg("localSessionsUpgradingEnabled=true"), Works),
    ("clientPortAddress", Cfg("clientPort=2181\nclientPortAddress=127.0.0.1"), Works),
    ("secureClientPort", Cfg("secureClientPort=2281"), Works),
    ("secureClientPortAddress", Cfg("secureClientPortAddress=127.0.0.1"), Refused),
    // A follower's ObserverMaster serves observers there; an observer
    // syncs from the voters'.
    ("observerMasterPort", Cfg("observerMasterPort=2191"), Works),
    ("clientPortListenBacklog", Cfg("clientPortListenBacklog=10"), Works),
    ("tickTime", Cfg("tickTime=1000"), Works),
    ("maxClientCnxns", Cfg("maxClientCnxns=5"), Works),
    ("minSessionTimeout", Cfg("minSessionTimeout=5000"), Works),
    ("maxSessionTimeout", Cfg("maxSessionTimeout=50000"), Works),
    ("initLimit", Cfg("initLimit=7"), Works),
    ("syncLimit", Cfg("syncLimit=3"), Works),
    ("connectToLearnerMasterLimit", Cfg("connectToLearnerMasterLimit=4"), Works),
    ("electionAlg", Cfg("electionAlg=3"), Works),
    ("quorumListenOnAllIPs", Cfg("quorumListenOnAllIPs=true"), Works),
    ("peerType", Cfg("peerType=participant"), Works),
    ("syncEnabled", Cfg("syncEnabled=false"), Works),
    ("dynamicConfigFile", Cfg(""), Works),
    ("autopurge.snapRetainCount", Cfg("autopurge.snapRetainCount=5"), Works),
    ("autopurge.purgeInterval", Cfg("autopurge.purgeInterval=1"), Works),
    ("standaloneEnabled", Cfg("standaloneEnabled=false"), Works),
    ("reconfigEnabled", Cfg("reconfigEnabled=false"), Works),
    ("sslQuorum", Cfg("sslQuorum=true"), Works),
    ("portUnification", Cfg("portUnification=true"), Works),
    ("sslQuorumReloadCertFiles", Cfg("sslQuorumReloadCertFiles=true"), Works),
    // Quorum SASL (the JAAS sections are read when the peer starts).
    ("quorum.auth.enableSasl", Cfg("quorum.auth.enableSasl=true"), Works),
    (
        "quorum.auth.serverRequireSasl",
        Cfg("quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\nquorum.auth.serverRequireSasl=true"),
        Works,
    ),
    ("quorum.auth.learnerRequireSasl", Cfg("quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true"), Works),
    ("quorum.auth.learner.saslLoginContext", Cfg("quorum.auth.learner.saslLoginContext=L"), Works),
    ("quorum.auth.server.saslLoginContext", Cfg("quorum.auth.server.saslLoginContext=S"), Works),
    // A Kerberos QuorumLearner asks for it (tests/quorum_sasl.rs); with
    // DIGEST-MD5 Java ignores it too.
    ("quorum.auth.kerberos.servicePrincipal", Cfg("quorum.auth.kerberos.servicePrincipal=zk/h"), Works),
    ("quorum.cnxn.threads.size", Cfg("quorum.cnxn.threads.size=30"), Works),
    ("jvm.pause.info-threshold.ms", Cfg("jvm.pause.info-threshold.ms=500"), Works),
    ("jvm.pause.warn-threshold.ms", Cfg("jvm.pause.warn-threshold.ms=5000"), Works),
    ("jvm.pause.sleep.time.ms", Cfg("jvm.pause.sleep.time.ms=200"), Works),
    ("jvm.pause.monitor", Cfg("jvm.pause.monitor=true"), Works),
    ("metricsProvider.className", Cfg(""), Works),
    ("multiAddress.enabled", Cfg("multiAddress.enabled=true"), Works),
    ("multiAddress.reachabilityCheckEnabled", Cfg("multiAddress.reachabilityCheckEnabled=false"), Works),
    ("multiAddress.reachabilityCheckTimeoutMs", Cfg("multiAddress.reachabilityCheckTimeoutMs=10"), Works),
    ("oraclePath", Cfg("oraclePath=/tmp/oracle"), Works),
    ("server.N", Cfg(""), Works),
    ("group.N", Cfg("group.1=1:2\ngroup.2=3"), Works),
    ("weight.N", Cfg("group.1=1:2:3\nweight.1=3"), Works),
    ("version", Cfg("version=100000000"), Works),
    // System properties of the quorum classes.
    ("zookeeper.multiAddress.enabled", D("true"), Works),
    ("zookeeper.multiAddress.reachabilityCheckEnabled", D("false"), Works),
    ("zookeeper.multiAddress.reachabilityCheckTimeoutMs", D("10"), Works),
    ("zookeeper.kerberos.canonicalizeHostNames", D("true"), Refused),
    ("zookeeper.quorumCnxnTimeoutMs", D("3000"), Works),
    ("readonlymode.enabled", D("true"), Works),
    ("zookeeper.observer.syncEnabled", D("false"), Works),
    ("leader.nodelay", D("false"), Works),
    ("zookeeper.leader.ackLoggingFrequency", D("10"), Works),
    ("zookeeper.testingonly.initialZxid", D("4096"), Works),
    ("zookeeper.leaderServes", D("no"), Works),
    ("zookeeper.leader.maxTimeToWaitForEpoch", D("1000"), Works),
    ("zookeeper.leaderConnectDelayDuringRetryMs", D("50"), Works),
    ("follower.nodelay", D("false"), Works),
    ("zookeeper.learner.asyncSending", D("true"), Works),
    ("zookeeper.learner.closeSocketAsync", D("true"), Works),
    ("zookeeper.observer.reconnectDelayMs", D("100"), Works),
    ("zookeeper.observer.election.DelayMs", D("100"), Works),
    ("zookeeper.observerMaster.sizeLimit", D("1000"), Works),
    ("zookeeper.leader.closeSocketAsync", D("true"), Works),
    ("zookeeper.forceSnapshotSync", D("true"), Works),
    ("zookeeper.leader.maxConcurrentSnapSyncs", D("2"), Works),
    ("zookeeper.leader.maxConcurrentDiffSyncs", D("2"), Works),
    ("zookeeper.tcpKeepAlive", D("true"), Works),
    ("zookeeper.cnxTimeout", D("1000"), Works),
    ("zookeeper.electionPortBindRetry", D("5"), Works),
    ("zookeeper.fastleader.minNotificationInterval", D("100"), Works),
    ("zookeeper.fastleader.maxNotificationInterval", D("10000"), Works),
    ("zookeeper.commitProcessor.numWorkerThreads", D("2"), Works),
    ("zookeeper.commitProcessor.shutdownTimeout", D("1000"), Works),
    ("zookeeper.commitProcessor.maxReadBatchSize", D("10"), Works),
    ("zookeeper.commitProcessor.maxCommitBatchSize", D("10"), Works),
    ("zookeeper.follower.skipLearnerRequestToNextProcessor", D("true"), Works),
    ("zookeeper.forward_learner_requests_to_commit_processor_disabled", D("true"), Works),
    ("znode.container.checkIntervalMs", D("1000"), Works),
    ("znode.container.maxPerMinute", D("100"), Works),
    ("znode.container.maxNeverUsedIntervalMs", D("1000"), Works),
    ("zookeeper.digest.enabled", D("false"), Works),
    ("zookeeper.snapshot.trust.empty", D("true"), Works),
];

#[test]
fn every_java_quorum_key_works_or_is_refused() {
    let f = Fixture::new();
    f.myid("1\n");
    for &(key, sample, status) in JAVA_QUORUM_KEYS {
        let (body, overrides) = match sample {
            Cfg(lines) => (format!("clientPort=2181\n{ENSEMBLE}{lines}\n"), vec![]),
            D(value) => (format!("clientPort=2181\n{ENSEMBLE}"), vec![(key, value)]),
        };
        let parsed = f.parse_with(&body, &overrides).and_then(|c| {
            crate::server::zoo_keeper_server_main::ServerSettings::read(&c)?;
            Ok(c)
        });
        match status {
            Refused => {
                let e = parsed.err().unwrap_or_else(|| panic!("{key} is not refused"));
                assert!(e.to_string().contains(normalize(key)), "{key}: the refusal does not name it: {e}");
            }
            Works => {
                if let Err(e) = parsed {
                    panic!("{key} is refused: {e}");
                }
                let known_cfg = is_cfg_key(normalize(key)) || is_membership_key(key);
                let read = RESOLVED_PROPERTIES.contains(&normalize(key));
                let unused = is_unused_java_property(key);
                assert!((known_cfg || read) && !unused, "{key} is said to work but nothing reads it");
            }
        }
    }
}
