//! `roster members export`: the org's members, a keyset page at a time,
//! as CSV (the columns `import` reads) or JSON Lines. Memory stays
//! bounded by one page: a CSV export reads the pages twice, first for the
//! attribute keys its header needs.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::{Map, Value, json};

use super::Target;
use super::read::{FIELDS, Format};

/// Which members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statuses {
    Active,
    Retired,
    All,
}

impl Statuses {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            "all" => Ok(Self::All),
            other => Err(format!("--status {other}: active, retired or all")),
        }
    }

    fn variable(self) -> Value {
        match self {
            Self::Active => json!(["ACTIVE"]),
            Self::Retired => json!(["RETIRED"]),
            Self::All => Value::Null,
        }
    }
}

const PAGE: &str = "query($org: Uuid, $after: String, $statuses: [MemberStatus!]) {
  members(org: $org, first: 500, after: $after, statuses: $statuses, sortBy: {field: EMAIL}) {
    pageInfo { hasNextPage endCursor }
    nodes { email externalId firstName lastName name mobile locale timezone role status attributes groups { name } }
  }
}";

/// Calls `each` with every member, a page at a time.
async fn pages(
    target: &Target,
    org: uuid::Uuid,
    statuses: Statuses,
    mut each: impl FnMut(&Value) -> Result<(), String>,
) -> Result<u64, String> {
    let mut after: Option<String> = None;
    let mut count = 0;
    loop {
        let variables = json!({ "org": org, "after": after, "statuses": statuses.variable() });
        let data = target.call(PAGE, variables, None).await?;
        let page = &data["members"];
        for node in page["nodes"].as_array().into_iter().flatten() {
            each(node)?;
            count += 1;
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return Ok(count);
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

/// A member's fields as the file has them: role and status lower-case,
/// groups by name.
fn row(node: &Value) -> Map<String, Value> {
    let mut row = Map::new();
    for field in FIELDS {
        let value = match (field, &node[field]) {
            ("role" | "status", Value::String(s)) => json!(s.to_lowercase()),
            (_, value) => value.clone(),
        };
        if !value.is_null() {
            row.insert(field.to_owned(), value);
        }
    }
    let groups: Vec<Value> = node["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| g["name"].clone())
        .collect();
    row.insert("groups".into(), Value::Array(groups));
    row
}

/// Writes the org's members to `out`; answers how many.
pub async fn export(
    target: &Target,
    org: uuid::Uuid,
    format: Format,
    statuses: Statuses,
    out: &mut dyn Write,
) -> Result<u64, String> {
    let io = |e: std::io::Error| format!("writing the export failed: {e}");
    match format {
        Format::Jsonl => {
            pages(target, org, statuses, |node| {
                let mut line = row(node);
                let attributes = node["attributes"].clone();
                if attributes.as_object().is_some_and(|a| !a.is_empty()) {
                    line.insert("attributes".into(), attributes);
                }
                serde_json::to_writer(&mut *out, &line)
                    .map_err(|e| format!("writing the export failed: {e}"))?;
                out.write_all(b"\n").map_err(io)
            })
            .await
        }
        Format::Csv => {
            let mut keys = BTreeSet::new();
            pages(target, org, statuses, |node| {
                if let Some(attributes) = node["attributes"].as_object() {
                    keys.extend(attributes.keys().cloned());
                }
                Ok(())
            })
            .await?;
            let mut writer = csv::Writer::from_writer(&mut *out);
            let csv_error = |e: csv::Error| format!("writing the export failed: {e}");
            let mut header: Vec<String> = FIELDS.iter().map(|f| (*f).to_owned()).collect();
            header.push("groups".into());
            header.extend(keys.iter().map(|k| format!("attr.{k}")));
            writer.write_record(&header).map_err(csv_error)?;
            let count = pages(target, org, statuses, |node| {
                let fields = row(node);
                let mut cells: Vec<String> = FIELDS
                    .iter()
                    .map(|f| {
                        fields
                            .get(*f)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .collect();
                let groups: Vec<&str> = fields["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                cells.push(groups.join("|"));
                for key in &keys {
                    cells.push(match &node["attributes"][key] {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                }
                writer.write_record(&cells).map_err(csv_error)
            })
            .await?;
            writer
                .flush()
                .map_err(|e| format!("writing the export failed: {e}"))?;
            Ok(count)
        }
    }
}
