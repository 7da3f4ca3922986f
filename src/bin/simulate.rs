//! The ensemble simulator's runner (scripts/simulate.sh): runs seeds and
//! counts the seeds that broke an invariant.

use std::io::Write;
use std::process::ExitCode;
use zkserver::sim::{run, run_scenario, Mutation, Report, Scenario};

const USAGE: &str = "usage: simulate N                 run seeds 0..N
       simulate --seed S          replay seed S, printing its trace
       simulate --mutate NAME N   run seeds 0..N with one deliberate mistake
       simulate --mutate NAME --seed S
       simulate [--mutate NAME] --scenario wedge
                                  run issue 10's wedge, printing its trace
       simulate --list-mutations  the mutations available, one a line

SIMULATE_LOG=1 prints the cores' warnings and errors on stderr;
SIMULATE_TRACE_MESSAGES=1 adds every non-election message to a --seed trace.";

fn help() -> String {
    let mut s = format!("{USAGE}\n\nmutations:\n");
    for m in Mutation::ALL {
        s.push_str(&format!("  {}\n", m.name()));
    }
    s
}

/// Runs seeds 0..n; prints each violation and the totals, the count last.
fn run_seeds(n: u64, mutation: Option<Mutation>) -> ExitCode {
    let (mut violations, mut simulated_ms, mut first_caught) = (0u64, 0u64, None);
    let (mut same_round, mut recovered) = (0u64, Vec::new());
    let (mut committed, mut acked, mut stale_syncs) = (0u64, 0u64, 0u64);
    for seed in 0..n {
        let r: Report = run(seed, mutation, false);
        simulated_ms += r.simulated_ms;
        same_round += r.same_round_leaders;
        committed += r.committed;
        acked += r.writes_acked;
        stale_syncs += r.stale_syncs;
        recovered.extend(r.recovered_after_ms);
        if let Some(v) = r.violations.first() {
            violations += 1;
            first_caught.get_or_insert(seed);
            println!("seed {seed} ({} voters, {} observers): {v}", r.voters, r.observers);
        }
    }
    if let (Some(m), Some(seed)) = (mutation, first_caught) {
        println!("{} first caught by seed {seed}", m.name());
    }
    recovered.sort_unstable();
    if let Some(worst) = recovered.last() {
        println!(
            "a quorum followed one leader after the heal: median {} ms, worst {worst} ms",
            recovered[recovered.len() / 2]
        );
    }
    println!("a node decided to lead a round another node still led: {same_round} times");
    println!("{committed} txns committed, {acked} client writes acknowledged");
    println!("syncs answered by a stale leader's epoch behind the client's own write: {stale_syncs}");
    println!("simulated {:.1} hours", simulated_ms as f64 / 3_600_000.0);
    println!("{n} seeds, {violations} violations");
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    // SIMULATE_LOG=1: the cores' warnings and errors on stderr.
    if std::env::var_os("SIMULATE_LOG").is_some() {
        tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_writer(std::io::stderr).init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    if args == ["--list-mutations"] {
        for m in Mutation::ALL {
            println!("{}", m.name());
        }
        return ExitCode::SUCCESS;
    }
    if matches!(args.as_slice(), ["--help" | "-h"]) {
        print!("{}", help());
        return ExitCode::SUCCESS;
    }
    let mut mutation = None;
    if let ["--mutate", name, ..] = args.as_slice() {
        let Some(m) = Mutation::from_name(name) else { return bad(&format!("no mutation named {name}")) };
        mutation = Some(m);
        args.drain(..2);
    }
    match args.as_slice() {
        ["--scenario", "wedge"] => print_trace(run_scenario(Scenario::Wedge, mutation, true)),
        ["--seed", s] => match s.parse() {
            Ok(seed) => replay(seed, mutation),
            Err(_) => bad(&format!("not a seed: {s}")),
        },
        [n] => match n.parse() {
            Ok(n) => run_seeds(n, mutation),
            Err(_) => bad(&format!("not a seed count: {n}")),
        },
        _ => bad("bad arguments"),
    }
}

/// One seed with its trace (a closed pipe ends the printing quietly).
fn replay(seed: u64, mutation: Option<Mutation>) -> ExitCode {
    print_trace(run(seed, mutation, true))
}

fn print_trace(r: Report) -> ExitCode {
    let mut out = std::io::stdout().lock();
    for line in &r.trace {
        if writeln!(out, "{line}").is_err() {
            return ExitCode::SUCCESS;
        }
    }
    let _ = writeln!(
        out,
        "simulated {} ms: {} decisions ({} while another led the round), {} crashes, {} partitions, {} messages, {} sessions created, {} expired, {} txns committed, {} writes acknowledged",
        r.simulated_ms,
        r.decisions,
        r.same_round_leaders,
        r.crashes,
        r.partitions,
        r.messages,
        r.sessions_created,
        r.sessions_expired,
        r.committed,
        r.writes_acked
    );
    let _ = writeln!(out, "1 seeds, {} violations", u64::from(!r.violations.is_empty()));
    ExitCode::SUCCESS
}

fn bad(why: &str) -> ExitCode {
    eprintln!("{why}\n{}", help());
    ExitCode::from(2)
}
