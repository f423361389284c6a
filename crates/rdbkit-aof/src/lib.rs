//! # rdbkit-aof
//!
//! Reads Redis/Valkey append-only files in every layout, and checks and fixes them with the same
//! verdicts and truncation points as `redis-check-aof`.
