//! Faults: kill -9 (then restart), SIGSTOP (then SIGCONT), and network
//! partitions between the nodes of an ensemble built with
//! `Ensemble::new_apart` (node N on 127.0.net.N, running as its own uid).
//!
//! A peer dials its peers from 127.0.0.1 whatever address it listens on,
//! so a SNAT rule per node uid (nat POSTROUTING, -o lo) gives the
//! connections it opens its own address as source. A partition between A
//! and B then drops, in INPUT, every packet of a connection whose reply
//! tuple runs between A and B: both directions of the connections either
//! of them opened. Clients (the test, from 127.0.0.1) are never cut. Every
//! rule carries the comment `RULE_TAG` and matches only 127.0.0.0/8
//! traffic on lo; `Firewall` removes its rules when dropped, and
//! scripts/jepsen.sh removes any tagged rule left behind by a killed run.

use crate::common::ensemble::Ensemble;
use std::process::Command;

pub const RULE_TAG: &str = "zkjepsen";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// kill -9 the leader (or, every other time, a random node), restart it.
    Kill,
    /// SIGSTOP the leader (or a random node) past syncLimit, then SIGCONT.
    Stop,
    /// Cut the leader off from both followers for about syncLimit ×
    /// tickTime (0.8 to 1.4 times), its clients still writing to it.
    IsolateLeader,
    /// One random node against the other two.
    Split,
    /// Two nodes cut from each other, both still seeing the third.
    Bridge,
}

impl Fault {
    pub const ALL: [Fault; 5] = [Fault::Kill, Fault::Stop, Fault::IsolateLeader, Fault::Split, Fault::Bridge];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Stop => "stop",
            Fault::IsolateLeader => "isolate-leader",
            Fault::Split => "split",
            Fault::Bridge => "bridge",
        }
    }

    pub fn parse(s: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == s)
    }
}

fn iptables(table: &str, action: &str, chain: &str, rule: &[String]) -> bool {
    let mut args: Vec<String> = vec!["-w".into(), "-t".into(), table.into(), action.into(), chain.into()];
    args.extend(rule.iter().cloned());
    args.extend(["-m", "comment", "--comment", RULE_TAG].map(String::from));
    Command::new("iptables").args(&args).status().map(|s| s.success()).unwrap_or(false)
}

/// Installed iptables rules, removed on `heal` and on drop.
pub struct Firewall {
    /// The per-node SNAT rules, for the firewall's whole life.
    snat: Vec<Vec<String>>,
    /// The current partition's DROP rules.
    cuts: Vec<Vec<String>>,
}

impl Firewall {
    /// SNAT rules for every node of `ens` (which must come from
    /// `Ensemble::new_apart`); panics when iptables refuses.
    pub fn new(ens: &Ensemble) -> Firewall {
        let mut fw = Firewall { snat: Vec::new(), cuts: Vec::new() };
        for n in &ens.nodes {
            let uid = n.uid.expect("an ensemble from Ensemble::new_apart");
            let rule: Vec<String> = [
                "-o", "lo", "-d", "127.0.0.0/8", "-m", "owner", "--uid-owner", &uid.to_string(), "-j", "SNAT",
                "--to-source", &n.host,
            ]
            .map(String::from)
            .to_vec();
            assert!(iptables("nat", "-A", "POSTROUTING", &rule), "iptables SNAT rule refused (root needed)");
            fw.snat.push(rule);
        }
        fw
    }

    /// Cuts every connection between `a` and `b` (node addresses).
    pub fn cut(&mut self, a: &str, b: &str) {
        for (src, dst) in [(a, b), (b, a)] {
            let rule: Vec<String> = [
                "-i", "lo", "-m", "conntrack", "--ctreplsrc", src, "--ctrepldst", dst, "-j", "DROP",
            ]
            .map(String::from)
            .to_vec();
            assert!(iptables("filter", "-I", "INPUT", &rule), "iptables DROP rule refused");
            self.cuts.push(rule);
        }
    }

    pub fn heal(&mut self) {
        for rule in self.cuts.drain(..) {
            iptables("filter", "-D", "INPUT", &rule);
        }
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        self.heal();
        for rule in self.snat.drain(..) {
            iptables("nat", "-D", "POSTROUTING", &rule);
        }
    }
}

/// Processes stopped with SIGSTOP, continued on drop whatever happens.
#[derive(Default)]
pub struct Stopped(Vec<u32>);

impl Stopped {
    pub fn stop(&mut self, pid: u32) {
        // SAFETY: kill(2) on a child process id we own.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        self.0.push(pid);
    }

    pub fn resume_all(&mut self) {
        for pid in self.0.drain(..) {
            // SAFETY: as above.
            unsafe { libc::kill(pid as i32, libc::SIGCONT) };
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        self.resume_all();
    }
}
