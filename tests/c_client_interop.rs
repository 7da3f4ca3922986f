//! Debian's C client shell (cli_mt from libzookeeper-mt, ZooKeeper 3.8)
//! against the test server, driven through stdin.

mod common;

use common::*;
use zkserver::zoo_defs::{ids, CreateMode};

const CLI_MT: &str = "/usr/lib/zookeeper/bin/cli_mt";
const HINT: &str = "apt-get install -y zookeeper-bin";

fn cli_mt(s: &TestServer) -> Interactive {
    let addr = s.addr();
    let mut cli = Interactive::spawn(CLI_MT, &[&addr], HINT);
    cli.expect("Watcher SESSION_EVENT state = CONNECTED_STATE");
    cli.expect("Got a new session id: 0x");
    cli
}

#[test]
fn create_set_get_ls_delete() {
    let s = TestServer::start_default();
    let mut cli = cli_mt(&s);
    cli.send("create /cm");
    cli.expect("[/cm]: rc = 0\n\tname = /cm\n");
    cli.send("set /cm hello");
    let out = cli.expect("ephemeralOwner = 0\n");
    assert!(out.contains("/cm: rc = 0 Stat:\n"), "{out}");
    assert!(out.contains("\tversion=1\taversion=0\n"), "{out}");
    cli.send("get /cm");
    let out = cli.expect("ephemeralOwner = 0\n");
    assert!(out.contains("/cm: rc = 0\n value_len = 5\nhello\nStat:\n"), "{out}");
    cli.send("create +s /cm/s-");
    cli.expect("\tname = /cm/s-0000000000\n");
    cli.send("create +e /cm/e");
    cli.expect("\tname = /cm/e\n");
    cli.send("ls /cm");
    // cli_mt prints the elapsed time when it sends and again after the list
    cli.expect("/cm: rc = 0\n");
    let out = cli.expect("time = ");
    let mut kids: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix('\t')).collect();
    kids.sort();
    assert_eq!(kids, ["e", "s-0000000000"], "{out}");
    cli.send("delete /cm");
    cli.expect("/cm: rc = -111\n");
    cli.send("delete /nothere");
    cli.expect("/nothere: rc = -101\n");
    cli.send("create /cm");
    cli.expect("[/cm]: rc = -110\n");
    cli.send("quit");
    cli.expect("Quitting...");
    cli.finish();

    // quitting closed the session: its ephemeral is gone, the rest stays
    let c = s.client();
    let mut kids = c.get_children("/cm", false).unwrap();
    kids.sort();
    assert_eq!(kids, ["s-0000000000"]);
    assert_eq!(c.get_data("/cm", false).unwrap().0.as_deref(), Some(&b"hello"[..]));
}

#[test]
fn wexists_reports_the_creation() {
    let s = TestServer::start_default();
    let mut cli = cli_mt(&s);
    cli.send("wexists /later");
    cli.expect("Error -101 for /later");
    let c = s.client();
    c.create("/later", Some(b"x"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    cli.expect("Watcher CREATED_EVENT state = CONNECTED_STATE for path /later");
    cli.send("quit");
    cli.finish();
}

#[test]
fn data_written_by_us_reads_back_in_c() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/from-rust", Some(b"payload"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    c.set_data("/from-rust", Some(b"payload2"), 0).unwrap();
    let mut cli = cli_mt(&s);
    cli.send("get /from-rust");
    let out = cli.expect("ephemeralOwner = 0\n");
    assert!(out.contains(" value_len = 8\npayload2\n"), "{out}");
    assert!(out.contains("\tversion=1\taversion=0\n"), "{out}");
    cli.send("quit");
    cli.finish();
}
