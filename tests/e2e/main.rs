//! End-to-end tests: the real `careflow` binary, a real Temporal dev server, real
//! SQLite and PostgreSQL databases. Each test owns its data directory and ports, so
//! they run in parallel.
//!
//! PostgreSQL is expected at 127.0.0.1:5432 (trust auth, database `test`); override
//! with `CAREFLOW_TEST_PG`. The Temporal CLI comes from `.tools/venv` (`scripts/setup`).

mod backup;
mod bad_input;
mod bed_plan;
mod browser;
mod common;
mod crash;
mod ethics;
mod operations;
mod scale_out;
mod theatre;
