//! Start-up: open and migrate the database, load the token keys, build the
//! schema and bind the HTTP server. `main` and the tests share this path.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use crate::auth::jwt::{JwtKeys, parse_algorithm};
use crate::config::{Common, Serve};
use crate::db::{Backend, Db};
use crate::delivery;
use crate::domain::webhook::AddressPolicy;
use crate::graphql::{Limits, build_schema};
use crate::http::{self, AppState};
use crate::service::{DeliverySettings, InviteSettings, Service};

/// A start-up failure, said for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

impl From<crate::db::DbSetupError> for StartError {
    fn from(error: crate::db::DbSetupError) -> Self {
        Self(error.0)
    }
}

/// Where the signing key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// ROSTER_JWT_SECRET or ROSTER_JWT_PUBLIC_KEY.
    Configured,
    /// The secret file kept beside the SQLite database.
    SecretFile { path: PathBuf, created: bool },
}

/// Opens the database and applies pending migrations.
pub fn open_database(common: &Common, pool_size: u32) -> Result<Db, StartError> {
    let db = Db::connect(&common.database_url, pool_size)?;
    let applied = db.migrate()?;
    if applied > 0 {
        tracing::info!(applied, "database migrated");
    }
    Ok(db)
}

/// The smallest HS256 secret accepted, in bytes.
const MIN_SECRET_BYTES: usize = 32;

/// Loads the verification (and, where possible, signing) keys.
pub fn load_keys(common: &Common, backend: Backend) -> Result<(JwtKeys, KeyOrigin), StartError> {
    let algorithm = common
        .jwt_algorithm
        .as_deref()
        .map(parse_algorithm)
        .transpose()
        .map_err(StartError)?;
    let (issuer, audience) = (&common.jwt_issuer, &common.jwt_audience);
    if let Some(public) = &common.jwt_public_key {
        let algorithm = algorithm.ok_or_else(|| {
            StartError(
                "ROSTER_JWT_PUBLIC_KEY needs ROSTER_JWT_ALGORITHM (EdDSA, ES256 or RS256)".into(),
            )
        })?;
        let read = |path: &Path| {
            std::fs::read(path)
                .map_err(|e| StartError(format!("cannot read {}: {e}", path.display())))
        };
        let public_pem = read(public)?;
        let private_pem = common.jwt_private_key.as_deref().map(read).transpose()?;
        let keys = JwtKeys::public_key(
            algorithm,
            &public_pem,
            private_pem.as_deref(),
            issuer,
            audience,
        )
        .map_err(StartError)?;
        return Ok((keys, KeyOrigin::Configured));
    }
    if algorithm.is_some_and(|a| a != jsonwebtoken::Algorithm::HS256) {
        return Err(StartError(
            "that algorithm needs ROSTER_JWT_PUBLIC_KEY".into(),
        ));
    }
    if let Some(secret) = &common.jwt_secret {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(StartError(format!(
                "ROSTER_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
            )));
        }
        return Ok((
            JwtKeys::hs256(secret.as_bytes(), issuer, audience),
            KeyOrigin::Configured,
        ));
    }
    if backend == Backend::Postgres {
        return Err(StartError(
            "set ROSTER_JWT_SECRET or ROSTER_JWT_PUBLIC_KEY: a generated secret is only kept \
             beside a SQLite database"
                .into(),
        ));
    }
    let (_, db_path) = Backend::from_url(&common.database_url);
    let path = PathBuf::from(format!("{db_path}.secret"));
    let (secret, created) = read_or_create_secret(&path)?;
    Ok((
        JwtKeys::hs256(secret.as_bytes(), issuer, audience),
        KeyOrigin::SecretFile { path, created },
    ))
}

/// Reads the secret file, or creates it (mode 0600) with 32 random bytes.
fn read_or_create_secret(path: &Path) -> Result<(String, bool), StartError> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let secret = existing.trim().to_owned();
        if secret.len() >= MIN_SECRET_BYTES {
            return Ok((secret, false));
        }
        return Err(StartError(format!(
            "{} holds no usable secret; remove it",
            path.display()
        )));
    }
    let bytes: [u8; 32] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| StartError(format!("cannot create {}: {e}", path.display())))?;
    std::io::Write::write_all(&mut file, secret.as_bytes())
        .map_err(|e| StartError(format!("cannot write {}: {e}", path.display())))?;
    Ok((secret, true))
}

/// How often `serve` deletes events older than the retention.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes old events now and then (first a minute after start), in small
/// batches (see `Service::prune_events`; a retention of zero keeps all),
/// and with them old invitation counts and expired console sessions.
fn prune_in_background(service: Service, retention: std::time::Duration) {
    actix_web::rt::spawn(async move {
        actix_web::rt::time::sleep(std::time::Duration::from_secs(60)).await;
        loop {
            match service.prune_events(retention).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "old events pruned"),
                Err(error) => tracing::warn!(%error, "pruning events failed"),
            }
            if let Err(error) = service.prune_console_sessions().await {
                tracing::warn!(%error, "pruning console sessions failed");
            }
            if let Err(error) = service.prune_invitation_counts().await {
                tracing::warn!(%error, "pruning invitation counts failed");
            }
            actix_web::rt::time::sleep(PRUNE_EVERY).await;
        }
    });
}

/// How often `serve` writes when tokens were last used.
const FLUSH_TOKEN_USAGE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes the tokens' `lastUsedAt` now and then (see `service::tokens`).
fn flush_token_usage_in_background(service: Service) {
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(FLUSH_TOKEN_USAGE_EVERY).await;
            if let Err(error) = service.flush_token_usage().await {
                tracing::warn!(%error, "recording token use failed");
            }
        }
    });
}

/// Connections the webhook worker has, apart from the request pool.
const DELIVERY_POOL_SIZE: u32 = 4;

/// Starts the webhook worker, and the invitation mailer when there is
/// one, on a pool of their own.
fn start_delivery(
    common: &Common,
    serve: &Serve,
    service: &Service,
    policy: AddressPolicy,
    mailer: Option<delivery::mail::Mailer>,
) -> Result<(), StartError> {
    let pool = Db::connect(&common.database_url, DELIVERY_POOL_SIZE)?;
    let sender = delivery::Sender::new(policy, serve.webhook_timeout).map_err(StartError)?;
    let worker = service.on_pool(pool);
    if let Some(mailer) = mailer {
        delivery::start_mail(worker.clone(), mailer, serve.webhook_poll);
    }
    delivery::start(
        worker,
        sender,
        delivery::WorkerSettings {
            concurrency: serve.webhook_concurrency,
            poll: serve.webhook_poll,
        },
    );
    Ok(())
}

/// The invitation settings: the key from ROSTER_INVITE_SECRET, else the
/// one kept in the database (made on first start); the accept page; and
/// the mailer when ROSTER_SMTP_URL is set.
fn invitations(
    serve: &Serve,
    db: &Db,
) -> Result<(InviteSettings, Option<delivery::mail::Mailer>), StartError> {
    if let Some(url) = &serve.invite_url {
        let parsed = url::Url::parse(url)
            .map_err(|_| StartError("ROSTER_INVITE_URL is not a URL".into()))?;
        if !["http", "https"].contains(&parsed.scheme()) || !url.contains("{token}") {
            return Err(StartError(
                "ROSTER_INVITE_URL must be an http(s) URL with {token} where the token goes".into(),
            ));
        }
    }
    if serve.invite_rate == 0 {
        return Err(StartError("ROSTER_INVITE_RATE must be at least 1".into()));
    }
    let (shortest, longest) = (
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(366 * 24 * 3600),
    );
    if serve.invite_ttl < shortest || serve.invite_ttl > longest {
        return Err(StartError(
            "ROSTER_INVITE_TTL must be between 1s and 366d".into(),
        ));
    }
    let key = match &serve.invite_secret {
        Some(secret) if secret.len() < MIN_SECRET_BYTES => {
            return Err(StartError(format!(
                "ROSTER_INVITE_SECRET must be at least {MIN_SECRET_BYTES} bytes"
            )));
        }
        Some(secret) => InviteSettings::key_from_secret(secret.as_bytes()),
        None => {
            if serve.invite_url.is_some() {
                tracing::warn!(
                    "ROSTER_INVITE_SECRET is not set: invitation links are made with a key \
                     kept in the database, so a copy of the database can make them"
                );
            }
            let fresh: [u8; 32] = rand::random();
            let fresh: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
            let stored = db
                .server_key(crate::service::INVITATION_KEY_NAME, &fresh)
                .map_err(|e| StartError(format!("cannot read the invitation key: {e}")))?;
            InviteSettings::key_from_secret(stored.as_bytes())
        }
    };
    let mut settings = InviteSettings::new(
        serve.invite_ttl,
        serve.invite_rate,
        serve.invite_url.clone(),
        key,
    );
    let mailer = match &serve.smtp_url {
        None => None,
        Some(_) if serve.invite_url.is_none() => {
            return Err(StartError(
                "ROSTER_SMTP_URL needs ROSTER_INVITE_URL: the mails carry its link".into(),
            ));
        }
        Some(url) => Some(
            delivery::mail::Mailer::new(url, &serve.mail_from, serve.template_dir.as_deref())
                .map_err(StartError)?,
        ),
    };
    settings.mail = mailer.is_some();
    Ok((settings, mailer))
}

/// A bound, not yet running server.
pub struct Started {
    pub server: actix_web::dev::Server,
    pub addr: SocketAddr,
    pub service: Service,
    pub key_origin: KeyOrigin,
}

/// Opens everything and binds the listener; run `server` to serve.
pub fn start(common: &Common, serve: &Serve) -> Result<Started, StartError> {
    let db = open_database(common, serve.db_pool_size)?;
    let (keys, key_origin) = load_keys(common, db.backend)?;
    let policy = AddressPolicy {
        allow_http: serve.webhook_allow_http,
        allow_private: serve.webhook_allow_private,
    };
    if serve.webhook_lease <= serve.webhook_timeout {
        return Err(StartError(
            "ROSTER_WEBHOOK_LEASE must be longer than ROSTER_WEBHOOK_TIMEOUT".into(),
        ));
    }
    let (invites, mailer) = invitations(serve, &db)?;
    let service = Service::with_standing_ttl(db, keys, serve.auth_cache_ttl)
        .with_invitations(invites)
        .with_api_token_max_ttl(serve.api_token_max_ttl)
        .with_webhook_policy(policy)
        .with_delivery_settings(DeliverySettings {
            first_retry: serve.webhook_first_retry,
            retry_for: serve.webhook_retry_for,
            disable_after: serve.webhook_disable_after,
            lease: serve.webhook_lease,
        });
    if serve.webhook_delivery {
        start_delivery(common, serve, &service, policy, mailer)?;
    }
    prune_in_background(service.clone(), common.event_retention);
    flush_token_usage_in_background(service.clone());
    let limits = Limits {
        depth: serve.max_depth,
        complexity: serve.max_complexity,
        aliases: serve.max_aliases,
        directives: serve.max_directives,
        introspection: serve.introspection,
    };
    let schema = build_schema(service.clone(), limits);
    let listener = TcpListener::bind(&serve.listen)
        .map_err(|e| StartError(format!("cannot listen on {}: {e}", serve.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError(e.to_string()))?;
    let state = AppState {
        schema,
        service: service.clone(),
        documents: Default::default(),
        max_body_bytes: serve.max_body_bytes,
        max_sync_body_bytes: serve.max_sync_body_bytes.max(serve.max_body_bytes),
    };
    let workers = serve.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    // Database work is bounded by the pool: more blocking threads per
    // worker would only wait for a connection (and each thread that
    // allocates may get its own allocator arena).
    let blocking = (serve.db_pool_size as usize).max(2);
    let server =
        http::server(state, listener, workers, blocking).map_err(|e| StartError(e.to_string()))?;
    tracing::info!(%addr, backend = ?service.backend(), "listening");
    Ok(Started {
        server,
        addr,
        service,
        key_origin,
    })
}
