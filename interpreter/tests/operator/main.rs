//! End-to-end tests of `kulta run`: the operator against the API simulator, a real Prometheus
//! and a local CDEvents sink.

mod support;

mod bad_input;
mod binary;
mod canary;
mod crashes;
mod faults;
mod forgetting;
mod kubectl;
mod leadership;
mod outbox;
mod paused;
mod prometheus_auth;
mod requests;
mod safety;
mod sharding;
mod strategies;
mod takeover;
mod watches;
