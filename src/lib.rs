//! `careflow`: hospital operational decisions as durable, auditable workflows.
//!
//! The library behind the `careflow` binary: the command line ([`cli`], one file per
//! command group), the typed client of the HTTP API ([`client`], shared by the CLI,
//! the demo, the benches and the end-to-end tests), serving ([`serve`]: Temporal, a
//! worker and the API in one process), the demo hospital ([`demo`]) and reaching
//! Temporal ([`temporal`]). `src/main.rs` only parses the command line, sets up
//! tracing and calls [`cli::run`].
//!
//! ```no_run
//! use clap::Parser;
//! let cli = careflow::cli::Cli::parse_from(["careflow", "audit", "verify"]);
//! # let _ = cli;
//! ```
#![warn(missing_docs)]

pub mod backup;
pub mod cli;
pub mod client;
pub mod codec;
pub mod demo;
pub mod export;
pub mod serve;
pub mod temporal;
