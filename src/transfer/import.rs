//! `roster members import`: a file's rows become one `syncMembers` call,
//! so that the whole file has the call's semantics (ABORT writes nothing
//! unless every row is valid; MIRROR retires only members no row names).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Target;
use super::read::{FileRows, Problem, ReadOptions, read};
use crate::service::MAX_SYNC_RECORDS;

/// What to do with a file.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub org: uuid::Uuid,
    pub mirror: bool,
    /// `--on-error skip`: write the valid rows.
    pub skip: bool,
    pub dry_run: bool,
    pub create_groups: bool,
    pub report: Option<PathBuf>,
    pub read: ReadOptions,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub retired: u64,
    /// Rows that failed: problems found reading, and refusals.
    pub failed: u64,
    pub written: bool,
    pub groups_created: Vec<String>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows: {} created, {} updated, {} unchanged, {} retired, {} failed; {}",
            self.rows,
            self.created,
            self.updated,
            self.unchanged,
            self.retired,
            self.failed,
            if self.written {
                "written"
            } else {
                "nothing written"
            }
        )
    }
}

/// Progress on a terminal (a bar), else a line now and then on stderr.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    said: Instant,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Progress {
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} {msg} ({per_sec})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            said: Instant::now(),
        }
    }

    /// Rows read so far.
    pub fn read(&mut self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(rows);
            bar.set_message(format!("{rows} rows read"));
        } else if self.said.elapsed() >= Duration::from_secs(2) {
            self.said = Instant::now();
            eprintln!("{rows} rows read ({:.0?})", self.started.elapsed());
        }
    }

    /// A step, said once.
    pub fn step(&mut self, what: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(what.to_owned()),
            None => eprintln!("{what} ({:.0?})", self.started.elapsed()),
        }
    }

    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

const SYNC: &str = "mutation($org: Uuid, $records: [SyncRecord!]!, $mode: SyncMode, $onError: SyncOnError, $dryRun: Boolean) {
  s: syncMembers(org: $org, records: $records, mode: $mode, onError: $onError, dryRun: $dryRun) {
    written counts { created updated unchanged retired failed }
    results { index email result errorCode error }
    retirements { userId result errorCode error }
  }
}";

const GROUPS: &str = "query($org: Uuid, $after: String) {
  groups(org: $org, first: 500, after: $after) { pageInfo { hasNextPage endCursor } nodes { name } }
}";

const CREATE_GROUP: &str = "mutation($org: Uuid, $name: String!) {
  r: createGroup(org: $org, name: $name) { result error errorCode }
}";

/// One line of the report.
struct ReportLine {
    line: String,
    email: String,
    result: String,
    code: String,
    message: String,
}

/// Imports `path`. The summary says what happened; a row that failed
/// makes it `failed > 0`. `Err`: nothing could be done (an unreadable
/// file, an unreachable server, a refused call).
pub async fn import(
    target: &Target,
    path: &Path,
    options: &ImportOptions,
    progress: &mut Progress,
) -> Result<Summary, String> {
    let rows = read(path, &options.read, |n| progress.read(n))?;
    let mut summary = Summary {
        rows: rows.rows,
        ..Default::default()
    };
    let mut report: Vec<ReportLine> = rows.problems.iter().map(problem_line).collect();
    summary.failed = rows.problems.len() as u64;
    if !rows.problems.is_empty() && !options.skip {
        progress.done();
        for problem in &rows.problems {
            eprintln!("{problem}");
        }
        write_report(options.report.as_deref(), &report)?;
        eprintln!(
            "{} of {} rows have problems; nothing was written (--on-error skip writes the others)",
            rows.problems.len(),
            rows.rows
        );
        return Ok(summary);
    }
    if rows.lines.len() > MAX_SYNC_RECORDS {
        return Err(format!(
            "{} rows: an import takes at most {MAX_SYNC_RECORDS} (split the file)",
            rows.lines.len()
        ));
    }
    if options.create_groups && !rows.groups.is_empty() {
        summary.groups_created = create_groups(target, options, &rows, progress).await?;
    }
    let FileRows { records, lines, .. } = rows;
    progress.step(&format!(
        "{} {} records",
        if options.dry_run {
            "checking"
        } else {
            "writing"
        },
        lines.len()
    ));
    let variables = json!({
        "org": options.org,
        "mode": if options.mirror { "MIRROR" } else { "MERGE" },
        "onError": if options.skip { "SKIP" } else { "ABORT" },
        "dryRun": options.dry_run,
    });
    let data = target.call(SYNC, variables, Some(records)).await?;
    progress.done();
    let sync = &data["s"];
    let count = |k: &str| sync["counts"][k].as_u64().unwrap_or_default();
    summary.created = count("created");
    summary.updated = count("updated");
    summary.unchanged = count("unchanged");
    summary.retired = count("retired");
    summary.failed += count("failed");
    summary.written = sync["written"].as_bool().unwrap_or_default();
    for result in sync["results"].as_array().into_iter().flatten() {
        let outcome = result["result"].as_str().unwrap_or_default();
        if outcome == "unchanged" {
            continue;
        }
        let index = result["index"].as_u64().unwrap_or_default() as usize;
        let (line, email) = lines
            .get(index)
            .map(|(l, e)| (l.to_string(), e.clone()))
            .unwrap_or_default();
        if outcome == "failed" {
            eprintln!(
                "line {line}: {email}: {}",
                result["error"].as_str().unwrap_or_default()
            );
        }
        report.push(ReportLine {
            line,
            email,
            result: outcome.to_owned(),
            code: text(&result["errorCode"]),
            message: text(&result["error"]),
        });
    }
    for retirement in sync["retirements"].as_array().into_iter().flatten() {
        report.push(ReportLine {
            line: String::new(),
            email: text(&retirement["userId"]),
            result: text(&retirement["result"]),
            code: text(&retirement["errorCode"]),
            message: text(&retirement["error"]),
        });
    }
    // In file order; retirements (no line) last.
    report.sort_by_key(|l| l.line.parse::<u64>().unwrap_or(u64::MAX));
    write_report(options.report.as_deref(), &report)?;
    Ok(summary)
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn problem_line(problem: &Problem) -> ReportLine {
    ReportLine {
        line: problem.line.to_string(),
        email: problem.email.clone(),
        result: "failed".into(),
        code: "INVALID_INPUT".into(),
        message: format!("column {}: {}", problem.column, problem.message),
    }
}

/// Creates the groups the rows name that the org lacks (names compared
/// ignoring case); in a dry run only says which.
async fn create_groups(
    target: &Target,
    options: &ImportOptions,
    rows: &FileRows,
    progress: &mut Progress,
) -> Result<Vec<String>, String> {
    let mut existing = std::collections::HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let data = target
            .call(GROUPS, json!({ "org": options.org, "after": after }), None)
            .await?;
        let page = &data["groups"];
        for node in page["nodes"].as_array().into_iter().flatten() {
            existing.insert(text(&node["name"]).to_lowercase());
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let missing: Vec<String> = rows
        .groups
        .iter()
        .filter(|g| !existing.contains(&g.to_lowercase()))
        .cloned()
        .collect();
    for name in &missing {
        if options.dry_run {
            progress.step(&format!("would create group {name}"));
            continue;
        }
        let data = target
            .call(
                CREATE_GROUP,
                json!({ "org": options.org, "name": name }),
                None,
            )
            .await?;
        if data["r"]["result"] != "created" {
            return Err(format!(
                "creating group {name} failed: {}",
                text(&data["r"]["error"])
            ));
        }
        progress.step(&format!("created group {name}"));
    }
    Ok(missing)
}

fn write_report(path: Option<&Path>, lines: &[ReportLine]) -> Result<(), String> {
    let Some(path) = path else { return Ok(()) };
    let mut writer = csv::Writer::from_path(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let fail = |e: csv::Error| format!("cannot write {}: {e}", path.display());
    writer
        .write_record(["line", "email", "result", "errorCode", "error"])
        .map_err(fail)?;
    for l in lines {
        writer
            .write_record([&l.line, &l.email, &l.result, &l.code, &l.message])
            .map_err(fail)?;
    }
    writer
        .flush()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
