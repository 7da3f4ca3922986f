//! One fault-injection run: an ensemble on its own loopback addresses, the
//! register workload, a nemesis schedule (quiet, fault, heal, ...), then
//! final reads, the linearizability check, lost acknowledged writes and the
//! longest write outage after each heal.

use super::checker::{self, Kind, Op, Outcome, Reg, Served};
use super::nemesis::{Fault, Firewall, Stopped};
use super::workload::{self, History, Rng, Workload};
use crate::common::ensemble::Ensemble;
use crate::common::{wait_until, Flavor};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub struct Config {
    pub flavors: Vec<Flavor>,
    pub faults: Vec<Fault>,
    /// Faults keep being injected until this much time has passed.
    pub duration: Duration,
    /// Time between a heal and the next fault.
    pub quiet: Duration,
    pub clients: usize,
    pub keys: usize,
    pub seed: u64,
    /// How long after the last heal the run waits for a successful write.
    pub liveness_bound: Duration,
}

/// The ensembles' timing: syncLimit × tickTime = 2.5 s.
pub const TICK_MS: u64 = 500;
pub const SYNC_LIMIT: u64 = 5;

pub struct Report {
    pub ops: usize,
    pub linearizable: bool,
    pub violations: Vec<String>,
    pub lost: Vec<String>,
    /// Keys whose final state could not be read, so their acknowledged
    /// writes could not be verified.
    pub unverified_keys: usize,
    /// Per fault: how many times it was injected, and the longest time
    /// from a heal to the next successful write.
    pub outages: BTreeMap<Fault, (usize, Duration)>,
    /// Per fault: the longest time without a successful write from its
    /// start to the first write after its heal (a leader's kill or stop
    /// shows here: the survivors elect while the fault lasts).
    pub gaps: BTreeMap<Fault, Duration>,
    pub log: Vec<String>,
}

impl Report {
    pub fn summary(&self, label: &str) -> String {
        let lost = match self.unverified_keys {
            0 => self.lost.len().to_string(),
            n => format!("{} (unverified: no final read of {n} keys)", self.lost.len()),
        };
        let mut s = format!("{label}: ops={} linearizable={} lost_acked_writes={lost}\n", self.ops, self.linearizable);
        for (f, (n, worst)) in &self.outages {
            let gap = self.gaps.get(f).copied().unwrap_or_default();
            s.push_str(&format!(
                "  {:<15} faults={n} longest_write_outage_after_heal={:.1}s longest_write_gap_from_fault_start={:.1}s\n",
                f.name(),
                worst.as_secs_f64(),
                gap.as_secs_f64()
            ));
        }
        for v in self.violations.iter().chain(&self.lost) {
            s.push_str(&format!("  ! {v}\n"));
        }
        s
    }
}

fn leader(ens: &Ensemble) -> Option<i64> {
    ens.nodes.iter().map(|n| n.sid).find(|&sid| ens.mode(sid).as_deref() == Some("leader"))
}

fn pick(rng: &mut Rng, sids: &[i64]) -> i64 {
    sids[rng.below(sids.len() as u64) as usize]
}

/// The leader when one answers and `prefer_leader`, otherwise any node.
fn target(ens: &Ensemble, rng: &mut Rng, prefer_leader: bool) -> i64 {
    let sids: Vec<i64> = ens.nodes.iter().map(|n| n.sid).collect();
    prefer_leader.then(|| leader(ens)).flatten().unwrap_or_else(|| pick(rng, &sids))
}

pub fn run(cfg: &Config) -> Report {
    let mut rng = Rng::new(cfg.seed);
    let pid = std::process::id();
    let net = 100 + (pid % 100) as u8;
    let extra = [("tickTime", TICK_MS.to_string()), ("syncLimit", SYNC_LIMIT.to_string())];
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut ens = Ensemble::new_apart(&cfg.flavors, &extra, net, 47_000 + net as u32 * 10);
    let mut fw = Firewall::new(&ens);
    let mut stopped = Stopped::default();
    ens.start_all();
    let sids: Vec<i64> = ens.nodes.iter().map(|n| n.sid).collect();
    let nodes: Vec<(i64, String)> = ens.nodes.iter().map(|n| (n.sid, n.client_addr())).collect();
    {
        let c = ens.client(1);
        workload::setup(&c, cfg.keys);
    }
    let history = History::new();
    let load = Workload::start(&history, &nodes, cfg.clients, cfg.keys, cfg.seed);
    // (fault, its start on the history's clock, its heal, a line for the log)
    let mut heals: Vec<(Fault, u64, Instant, String)> = Vec::new();
    let started = Instant::now();
    let hold = |rng: &mut Rng, lo_ms: u64, hi_ms: u64| Duration::from_millis(lo_ms + rng.below(hi_ms - lo_ms + 1));
    let sync_ms = SYNC_LIMIT * TICK_MS;
    for round in 0.. {
        if started.elapsed() >= cfg.duration {
            break;
        }
        std::thread::sleep(cfg.quiet);
        let fault = cfg.faults[round % cfg.faults.len()];
        let at = history.now();
        let what = match fault {
            Fault::Kill => {
                let sid = target(&ens, &mut rng, round % 2 == 0);
                ens.kill9(sid);
                std::thread::sleep(hold(&mut rng, 1000, 4000));
                ens.start(sid);
                format!("kill -9 node {sid}, restarted")
            }
            Fault::Stop => {
                let sid = target(&ens, &mut rng, round % 2 == 0);
                stopped.stop(ens.pid(sid).expect("running node"));
                std::thread::sleep(hold(&mut rng, sync_ms, 3 * sync_ms));
                stopped.resume_all();
                format!("SIGSTOP node {sid}, SIGCONT")
            }
            Fault::IsolateLeader => {
                let sid = target(&ens, &mut rng, true);
                for other in sids.iter().filter(|&&s| s != sid) {
                    fw.cut(&ens.node(sid).host, &ens.node(*other).host);
                }
                std::thread::sleep(hold(&mut rng, sync_ms * 4 / 5, sync_ms * 7 / 5));
                fw.heal();
                format!("isolated leader {sid}, healed")
            }
            Fault::Split => {
                let sid = pick(&mut rng, &sids);
                for other in sids.iter().filter(|&&s| s != sid) {
                    fw.cut(&ens.node(sid).host, &ens.node(*other).host);
                }
                std::thread::sleep(hold(&mut rng, 2 * sync_ms, 4 * sync_ms));
                fw.heal();
                format!("split node {sid} from the rest, healed")
            }
            Fault::Bridge => {
                let bridge = pick(&mut rng, &sids);
                let ends: Vec<i64> = sids.iter().copied().filter(|&s| s != bridge).collect();
                fw.cut(&ens.node(ends[0]).host, &ens.node(ends[1]).host);
                std::thread::sleep(hold(&mut rng, 2 * sync_ms, 4 * sync_ms));
                fw.heal();
                format!("cut {} from {} (bridged by {bridge}), healed", ends[0], ends[1])
            }
        };
        let healed = Instant::now();
        let line = format!(
            "{:6.1}s-{:6.1}s {what}; leader right after: {:?}",
            at as f64 / 1e9,
            history.at(healed) as f64 / 1e9,
            leader(&ens)
        );
        heals.push((fault, at, healed, line));
    }
    // Give the last heal its chance: wait for a successful write after it.
    let last_heal = heals.last().map(|h| history.at(h.2)).unwrap_or(0);
    wait_until(cfg.liveness_bound, || {
        history.ops().iter().any(|o| matches!(o.kind, Kind::Cas { .. }) && o.outcome == Outcome::Ok && o.complete > last_heal)
    });
    load.stop();
    let end = history.now();
    // Final reads, recorded as operations of the history.
    let finals = final_reads(&history, &nodes, cfg.keys, cfg.liveness_bound);
    drop(fw);
    drop(stopped);
    let ops = history.ops();
    let verdicts = checker::check(&ops);
    let violations: Vec<String> = verdicts
        .iter()
        .filter_map(|v| {
            v.violation.map(|(op, placed)| {
                format!("key {}: not linearizable ({} ops; at most {placed} placed; stuck at {op})", v.key, v.ops)
            })
        })
        .collect();
    let lost = lost_writes(&ops, &finals);
    let unverified_keys = cfg.keys - finals.len();
    let mut outages: BTreeMap<Fault, (usize, Duration)> = BTreeMap::new();
    let mut log = Vec::new();
    let mut writes: Vec<u64> = ops
        .iter()
        .filter(|o| matches!(o.kind, Kind::Cas { .. }) && o.outcome == Outcome::Ok)
        .map(|o| o.complete)
        .collect();
    writes.sort_unstable();
    let mut gaps: BTreeMap<Fault, Duration> = BTreeMap::new();
    for (fault, start, healed, line) in &heals {
        let h = history.at(*healed);
        let first_write = writes.iter().copied().find(|&t| t > h).unwrap_or(end);
        let outage = Duration::from_nanos(first_write - h);
        // Successive writes from the fault's start to that first write.
        let from = writes.partition_point(|&t| t <= *start);
        let mut prev = *start;
        let mut gap = 0;
        for &t in writes[from..].iter().take_while(|&&t| t <= first_write).chain([&first_write]) {
            gap = gap.max(t - prev);
            prev = t;
        }
        let gap = Duration::from_nanos(gap);
        log.push(format!(
            "{line}; first write {:.1}s after; longest write gap from the fault's start {:.1}s",
            outage.as_secs_f64(),
            gap.as_secs_f64()
        ));
        let e = outages.entry(*fault).or_default();
        e.0 += 1;
        e.1 = e.1.max(outage);
        let g = gaps.entry(*fault).or_default();
        *g = (*g).max(gap);
    }
    if std::env::var_os("JEPSEN_VERBOSE").is_some() || !violations.is_empty() {
        eprintln!("{}", ens.logs());
    }
    // Kept when asked for, and always after a violation, to diagnose it.
    let keep = std::env::var_os("JEPSEN_LOGS")
        .map(std::path::PathBuf::from)
        .or_else(|| (!violations.is_empty()).then(|| std::env::temp_dir().join(format!("jepsen-{pid}"))));
    if let Some(dir) = keep {
        keep_logs(&ens, &history, &ops, &log, &dir);
        eprintln!("node logs, faults and history kept in {}", dir.display());
    }
    Report { ops: ops.len(), linearizable: violations.is_empty(), violations, lost, unverified_keys, outages, gaps, log }
}

/// A sync + read of every key through any node, retried until `bound`.
fn final_reads(history: &History, nodes: &[(i64, String)], keys: usize, bound: Duration) -> BTreeMap<usize, Reg> {
    let mut finals = BTreeMap::new();
    let mut node = 0;
    wait_until(bound, || {
        let (sid, addr) = &nodes[node % nodes.len()];
        let Some(c) = workload::connect(addr) else {
            node += 1;
            return false;
        };
        for key in 0..keys {
            if finals.contains_key(&key) {
                continue;
            }
            let invoke = history.now();
            match workload::read(&c, key) {
                Ok(seen) => {
                    let served = Served { node: *sid, session: c.session_id() };
                    let kind = Kind::Read { seen };
                    let op = Op { key, process: usize::MAX, invoke, complete: history.now(), kind, outcome: Outcome::Ok, served };
                    history.record(op);
                    finals.insert(key, seen);
                }
                Err(_) => {
                    node += 1;
                    return false;
                }
            }
        }
        true
    });
    finals
}

/// Acknowledged CASes that the final state or another read contradicts:
/// the key's final version is below the one the write created, or some
/// read saw that version with another value.
fn lost_writes(ops: &[Op], finals: &BTreeMap<usize, Reg>) -> Vec<String> {
    let mut seen: BTreeMap<(usize, i32), Vec<u64>> = BTreeMap::new();
    for o in ops {
        if let (Kind::Read { seen: r }, Outcome::Ok) = (o.kind, o.outcome) {
            seen.entry((o.key, r.version)).or_default().push(r.value);
        }
    }
    let mut lost = Vec::new();
    for o in ops {
        let (Kind::Cas { expect, value }, Outcome::Ok) = (o.kind, o.outcome) else { continue };
        let version = expect + 1;
        let overwritten = finals.get(&o.key).is_some_and(|f| f.version < version);
        let other = seen.get(&(o.key, version)).and_then(|vals| vals.iter().find(|&&v| v != value));
        if overwritten || other.is_some() {
            lost.push(format!(
                "key {}: acknowledged write of {value:#x} at version {version} lost (final {:?}, read there {other:?})",
                o.key,
                finals.get(&o.key)
            ));
        }
    }
    lost
}

/// Writes every node's whole log, the heal log and the history (one op a
/// line, times in seconds since the start) under `dir`, to look into a run.
fn keep_logs(ens: &Ensemble, history: &History, ops: &[Op], heals: &[String], dir: &std::path::Path) {
    let _ = std::fs::create_dir_all(dir);
    for n in &ens.nodes {
        let _ = std::fs::write(dir.join(format!("node{}.log", n.sid)), n.log());
    }
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(Duration::from_nanos(history.now()));
    let start = format!("time 0 of the run = {:.3} s since the Unix epoch\n", epoch.as_secs_f64());
    let _ = std::fs::write(dir.join("faults.txt"), start + &heals.join("\n") + "\n");
    let mut sorted = ops.to_vec();
    sorted.sort_by_key(|o| o.invoke);
    let text: String = sorted.iter().map(|o| format!("{o}\n")).collect();
    let _ = std::fs::write(dir.join("history.txt"), text);
}
