//! Debian's kazoo (the pure-Python client) against the test server: one
//! script doing the everyday operations, checked line by line.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

const PYTHON: &str = "/usr/bin/python3";

const SCRIPT: &str = r#"
import sys, threading
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1], timeout=10)
zk.start(timeout=15)
zk.ensure_path("/kz/a/b")
print("children", sorted(zk.get_children("/kz")))
zk.set("/kz/a", b"v1")
data, st = zk.get("/kz/a")
print("get", data.decode(), st.version, st.numChildren)
p = zk.create("/kz/q-", b"x", sequence=True, ephemeral=True)
print("seq", p)
fired = threading.Event()
seen = []
def w(event):
    seen.append((event.type, event.path))
    fired.set()
zk.exists("/kz/new", watch=w)
zk.create("/kz/new", b"")
fired.wait(10)
print("watch", seen)
try:
    zk.create("/kz/new", b"")
except Exception as e:
    print("error", type(e).__name__)
zk.delete("/kz/a", recursive=True)
print("exists", zk.exists("/kz/a"))
print("version", ".".join(str(x) for x in zk.server_version()[:2]))
zk.stop()
zk.close()
print("done")
"#;

#[test]
fn kazoo_everyday_operations() {
    assert!(Path::new(PYTHON).exists(), "{PYTHON} missing: apt-get install -y python3-kazoo");
    let s = TestServer::start_default();
    let out = Command::new(PYTHON).arg("-c").arg(SCRIPT).arg(s.addr()).output().expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kazoo script failed ({}):\n{stdout}\n{stderr}", out.status);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "children ['a']",
            "get v1 1 1",
            "seq /kz/q-0000000001",
            "watch [('CREATED', '/kz/new')]",
            "error NodeExistsError",
            "exists None",
            "version 3.8",
            "done",
        ],
        "stderr:\n{stderr}"
    );
    let c = s.client();
    assert_eq!(c.get_children("/kz", false).unwrap(), ["new"], "the ephemeral left with kazoo's session");
}
