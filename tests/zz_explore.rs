mod common;
use common::*;
use std::io::{Read, Write};
use std::time::Duration;
use zkserver::client::*;
use zkserver::jute::records::*;
use zkserver::jute::Record;
use zkserver::server::zoo_defs::*;

fn show<T: std::fmt::Debug>(label: &str, r: Result<T, ZkError>) {
    match r { Ok(v) => println!("{label}: OK {v:?}"), Err(e) => println!("{label}: ERR {} {e}", e.code()) }
}

#[test]
fn explore() {
    let s = TestServer::start_default();
    let c = s.client();
    println!("sid {:x} to {} ro {:?}", c.session_id(), c.negotiated_timeout(), c.server_read_only());
    let acl = ids::open_acl_unsafe();
    show("create /a", c.create("/a", None, &acl, CreateMode::Persistent));
    show("empty acl missing parent", c.create("/q/r", None, &[], CreateMode::Persistent));
    show("empty acl bad path", c.create("/a/", None, &[], CreateMode::Persistent));
    show("exists seq parent trailing", c.create("/a/", None, &acl, CreateMode::PersistentSequential));
    for p in ["", "a", "/a/", "/a//b", "/a/./b", "/a/../b", "/.", "/..", "/a\u{1}", "/a\u{7f}", "/a\u{0}", "/a\u{9f}", "/a\u{fff0}", "/zookeeper/x", "/zookeeper", "/zookeeper/quota/x", "/", "/ok", "/a b", "/\u{e9}"] {
        show(&format!("create {p:?}"), c.create(p, None, &acl, CreateMode::Persistent));
    }
    show("create seq /", c.create("/", None, &acl, CreateMode::PersistentSequential));
    show("create seq /p/", c.create("/ok/", None, &acl, CreateMode::PersistentSequential));
    show("empty acl", c.create("/e", None, &[], CreateMode::Persistent));
    show("bad acl scheme", c.create("/e", None, &[Acl{perms:31,id:Id::new("foo","bar")}], CreateMode::Persistent));
    show("bad flags", c.submit(op_code::CREATE, &CreateRequest{path:"/f".into(), data:None, acl: acl.clone(), flags: 99}).map(|r| r.header).map_err(ZkError::Io));
    show("missing parent", c.create("/no/x", None, &acl, CreateMode::Persistent));
    show("delete /", c.delete("/", -1));
    show("delete /zookeeper", c.delete("/zookeeper", -1));
    show("delete /zookeeper/config", c.delete("/zookeeper/config", -1));
    show("delete bad", c.delete("a", -1));
    show("get bad", c.get_data("a", false));
    show("exists bad", c.exists("a/", false));
    show("set /", c.set_data("/", Some(b"x"), -1));
    show("get /", c.get_data("/", false));
    show("get /zookeeper", c.get_data("/zookeeper", false));
    show("children /", c.get_children2("/", false));
    show("children /zookeeper", c.get_children2("/zookeeper", false));
    show("get /zookeeper/config", c.get_data("/zookeeper/config", false));
    show("get /zookeeper/quota", c.get_data("/zookeeper/quota", false));
    show("acl /", c.get_acl("/"));
    show("eph", c.create2("/eph", Some(b"e"), &acl, CreateMode::Ephemeral));
    show("eph child", c.create("/eph/c", None, &acl, CreateMode::Persistent));
    show("eph seq child", c.create("/eph/c", None, &acl, CreateMode::EphemeralSequential));
    show("sync", c.sync("/ok"));
    show("sync nonode", c.sync("/nonode"));
    show("sync bad", c.sync("bad"));
    show("ping", c.ping());
    show("setacl empty", c.set_acl("/ok", &[], -1));
    show("setacl badver", c.set_acl("/ok", &acl, 5));
    show("get null data", c.get_data("/ok", false));
    show("create empty data", c.create2("/emp", Some(b""), &acl, CreateMode::Persistent));
    show("get empty data", c.get_data("/emp", false));
    let r = c.submit_bytes(999, &[]);
    println!("unknown op: {:?}", r.map(|r| (r.header, r.body)));
    show("after unknown op", c.exists("/", false));
    let r = c.submit_bytes(op_code::GET_DATA, &[0,0,0,50,1]);
    println!("bad body: {:?}", r.map(|r| (r.header, r.body)));
    show("after bad body", c.exists("/", false));
    // wrong password
    let mut st = raw_connect(&s.addr());
    let mut o = zkserver::client::ConnectOptions::new(30000);
    o.session_id = c.session_id(); o.passwd = vec![9;16];
    let hs = zkserver::client::client_cnxn::handshake(&mut st, &o);
    println!("wrong pw: {hs:?} closed={}", closed_by_server(&mut st, Duration::from_secs(3)));
    // no readonly byte
    let mut st = raw_connect(&s.addr());
    let mut o = zkserver::client::ConnectOptions::new(30000); o.read_only = None;
    println!("old client: {:?}", zkserver::client::client_cnxn::handshake(&mut st, &o));
    let mut o = zkserver::client::ConnectOptions::new(1); 
    let mut st = raw_connect(&s.addr());
    println!("timeout 1: {:?}", zkserver::client::client_cnxn::handshake(&mut st, &o));
    o.session_timeout_ms = 10_000_000;
    let mut st = raw_connect(&s.addr());
    println!("timeout big: {:?}", zkserver::client::client_cnxn::handshake(&mut st, &o));
    o.session_timeout_ms = 30000; o.read_only = Some(true);
    let mut st = raw_connect(&s.addr());
    println!("ro: {:?}", zkserver::client::client_cnxn::handshake(&mut st, &o));
    o.read_only = Some(false); o.last_zxid_seen = 1 << 40;
    let mut st = raw_connect(&s.addr());
    println!("future zxid: {:?} closed={}", zkserver::client::client_cnxn::handshake(&mut st, &o), closed_by_server(&mut st, Duration::from_secs(3)));
    for w in ["srvr","stat","conf","cons","envi","mntr","isro","wchs","wchc","wchp","dirs","crst","srst","dump","gtmk","ruok","xxxx","ru"] {
        println!("==== {w}\n{}", four_letter(&s.addr(), w).unwrap_or_else(|e| format!("ERR {e}")));
    }
}
