//! Health recording and reading: the embedded store, DynamoDB (moto on loopback), outages and
//! black holes, health through the SDK.
//!
//! One test binary for these suites (one link instead of one per file).

#[path = "../support/health_cases.rs"]
mod cases;
#[path = "../support/integ.rs"]
mod integ;
#[path = "../support/logs.rs"]
mod logs;
#[path = "../support/moto.rs"]
mod moto;

mod dynamo;
mod hostile_dynamo;
mod integration;
mod memory;
mod outage;
