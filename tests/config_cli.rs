//! The `zkserver` command line: help, version, and refusal of bad
//! configurations (one line on stderr naming the key, a non-zero exit, and
//! nothing bound).

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_zkserver");

/// What a finished run produced.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs the binary with `args`, killing it if it has not exited in 20 s.
fn run(args: &[&str]) -> Outcome {
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zkserver");
    // Drain both pipes while waiting, so a chatty child cannot block.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("zkserver {args:?} did not exit within 20s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    Outcome { code: status.code(), stdout, stderr, elapsed: start.elapsed() }
}

fn write_cfg(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write cfg");
    path
}

/// Asserts the run was refused as an invalid configuration: exit status 2,
/// quickly, with exactly one stderr line that contains every `needles`.
fn assert_refused(out: &Outcome, needles: &[&str]) {
    assert_eq!(out.code, Some(2), "stderr: {}\nstdout: {}", out.stderr, out.stdout);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got {:?}", out.stderr);
    for needle in needles {
        assert!(lines[0].contains(needle), "{:?} does not contain {needle:?}", lines[0]);
    }
    assert!(out.elapsed < Duration::from_secs(10), "took {:?}", out.elapsed);
}

#[test]
fn help_lists_the_usage() {
    let out = run(&["--help"]);
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.contains("Usage: zkserver"), "{}", out.stdout);
    assert!(out.stdout.contains("-D <KEY=VALUE>"), "{}", out.stdout);
    assert!(out.stdout.contains("<ZOO_CFG>"), "{}", out.stdout);
}

#[test]
fn version_prints_the_crate_version() {
    let out = run(&["--version"]);
    assert_eq!(out.code, Some(0));
    assert_eq!(out.stdout.trim(), format!("zkserver {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn missing_argument_is_a_usage_error() {
    let out = run(&[]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("Usage: zkserver"), "{}", out.stderr);
}

#[test]
fn missing_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.cfg");
    let out = run(&[path.to_str().unwrap()]);
    assert_refused(&out, &["invalid config", "absent.cfg", "cannot read"]);
}

#[test]
fn bad_values_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.display();
    let cases: &[(&str, String, &[&str])] = &[
        ("nodatadir.cfg", "clientPort=2181\n".to_string(), &["dataDir is not set"]),
        ("port.cfg", format!("dataDir={d}\nclientPort=abc\n"), &["clientPort", "\"abc\""]),
        ("range.cfg", format!("dataDir={d}\nclientPort=65536\n"), &["clientPort", "65536"]),
        ("tick.cfg", format!("dataDir={d}\ntickTime=-1\n"), &["tickTime", "\"-1\""]),
        (
            "timeouts.cfg",
            format!("dataDir={d}\nminSessionTimeout=9000\nmaxSessionTimeout=8000\n"),
            &["minSessionTimeout (9000)", "maxSessionTimeout (8000)"],
        ),
        ("bool.cfg", format!("dataDir={d}\nreconfigEnabled=maybe\n"), &["reconfigEnabled", "\"maybe\""]),
        ("server.cfg", format!("dataDir={d}\nserver.1=localhost:2888\n"), &["server.1", "\"localhost:2888\""]),
        ("sysprop.cfg", format!("dataDir={d}\nsnapCount=many\n"), &["snapCount", "\"many\""]),
    ];
    for (name, text, needles) in cases {
        let path = write_cfg(dir.path(), name, text);
        let out = run(&[path.to_str().unwrap()]);
        assert_refused(&out, needles);
    }
    assert!(!data.exists(), "nothing may be created for a refused config");
}

#[test]
fn bad_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_cfg(dir.path(), "zoo.cfg", &format!("dataDir={}\n", dir.path().join("data").display()));
    let cfg = path.to_str().unwrap();
    assert_refused(&run(&["-D", "snapCount", cfg]), &["-D", "\"snapCount\"", "key=value"]);
    assert_refused(&run(&["-Dzookeeper.snapCount=x", cfg]), &["zookeeper.snapCount", "\"x\""]);
    assert_refused(&run(&["-D", "clientPort=-3", cfg]), &["clientPort", "\"-3\""]);
}

#[test]
fn config_errors_come_before_binding() {
    // Hold the client port ourselves: were zkserver to try to bind it, the
    // error would be about the address being in use, not the config.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = write_cfg(
        dir.path(),
        "zoo.cfg",
        &format!(
            "dataDir={}\nclientPortAddress=127.0.0.1\nclientPort={port}\nmaxClientCnxns=x\n",
            dir.path().join("data").display()
        ),
    );
    let out = run(&[path.to_str().unwrap()]);
    assert_refused(&out, &["maxClientCnxns", "\"x\""]);
    assert!(!out.stderr.to_lowercase().contains("in use"), "{}", out.stderr);
    drop(listener);
}

#[test]
fn quorum_peer_refuses_a_myid_outside_the_server_list() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("myid"), "7\n").unwrap();
    let path = write_cfg(
        dir.path(),
        "zoo.cfg",
        &format!(
            "dataDir={}\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n\
             server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n",
            data.display()
        ),
    );
    // Java: "My id 7 not in the peer list", ExitCode.UNEXPECTED_ERROR.
    let out = run(&[path.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("My id 7 not in the peer list"), "{}", out.stderr);
}

/// No security setting is silently ignored: one zkserver cannot honour
/// (SASL, TLS, X.509, other authentication providers, the audit log) or an
/// enforce.auth setting Java would refuse stops start-up with one line
/// naming the key, whether it comes from zoo.cfg or from -D.
#[test]
fn security_keys_that_cannot_be_honoured_refuse_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // No clientPort: should a refusal regress, the server binds nothing.
    let base = format!("dataDir={}\n", data.display());
    let cases: &[(&str, &str, &[&str])] = &[
        // SASL required, but no sasl provider registered.
        ("sessionRequireClientSASLAuth", "true", &["sessionRequireClientSASLAuth", "\"sasl\"", "not available"]),
        (
            "java.security.auth.login.config",
            "/nonexistent/jaas.conf",
            &["java.security.auth.login.config", "/nonexistent/jaas.conf"],
        ),
        ("security.auth_to_local", "RULE:[1:$1]", &["security.auth_to_local", "DEFAULT"]),
        ("kerberos.canonicalizeHostNames", "true", &["kerberos.canonicalizeHostNames", "quorum SASL"]),
        ("ssl.crl", "true", &["ssl.crl", "revocation"]),
        ("ssl.clientAuth", "maybe", &["ssl.clientAuth", "NEED, WANT or NONE"]),
        (
            "authProvider.1",
            "org.apache.zookeeper.server.auth.SomeOtherAuthenticationProvider",
            &["authProvider.1", "ip, digest, sasl and x509"],
        ),
        ("audit.enable", "true", &["audit.enable", "audit log"]),
        ("enforce.auth.enabled", "true", &["enforce.auth.enabled", "enforce.auth.schemes"]),
    ];
    for (key, value, needles) in cases {
        let path = write_cfg(dir.path(), "zoo.cfg", &format!("{base}{key}={value}\n"));
        assert_refused(&run(&[path.to_str().unwrap()]), needles);
        let path = write_cfg(dir.path(), "zoo.cfg", &base);
        let prop = format!("zookeeper.{key}={value}");
        assert_refused(&run(&["-D", &prop, path.to_str().unwrap()]), needles);
    }
    // An enforced scheme must have a provider: sasl does not without an
    // authProvider naming it, and
    // digest not once its provider is disabled.
    let path = write_cfg(
        dir.path(),
        "zoo.cfg",
        &format!("{base}enforce.auth.enabled=true\nenforce.auth.schemes=digest,sasl\n"),
    );
    assert_refused(&run(&[path.to_str().unwrap()]), &["enforce.auth.schemes", "\"sasl\"", "not available"]);
    let path = write_cfg(dir.path(), "zoo.cfg", &format!("{base}enforce.auth.enabled=true\nenforce.auth.schemes=digest\n"));
    let off = "zookeeper.DigestAuthenticationProvider.enabled=false";
    assert_refused(&run(&["-D", off, path.to_str().unwrap()]), &["enforce.auth.schemes", "\"digest\"", "not available"]);
    assert!(!data.exists(), "nothing may be created for a refused config");
}
