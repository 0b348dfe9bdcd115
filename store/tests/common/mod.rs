//! Real databases for the tests, from the test kit: a temporary SQLite file, and a
//! fresh schema on the PostgreSQL server at 127.0.0.1:5432 (database `test`;
//! CAREFLOW_TEST_PG overrides it).

#![allow(unused_imports)]

pub use careflow_testkit::db::{postgres, sqlite};
