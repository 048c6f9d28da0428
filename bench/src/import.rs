//! The import of a directory file: `roster members import` on a file of
//! generated rows, run as its own process on a fresh org; prints its time,
//! rows per second and peak RSS (VmHWM, polled while it runs), beside the
//! same for reading and checking the file alone (`--dry-run` on an org
//! that already has every row, so the server-side work is one read per
//! chunk: the baseline the write is compared with).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The key the commands verify with (they mint nothing; PostgreSQL needs
/// one set).
const SECRET: &str = "roster-bench-import-secret-0123456789abcdef";

/// One measured command.
#[derive(Debug, Serialize)]
pub struct Measured {
    pub what: String,
    pub rows: usize,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub peak_rss_mb: f64,
}

/// Writes `rows` CSV rows: email, names, an externalId, a role, two
/// attributes.
fn write_file(path: &Path, rows: usize) -> Res<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "email,externalId,firstName,lastName,role,attr.dept,attr.level"
    )?;
    for i in 0..rows {
        writeln!(
            out,
            "import{i}@bench.example,imp-{i},First{i},Last{},user,d{},{}",
            i % 977,
            i % 20,
            i % 7
        )?;
    }
    Ok(out.flush()?)
}

/// Runs `roster` with `args`, polling its peak RSS; fails when it fails.
fn measure(roster: &Path, url: &str, args: &[&str], what: &str, rows: usize) -> Res<Measured> {
    let started = Instant::now();
    let mut child = Command::new(roster)
        .args([
            "--database-url",
            url,
            "--jwt-secret",
            SECRET,
            "--log",
            "warn",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut stdout)?;
    }
    if !status.success() {
        return Err(format!("{what} failed: {stdout}").into());
    }
    eprintln!("   {what}: {}", stdout.trim());
    Ok(Measured {
        what: what.into(),
        rows,
        seconds,
        rows_per_second: rows as f64 / seconds,
        peak_rss_mb: peak_kb as f64 / 1024.0,
    })
}

/// Imports `rows` generated rows into a new org of `url`, then measures a
/// dry run of the same file (every row now unchanged).
pub fn run(roster: &Path, url: &str, rows: usize, dir: &Path) -> Res<Vec<Measured>> {
    let file: PathBuf = dir.join(format!("import-{rows}.csv"));
    write_file(&file, rows)?;
    let slug = format!("import-{}", chrono::Utc::now().timestamp_millis());
    let created = Command::new(roster)
        .args([
            "--database-url",
            url,
            "--jwt-secret",
            SECRET,
            "--log",
            "warn",
        ])
        .args(["org", "create"])
        .args(["--name", &slug, "--slug", &slug])
        .output()?;
    if !created.status.success() {
        return Err(String::from_utf8_lossy(&created.stderr).into_owned().into());
    }
    let org = String::from_utf8(created.stdout)?.trim().to_owned();
    let file = file.to_str().ok_or("a temporary path that is not UTF-8")?;
    let write = measure(
        roster,
        url,
        &["members", "import", file, "--org", &org],
        "import (all created)",
        rows,
    )?;
    let check = measure(
        roster,
        url,
        &["members", "import", file, "--org", &org, "--dry-run"],
        "dry run (all unchanged)",
        rows,
    )?;
    std::fs::remove_file(file)?;
    Ok(vec![write, check])
}
