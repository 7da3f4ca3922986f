//! Quorum keys Java 3.8 honours, on real ensembles: a hierarchical quorum
//! (`group.N`) of one Java and two zkserver nodes elects, replicates, and
//! stops serving when a majority of the servers survives but not a majority
//! of the groups; quorum keys zkserver refuses stop it at start with a line
//! naming them.

mod common;

use common::ensemble::Ensemble;
use common::{wait_until, Flavor};
use std::time::Duration;
use zkserver::zoo_defs::{ids, CreateMode};

const DEADLINE: Duration = Duration::from_secs(40);

#[test]
fn hierarchical_quorum_needs_a_majority_of_groups() {
    // Group 1 is servers 1 and 2, group 2 is server 3: a quorum needs
    // server 3 and one of the others.
    let groups = [("group.1", "1:2"), ("group.2", "3")];
    let mut ens = Ensemble::new(&[Flavor::Java, Flavor::Zkserver, Flavor::Zkserver], &groups);
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);

    let mut acked = Vec::new();
    for sid in [1, 2, 3] {
        let c = ens.client(sid);
        let path = format!("/h-{sid}");
        c.create(&path, Some(b"v"), &ids::open_acl_unsafe(), CreateMode::Persistent)
            .unwrap_or_else(|e| panic!("create {path} through node {sid}: {e}\n{}", ens.logs()));
        acked.push((path, b"v".to_vec()));
    }
    for sid in [1, 2, 3] {
        ens.assert_has_all(sid, &acked);
    }

    // Servers 1 and 2 are two of three, but only one of the two groups.
    ens.kill9(3);
    let stopped = wait_until(DEADLINE, || ens.mode(1).is_none() && ens.mode(2).is_none());
    assert!(stopped, "servers 1 and 2 still serve without group 2: {:?} {:?}\n{}", ens.mode(1), ens.mode(2), ens.logs());

    ens.start(3);
    ens.settled_leader(&[1, 2, 3]);
    for sid in [1, 2, 3] {
        ens.assert_has_all(sid, &acked);
    }
}
