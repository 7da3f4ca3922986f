//! Debian's Java CLI (zkCli.sh, ZooKeeper 3.8) against the test server,
//! driven through stdin as a user would.

mod common;

use common::*;
use zkserver::zoo_defs::{ids, CreateMode};

const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";
const HINT: &str = "apt-get install -y zookeeper";

fn zkcli(s: &TestServer) -> Interactive {
    let addr = s.addr();
    let mut cli = Interactive::spawn(ZKCLI, &["-server", &addr], HINT);
    cli.expect("WatchedEvent state:SyncConnected type:None path:null");
    cli
}

#[test]
fn create_ls_get_set_delete() {
    let s = TestServer::start_default();
    let mut cli = zkcli(&s);
    cli.send("create /cli hello");
    cli.expect("Created /cli");
    cli.send("ls /");
    cli.expect("[cli, zookeeper]");
    cli.send("get -s /cli");
    let out = cli.expect("numChildren = 0");
    let lines: Vec<&str> = out.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let at = lines.iter().position(|l| *l == "hello").expect("data line");
    let keys: Vec<&str> = lines[at + 1..].iter().map(|l| l.split(" = ").next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "cZxid",
            "ctime",
            "mZxid",
            "mtime",
            "pZxid",
            "cversion",
            "dataVersion",
            "aclVersion",
            "ephemeralOwner",
            "dataLength",
            "numChildren"
        ]
    );
    assert!(out.contains("dataVersion = 0\n") && out.contains("dataLength = 5\n"), "{out}");
    assert!(out.contains("ephemeralOwner = 0x0\n"), "{out}");

    cli.send("set /cli world");
    cli.send("get -s /cli");
    let out = cli.expect("numChildren = 0");
    assert!(out.contains("world\n") && out.contains("dataVersion = 1\n"), "{out}");
    cli.send("create -s /cli/job- x");
    cli.expect("Created /cli/job-0000000000");
    cli.send("delete /cli");
    cli.expect("Node not empty: /cli");
    cli.send("delete /cli/job-0000000000");
    cli.send("delete /cli");
    cli.send("ls /");
    cli.expect("[zookeeper]");
    cli.send("get /nothing");
    cli.expect("Node does not exist: /nothing");
    cli.send("quit");
    cli.finish();

    let c = s.client();
    assert_eq!(c.exists("/cli", false).unwrap(), None);
}

#[test]
fn get_w_reports_the_data_change() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/watched", Some(b"before"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    let mut cli = zkcli(&s);
    cli.send("get -w /watched");
    cli.expect("before");
    c.set_data("/watched", Some(b"after"), -1).unwrap();
    cli.expect("WatchedEvent state:SyncConnected type:NodeDataChanged path:/watched");
    cli.send("ls -w /watched");
    cli.expect("[]");
    c.create("/watched/kid", None, &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    cli.expect("WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/watched");
    cli.send("quit");
    cli.finish();
}

#[test]
fn an_ephemeral_vanishes_when_the_cli_quits() {
    let s = TestServer::start_default();
    let c = s.client();
    let mut cli = zkcli(&s);
    cli.send("create -e /cli-eph mine");
    cli.expect("Created /cli-eph");
    let st = c.exists("/cli-eph", true).unwrap().expect("ephemeral visible to others");
    assert_ne!(st.ephemeral_owner, 0);
    cli.send("quit");
    cli.finish();
    let ev = c.next_event(std::time::Duration::from_secs(10)).expect("NodeDeleted");
    assert_eq!(ev.path, "/cli-eph");
    assert_eq!(c.exists("/cli-eph", false).unwrap(), None);
}
