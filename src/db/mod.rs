//! Storage: one connection type for both backends, the pool, migrations and
//! the queries, one file per table family.
//!
//! The URL picks the backend: `postgres://` or `postgresql://` for
//! PostgreSQL, anything else (`sqlite://path` or a plain path) for SQLite.
//! Queries are written once against [`DbConn`]; the few places that must
//! differ per backend (transaction start, row locks) match on it here.
//! Nothing in this module checks permissions: that is the service's job.

pub mod console;
pub mod events;
pub mod groups;
pub mod invitations;
pub mod members;
pub mod models;
pub mod orgs;
pub mod schema;
pub mod scim;
pub mod tokens;
pub mod users;
pub mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{
    AnsiTransactionManager, InstrumentationEvent, SimpleConnection, TransactionManager,
};
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Rows per multi-row INSERT (well under both backends' bind limits).
pub const INSERT_CHUNK: usize = 200;
/// Values per `IN (...)` list.
pub const IN_CHUNK: usize = 500;

/// Inserts `rows` into `table`, [`INSERT_CHUNK`] rows per statement, on
/// the inner connection (`MultiConnection` has no multi-row INSERT).
macro_rules! insert_chunks {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let mut inserted = 0;
        for chunk in $rows.chunks($crate::db::INSERT_CHUNK) {
            inserted += match $conn {
                $crate::db::DbConn::Sqlite(c) => {
                    diesel::insert_into($table).values(chunk).execute(c)?
                }
                $crate::db::DbConn::Postgres(c) => {
                    diesel::insert_into($table).values(chunk).execute(c)?
                }
            };
        }
        Ok(inserted)
    }};
}
pub(crate) use insert_chunks;

/// How long a SQLite writer waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 15_000;

/// A connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend a database URL names, and the string to open it with.
    pub fn from_url(url: &str) -> (Self, String) {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Self::Postgres, url.to_owned())
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            (Self::Sqlite, path.to_owned())
        }
    }
}

/// Opens connections of one backend; SQLite ones get their pragmas here so
/// that every pooled connection has them.
#[derive(Debug, Clone)]
pub struct Manager {
    backend: Backend,
    target: String,
    statements: Arc<AtomicU64>,
}

impl Manager {
    pub fn new(url: &str) -> Self {
        let (backend, target) = Backend::from_url(url);
        Self {
            backend,
            target,
            statements: Arc::default(),
        }
    }

    /// Counts every statement run on the connection into `self.statements`.
    fn count_statements(&self, conn: &mut DbConn) {
        let statements = Arc::clone(&self.statements);
        let count = move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { .. } = event {
                statements.fetch_add(1, Ordering::Relaxed);
            }
        };
        match conn {
            DbConn::Postgres(c) => c.set_instrumentation(count),
            DbConn::Sqlite(c) => c.set_instrumentation(count),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens one connection outside any pool (CLI commands, migrations),
    /// switching a SQLite file to WAL first.
    pub fn open(&self) -> Result<DbConn, diesel::ConnectionError> {
        self.open_with(true)
    }

    /// Opens a connection; SQLite ones get their pragmas. Switching the
    /// journal to WAL takes an exclusive lock that the busy timeout does
    /// not wait for, so connections opened together would fail with
    /// "database is locked": the mode is set once, on the connection that
    /// [`Db::connect`] opens before the pool, and persists in the file.
    fn open_with(&self, set_wal: bool) -> Result<DbConn, diesel::ConnectionError> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.target).map(DbConn::Postgres),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target)?;
                let wal = if set_wal {
                    "PRAGMA journal_mode = WAL;"
                } else {
                    ""
                };
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                     {wal}
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;"
                ))
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        let mut conn = self
            .open_with(false)
            .map_err(r2d2::Error::ConnectionError)?;
        self.count_statements(&mut conn);
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// The pool and the backend it talks to.
#[derive(Clone)]
pub struct Db {
    pub pool: Pool,
    pub backend: Backend,
    /// How many statements the pool's connections have run.
    pub statements: Arc<AtomicU64>,
}

impl Db {
    /// Opens the pool; fails fast when the database cannot be reached. A
    /// SQLite file is created and switched to WAL by one connection before
    /// the pool opens the others (see [`Manager::open_with`]).
    pub fn connect(url: &str, size: u32) -> Result<Self, DbSetupError> {
        let manager = Manager::new(url);
        let backend = manager.backend();
        if backend == Backend::Sqlite {
            manager
                .open()
                .map_err(|e| DbSetupError(format!("cannot open the database: {e}")))?;
        }
        let statements = Arc::clone(&manager.statements);
        let pool = r2d2::Pool::builder()
            .max_size(size.max(1))
            .connection_timeout(Duration::from_secs(10))
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| DbSetupError(format!("cannot open the database: {e}")))?;
        Ok(Self {
            pool,
            backend,
            statements,
        })
    }

    /// Applies pending migrations; returns how many ran.
    pub fn migrate(&self) -> Result<usize, DbSetupError> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| DbSetupError(format!("cannot open the database: {e}")))?;
        run_migrations(&mut conn)
    }

    /// The server's key `name`, stored from `fresh` when there is none
    /// (see `invitations::server_key`).
    pub fn server_key(&self, name: &str, fresh: &str) -> Result<String, DbSetupError> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| DbSetupError(format!("cannot open the database: {e}")))?;
        invitations::server_key(&mut conn, name, fresh).map_err(|e| DbSetupError(e.to_string()))
    }
}

/// A failure to open or migrate the database, for the operator's eyes.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DbSetupError(pub String);

/// Applies the embedded migrations of the connection's backend.
pub fn run_migrations(conn: &mut DbConn) -> Result<usize, DbSetupError> {
    let migrations = match conn {
        DbConn::Postgres(_) => POSTGRES_MIGRATIONS,
        DbConn::Sqlite(_) => SQLITE_MIGRATIONS,
    };
    conn.run_pending_migrations(migrations)
        .map(|done| done.len())
        .map_err(|e| DbSetupError(format!("migration failed: {e}")))
}

/// Runs `f` in a write transaction. On SQLite it is `BEGIN IMMEDIATE`, so the
/// write lock is taken before the first read and a read-then-write cannot
/// fail with "database is locked" halfway; on PostgreSQL a plain
/// `BEGIN` (READ COMMITTED) with row locks where invariants need them.
pub fn write_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match f(conn) {
        Ok(value) => match DbConn::commit_transaction(conn) {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = DbConn::rollback_transaction(conn);
                Err(e.into())
            }
        },
        Err(e) => {
            // A failed rollback leaves the connection broken; r2d2 drops it.
            let _ = DbConn::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// For the rest of the current transaction, plans every statement for its
/// own parameters (PostgreSQL; nothing to do on SQLite). Bulk calls run a
/// few large `= ANY($1)` lookups whose cached generic plan can date from
/// when the tables were nearly empty and then scan them whole; a plan per
/// execution costs little next to such a lookup.
pub fn plan_each_statement(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Postgres(c) => c.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan"),
        DbConn::Sqlite(_) => Ok(()),
    }
}

/// Checks the database answers, for readiness probes.
pub fn ping(conn: &mut DbConn) -> diesel::QueryResult<()> {
    conn.batch_execute("SELECT 1")
}

/// LIKE pattern matching `term` anywhere in a lower-cased key column;
/// `\` escapes the pattern's own wildcards.
pub fn contains_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
