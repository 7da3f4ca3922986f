//! Network faults on the loopback interface for ensemble tests: iptables
//! DROP rules on lo that silence chosen TCP connections in both directions
//! without closing them (no FIN or RST gets through), as a partition does.
//! The rules match only the connections' own port pairs, so new
//! connections between the same servers are not affected. Rules are
//! removed when the `Cut` is dropped, also when the test panics. Needs
//! root (iptables); a test that cannot install its rules fails.

use std::process::Command;

/// Every rule carries this comment, so a leftover one is easy to find.
const TAG: &str = "zkserver-test-partition";

/// The DROP rules silencing some connections.
pub struct Cut {
    /// Each rule's match, as given to `iptables -I` and `-D`.
    rules: Vec<Vec<String>>,
}

fn iptables(action: &str, rule: &[String]) -> Result<(), String> {
    let out = Command::new("iptables")
        .args(["-w", "5", action, "INPUT"])
        .args(rule)
        .output()
        .map_err(|e| format!("cannot run iptables: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("iptables {action} {rule:?}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

fn drop_rule(sport: u16, dport: u16) -> Vec<String> {
    ["-i", "lo", "-p", "tcp", "--sport", &sport.to_string(), "--dport", &dport.to_string()]
        .into_iter()
        .map(str::to_string)
        .chain(["-m", "comment", "--comment", TAG, "-j", "DROP"].into_iter().map(str::to_string))
        .collect()
}

/// The local (client side) ports of the established connections to
/// 127.0.0.1:`port`.
pub fn connections_to(port: u16) -> Vec<u16> {
    let out = Command::new("ss")
        .args(["-Htn", "state", "established", &format!("( dport = :{port} )")])
        .output()
        .expect("run ss");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter_map(|local| local.rsplit(':').next()?.parse().ok())
        .collect()
}

impl Cut {
    /// Silences every connection established to 127.0.0.1:`port` right now
    /// (both directions); returns how many there were with the rules.
    pub fn established_to(port: u16) -> (usize, Cut) {
        let mut cut = Cut { rules: Vec::new() };
        let ports = connections_to(port);
        for p in &ports {
            for rule in [drop_rule(*p, port), drop_rule(port, *p)] {
                iptables("-I", &rule).unwrap_or_else(|e| panic!("{e}"));
                cut.rules.push(rule);
            }
        }
        (ports.len(), cut)
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        for rule in self.rules.drain(..) {
            if let Err(e) = iptables("-D", &rule) {
                eprintln!("leftover rule (tagged {TAG}): {e}");
            }
        }
    }
}
