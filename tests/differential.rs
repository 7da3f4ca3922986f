//! The differential test: every scenario of tests/differential/ runs against
//! Apache ZooKeeper 3.8 (the Debian jars) and against zkserver, and the two
//! normalised transcripts must be identical (see `exec` for what is
//! normalised and how watch events are collected).
//!
//! One server of each flavor per configuration group, started once; each
//! scenario works in its own subtree `/s<N>`. The two flavors run side by
//! side, each on its own thread.
//!
//! `ZK_DIFF_FILTER=<substring>` runs only the scenarios whose name contains
//! it; `ZK_DIFF_DUMP=<dir>` writes both transcripts of every scenario there.
//! A scenario where zkserver knowingly differs from Java is listed, with
//! the reason, in `known.rs`; it must still differ (a fixed one must leave
//! the list).

#[path = "differential/cases_acl.rs"]
mod cases_acl;
#[path = "differential/cases_multi.rs"]
mod cases_multi;
#[path = "differential/cases_ops.rs"]
mod cases_ops;
#[path = "differential/cases_session.rs"]
mod cases_session;
#[path = "differential/cases_watch.rs"]
mod cases_watch;
mod common;
#[path = "differential/exec.rs"]
mod exec;
#[path = "differential/known.rs"]
mod known;
#[path = "differential/script.rs"]
mod script;

use common::Flavor;
use script::{Scenario, GROUPS};
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

fn all_scenarios() -> Vec<Scenario> {
    let mut all = Vec::new();
    all.extend(cases_ops::scenarios());
    all.extend(cases_acl::scenarios());
    all.extend(cases_multi::scenarios());
    all.extend(cases_watch::scenarios());
    all.extend(cases_session::scenarios());
    all
}

type Transcripts = Vec<(String, Vec<String>)>;

/// How many servers of each flavor share a group's scenarios (each runs
/// every n-th scenario), to use both cores.
fn shards(group: script::Group) -> usize {
    match group {
        script::Group::Std => 2,
        _ => 1,
    }
}

/// Starts one server and runs `scenarios` on it in order; then reads back
/// the whole tree as one more transcript.
fn run_all(
    flavor: Flavor,
    group: script::Group,
    shard: usize,
    scenarios: Vec<Scenario>,
) -> (Transcripts, f64) {
    let start = Instant::now();
    let mut runner = exec::Runner::start(flavor, group);
    let mut out: Transcripts = scenarios.iter().map(|sc| (sc.name.clone(), runner.run(sc))).collect();
    out.push((format!("final-tree/{group:?}-{shard}"), runner.final_tree()));
    (out, start.elapsed().as_secs_f64())
}

/// The first difference of two transcripts, with a little context, as
/// `-java` / `+zkserver` lines.
fn diff_view(java: &[String], ours: &[String]) -> String {
    let first = java.iter().zip(ours).position(|(a, b)| a != b).unwrap_or(java.len().min(ours.len()));
    let mut s = String::new();
    for line in &java[first.saturating_sub(4)..first] {
        s.push_str(&format!("           {line}\n"));
    }
    for line in java.iter().skip(first).take(6) {
        s.push_str(&format!("  -java     {line}\n"));
    }
    for line in ours.iter().skip(first).take(6) {
        s.push_str(&format!("  +zkserver {line}\n"));
    }
    s
}

#[test]
fn zkserver_matches_java_3_8() {
    let filter = std::env::var("ZK_DIFF_FILTER").unwrap_or_default();
    let all = all_scenarios();
    let mut names = HashSet::new();
    for sc in &all {
        assert!(names.insert(sc.name.clone()), "two scenarios are named {}", sc.name);
    }
    for (name, _) in known::DIVERGENCES {
        assert!(names.contains(*name), "known divergence {name} names no scenario");
    }
    let chosen: Vec<Scenario> = all.into_iter().filter(|sc| sc.name.contains(&filter)).collect();
    assert!(!chosen.is_empty(), "no scenario matches ZK_DIFF_FILTER={filter}");

    let mut threads = Vec::new();
    for group in GROUPS {
        let n = shards(group);
        for shard in 0..n {
            let scs: Vec<Scenario> =
                chosen.iter().filter(|sc| sc.group == group).skip(shard).step_by(n).cloned().collect();
            if scs.is_empty() {
                continue;
            }
            for flavor in [Flavor::Java, Flavor::Zkserver] {
                let scs = scs.clone();
                let t = std::thread::Builder::new()
                    .name(format!("diff-{flavor:?}-{group:?}-{shard}"))
                    .spawn(move || run_all(flavor, group, shard, scs))
                    .expect("spawn runner");
                threads.push((flavor, group, t));
            }
        }
    }
    let mut java = BTreeMap::new();
    let mut ours = BTreeMap::new();
    for (flavor, group, t) in threads {
        let (transcripts, secs) =
            t.join().unwrap_or_else(|_| panic!("the {flavor:?} runner of {group:?} failed"));
        eprintln!("{flavor:?} {group:?}: {} scenarios in {secs:.1} s", transcripts.len());
        let into = if flavor == Flavor::Java { &mut java } else { &mut ours };
        into.extend(transcripts);
    }

    if let Ok(dir) = std::env::var("ZK_DIFF_DUMP") {
        let _ = std::fs::create_dir_all(&dir);
        for (side, map) in [("java", &java), ("zkserver", &ours)] {
            let text: String = map
                .iter()
                .map(|(name, lines): (&String, &Vec<String>)| format!("== {name}\n{}\n", lines.join("\n")))
                .collect();
            std::fs::write(format!("{dir}/{side}.txt"), text).expect("write transcript dump");
        }
    }

    let known: BTreeMap<&str, &str> = known::DIVERGENCES.iter().copied().collect();
    let mut failures = Vec::new();
    let mut known_seen = 0;
    let mut lines = 0;
    for (name, j) in &java {
        lines += j.len();
        let o = ours.get(name).cloned().unwrap_or_default();
        match (j == &o, known.get(name.as_str())) {
            (true, None) => {}
            (true, Some(_)) => failures.push(format!(
                "{name}: listed as a known divergence but zkserver now matches Java; remove it from known.rs"
            )),
            (false, Some(why)) => {
                known_seen += 1;
                eprintln!("known divergence {name} ({why}):\n{}", diff_view(j, &o));
            }
            (false, None) => failures.push(format!("{name}:\n{}", diff_view(j, &o))),
        }
    }
    eprintln!(
        "{} scenarios, {lines} transcript lines, {} differ ({known_seen} known divergences)",
        java.len(),
        failures.len() + known_seen
    );
    assert!(
        failures.is_empty(),
        "{} of {} scenarios differ from Java 3.8:\n\n{}",
        failures.len(),
        java.len(),
        failures.join("\n")
    );
}
