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
    /// The most JSON one remote call carries (see [`Target::chunk_bytes`]).
    pub chunk_bytes: Option<usize>,
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
    /// The report's lines, in file order (retirements last).
    pub lines: Vec<ReportLine>,
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
    /// Says nothing (the console's imports).
    quiet: bool,
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
            quiet: false,
            started: Instant::now(),
            said: Instant::now(),
        }
    }

    /// Progress that says nothing.
    pub fn quiet() -> Self {
        Self {
            bar: None,
            quiet: true,
            started: Instant::now(),
            said: Instant::now(),
        }
    }

    /// Rows read so far.
    pub fn read(&mut self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(rows);
            bar.set_message(format!("{rows} rows read"));
        } else if !self.quiet && self.said.elapsed() >= Duration::from_secs(2) {
            self.said = Instant::now();
            eprintln!("{rows} rows read ({:.0?})", self.started.elapsed());
        }
    }

    /// A step, said once.
    pub fn step(&mut self, what: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(what.to_owned()),
            None if self.quiet => {}
            None => eprintln!("{what} ({:.0?})", self.started.elapsed()),
        }
    }

    /// A sentence for the person at the terminal (nothing when quiet).
    pub fn say(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
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

/// Only the records the report needs come back: failed ones (shown), and
/// with `--report` the changed ones too.
const SYNC: &str = "mutation($org: Uuid, $records: [SyncRecord!]!, $mode: SyncMode, $onError: SyncOnError, $dryRun: Boolean, $only: [String!], $mirror: Boolean!) {
  s: syncMembers(org: $org, records: $records, mode: $mode, onError: $onError, dryRun: $dryRun) {
    written counts { created updated unchanged retired failed }
    results(only: $only) { index result errorCode error }
    retirements @include(if: $mirror) { userId result errorCode error }
  }
}";

const GROUPS: &str = "query($org: Uuid, $after: String) {
  groups(org: $org, first: 500, after: $after) { pageInfo { hasNextPage endCursor } nodes { name } }
}";

const CREATE_GROUP: &str = "mutation($org: Uuid, $name: String!) {
  r: createGroup(org: $org, name: $name) { result error errorCode }
}";

/// One line of the report: a row that failed or changed, or a
/// retirement (no line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    pub line: String,
    pub email: String,
    pub result: String,
    pub code: String,
    pub message: String,
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
    import_rows(target, rows, options, progress).await
}

/// Imports rows already read (see [`import`]).
pub async fn import_rows(
    target: &Target,
    rows: FileRows,
    options: &ImportOptions,
    progress: &mut Progress,
) -> Result<Summary, String> {
    let mut summary = Summary {
        rows: rows.rows,
        ..Default::default()
    };
    // Found out now, not after the writes.
    if let Some(path) = &options.report {
        write_report(Some(path), &[])?;
    }
    let report: Vec<ReportLine> = rows.problems.iter().map(problem_line).collect();
    let bad_lines: std::collections::BTreeSet<u64> = rows.problems.iter().map(|p| p.line).collect();
    summary.failed = bad_lines.len() as u64;
    // MIRROR keeps a member whose row fails; a row that cannot be sent
    // cannot say whom it names, so MIRROR takes a file only whole.
    if !rows.problems.is_empty() && (!options.skip || options.mirror) {
        progress.done();
        for problem in &rows.problems {
            eprintln!("{problem}");
        }
        write_report(options.report.as_deref(), &report)?;
        eprintln!(
            "{} of {} rows have problems; nothing was written{}",
            bad_lines.len(),
            rows.rows,
            if options.mirror {
                " (--mode mirror needs every row readable, so as not to retire the members of the rows left out)"
            } else {
                " (--on-error skip writes the others)"
            }
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
    let chunks = chunks(&records, target.chunk_bytes(options.chunk_bytes));
    let only = if options.report.is_some() {
        json!(["created", "updated", "failed"])
    } else {
        json!(["failed"])
    };
    let variables = |mode: &str, on_error: &str, dry_run: bool| {
        json!({ "org": options.org, "mode": mode, "onError": on_error, "dryRun": dry_run,
                "only": only, "mirror": mode == "MIRROR" })
    };
    let on_error = if options.skip { "SKIP" } else { "ABORT" };
    let mut tally = Tally::default();
    if chunks.len() == 1 {
        // The whole file in one call: the call's semantics are the file's.
        progress.step(&format!(
            "{} {} records",
            if options.dry_run {
                "checking"
            } else {
                "writing"
            },
            lines.len()
        ));
        let mode = if options.mirror { "MIRROR" } else { "MERGE" };
        let data = target
            .call(
                SYNC,
                variables(mode, on_error, options.dry_run),
                Some(list(&records)),
            )
            .await?;
        tally.add(&data["s"], 0, &lines);
        tally.written = data["s"]["written"].as_bool().unwrap_or_default();
    } else {
        // Too big for one request: see docs/import.md, "Large files".
        if !options.skip && !options.dry_run {
            let mut check = Tally::default();
            for (n, range) in chunks.iter().enumerate() {
                progress.step(&format!("checking part {} of {}", n + 1, chunks.len()));
                let data = target
                    .call(
                        SYNC,
                        variables("MERGE", "ABORT", true),
                        Some(list(&records[range.clone()])),
                    )
                    .await?;
                check.add(&data["s"], range.start, &lines);
            }
            if check.failed > 0 {
                progress.done();
                check.report.retain(|l| l.result == "failed");
                let failed = check.failed;
                let check = Tally {
                    failed,
                    report: check.report,
                    ..Default::default()
                };
                return finish(summary, report, check, options, progress);
            }
        }
        for (n, range) in chunks.iter().enumerate() {
            progress.step(&format!(
                "{} part {} of {}",
                if options.dry_run {
                    "checking"
                } else {
                    "writing"
                },
                n + 1,
                chunks.len()
            ));
            let data = target
                .call(
                    SYNC,
                    variables("MERGE", on_error, options.dry_run),
                    Some(list(&records[range.clone()])),
                )
                .await?;
            let written = data["s"]["written"].as_bool().unwrap_or_default();
            if !written && !options.skip && !options.dry_run {
                // A part failed after the check (a concurrent change, or
                // an effect across parts): its rows and the later parts'
                // are not written; the earlier parts stay written.
                let mut refused = Tally::default();
                refused.add(&data["s"], range.start, &lines);
                refused.report.retain(|l| l.result == "failed");
                tally.report.extend(refused.report);
                tally.failed += (lines.len() - range.start) as u64;
                progress.say(&format!(
                    "part {} of {} was refused: lines {} and later were not written; the earlier parts were",
                    n + 1,
                    chunks.len(),
                    lines.get(range.start).map(|l| l.0).unwrap_or_default()
                ));
                progress.done();
                return finish(summary, report, tally, options, progress);
            }
            tally.add(&data["s"], range.start, &lines);
            tally.written |= written;
        }
        if options.mirror {
            progress.step("retiring the members the file does not name");
            retire_absent(target, options, &lines, &records, &mut tally).await?;
        }
    }
    progress.done();
    finish(summary, report, tally, options, progress)
}

/// Counts and report lines gathered over one or more calls.
#[derive(Default)]
struct Tally {
    created: u64,
    updated: u64,
    unchanged: u64,
    retired: u64,
    failed: u64,
    written: bool,
    report: Vec<ReportLine>,
}

impl Tally {
    /// Takes in a `syncMembers` answer whose records start at `offset`.
    fn add(&mut self, sync: &Value, offset: usize, lines: &[(u64, String)]) {
        let count = |k: &str| sync["counts"][k].as_u64().unwrap_or_default();
        self.created += count("created");
        self.updated += count("updated");
        self.unchanged += count("unchanged");
        self.retired += count("retired");
        self.failed += count("failed");
        for result in sync["results"].as_array().into_iter().flatten() {
            let outcome = result["result"].as_str().unwrap_or_default();
            if outcome == "unchanged" {
                continue;
            }
            let index = offset + result["index"].as_u64().unwrap_or_default() as usize;
            let (line, email) = lines
                .get(index)
                .map(|(l, e)| (l.to_string(), e.clone()))
                .unwrap_or_default();
            self.report.push(ReportLine {
                line,
                email,
                result: outcome.to_owned(),
                code: text(&result["errorCode"]),
                message: text(&result["error"]),
            });
        }
        for retirement in sync["retirements"].as_array().into_iter().flatten() {
            self.report.push(ReportLine {
                line: String::new(),
                email: text(&retirement["userId"]),
                result: text(&retirement["result"]),
                code: text(&retirement["errorCode"]),
                message: text(&retirement["error"]),
            });
        }
    }
}

fn finish(
    mut summary: Summary,
    mut report: Vec<ReportLine>,
    tally: Tally,
    options: &ImportOptions,
    progress: &Progress,
) -> Result<Summary, String> {
    for line in tally.report.iter().filter(|l| l.result == "failed") {
        progress.say(&format!(
            "line {}: {}: {}",
            line.line, line.email, line.message
        ));
    }
    summary.created = tally.created;
    summary.updated = tally.updated;
    summary.unchanged = tally.unchanged;
    summary.retired = tally.retired;
    summary.failed += tally.failed;
    summary.written = tally.written;
    report.extend(tally.report);
    // In file order; retirements (no line) last.
    report.sort_by_key(|l| l.line.parse::<u64>().unwrap_or(u64::MAX));
    write_report(options.report.as_deref(), &report)?;
    summary.lines = report;
    Ok(summary)
}

/// Records as the JSON text of a list.
fn list(records: &[String]) -> String {
    let mut text = String::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    text.push('[');
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(record);
    }
    text.push(']');
    text
}

/// Consecutive runs of records of at most `max_bytes` of JSON (and at
/// most the records one call takes); one run when they all fit.
fn chunks(records: &[String], max_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 2);
    for (i, record) in records.iter().enumerate() {
        let size = record.len() + 1;
        if i > start && (bytes + size > max_bytes || i - start >= MAX_SYNC_RECORDS) {
            runs.push(start..i);
            (start, bytes) = (i, 2);
        }
        bytes += size;
    }
    runs.push(start..records.len());
    runs
}

const ACTIVE_PAGE: &str = "query($org: Uuid, $after: String) {
  members(org: $org, first: 500, after: $after, statuses: [ACTIVE], sortBy: {field: EMAIL}) {
    pageInfo { hasNextPage endCursor } nodes { id email externalId }
  }
}";

const RETIRE: &str = "mutation($org: Uuid, $ids: [Uuid!]!) {
  r: setMembersStatus(org: $org, userIds: $ids, status: RETIRED) {
    succeededIds failures { id code message }
  }
}";

/// MIRROR over several calls: after every part is written, the active
/// members no row names are retired in one call (which keeps the last
/// admin and the caller, as MIRROR does).
async fn retire_absent(
    target: &Target,
    options: &ImportOptions,
    lines: &[(u64, String)],
    records: &[String],
    tally: &mut Tally,
) -> Result<(), String> {
    let named: std::collections::HashSet<String> =
        lines.iter().map(|(_, e)| e.to_lowercase()).collect();
    let named_ids: std::collections::HashSet<String> = records
        .iter()
        .filter_map(|r| {
            serde_json::from_str::<Value>(r).ok()?["externalId"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let mut absent = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = target
            .call(
                ACTIVE_PAGE,
                json!({ "org": options.org, "after": after }),
                None,
            )
            .await?;
        let page = &data["members"];
        for node in page["nodes"].as_array().into_iter().flatten() {
            let by_id = node["externalId"]
                .as_str()
                .is_some_and(|e| named_ids.contains(e));
            if !by_id && !named.contains(&text(&node["email"]).to_lowercase()) {
                absent.push(node["id"].clone());
            }
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    if options.dry_run || absent.is_empty() {
        // An estimate: the last admin and the caller would be kept.
        tally.retired += absent.len() as u64;
        return Ok(());
    }
    // `setMembersStatus` takes at most 10,000 ids a call.
    for batch in absent.chunks(10_000) {
        let data = target
            .call(RETIRE, json!({ "org": options.org, "ids": batch }), None)
            .await?;
        retired_batch(&data["r"], tally);
    }
    Ok(())
}

fn retired_batch(done: &Value, tally: &mut Tally) {
    let retired = done["succeededIds"]
        .as_array()
        .map(Vec::len)
        .unwrap_or_default();
    tally.retired += retired as u64;
    tally.written |= retired > 0;
    for id in done["succeededIds"].as_array().into_iter().flatten() {
        tally.report.push(ReportLine {
            line: String::new(),
            email: text(id),
            result: "retired".into(),
            code: String::new(),
            message: String::new(),
        });
    }
    for failure in done["failures"].as_array().into_iter().flatten() {
        tally.report.push(ReportLine {
            line: String::new(),
            email: text(&failure["id"]),
            result: "kept".into(),
            code: text(&failure["code"]),
            message: text(&failure["message"]),
        });
    }
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
    let file =
        super::create_private(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut writer = csv::Writer::from_writer(file);
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
