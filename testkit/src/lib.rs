//! The pieces careflow's workflow, API and end-to-end tests share: the official
//! Temporal test server (time skipping) and the dev server, a fresh SQLite or
//! PostgreSQL domain database, free ports, polling for a condition, and child processes
//! that are killed when the test ends, pass or fail.
//!
//! Every helper fails the test with a message that names what is missing or what it
//! waited for; none of them skips.
//!
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//!
//! use careflow_testkit::{db, poll, temporal};
//!
//! let (_server, client) = temporal::start_test_server().await;
//! let (_dir, db) = db::sqlite().await;
//! let token = "a token another task hands out";
//! let user = poll("the user to exist", Duration::from_secs(5), Duration::from_millis(50), || async {
//!     careflow_store::users::authenticate(&db, token).await.ok().flatten()
//! })
//! .await;
//! # let _ = (client, user);
//! # }
//! ```
//!
//! Dev-only: only `[dev-dependencies]` name this crate (checked by
//! `tests/dependency_rules.rs`).

#![warn(missing_docs)]

pub mod db;
pub mod paths;
pub mod poll;
pub mod ports;
pub mod process;
pub mod temporal;

pub use poll::poll;
