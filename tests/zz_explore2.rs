mod common;
use common::*;
use zkserver::server::zoo_defs::*;

#[test]
fn explore2() {
    let s = TestServer::start_default();
    let c = s.client();
    let acl = ids::open_acl_unsafe();
    c.create("/p", None, &acl, CreateMode::Persistent).unwrap();
    c.create("/p/c", None, &acl, CreateMode::Persistent).unwrap();
    println!("{:?}", c.exists("/p", false));
    c.delete("/p/c", -1).unwrap();
    println!("after delete {:?}", c.exists("/p", false));
    c.create("/p/c", None, &acl, CreateMode::Persistent).unwrap();
    println!("{:?}", c.exists("/p", false));
    println!("{:?}", c.delete("/p/c", 7));
    println!("after bad delete {:?}", c.exists("/p", false));
    c.delete("/p/c", -1).unwrap();
    println!("after delete {:?}", c.exists("/p", false));
}
