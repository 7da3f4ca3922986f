//! The fault-injection suite: a register/CAS workload, nemeses and a
//! linearizability checker. tests/fault_injection.rs runs a short schedule as part
//! of the test suite; scripts/jepsen.sh runs long ones through the same
//! target (its ignored test, configured from the environment).

pub mod checker;
pub mod nemesis;
pub mod run;
pub mod workload;
