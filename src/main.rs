//! The `roster` binary: parse the command line, set up logging, run the
//! command. With no command it serves.

use std::process::ExitCode;

use clap::Parser;
use roster::app::{self, KeyOrigin, StartError};
use roster::auth::CallerRole;
use roster::config::{
    Cli, Command, Common, ConsoleCommand, EventsCommand, MembersCommand, MembersExport,
    MembersImport, OrgCommand, Remote, Serve, TokenCommand, TokenIssue,
};
use roster::service::{EventPosition, EventQuery, Service, TokenRequest};
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.common.log);
    let result = match cli.command {
        None => serve(&cli.common, &Serve::from_env().unwrap_or_else(|e| e.exit())).await,
        Some(Command::Serve(serve_args)) => serve(&cli.common, &serve_args).await,
        Some(Command::Migrate) => migrate(&cli.common),
        Some(Command::Token(TokenCommand::Issue(issue))) => issue_token(&cli.common, issue).await,
        Some(Command::Token(TokenCommand::Revoke { jti })) => revoke_token(&cli.common, &jti).await,
        Some(Command::Token(TokenCommand::List {
            org,
            include_revoked,
        })) => list_tokens(&cli.common, org, include_revoked).await,
        Some(Command::Org(OrgCommand::Create { name, slug })) => {
            create_org(&cli.common, &name, &slug).await
        }
        Some(Command::Events(EventsCommand::Prune)) => prune_events(&cli.common).await,
        Some(Command::Events(EventsCommand::Tail {
            org,
            follow,
            types,
            after,
        })) => tail_events(&cli.common, org, follow, types, after).await,
        Some(Command::Members(MembersCommand::Import(args))) => {
            return import_members(&cli.common, args).await;
        }
        Some(Command::Members(MembersCommand::Export(args))) => {
            export_members(&cli.common, args).await
        }
        Some(Command::Console(ConsoleCommand::Link { org, user, url })) => {
            console_link(&cli.common, org, user, &url).await
        }
        Some(Command::Console(ConsoleCommand::Revoke { user, org })) => {
            console_revoke(&cli.common, &user, org).await
        }
        Some(Command::Schema) => {
            print!("{}", roster::graphql::sdl());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("roster: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr so that commands like `token issue` print only their
/// result on stdout.
fn init_logging(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(common: &Common, serve: &Serve) -> Result<(), StartError> {
    let started = app::start(common, serve)?;
    if let KeyOrigin::SecretFile { path, created } = &started.key_origin {
        // The embedded default: show a newcomer the way in.
        let verb = if *created { "created" } else { "using" };
        let request = TokenRequest {
            role: CallerRole::Operator,
            org: None,
            scope: None,
            subject: Some("roster-first-run".into()),
            ttl: std::time::Duration::from_secs(3600),
            name: None,
        };
        let issued = started
            .service
            .issue_token(&roster::auth::Principal::cli(), request)
            .await
            .map_err(|e| StartError(e.to_string()))?;
        println!("Roster is listening on http://{}", started.addr);
        println!("Console:   http://{}/admin", started.addr);
        println!("GraphiQL:  http://{}/graphiql", started.addr);
        println!("Signing secret {verb} at {}", path.display());
        println!("Operator token (valid 1 hour); paste it into the console's sign-in form,");
        println!("or into GraphiQL's headers as:");
        println!("{{\"Authorization\": \"Bearer {}\"}}", issued.token);
    }
    started.server.await.map_err(|e| StartError(e.to_string()))
}

fn migrate(common: &Common) -> Result<(), StartError> {
    let db = roster::db::Db::connect(&common.database_url, 1)?;
    let applied = db.migrate()?;
    println!("{applied} migration(s) applied");
    Ok(())
}

/// Where a members command goes: `--url` with its token, else this
/// process on the configured database.
fn transfer_target(
    common: &Common,
    remote: &Remote,
) -> Result<roster::transfer::Target, StartError> {
    match (&remote.url, &remote.token) {
        (Some(url), Some(token)) => {
            let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
            if url.starts_with("http://") && !local.iter().any(|l| url.starts_with(l)) {
                eprintln!("roster: warning: {url} is not https; the token goes in clear");
            }
            Ok(roster::transfer::Target::remote(url, token))
        }
        (Some(_), None) => Err(StartError("--url needs --token (or ROSTER_TOKEN)".into())),
        _ => Ok(roster::transfer::Target::local(command_service(common)?)),
    }
}

/// `members import`: exits non-zero when any row failed.
async fn import_members(common: &Common, args: MembersImport) -> ExitCode {
    use roster::transfer::{import, read};
    let run = async {
        let options = import::ImportOptions {
            org: args.org,
            mirror: match args.mode.as_str() {
                "merge" => false,
                "mirror" => true,
                other => return Err(format!("--mode {other}: merge or mirror")),
            },
            skip: match args.on_error.as_str() {
                "abort" => false,
                "skip" => true,
                other => return Err(format!("--on-error {other}: abort or skip")),
            },
            dry_run: args.dry_run,
            create_groups: args.create_groups,
            report: args.report.clone(),
            chunk_bytes: args.chunk_bytes,
            read: read::ReadOptions {
                format: args
                    .format
                    .as_deref()
                    .map(read::Format::parse)
                    .transpose()?,
                delimiter: args
                    .delimiter
                    .map(|c| {
                        u8::try_from(c)
                            .ok()
                            .filter(u8::is_ascii)
                            .ok_or_else(|| "--delimiter must be one ASCII character".to_owned())
                    })
                    .transpose()?,
                map: args
                    .map
                    .as_deref()
                    .map(read::parse_map)
                    .transpose()?
                    .unwrap_or_default(),
                send_invites: args.send_invites,
            },
        };
        let target = transfer_target(common, &args.remote).map_err(|e| e.to_string())?;
        let mut progress = import::Progress::new();
        import::import(&target, &args.file, &options, &mut progress).await
    };
    match run.await {
        Ok(summary) => {
            for group in &summary.groups_created {
                println!(
                    "group {group}: {}",
                    if args.dry_run {
                        "would be created"
                    } else {
                        "created"
                    }
                );
            }
            println!("{summary}");
            if summary.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("roster: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn export_members(common: &Common, args: MembersExport) -> Result<(), StartError> {
    use roster::transfer::{export, read};
    let format = read::Format::parse(&args.format).map_err(StartError)?;
    let statuses = export::Statuses::parse(&args.status).map_err(StartError)?;
    let target = transfer_target(common, &args.remote)?;
    // A file is written beside its name and moved into place when whole,
    // so that a refused or broken export leaves no partial file.
    let partial = args.out.as_ref().map(|p| p.with_extension("partial"));
    let mut out: Box<dyn std::io::Write> = match &partial {
        Some(path) => Box::new(std::io::BufWriter::new(
            roster::transfer::create_private(path)
                .map_err(|e| StartError(format!("cannot write {}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let done = export::export(&target, args.org, format, statuses, &mut out).await;
    let flushed = out.flush();
    drop(out);
    let count = match (done, flushed) {
        (Ok(count), Ok(())) => count,
        (Err(e), _) => {
            if let Some(path) = &partial {
                let _ = std::fs::remove_file(path);
            }
            return Err(StartError(e));
        }
        (_, Err(e)) => return Err(StartError(format!("writing the export failed: {e}"))),
    };
    if let (Some(partial), Some(path)) = (&partial, &args.out) {
        std::fs::rename(partial, path)
            .map_err(|e| StartError(format!("cannot write {}: {e}", path.display())))?;
    }
    eprintln!("{count} members exported");
    Ok(())
}

/// The service for one-shot commands: database migrated, keys loaded.
fn command_service(common: &Common) -> Result<Service, StartError> {
    let db = app::open_database(common, 1)?;
    let (keys, _) = app::load_keys(common, db.backend)?;
    Ok(Service::new(db, keys))
}

async fn issue_token(common: &Common, issue: TokenIssue) -> Result<(), StartError> {
    let role = CallerRole::parse(&issue.role)
        .ok_or_else(|| StartError("--role must be operator, admin or integration".into()))?;
    let service = command_service(common)?;
    let request = TokenRequest {
        role,
        org: issue.org.map(Into::into),
        scope: issue.scope,
        subject: issue.sub,
        ttl: issue.ttl,
        name: issue.name,
    };
    let issued = service
        .issue_token(&roster::auth::Principal::cli(), request)
        .await
        .map_err(|e| StartError(e.to_string()))?;
    println!("{}", issued.token);
    Ok(())
}

async fn revoke_token(common: &Common, jti: &str) -> Result<(), StartError> {
    let service = command_service(common)?;
    if service
        .revoke_token(&roster::auth::Principal::cli(), jti)
        .await
        .map_err(|e| StartError(e.to_string()))?
    {
        eprintln!("revoked {jti}");
        Ok(())
    } else {
        Err(StartError(format!(
            "no unrevoked token with jti {jti} was minted here"
        )))
    }
}

/// Prints a one-time console sign-in link for an org's admin.
async fn console_link(
    common: &Common,
    org: uuid::Uuid,
    user: uuid::Uuid,
    url: &str,
) -> Result<(), StartError> {
    let service = command_service(common)?;
    let secret = service
        .create_console_link(&roster::auth::Principal::cli(), org.into(), user.into())
        .await
        .map_err(|e| StartError(e.to_string()))?;
    println!("{}/admin/link/{secret}", url.trim_end_matches('/'));
    Ok(())
}

/// Ends a user's console sessions.
async fn console_revoke(
    common: &Common,
    user: &str,
    org: Option<uuid::Uuid>,
) -> Result<(), StartError> {
    let service = command_service(common)?;
    let ended = service
        .close_console_sessions_of(&roster::auth::Principal::cli(), user, org.map(Into::into))
        .await
        .map_err(|e| StartError(e.to_string()))?;
    eprintln!("{ended} console sessions ended");
    Ok(())
}

async fn create_org(common: &Common, name: &str, slug: &str) -> Result<(), StartError> {
    let service = command_service(common)?;
    let operator = roster::auth::Principal::cli();
    let outcome = service
        .create_org(&operator, name, slug)
        .await
        .map_err(|e| StartError(e.to_string()))?;
    println!("{}", outcome.id);
    Ok(())
}

async fn prune_events(common: &Common) -> Result<(), StartError> {
    let service = command_service(common)?;
    let pruned = service
        .prune_events(common.event_retention)
        .await
        .map_err(|e| StartError(e.to_string()))?;
    eprintln!("pruned {pruned} events");
    Ok(())
}

/// `events tail`: every matching event as one JSON line; with `follow`,
/// then new ones as they are recorded.
async fn tail_events(
    common: &Common,
    org: Option<uuid::Uuid>,
    follow: bool,
    types: Vec<String>,
    after: Option<String>,
) -> Result<(), StartError> {
    use std::io::Write;
    let service = command_service(common)?;
    let mut after = after
        .map(|a| {
            EventPosition::decode(&a)
                .ok_or_else(|| StartError(format!("--after {a} is not an event position")))
        })
        .transpose()?;
    let operator = roster::auth::Principal::cli();
    loop {
        let query = EventQuery {
            org: org.map(Into::into),
            first: roster::service::MAX_PAGE,
            after,
            types: types.clone(),
            ..Default::default()
        };
        let page = service
            .all_events(&operator, query)
            .await
            .map_err(|e| StartError(e.to_string()))?;
        let mut out = std::io::stdout().lock();
        for event in &page.items {
            let line = event.to_json().to_string();
            if writeln!(out, "{line}").is_err() {
                // The reader went away (`| head`): done.
                return Ok(());
            }
            after = Some(event.position);
        }
        let _ = out.flush();
        if page.has_next {
            continue;
        }
        if !follow {
            return Ok(());
        }
        actix_web::rt::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// `token list`: the org's tokens as JSON lines (never the tokens
/// themselves).
async fn list_tokens(
    common: &Common,
    org: uuid::Uuid,
    include_revoked: bool,
) -> Result<(), StartError> {
    use std::io::Write;
    let service = command_service(common)?;
    let operator = roster::auth::Principal::cli();
    let mut after = None;
    loop {
        let page = roster::service::PageRequest {
            first: roster::service::MAX_PAGE,
            after: after.clone(),
            with_total: false,
        };
        let listed = service
            .api_tokens(&operator, Some(org.into()), include_revoked, page)
            .await
            .map_err(|e| StartError(e.to_string()))?;
        let mut out = std::io::stdout().lock();
        for token in &listed.items {
            let at = |t: Option<chrono::NaiveDateTime>| t.map(|t| t.and_utc().to_rfc3339());
            let line = serde_json::json!({
                "id": token.id,
                "name": token.name,
                "role": token.role,
                "scopes": token.scopes,
                "createdBy": token.created_by,
                "createdAt": token.created_at.and_utc().to_rfc3339(),
                "expiresAt": token.expires_at.and_utc().to_rfc3339(),
                "lastUsedAt": at(token.last_used_at),
                "revokedAt": at(token.revoked_at),
            });
            if writeln!(out, "{line}").is_err() {
                return Ok(());
            }
            after = Some(token.id.to_string());
        }
        if !listed.has_next {
            return Ok(());
        }
    }
}
