//! Every setting: its flag, its `ROSTER_*` variable and its default.
//! Flags win over variables. The variable names are part of the contract.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Roster: multi-tenant organisation and membership admin over GraphQL.
#[derive(Debug, Parser)]
#[command(name = "roster", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Settings every command shares.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Database: `postgres://…`, or a SQLite path (`sqlite://path` or a
    /// plain path), created and migrated on first start.
    #[arg(
        long,
        env = "ROSTER_DATABASE_URL",
        default_value = "roster.db",
        global = true
    )]
    pub database_url: String,
    /// HS256 signing secret (at least 32 bytes). Without it and without a
    /// public key, a SQLite deployment generates one beside the database.
    #[arg(long, env = "ROSTER_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,
    /// PEM file with the public key that verifies tokens (EdDSA, ES256 or
    /// RS256, named by --jwt-algorithm).
    #[arg(long, env = "ROSTER_JWT_PUBLIC_KEY", global = true)]
    pub jwt_public_key: Option<PathBuf>,
    /// PEM file with the matching private key, to mint tokens with
    /// `token issue` when verifying with a public key.
    #[arg(long, env = "ROSTER_JWT_PRIVATE_KEY", global = true)]
    pub jwt_private_key: Option<PathBuf>,
    /// The one algorithm tokens may use: HS256, EdDSA, ES256 or RS256.
    #[arg(long, env = "ROSTER_JWT_ALGORITHM", global = true)]
    pub jwt_algorithm: Option<String>,
    /// Required `iss` claim.
    #[arg(
        long,
        env = "ROSTER_JWT_ISSUER",
        default_value = "roster",
        global = true
    )]
    pub jwt_issuer: String,
    /// Required `aud` claim.
    #[arg(
        long,
        env = "ROSTER_JWT_AUDIENCE",
        default_value = "roster",
        global = true
    )]
    pub jwt_audience: String,
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or
    /// `roster=debug`.
    #[arg(long, env = "ROSTER_LOG", default_value = "info", global = true)]
    pub log: String,
    /// How long events are kept (`400d`, `90d`, `12h`); `0` keeps them
    /// forever. `serve` prunes older ones in the background.
    #[arg(
        long,
        env = "ROSTER_EVENT_RETENTION",
        default_value = "400d",
        value_parser = parse_retention,
        global = true
    )]
    pub event_retention: Duration,
}

/// A retention: a duration, or `0` for keeping forever.
fn parse_retention(text: &str) -> Result<Duration, String> {
    match text.trim() {
        "0" => Ok(Duration::ZERO),
        other => humantime::parse_duration(other).map_err(|e| e.to_string()),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API (the default).
    Serve(Box<Serve>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Mint or revoke tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Provision orgs.
    #[command(subcommand)]
    Org(OrgCommand),
    /// The audit log: print it, or prune it now.
    #[command(subcommand)]
    Events(EventsCommand),
    /// An org's directory: import a file, export one.
    #[command(subcommand)]
    Members(MembersCommand),
    /// The admin console at /admin: sign-in links, ending sessions.
    #[command(subcommand)]
    Console(ConsoleCommand),
    /// Print the GraphQL schema (SDL).
    Schema,
}

#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Print a one-time link that signs an org's admin in to the console
    /// (usable once, for 15 minutes).
    Link {
        #[arg(long)]
        org: uuid::Uuid,
        /// The admin's user id.
        #[arg(long)]
        user: uuid::Uuid,
        /// The console's public base URL.
        #[arg(
            long,
            env = "ROSTER_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        url: String,
    },
    /// End every console session of a user (in one org, when given).
    Revoke {
        /// The user id (or, for an operator, the token's `sub`).
        #[arg(long)]
        user: String,
        #[arg(long)]
        org: Option<uuid::Uuid>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Bring an org in step with a CSV or JSON Lines file (one
    /// `syncMembers` call; see docs/import.md).
    Import(MembersImport),
    /// Write an org's members to a CSV or JSON Lines file.
    Export(MembersExport),
}

/// Where a members command runs: on the configured database as the
/// operator, or against a running Roster with a token.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// A running Roster's base URL, e.g. `https://roster.example`.
    #[arg(long, requires = "token")]
    pub url: Option<String>,
    /// The bearer token for `--url` (an admin's, or an integration token
    /// with members:write, or members:read to export).
    #[arg(long, env = "ROSTER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct MembersImport {
    /// The file: CSV with a header row (UTF-8, `,` or `;`), or JSON Lines
    /// (`.jsonl`).
    pub file: std::path::PathBuf,
    #[arg(long)]
    pub org: uuid::Uuid,
    /// `csv` or `jsonl`; by default from the file's extension.
    #[arg(long)]
    pub format: Option<String>,
    /// The CSV delimiter; detected from the header line by default.
    #[arg(long)]
    pub delimiter: Option<char>,
    /// Column renames: `'E-mail=email,Personeelsnummer=externalId'`.
    #[arg(long)]
    pub map: Option<String>,
    /// `merge` leaves members the file does not name; `mirror` retires
    /// the active ones.
    #[arg(long, default_value = "merge")]
    pub mode: String,
    /// `abort` writes nothing unless every row is valid; `skip` writes the
    /// valid rows.
    #[arg(long, default_value = "abort")]
    pub on_error: String,
    /// Say what would happen; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Invite every member the file names (see docs/invitations.md).
    #[arg(long)]
    pub send_invites: bool,
    /// Create the groups the file names that the org lacks, first.
    #[arg(long)]
    pub create_groups: bool,
    /// Write one line per failed or changed row: line, email, result,
    /// errorCode, error.
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// With --url: the most record JSON per request (default 24 MiB,
    /// under the server's sync body limit); a larger file goes in parts.
    #[arg(long)]
    pub chunk_bytes: Option<usize>,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Clone, Args)]
pub struct MembersExport {
    #[arg(long)]
    pub org: uuid::Uuid,
    /// `csv` or `jsonl`.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// `active`, `retired` or `all`.
    #[arg(long, default_value = "all")]
    pub status: String,
    /// The file to write; stdout by default.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print events as JSON lines, oldest first.
    Tail {
        /// Only this org's events.
        #[arg(long)]
        org: Option<uuid::Uuid>,
        /// Keep printing new events as they are recorded.
        #[arg(long)]
        follow: bool,
        /// Only events of this type (repeatable), such as `member.retired`.
        #[arg(long = "type")]
        types: Vec<String>,
        /// Start after this position (an event's `position`).
        #[arg(long)]
        after: Option<String>,
    },
    /// Delete the events older than ROSTER_EVENT_RETENTION now.
    Prune,
}

/// Server settings.
#[derive(Debug, Clone, Args)]
pub struct Serve {
    /// Address to listen on, `host:port`; port 0 picks a free one (the bound
    /// address is logged).
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "ROSTER_WORKERS")]
    pub workers: Option<usize>,
    /// Database connections in the pool.
    #[arg(long, env = "ROSTER_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,
    /// How long a token found in good standing (not revoked, org active)
    /// is trusted before the database is asked again; `0s` asks on every
    /// request. Revocations and suspensions made through this server apply
    /// at once; ones made by another process within this time.
    #[arg(long, env = "ROSTER_AUTH_CACHE_TTL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub auth_cache_ttl: std::time::Duration,
    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "ROSTER_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest body accepted for a request whose document is a single
    /// `syncMembers` mutation (a whole directory); other requests keep the
    /// limit above.
    #[arg(long, env = "ROSTER_MAX_SYNC_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_sync_body_bytes: usize,
    /// Deepest selection nesting a query may have.
    #[arg(long, env = "ROSTER_MAX_DEPTH", default_value_t = 16)]
    pub max_depth: usize,
    /// Highest query complexity (one per field, by default).
    #[arg(long, env = "ROSTER_MAX_COMPLEXITY", default_value_t = 5000)]
    pub max_complexity: usize,
    /// Most field aliases in one document.
    #[arg(long, env = "ROSTER_MAX_ALIASES", default_value_t = 30)]
    pub max_aliases: usize,
    /// Most directives on one field.
    #[arg(long, env = "ROSTER_MAX_DIRECTIVES", default_value_t = 20)]
    pub max_directives: usize,
    /// Whether schema introspection is answered.
    #[arg(long, env = "ROSTER_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// The longest lifetime an org's admin may give an API token.
    #[arg(long, env = "ROSTER_API_TOKEN_MAX_TTL", default_value = "365d", value_parser = humantime::parse_duration)]
    pub api_token_max_ttl: std::time::Duration,
    /// Whether this instance sends webhooks. Any number of instances on one
    /// PostgreSQL may; on SQLite, only one process should.
    #[arg(long, env = "ROSTER_WEBHOOK_DELIVERY", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_delivery: bool,
    /// Whether endpoints may use plain `http` URLs.
    #[arg(long, env = "ROSTER_WEBHOOK_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_http: bool,
    /// Whether endpoints may be on loopback, private, link-local or
    /// metadata addresses.
    #[arg(long, env = "ROSTER_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
    /// How long a receiver has to answer a delivery.
    #[arg(long, env = "ROSTER_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub webhook_timeout: Duration,
    /// Endpoints this instance sends to at once (one request at a time
    /// each).
    #[arg(long, env = "ROSTER_WEBHOOK_CONCURRENCY", default_value_t = 16)]
    pub webhook_concurrency: usize,
    /// The wait before the first retry of a failed delivery; each later
    /// retry waits about twice as long (up to 6 h).
    #[arg(long, env = "ROSTER_WEBHOOK_FIRST_RETRY", default_value = "10s", value_parser = humantime::parse_duration)]
    pub webhook_first_retry: Duration,
    /// How long a delivery is retried before it is marked failed.
    #[arg(long, env = "ROSTER_WEBHOOK_RETRY_FOR", default_value = "3d", value_parser = humantime::parse_duration)]
    pub webhook_retry_for: Duration,
    /// How long an endpoint may fail without one success before it is
    /// disabled.
    #[arg(long, env = "ROSTER_WEBHOOK_DISABLE_AFTER", default_value = "5d", value_parser = humantime::parse_duration)]
    pub webhook_disable_after: Duration,
    /// How long an instance holds an endpoint without renewing; after it,
    /// another instance takes the endpoint over.
    #[arg(long, env = "ROSTER_WEBHOOK_LEASE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub webhook_lease: Duration,
    /// How often the worker looks for events written by other instances
    /// (writes on this one wake it at once).
    #[arg(long, env = "ROSTER_WEBHOOK_POLL", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub webhook_poll: Duration,
    /// How long an invitation link stays usable.
    #[arg(long, env = "ROSTER_INVITE_TTL", default_value = "7d", value_parser = humantime::parse_duration)]
    pub invite_ttl: Duration,
    /// The app's accept page, with `{token}` where the link's token goes,
    /// e.g. `https://app.example.com/join?token={token}`.
    #[arg(long, env = "ROSTER_INVITE_URL")]
    pub invite_url: Option<String>,
    /// Invitations an org may issue in any hour.
    #[arg(long, env = "ROSTER_INVITE_RATE", default_value_t = 1000)]
    pub invite_rate: u32,
    /// The key invitation links are made with (any length; 32 random bytes
    /// or more). Unset, a key is generated and kept in the database.
    #[arg(long, env = "ROSTER_INVITE_SECRET", hide_env_values = true)]
    pub invite_secret: Option<String>,
    /// Where invitation mails go out: `smtp://user:pass@host:587`
    /// (STARTTLS required, except to a loopback host), `smtps://…:465`
    /// (TLS from the start), or `smtp://…?tls=none`. Unset, Roster sends
    /// no mail (the `member.invited` webhook carries the link).
    #[arg(long, env = "ROSTER_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The invitation mails' sender.
    #[arg(
        long,
        env = "ROSTER_MAIL_FROM",
        default_value = "Roster <roster@localhost>"
    )]
    pub mail_from: String,
    /// A directory of invitation templates that replace the built-in ones
    /// (`invitation.<language>.subject`, `.txt`, `.html`).
    #[arg(long, env = "ROSTER_TEMPLATE_DIR")]
    pub template_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a token and print it alone on stdout.
    Issue(TokenIssue),
    /// Revoke a token this service minted, by its jti.
    Revoke {
        /// The token's `jti` claim.
        jti: String,
    },
    /// List an org's tokens as JSON lines, oldest first.
    List {
        #[arg(long)]
        org: uuid::Uuid,
        /// Revoked tokens too.
        #[arg(long)]
        include_revoked: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct TokenIssue {
    /// operator, admin or integration.
    #[arg(long)]
    pub role: String,
    /// The org an admin or integration token is bound to.
    #[arg(long)]
    pub org: Option<uuid::Uuid>,
    /// Space-separated scopes of an integration token, e.g.
    /// "members:read members:write groups:read groups:write".
    #[arg(long)]
    pub scope: Option<String>,
    /// The `sub` claim; for a person, their user id.
    #[arg(long)]
    pub sub: Option<String>,
    /// Lifetime, e.g. 15m, 1h, 30d.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    /// A name for the token, unique in its org (as the org's admins see it).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an org and print its id.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        slug: String,
    },
}

impl Serve {
    /// The serve settings when no subcommand was given: the flags'
    /// defaults, overridden by the `ROSTER_*` variables. A malformed
    /// variable is an error, as it is with `serve`.
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(Parser)]
        #[command(name = "roster")]
        struct Only {
            #[command(flatten)]
            serve: Serve,
        }
        Only::try_parse_from(["roster"]).map(|o| o.serve)
    }
}
