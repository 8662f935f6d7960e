//! The systems the operator talks to, one module each: what it reads there, translated into
//! the core's observations, and what it writes there, carrying out the core's effects.
//! [`super::observe`] and [`super::execute`] only assemble these; the lease loop and the
//! outbox use theirs directly.

pub mod cdevents;
pub mod deployment;
pub mod events;
pub mod httproute;
pub mod lease;
pub mod prometheus;
pub mod replicaset;
pub mod service;
