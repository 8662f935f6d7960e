//! The commands for people, run as the real `kulta` / `kubectl-kulta` binaries against the
//! API simulator (and, where a test needs one, the real operator in-process): their effect,
//! their output and their exit code.

#[allow(dead_code)]
#[path = "../operator/support.rs"]
mod support;

mod convert;
mod demo;
mod errors;
mod examples;
mod get;
mod harness;
mod lint;
mod offline;
mod plan;
mod replay;
mod requests;
mod waits;
mod workload;
