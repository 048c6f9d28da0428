//! `roster-bench`: seeds a large Roster dataset and measures Roster against
//! baselines taken in the same run. `bench/run` builds it and calls `run`;
//! `bench/README.md` says what each figure means.

mod baselines;
mod dataset;
mod import;
mod openloop;
mod plots;
mod report;
mod run;
mod scenarios;
mod webhooks;

use std::io::Read;
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
        /// Records in the syncMembers scenario (its unchanged repeat and
        /// B3); the scaling runs also sync a tenth and ten times as many.
        #[arg(long, default_value_t = 10_000)]
        sync_records: usize,
        /// Also copy the charts (SVG) here, e.g. bench/plots.
        #[arg(long, value_name = "DIR")]
        plots_dir: Option<PathBuf>,
    },
    /// Prints the Markdown tables of a run's JSON again.
    Report {
        /// A run's JSON, e.g. bench/out/latest.json.
        #[arg(long, default_value = "bench/out/latest.json")]
        from: PathBuf,
    },
    /// Draws the charts (SVG) of a run's JSON again.
    Plots {
        /// A run's JSON, e.g. bench/out/latest.json.
        #[arg(long, default_value = "bench/out/latest.json")]
        from: PathBuf,
        #[arg(long, default_value = "bench/out")]
        out: PathBuf,
    },
    /// syncMembers of each size, each on a server started for it alone;
    /// prints one JSON line per call (time, statements, peak RSS).
    SyncFresh {
        #[arg(long)]
        database_url: String,
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        records: Vec<usize>,
        /// The release `roster` binary.
        #[arg(long, default_value = "target/release/roster")]
        roster: PathBuf,
    },
    /// `roster members import` of a generated CSV file on a new org, then
    /// its dry run; prints one JSON line each (time, rows/s, peak RSS).
    Import {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// The release `roster` binary.
        #[arg(long, default_value = "target/release/roster")]
        roster: PathBuf,
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
    /// t_sql: each read's statements on one thread; prints JSON.
    SqlCost {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        big_org: usize,
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
    },
    /// The open-loop driver: reads its spec (JSON) on stdin, prints JSON.
    #[command(hide = true)]
    Openloop,
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
            plots_dir,
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
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
            for (name, text) in [
                (format!("{stamp}.json"), &json),
                (format!("{stamp}.md"), &markdown),
                ("latest.json".to_owned(), &json),
                ("latest.md".to_owned(), &markdown),
            ] {
                std::fs::write(out.join(name), text)?;
            }
            let charts = plots::write_all(&report, &out)?;
            for chart in &charts {
                let name = chart.file_name().ok_or("a chart without a name")?;
                std::fs::copy(
                    chart,
                    out.join(format!("{stamp}-{}", name.to_string_lossy())),
                )?;
                if let Some(dir) = &plots_dir {
                    std::fs::create_dir_all(dir)?;
                    std::fs::copy(chart, dir.join(name))?;
                }
            }
            println!("{markdown}");
            eprintln!("results: {}/latest.json and latest.md", out.display());
            eprintln!(
                "charts: {}",
                charts
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(dir) = &plots_dir {
                eprintln!("charts copied to {}", dir.display());
            }
        }
        Cmd::Report { from } => {
            let report: report::Report = serde_json::from_str(&std::fs::read_to_string(&from)?)?;
            println!("{}", report::markdown(&report));
        }
        Cmd::Plots { from, out } => {
            let report: report::Report = serde_json::from_str(&std::fs::read_to_string(&from)?)?;
            std::fs::create_dir_all(&out)?;
            for chart in plots::write_all(&report, &out)? {
                println!("{}", chart.display());
            }
        }
        Cmd::Import {
            database_url,
            rows,
            roster,
        } => {
            let dir = std::env::temp_dir();
            for measured in import::run(&roster, &database_url, rows, &dir)? {
                println!("{}", serde_json::to_string(&measured)?);
            }
        }
        Cmd::SqlCost {
            database_url,
            big_org,
            seconds,
        } => {
            let cost = baselines::sql_cost(&database_url, big_org, seconds)?;
            println!("{}", serde_json::to_string(&cost)?);
        }
        Cmd::Openloop => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            let spec: openloop::Spec = serde_json::from_str(&text)?;
            let result = openloop::drive(&spec)?;
            println!("{}", serde_json::to_string(&result)?);
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
        Cmd::SyncFresh {
            database_url,
            records,
            roster,
        } => {
            let options = run::Options {
                quick: true,
                postgres: None,
                out: PathBuf::from("bench/out"),
                roster,
                bench: std::env::current_exe()?,
                lua: PathBuf::from("bench/wrk/graphql.lua"),
                connections: 1,
                sync_records: records.first().copied().unwrap_or(10_000),
            };
            for point in run::sync_fresh(&options, &database_url, &records)? {
                println!("{}", serde_json::to_string(&point)?);
            }
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
