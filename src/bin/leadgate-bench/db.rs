//! A throw-away database for one benchmark run: a SQLite file in a temp
//! folder, or a fresh PostgreSQL database dropped at the end.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};

pub struct BenchDb {
    pub url: String,
    pub dir: PathBuf,
    /// The PostgreSQL server URL without a database name; `None` on SQLite.
    server: Option<String>,
    name: String,
    /// Left in place at the end (to look at with psql or sqlite3).
    pub keep: bool,
}

impl BenchDb {
    /// `db` is `sqlite` or a PostgreSQL server URL without a database name.
    pub fn create(db: &str, tag: &str) -> anyhow::Result<BenchDb> {
        let dir = std::env::temp_dir().join(format!("leadgate-bench-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let name = format!("lg_bench_{tag}_{}", std::process::id());
        if db == "sqlite" {
            return Ok(BenchDb {
                url: format!("sqlite://{}", dir.join("bench.db").display()),
                dir,
                server: None,
                name,
                keep: false,
            });
        }
        let server = db.trim_end_matches('/').to_string();
        let status = Command::new("psql")
            .args([
                "-d",
                &format!("{server}/postgres"),
                "-qc",
                &format!("CREATE DATABASE {name}"),
            ])
            .status()
            .context("psql")?;
        if !status.success() {
            bail!("could not create database {name}");
        }
        Ok(BenchDb {
            url: format!("{server}/{name}"),
            dir,
            server: Some(server),
            name,
            keep: false,
        })
    }

    pub fn backend_name(&self) -> &'static str {
        if self.server.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.server.is_some()
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if self.keep {
            println!("database kept: {}", self.url);
            return;
        }
        if let Some(server) = &self.server {
            let _ = Command::new("psql")
                .args([
                    "-d",
                    &format!("{server}/postgres"),
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                ])
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
