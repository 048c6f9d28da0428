//! `roster members import` and `export`: a directory file in, a directory
//! file out. Both speak GraphQL, either to the schema in this process
//! (with the operator's rights, on the configured database) or to a
//! running Roster over HTTP with the caller's token, so that a file does
//! exactly what the same `syncMembers` and `members` calls would. See
//! `docs/import.md`.

pub mod export;
pub mod import;
pub mod read;

use serde_json::{Value, json};

use crate::auth::Principal;
use crate::graphql::members::SyncRecords;
use crate::graphql::{Limits, RosterSchema};
use crate::service::Service;

/// Where the calls go.
pub enum Target {
    /// This process's schema, as `Principal` (the operator at the command
    /// line; the signed-in admin in the console).
    Local(Box<RosterSchema>, Box<Principal>),
    /// A running Roster: `url` is its base (`https://roster.example`).
    Remote {
        client: reqwest::Client,
        url: String,
        token: String,
    },
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(..) => f.write_str("Local"),
            Self::Remote { url, .. } => f.debug_struct("Remote").field("url", url).finish(),
        }
    }
}

/// Creates `path` for writing, readable by its owner only: exports and
/// reports hold people's addresses and numbers.
pub fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// The record JSON per remote call by default: under the server's 32 MiB
/// sync body limit with room for the rest of the request.
pub const DEFAULT_CHUNK_BYTES: usize = 24 * 1024 * 1024;

/// What a call failed with, said for the person at the terminal.
pub type CallError = String;

impl Target {
    pub fn local(service: Service) -> Self {
        let limits = Limits {
            depth: 16,
            complexity: 5000,
            aliases: 30,
            directives: 20,
            introspection: false,
        };
        Self::Local(
            Box::new(crate::graphql::build_schema(service, limits)),
            Box::new(Principal::cli()),
        )
    }

    /// A running schema, as `principal` (the console's imports).
    pub fn as_caller(schema: RosterSchema, principal: Principal) -> Self {
        Self::Local(Box::new(schema), Box::new(principal))
    }

    pub fn remote(url: &str, token: &str) -> Self {
        Self::Remote {
            // A large sync may take minutes; a stuck one does not hang
            // the command for ever.
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30 * 60))
                .build()
                .unwrap_or_default(),
            url: format!("{}/graphql", url.trim_end_matches('/')),
            token: token.to_owned(),
        }
    }

    /// The most record JSON one `syncMembers` call carries: a remote
    /// request stays under the server's body limit for syncs (32 MiB by
    /// default); this process has no such limit.
    pub fn chunk_bytes(&self, asked: Option<usize>) -> usize {
        match self {
            Self::Local(..) => usize::MAX,
            Self::Remote { .. } => asked.unwrap_or(DEFAULT_CHUNK_BYTES),
        }
    }

    /// Runs `query` and answers its `data`; GraphQL errors become one
    /// message. `records` is the JSON text of a `syncMembers` records list,
    /// passed beside the variables (as `$records`).
    pub async fn call(
        &self,
        query: &str,
        variables: Value,
        records: Option<String>,
    ) -> Result<Value, CallError> {
        let answer = match self {
            Self::Local(schema, principal) => {
                let mut variables = variables;
                let mut request =
                    async_graphql::Request::new(query).data(principal.as_ref().clone());
                if let Some(records) = records {
                    // The records go in as typed records, as the HTTP
                    // layer hands over a large sync body.
                    let typed = SyncRecords::from_json(&records)
                        .map_err(|e| format!("the records do not read back: {e}"))?;
                    request = request.data(typed);
                    variables["records"] = json!([]);
                }
                let request = request.variables(async_graphql::Variables::from_json(variables));
                serde_json::to_value(schema.execute(request).await)
                    .map_err(|e| format!("the answer cannot be read: {e}"))?
            }
            Self::Remote { client, url, token } => {
                // The body is written by hand so that the records, already
                // JSON text, are not parsed and written again.
                let mut vars = variables.to_string();
                if let Some(records) = records {
                    vars.truncate(vars.len() - 1);
                    if vars.len() > 1 {
                        vars.push(',');
                    }
                    vars.push_str("\"records\":");
                    vars.push_str(&records);
                    vars.push('}');
                }
                let body = format!(
                    "{{\"query\":{},\"variables\":{vars}}}",
                    serde_json::to_string(query).unwrap_or_default()
                );
                let response = client
                    .post(url)
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("cannot reach {url}: {e}"))?;
                let status = response.status();
                let text = response
                    .text()
                    .await
                    .map_err(|e| format!("reading the answer of {url} failed: {e}"))?;
                serde_json::from_str(&text).map_err(|_| {
                    format!(
                        "{url} answered {status}: {}",
                        text.chars().take(300).collect::<String>()
                    )
                })?
            }
        };
        if let Some(errors) = answer["errors"].as_array().filter(|e| !e.is_empty()) {
            let messages: Vec<String> = errors
                .iter()
                .map(|e| {
                    let code = e["extensions"]["code"].as_str().unwrap_or("ERROR");
                    format!("{code}: {}", e["message"].as_str().unwrap_or_default())
                })
                .collect();
            return Err(messages.join("; "));
        }
        match &answer["data"] {
            Value::Object(data) if !data.is_empty() => Ok(answer["data"].clone()),
            _ => Err("the server answered without data".into()),
        }
    }
}
