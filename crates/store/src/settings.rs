//! The `[database]` section: where the data lives and how it is written.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// fsync on every commit: an acknowledged appeal survives a power cut.
    #[default]
    Full,
    /// Survives a crash of leadgate, not of the machine; faster on slow disks.
    Normal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user@host/db`.
    pub url: String,
    pub max_connections: u32,
    pub sqlite_synchronous: SqliteSync,
    pub busy_timeout_ms: u64,
    /// SQLite only: page cache per connection, in MiB. SQLite's default (2 MiB)
    /// holds a small fraction of the indexes of a large client base, and every
    /// miss is a system call.
    pub sqlite_cache_mb: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/leadgate.db".into(),
            max_connections: 8,
            sqlite_synchronous: SqliteSync::Full,
            busy_timeout_ms: 5000,
            sqlite_cache_mb: 32,
        }
    }
}
