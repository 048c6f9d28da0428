//! `roster-bench`: seeds a large Roster dataset and measures Roster against
//! baselines taken in the same run. `bench/run` builds it and calls `run`;
//! `bench/README.md` says what each figure means.

mod baselines;
mod dataset;
mod report;
mod run;
mod scenarios;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "roster-bench", about = "Roster's benchmark harness")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Seeds the whole run and prints the tables (what `bench/run` calls).
    Run {
        /// A smaller dataset and shorter phases.
        #[arg(long)]
        quick: bool,
        /// Also measure PostgreSQL, on a database made on this server.
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// Where results and the SQLite dataset go.
        #[arg(long, default_value = "bench/out")]
        out: PathBuf,
        /// The release `roster` binary.
        #[arg(long, default_value = "target/release/roster")]
        roster: PathBuf,
        /// wrk's script.
        #[arg(long, default_value = "bench/wrk/graphql.lua")]
        lua: PathBuf,
        /// wrk connections at full load.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Records in the syncMembers scenario.
        #[arg(long, default_value_t = 10_000)]
        sync_records: usize,
    },
    /// Seeds the dataset into a database (or finds it there).
    Seed {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        quick: bool,
    },
    /// B2: findUserBy's SQL in a loop; prints JSON.
    B2 {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        big_org: usize,
        #[arg(long, default_value_t = 8.0)]
        seconds: f64,
        #[arg(long, default_value_t = 4)]
        threads: usize,
    },
    /// B3: the sync's rows in one batched insert; prints JSON.
    B3 {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 10_000)]
        records: usize,
        #[arg(long)]
        run: String,
    },
}

fn main() -> ExitCode {
    match execute(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("roster-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: Cmd) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Cmd::Run {
            quick,
            postgres,
            out,
            roster,
            lua,
            connections,
            sync_records,
        } => {
            let options = run::Options {
                quick,
                postgres,
                out: out.clone(),
                roster,
                bench: std::env::current_exe()?,
                lua,
                connections,
                sync_records,
            };
            let report = run::run(&options)?;
            let markdown = report::markdown(&report);
            let json = serde_json::to_string_pretty(&report)?;
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
            for (name, text) in [
                (format!("{stamp}.json"), &json),
                (format!("{stamp}.md"), &markdown),
                ("latest.json".to_owned(), &json),
                ("latest.md".to_owned(), &markdown),
            ] {
                std::fs::write(out.join(name), text)?;
            }
            println!("{markdown}");
            eprintln!("results: {}/latest.json and latest.md", out.display());
        }
        Cmd::Seed {
            database_url,
            quick,
        } => {
            let sizes = if quick {
                dataset::Sizes::QUICK
            } else {
                dataset::Sizes::FULL
            };
            let seeded = dataset::seed(&database_url, sizes)?;
            println!("{}", serde_json::to_string_pretty(&seeded)?);
        }
        Cmd::B2 {
            database_url,
            big_org,
            seconds,
            threads,
        } => {
            let rate = baselines::find_user_loop(&database_url, big_org, threads, seconds)?;
            println!("{}", serde_json::to_string(&rate)?);
        }
        Cmd::B3 {
            database_url,
            records,
            run,
        } => {
            let time = baselines::batched_insert(&database_url, records, &run)?;
            println!("{}", serde_json::to_string(&time)?);
        }
    }
    Ok(())
}
