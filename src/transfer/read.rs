//! Reading a directory file (CSV or JSON Lines) into `syncMembers`
//! records. What breaks the file's structure (no `email` column, a row
//! with the wrong number of fields, bytes that are not UTF-8, a line that
//! is not JSON) stops the import; what is wrong with one row (an unknown
//! role, a duplicate email, an attribute that is no scalar) is a problem
//! of that row, named by line and column.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value, json};

/// A file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "csv" => Ok(Self::Csv),
            "jsonl" | "ndjson" => Ok(Self::Jsonl),
            other => Err(format!("unknown format {other} (csv or jsonl)")),
        }
    }

    /// By the file's extension: `.jsonl`/`.ndjson` are JSON Lines, the
    /// rest CSV.
    pub fn of_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson") => {
                Self::Jsonl
            }
            _ => Self::Csv,
        }
    }
}

/// How to read a file.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub format: Option<Format>,
    /// CSV only; detected from the header line when absent.
    pub delimiter: Option<u8>,
    /// Column renames, file name to Roster name.
    pub map: HashMap<String, String>,
    /// `sendInvite: true` on every record.
    pub send_invites: bool,
}

/// Parses `--map 'E-mail=email,Personeelsnummer=externalId'`.
pub fn parse_map(text: &str) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (from, to) = pair
            .split_once('=')
            .ok_or_else(|| format!("--map: \"{pair}\" is not FILE_COLUMN=rosterColumn"))?;
        map.insert(from.trim().to_owned(), to.trim().to_owned());
    }
    Ok(map)
}

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    pub email: String,
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// The file's rows as records, with the rows that have problems apart.
#[derive(Debug, Default)]
pub struct FileRows {
    /// The records, each the JSON text of a `SyncRecord`.
    pub records: Vec<String>,
    /// Each record's line and email, in order.
    pub lines: Vec<(u64, String)>,
    /// Group names the records use, as written (first spelling).
    pub groups: BTreeSet<String>,
    pub problems: Vec<Problem>,
    /// Data rows read (with and without problems).
    pub rows: u64,
}

/// The profile and membership columns, in the order an export writes
/// them; then `groups`, then `attr.<key>`.
pub const FIELDS: [&str; 10] = [
    "email",
    "externalId",
    "firstName",
    "lastName",
    "name",
    "mobile",
    "locale",
    "timezone",
    "role",
    "status",
];

/// Reads `path`; `progress` is called with the rows read so far, now and
/// then. `Err` is a file that cannot be read as a whole.
pub fn read(
    path: &Path,
    options: &ReadOptions,
    progress: impl FnMut(u64),
) -> Result<FileRows, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let format = options.format.unwrap_or_else(|| Format::of_path(path));
    read_bytes(&bytes, format, options, progress)
}

/// Reads a file's bytes (an upload to the console, or a file read whole).
pub fn read_bytes(
    bytes: &[u8],
    format: Format,
    options: &ReadOptions,
    mut progress: impl FnMut(u64),
) -> Result<FileRows, String> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut out = Collector::new(options.send_invites);
    match format {
        Format::Csv => read_csv(body, options, &mut out, &mut progress)?,
        Format::Jsonl => read_jsonl(body, options, &mut out, &mut progress)?,
    }
    Ok(out.finish())
}

/// `,` or `;`, whichever the header line has more of outside quotes.
fn detect_delimiter(body: &[u8]) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0, 0, false);
    for &b in body.iter().take_while(|&&b| b != b'\n') {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

fn read_csv(
    body: &[u8],
    options: &ReadOptions,
    out: &mut Collector,
    progress: &mut impl FnMut(u64),
) -> Result<(), String> {
    let delimiter = options.delimiter.unwrap_or_else(|| detect_delimiter(body));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| csv_error(&e, "the header line"))?
        .clone();
    let names: Vec<String> = headers
        .iter()
        .map(|h| column_name(h.trim(), &options.map))
        .collect::<Result<_, _>>()?;
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(format!("line 1, column {}: a second {name} column", i + 1));
        }
    }
    if !names.iter().any(|n| n == "email") {
        return Err("line 1: there is no email column (name it with --map 'E-mail=email')".into());
    }
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(&e, "a row")),
        }
        let line = record.position().map(|p| p.line()).unwrap_or_default();
        let mut fields = Map::new();
        for (name, cell) in names.iter().zip(record.iter()) {
            fields.insert(name.clone(), Value::String(cell.to_owned()));
        }
        out.row(line, fields, true);
        if out.out.rows.is_multiple_of(1000) {
            progress(out.out.rows);
        }
    }
    progress(out.out.rows);
    Ok(())
}

/// A CSV error, with its line and column when known.
fn csv_error(e: &csv::Error, what: &str) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { pos, err } => format!(
            "line {}, column {}: not UTF-8; save the file as UTF-8",
            pos.as_ref().map(|p| p.line()).unwrap_or_default(),
            err.field() + 1
        ),
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "line {}: {len} fields where the header has {expected_len} (check the quoting and the delimiter)",
            pos.as_ref().map(|p| p.line()).unwrap_or_default()
        ),
        _ => format!("{what} cannot be read: {e}"),
    }
}

/// The Roster name of a file's column.
fn column_name(header: &str, map: &HashMap<String, String>) -> Result<String, String> {
    let name = map.get(header).map(String::as_str).unwrap_or(header);
    if FIELDS.contains(&name)
        || name == "groups"
        || name.strip_prefix("attr.").is_some_and(|k| !k.is_empty())
    {
        return Ok(name.to_owned());
    }
    Err(format!(
        "line 1: unknown column \"{header}\"; the columns are {}, groups and attr.<key>; rename with --map '{header}=email'",
        FIELDS.join(", ")
    ))
}

fn read_jsonl(
    body: &[u8],
    options: &ReadOptions,
    out: &mut Collector,
    progress: &mut impl FnMut(u64),
) -> Result<(), String> {
    for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = index as u64 + 1;
        let text = std::str::from_utf8(raw)
            .map_err(|e| format!("line {line}, byte {}: not UTF-8", e.valid_up_to() + 1))?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let object: Map<String, Value> = match serde_json::from_str(text) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(format!("line {line}: not a JSON object")),
            Err(e) => return Err(format!("line {line}, column {}: {e}", e.column())),
        };
        let mut fields = Map::new();
        for (key, value) in object {
            if key == "attributes" {
                let Value::Object(attributes) = value else {
                    return Err(format!("line {line}: attributes must be an object"));
                };
                for (k, v) in attributes {
                    fields.insert(format!("attr.{k}"), v);
                }
                continue;
            }
            let name = column_name(&key, &options.map)
                .map_err(|e| e.replacen("line 1", &format!("line {line}"), 1))?;
            fields.insert(name, value);
        }
        if !fields.contains_key("email") {
            return Err(format!("line {line}: no email"));
        }
        out.row(line, fields, false);
        if out.out.rows.is_multiple_of(1000) {
            progress(out.out.rows);
        }
    }
    progress(out.out.rows);
    Ok(())
}

/// Turns rows into records, checking what can be checked without the
/// database.
struct Collector {
    send_invites: bool,
    out: FileRows,
    emails: HashMap<String, u64>,
    external_ids: HashMap<String, u64>,
}

impl Collector {
    fn new(send_invites: bool) -> Self {
        Self {
            send_invites,
            out: FileRows::default(),
            emails: HashMap::new(),
            external_ids: HashMap::new(),
        }
    }

    fn finish(self) -> FileRows {
        self.out
    }

    /// One row: its fields by Roster column name. In CSV every value is
    /// text, and an empty cell means "not given".
    fn row(&mut self, line: u64, fields: Map<String, Value>, csv: bool) {
        self.out.rows += 1;
        let email = fields
            .get("email")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned();
        let problem = |column: &str, message: String| Problem {
            line,
            email: email.clone(),
            column: column.to_owned(),
            message,
        };
        let mut record = Map::new();
        let mut attributes = Map::new();
        let mut has_attributes = false;
        let mut problems = Vec::new();
        let mut groups: Vec<String> = Vec::new();
        for (name, value) in fields {
            let text = value.as_str().map(str::trim);
            if let Some(key) = name.strip_prefix("attr.") {
                has_attributes = true;
                match attribute(&value, csv) {
                    Ok(Some(v)) => {
                        attributes.insert(key.to_owned(), v);
                    }
                    Ok(None) => {}
                    Err(message) => problems.push(problem(&name, message)),
                }
                continue;
            }
            match name.as_str() {
                "groups" => {
                    let names: Vec<String> = match &value {
                        Value::Array(items) => items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_owned))
                            .collect(),
                        Value::String(s) => s.split('|').map(str::to_owned).collect(),
                        Value::Null => continue,
                        _ => {
                            problems.push(problem("groups", "give group names".into()));
                            continue;
                        }
                    };
                    groups = names
                        .into_iter()
                        .map(|n| n.trim().to_owned())
                        .filter(|n| !n.is_empty())
                        .collect();
                    record.insert("groups".into(), json!(groups));
                }
                "role" | "status" => {
                    let Some(text) = text.filter(|t| !t.is_empty()) else {
                        continue;
                    };
                    let allowed: &[&str] = if name == "role" {
                        &["user", "admin"]
                    } else {
                        &["active", "retired"]
                    };
                    let lower = text.to_ascii_lowercase();
                    if allowed.contains(&lower.as_str()) {
                        record.insert(name.clone(), json!(lower.to_ascii_uppercase()));
                    } else {
                        problems.push(problem(
                            &name,
                            format!("unknown {name} \"{text}\" ({})", allowed.join(" or ")),
                        ));
                    }
                }
                _ => match text {
                    Some("") => {}
                    Some(text) => {
                        record.insert(name, json!(text));
                    }
                    None if value.is_null() => {}
                    None => problems.push(problem(&name, "give text".into())),
                },
            }
        }
        if email.is_empty() {
            problems.push(problem("email", "the email is empty".into()));
        }
        let key = email.to_lowercase();
        if !email.is_empty() {
            if let Some(first) = self.emails.get(&key) {
                problems.push(problem("email", format!("{email} is also on line {first}")));
            } else {
                self.emails.insert(key, line);
            }
        }
        if let Some(external_id) = record.get("externalId").and_then(Value::as_str) {
            if let Some(first) = self.external_ids.get(external_id) {
                problems.push(problem(
                    "externalId",
                    format!("externalId \"{external_id}\" is also on line {first}"),
                ));
            } else {
                self.external_ids.insert(external_id.to_owned(), line);
            }
        }
        if !problems.is_empty() {
            self.out.problems.extend(problems);
            return;
        }
        if has_attributes {
            record.insert("attributes".into(), Value::Object(attributes));
        }
        if self.send_invites {
            record.insert("sendInvite".into(), json!(true));
        }
        for name in groups {
            if !self
                .out
                .groups
                .iter()
                .any(|g| g.to_lowercase() == name.to_lowercase())
            {
                self.out.groups.insert(name);
            }
        }
        self.out.records.push(Value::Object(record).to_string());
        self.out.lines.push((line, email));
    }
}

/// An attribute's value: in CSV, a number or `true`/`false` when it reads
/// as one, else the text; `None` for an empty cell. Objects and lists are
/// refused.
fn attribute(value: &Value, csv: bool) -> Result<Option<Value>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(_) | Value::Number(_) => Ok(Some(value.clone())),
        Value::String(text) if csv => {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            match serde_json::from_str::<Value>(text) {
                // Only what reads back as written: `1.50`, `1e3` or a
                // 30-digit code stay text.
                Ok(v @ (Value::Bool(_) | Value::Number(_))) if writes_back(&v, text) => Ok(Some(v)),
                Ok(Value::Object(_) | Value::Array(_)) => {
                    Err("an attribute must be text, a number or true/false".into())
                }
                _ => Ok(Some(Value::String(text.to_owned()))),
            }
        }
        Value::String(_) => Ok(Some(value.clone())),
        _ => Err("an attribute must be text, a number or true/false".into()),
    }
}

/// Whether `value` is written as `text` (`1.50` is not `1.5`).
fn writes_back(value: &Value, text: &str) -> bool {
    let written = value.to_string();
    written == text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str, options: &ReadOptions, ext: &str) -> Result<FileRows, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("members.{ext}"));
        std::fs::write(&path, text).unwrap();
        read(&path, options, |_| {})
    }

    #[test]
    fn csv_with_bom_semicolons_and_a_map() {
        let options = ReadOptions {
            map: parse_map("E-mail=email,Personeelsnummer=externalId").unwrap(),
            ..Default::default()
        };
        let text = "\u{feff}E-mail;Personeelsnummer;firstName;role;groups;attr.level\n\
                    ann@x.example;E1;Ann;Admin;Sales|EMEA;3\n\
                    bob@x.example;E2;Bob;;;\n";
        let rows = read_text(text, &options, "csv").unwrap();
        assert!(rows.problems.is_empty(), "{:?}", rows.problems);
        let records: Vec<Value> = rows
            .records
            .iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect();
        assert_eq!(
            records[0],
            json!({"email": "ann@x.example", "externalId": "E1", "firstName": "Ann", "role": "ADMIN",
                   "groups": ["Sales", "EMEA"], "attributes": {"level": 3}})
        );
        assert_eq!(records[1]["groups"], json!([]));
        assert_eq!(
            rows.lines,
            [(2, "ann@x.example".into()), (3, "bob@x.example".into())]
        );
        assert_eq!(rows.groups.len(), 2);
    }

    #[test]
    fn row_problems_name_line_and_column() {
        let text = "email,role,status,externalId,attr.x\n\
                    a@x.example,owner,active,E1,1\n\
                    b@x.example,user,gone,E2,{\"a\":1}\n\
                    A@x.example,user,active,E1,\n";
        let rows = read_text(text, &ReadOptions::default(), "csv").unwrap();
        let said: Vec<String> = rows.problems.iter().map(ToString::to_string).collect();
        assert!(
            said.contains(
                &"line 2, column role: unknown role \"owner\" (user or admin)".to_owned()
            ),
            "{said:?}"
        );
        assert!(
            said.iter().any(|s| s.starts_with("line 3, column status:")),
            "{said:?}"
        );
        assert!(
            said.iter().any(|s| s.starts_with("line 3, column attr.x:")),
            "{said:?}"
        );
        assert!(
            said.contains(&"line 4, column email: A@x.example is also on line 2".to_owned()),
            "{said:?}"
        );
        assert!(
            said.iter()
                .any(|s| s.starts_with("line 4, column externalId:")),
            "{said:?}"
        );
        assert_eq!(rows.rows, 3);
    }

    #[test]
    fn broken_files_stop_with_the_line() {
        let none = read_text("mail,name\na@x.example,A\n", &ReadOptions::default(), "csv");
        assert!(none.unwrap_err().contains("unknown column \"mail\""));
        let missing = read_text("name\nA\n", &ReadOptions::default(), "csv");
        assert!(missing.unwrap_err().contains("no email column"));
        let short = read_text(
            "email,firstName\na@x.example,A\nb@x.example\n",
            &ReadOptions::default(),
            "csv",
        );
        assert!(short.unwrap_err().starts_with("line 3:"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.csv");
        std::fs::write(&path, b"email,firstName\na@x.example,Ren\xe9\n").unwrap();
        let latin = read(&path, &ReadOptions::default(), |_| {}).unwrap_err();
        assert!(latin.starts_with("line 2, column 2: not UTF-8"), "{latin}");
        let json = read_text(
            "{\"email\":\"a@x.example\"}\n{\"email\":\n",
            &ReadOptions::default(),
            "jsonl",
        );
        assert!(json.unwrap_err().starts_with("line 2"));
    }

    #[test]
    fn csv_attributes_are_numbers_only_when_they_write_back() {
        for (cell, value) in [
            ("3", json!(3)),
            ("-2", json!(-2)),
            ("0.5", json!(0.5)),
            ("true", json!(true)),
            ("007", json!("007")),
            ("1.50", json!("1.50")),
            ("1e3", json!("1e3")),
            (
                "123456789012345678901234567890",
                json!("123456789012345678901234567890"),
            ),
            ("sales", json!("sales")),
        ] {
            assert_eq!(attribute(&json!(cell), true), Ok(Some(value)), "{cell}");
        }
        assert_eq!(attribute(&json!(" "), true), Ok(None));
        assert!(attribute(&json!("[1]"), true).is_err());
    }

    #[test]
    fn json_lines_take_objects_and_lists() {
        let text = "{\"email\":\"a@x.example\",\"firstName\":\"A\",\"groups\":[\"G\"],\"attributes\":{\"n\":1,\"s\":\"x\"}}\n\n\
                    {\"email\":\"b@x.example\",\"attributes\":{\"bad\":[1]}}\n";
        let rows = read_text(text, &ReadOptions::default(), "jsonl").unwrap();
        let records: Vec<Value> = rows
            .records
            .iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect();
        assert_eq!(records[0]["attributes"], json!({"n": 1, "s": "x"}));
        assert_eq!(rows.problems.len(), 1);
        assert_eq!(rows.problems[0].line, 3);
    }
}
