//! Parsed documents, kept for reuse, and automatic persisted queries.
//!
//! Clients send the same few documents again and again with new
//! variables. Parsing one costs more than running a lookup's SQL, so the
//! parsed form of each recent document is kept, keyed by its text, and a
//! request for a known text skips the parser (validation still runs, on
//! every request, against its own variables). Only a document that passed
//! validation, and so the depth, complexity and alias limits, is kept: a
//! parsed document takes far more memory than its text, and the limits
//! bound it.
//!
//! Automatic persisted queries follow Apollo's protocol: a request may carry
//! `extensions.persistedQuery = { version: 1, sha256Hash }` and leave the
//! query out. A hash this instance does not know answers
//! `PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`), and the
//! client sends the query with its hash once, which registers it.
//! Registrations are kept per org, and operators' apart from any org's, so
//! that a hash found tells nothing about what callers in another org sent.
//! (Apollo's own extension, which async-graphql ships, keys by hash alone,
//! and leaves the query text empty, which the GET and body-limit checks
//! here need to read.)

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Documents longer than this are parsed every time.
const MAX_CACHED_QUERY: usize = 16 * 1024;
/// At most this many parsed documents are kept.
const PARSED_ENTRIES: usize = 512;
/// Bytes of persisted queries kept per instance, over all orgs: their text
/// and [`ENTRY_BYTES`] each.
const PERSISTED_BYTES: usize = 8 * 1024 * 1024;
/// What a persisted query costs besides its text (key, pointers, the map's
/// slot), counted against the budget so that many tiny ones are bounded
/// too.
const ENTRY_BYTES: usize = 128;
/// The longest query that can be persisted.
const MAX_PERSISTED_QUERY: usize = 64 * 1024;

/// Who may see a persisted query: an org's callers, or the operators.
pub type Audience = Option<Uuid>;

/// Why a persisted query was not resolved; each is a request error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistedError {
    /// Not `{ version: 1, sha256Hash: <64 hex digits> }`.
    Malformed,
    /// The hash is unknown here; send the query with it.
    NotFound,
    /// The query sent does not have the hash sent.
    HashMismatch,
}

impl PersistedError {
    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => {
                "extensions.persistedQuery must be { version: 1, sha256Hash: <SHA-256 of the query in hex> }"
            }
            Self::NotFound => "PersistedQueryNotFound",
            Self::HashMismatch => "provided sha does not match query",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "BAD_REQUEST",
            Self::NotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::HashMismatch => "PERSISTED_QUERY_HASH_MISMATCH",
        }
    }
}

/// What [`Documents::prepare`] found.
#[derive(Default)]
pub struct Prepared {
    /// The request error for a missing non-null variable.
    pub missing: Option<String>,
    /// A document parsed now, to keep if it runs.
    to_keep: Option<(String, ExecutableDocument)>,
}

/// The instance's parsed documents and persisted queries.
pub struct Documents {
    parsed: Mutex<LruCache<String, ExecutableDocument>>,
    persisted: Mutex<Persisted>,
}

struct Persisted {
    queries: LruCache<(Audience, [u8; 32]), Arc<str>>,
    bytes: usize,
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            parsed: Mutex::new(LruCache::new(
                NonZeroUsize::new(PARSED_ENTRIES).unwrap_or(NonZeroUsize::MIN),
            )),
            persisted: Mutex::new(Persisted {
                queries: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents").finish_non_exhaustive()
    }
}

impl Documents {
    /// Hands `request` its document parsed, from the cache or parsed now.
    /// A document that does not parse is left for the executor, which
    /// reports the syntax error. Returns the request error when a variable
    /// the operation needs is missing (see [`missing_variable`]), and the
    /// document to [`Documents::keep`] once it has run.
    pub fn prepare(&self, request: &mut async_graphql::Request) -> Prepared {
        let (doc, kept) = match self.cached(&request.query) {
            Some(doc) => (doc, true),
            None => match async_graphql::parser::parse_query(&request.query) {
                Ok(doc) => (doc, false),
                Err(_) => return Prepared::default(),
            },
        };
        let missing = missing_variable(&doc, request);
        let to_keep = (!kept && request.query.len() <= MAX_CACHED_QUERY)
            .then(|| (request.query.clone(), doc.clone()));
        request.set_parsed_query(doc);
        Prepared { missing, to_keep }
    }

    /// Keeps a document that ran (it passed validation and the limits).
    pub fn keep(&self, prepared: Prepared) {
        if let Some((query, doc)) = prepared.to_keep {
            lock(&self.parsed).put(query, doc);
        }
    }

    /// The parsed form of `query`, when it parses: kept, or parsed now.
    pub fn parsed(&self, query: &str) -> Option<ExecutableDocument> {
        self.cached(query)
            .or_else(|| async_graphql::parser::parse_query(query).ok())
    }

    fn cached(&self, query: &str) -> Option<ExecutableDocument> {
        lock(&self.parsed).get(query).cloned()
    }

    /// Resolves `extensions.persistedQuery` of `request`, for callers of
    /// `audience`: fills in the query of a known hash, or registers the
    /// query sent with its hash. A request without the extension is left
    /// as it is.
    pub fn resolve_persisted(
        &self,
        audience: Audience,
        request: &mut async_graphql::Request,
    ) -> Result<(), PersistedError> {
        let Some(extension) = request.extensions.remove("persistedQuery") else {
            return Ok(());
        };
        let hash = persisted_hash(extension).ok_or(PersistedError::Malformed)?;
        let key = (audience, hash);
        if request.query.is_empty() {
            let mut persisted = lock(&self.persisted);
            let query = persisted
                .queries
                .get(&key)
                .ok_or(PersistedError::NotFound)?;
            request.query = query.to_string();
            return Ok(());
        }
        if <[u8; 32]>::from(Sha256::digest(request.query.as_bytes())) != hash {
            return Err(PersistedError::HashMismatch);
        }
        if request.query.len() <= MAX_PERSISTED_QUERY {
            lock(&self.persisted).put(key, Arc::from(request.query.as_str()));
        }
        Ok(())
    }
}

/// A variable of a non-null type, without a default, that the request does
/// not give (or gives as null): the variables do not coerce, so the request
/// is refused before it runs, as GraphQL over HTTP has it. (async-graphql
/// would run it, and fail each field that uses the variable.)
fn missing_variable(doc: &ExecutableDocument, request: &async_graphql::Request) -> Option<String> {
    use async_graphql::parser::types::DocumentOperations;
    let operation = match (&doc.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    operation
        .node
        .variable_definitions
        .iter()
        .map(|v| &v.node)
        .find(|v| {
            !v.var_type.node.nullable
                && v.default_value.is_none()
                && request
                    .variables
                    .get(&v.name.node)
                    .is_none_or(|value| *value == async_graphql::Value::Null)
        })
        .map(|v| {
            format!(
                "variable \"${}\" of type \"{}\" was not given",
                v.name.node, v.var_type.node
            )
        })
}

impl Persisted {
    /// Keeps `query`, dropping the least recently used beyond the budget.
    fn put(&mut self, key: (Audience, [u8; 32]), query: Arc<str>) {
        self.bytes += query.len() + ENTRY_BYTES;
        if let Some(old) = self.queries.put(key, query) {
            self.bytes -= old.len() + ENTRY_BYTES;
        }
        while self.bytes > PERSISTED_BYTES {
            match self.queries.pop_lru() {
                Some((_, old)) => self.bytes -= old.len() + ENTRY_BYTES,
                None => break,
            }
        }
    }
}

/// The hash of a `{ version: 1, sha256Hash }` extension value.
fn persisted_hash(extension: async_graphql::Value) -> Option<[u8; 32]> {
    use async_graphql::Value;
    let Value::Object(fields) = extension else {
        return None;
    };
    let version_ok =
        matches!(fields.get("version"), Some(Value::Number(n)) if n.as_i64() == Some(1));
    let Some(Value::String(hex)) = fields.get("sha256Hash") else {
        return None;
    };
    if !version_ok || hex.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let digits = std::str::from_utf8(pair).ok()?;
        hash[i] = u8::from_str_radix(digits, 16).ok()?;
    }
    Some(hash)
}

/// A lock that a panic elsewhere does not poison for good: the caches hold
/// nothing that a half-done update could make wrong.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, hash: Option<&str>) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(query);
        if let Some(hash) = hash {
            request.extensions.insert(
                "persistedQuery".into(),
                async_graphql::Value::from_json(
                    serde_json::json!({ "version": 1, "sha256Hash": hash }),
                )
                .unwrap(),
            );
        }
        request
    }

    fn hex(query: &str) -> String {
        Sha256::digest(query.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn persisted_queries_are_kept_per_audience() {
        let documents = Documents::default();
        let query = "{ __typename }";
        let org = Some(Uuid::now_v7());
        let mut unknown = request("", Some(&hex(query)));
        assert_eq!(
            documents.resolve_persisted(org, &mut unknown),
            Err(PersistedError::NotFound)
        );
        let mut register = request(query, Some(&hex(query)));
        documents.resolve_persisted(org, &mut register).unwrap();
        let mut known = request("", Some(&hex(query)));
        documents.resolve_persisted(org, &mut known).unwrap();
        assert_eq!(known.query, query);
        // Another org, and the operators, do not see it.
        for other in [Some(Uuid::now_v7()), None] {
            let mut elsewhere = request("", Some(&hex(query)));
            assert_eq!(
                documents.resolve_persisted(other, &mut elsewhere),
                Err(PersistedError::NotFound)
            );
        }
        let mut wrong = request("{ a: __typename }", Some(&hex(query)));
        assert_eq!(
            documents.resolve_persisted(org, &mut wrong),
            Err(PersistedError::HashMismatch)
        );
        let mut malformed = request(query, Some("abc"));
        assert_eq!(
            documents.resolve_persisted(org, &mut malformed),
            Err(PersistedError::Malformed)
        );
        // Without the extension nothing changes.
        let mut plain = request(query, None);
        documents.resolve_persisted(org, &mut plain).unwrap();
        assert_eq!(plain.query, query);
    }

    #[test]
    fn persisted_text_stays_within_its_budget() {
        let documents = Documents::default();
        let filler = "x".repeat(MAX_PERSISTED_QUERY - 20);
        for i in 0..(PERSISTED_BYTES / filler.len() + 10) {
            let query = format!("{{ __typename }} # {i} {filler}");
            let mut register = request(&query, Some(&hex(&query)));
            documents.resolve_persisted(None, &mut register).unwrap();
        }
        let persisted = lock(&documents.persisted);
        assert!(persisted.bytes <= PERSISTED_BYTES);
        let held: usize = persisted
            .queries
            .iter()
            .map(|(_, q)| q.len() + ENTRY_BYTES)
            .sum();
        assert_eq!(held, persisted.bytes);
    }

    #[test]
    fn only_documents_that_ran_are_kept() {
        let documents = Documents::default();
        let mut first = async_graphql::Request::new("{ __typename }");
        let prepared = documents.prepare(&mut first);
        assert!(prepared.missing.is_none());
        // Parsed, but not kept until it has run.
        assert_eq!(lock(&documents.parsed).len(), 0);
        documents.keep(prepared);
        assert_eq!(lock(&documents.parsed).len(), 1);
        // Found again, and not offered for keeping twice.
        let mut again = async_graphql::Request::new("{ __typename }");
        let prepared = documents.prepare(&mut again);
        assert!(prepared.to_keep.is_none());
        // A document that does not parse is never kept.
        let mut broken = async_graphql::Request::new("{ broken");
        let prepared = documents.prepare(&mut broken);
        assert!(prepared.to_keep.is_none());
        documents.keep(prepared);
        assert_eq!(lock(&documents.parsed).len(), 1);
        // A missing non-null variable is found.
        let mut missing = async_graphql::Request::new("query($e: String!) { __typename }");
        assert!(documents.prepare(&mut missing).missing.is_some());
    }
}
