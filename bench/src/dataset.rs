//! The benchmark dataset and its seeder.
//!
//! Rows go straight through Roster's row types and migrations in large
//! multi-row INSERTs, so that a million users take minutes, not hours. The
//! data is deterministic: user `n` is `u{n}@bench.example` with externalId
//! `e{n}` in every org they belong to; the first `big_org` users are the
//! members of the large org `bench-big`.

use std::time::Instant;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use roster::db::models::{GroupMembershipRow, GroupRow, MembershipRow, OrgRow, UserRow};
use roster::db::schema::{group_memberships, groups, memberships, orgs, users};
use roster::db::{Db, DbConn};
use roster::domain::search_key;

pub const BIG_ORG_SLUG: &str = "bench-big";
pub const EMAIL_DOMAIN: &str = "bench.example";

/// How large a dataset is.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Sizes {
    pub orgs: usize,
    pub users: usize,
    pub big_org: usize,
    pub groups_per_org: usize,
}

impl Sizes {
    /// The dataset of the full run.
    pub const FULL: Self = Self {
        orgs: 10_000,
        users: 1_000_000,
        big_org: 100_000,
        groups_per_org: 10,
    };

    /// A smaller one for `--quick`: the large org keeps its 100,000
    /// members, so that deep pages stay deep.
    pub const QUICK: Self = Self {
        orgs: 500,
        users: 120_000,
        big_org: 100_000,
        groups_per_org: 10,
    };

    /// The slug of the org written last: its presence marks a complete
    /// dataset of these sizes.
    fn marker(&self) -> String {
        format!(
            "bench-dataset-o{}-u{}-b{}-g{}",
            self.orgs, self.users, self.big_org, self.groups_per_org
        )
    }
}

/// What seeding found or wrote.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Seeded {
    pub reused: bool,
    pub seconds: f64,
    pub memberships: usize,
    pub group_memberships: usize,
}

/// A well-mixed 64-bit hash (splitmix64's finaliser): the dataset's only
/// source of variety, so that every run builds the same data.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const FIRST: [&str; 20] = [
    "Ann", "Bo", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena", "Milo",
    "Nia", "Omar", "Pia", "Quinn", "Rosa", "Sami", "Tess",
];
const LAST: [&str; 20] = [
    "Lee", "Okafor", "Novak", "Silva", "Jensen", "Garcia", "Kim", "Haddad", "Moreau", "Ito",
    "Kowalski", "Nguyen", "Rossi", "Schmidt", "Tanaka", "Walsh", "Yilmaz", "Zhou", "Brown",
    "Costa",
];

pub fn base_time() -> NaiveDateTime {
    chrono::DateTime::from_timestamp(1_767_225_600, 0)
        .expect("a valid timestamp")
        .naive_utc()
}

/// A new org.
pub fn org_row(slug: String, name: String, at: NaiveDateTime) -> OrgRow {
    OrgRow {
        id: uuid::Uuid::now_v7().to_string(),
        slug,
        name_key: search_key(&name),
        name,
        status: "active".into(),
        created_at: at,
        updated_at: at,
    }
}

/// Group `g` of an org: "Team {g}".
pub fn group_row(org_id: &str, g: usize, at: NaiveDateTime) -> GroupRow {
    let name = format!("Team {g}");
    GroupRow {
        org_id: org_id.to_owned(),
        id: uuid::Uuid::now_v7().to_string(),
        name_key: search_key(&name),
        name,
        description: None,
        created_at: at,
        updated_at: at,
        version: 1,
        external_id: None,
    }
}

/// User `n` as a row.
pub fn user_row(id: String, email: String, n: u64, at: NaiveDateTime) -> UserRow {
    let h = mix(n);
    let first = FIRST[(h % 20) as usize];
    let last = LAST[((h >> 8) % 20) as usize];
    let name = format!("{first} {last}");
    UserRow {
        id,
        email,
        first_name: first.into(),
        last_name: last.into(),
        name_key: search_key(&name),
        name,
        mobile: None,
        mobile_normalized: None,
        locale: None,
        timezone: None,
        created_at: at,
        updated_at: at,
        email_verified_at: None,
    }
}

/// User `n`'s membership of `org_id`.
pub fn membership_row(org_id: &str, user: &UserRow, n: u64, admin: bool) -> MembershipRow {
    MembershipRow {
        org_id: org_id.to_owned(),
        user_id: user.id.clone(),
        role: if admin { "admin" } else { "user" }.into(),
        status: "active".into(),
        external_id: Some(format!("e{n}")),
        managed: true,
        created_at: user.created_at,
        updated_at: user.created_at,
        retired_at: None,
        attributes: format!("{{\"dept\":\"d{}\"}}", n % 20),
        invited_at: None,
        user_name_key: user.name_key.clone(),
        user_email: user.email.clone(),
        own_profile: false,
        profile_first_name: None,
        profile_last_name: None,
        profile_name: None,
        profile_mobile: None,
        profile_mobile_normalized: None,
        profile_locale: None,
        profile_timezone: None,
        version: 1,
        idp_user_name: None,
        last_sign_in_at: roster::db::models::NEVER_SIGNED_IN,
        invitation_status: None,
        invitation_expires_at: None,
        invitation_accepted_at: None,
        invitation_mail_status: None,
        invitation_mail_error: None,
    }
}

/// Inserts `rows` into `table` in statements of `chunk` rows.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr, $chunk:expr) => {{
        for part in $rows.chunks($chunk) {
            match $conn {
                DbConn::Sqlite(c) => diesel::insert_into($table).values(part).execute(c)?,
                DbConn::Postgres(c) => diesel::insert_into($table).values(part).execute(c)?,
            };
        }
    }};
}
pub(crate) use insert_rows;

/// Rows per INSERT: within both backends' bind-parameter limits.
pub fn chunk_for(conn: &DbConn) -> usize {
    match conn {
        DbConn::Sqlite(_) => 500,
        DbConn::Postgres(_) => 1000,
    }
}

/// Users per transaction.
const BATCH: usize = 20_000;

/// Seeds the dataset unless a complete one of these sizes is there.
pub fn seed(url: &str, sizes: Sizes) -> Result<Seeded, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let db = Db::connect(url, 1)?;
    db.migrate()?;
    let mut conn = db.pool.get()?;
    let conn: &mut DbConn = &mut conn;
    let marker = sizes.marker();
    if roster::db::orgs::find_by_slug(conn, &marker)?.is_some() {
        return Ok(Seeded {
            reused: true,
            seconds: started.elapsed().as_secs_f64(),
            memberships: 0,
            group_memberships: 0,
        });
    }
    if roster::db::orgs::find_by_slug(conn, BIG_ORG_SLUG)?.is_some() {
        return Err(format!(
            "{url} holds another or an unfinished benchmark dataset; \
             remove it (or its database) and run again"
        )
        .into());
    }
    if let DbConn::Sqlite(c) = conn {
        // A lost seed is simply run again: no need to sync every commit.
        diesel::sql_query("PRAGMA synchronous = OFF").execute(c)?;
    }
    let chunk = chunk_for(conn);
    let at = base_time();
    let mut org_ids = Vec::with_capacity(sizes.orgs);
    let mut group_ids: Vec<Vec<String>> = Vec::with_capacity(sizes.orgs);
    let mut org_rows = Vec::with_capacity(sizes.orgs);
    let mut group_rows = Vec::new();
    for o in 0..sizes.orgs {
        let (slug, name) = if o == 0 {
            (BIG_ORG_SLUG.to_owned(), "Bench Big".to_owned())
        } else {
            (format!("bench-org-{o}"), format!("Bench Org {o}"))
        };
        let org = org_row(slug, name, at);
        let id = org.id.clone();
        org_rows.push(org);
        let mut ids = Vec::with_capacity(sizes.groups_per_org);
        for g in 0..sizes.groups_per_org {
            let group = group_row(&id, g, at);
            ids.push(group.id.clone());
            group_rows.push(group);
        }
        org_ids.push(id);
        group_ids.push(ids);
    }
    roster::db::write_transaction(conn, |conn| -> QueryResult<()> {
        insert_rows!(conn, orgs::table, org_rows, chunk);
        insert_rows!(conn, groups::table, group_rows, chunk);
        Ok(())
    })?;
    let (mut membership_count, mut group_count) = (0, 0);
    let others = sizes.orgs.saturating_sub(1).max(1) as u64;
    for start in (0..sizes.users).step_by(BATCH) {
        let end = (start + BATCH).min(sizes.users);
        let mut user_batch = Vec::with_capacity(end - start);
        let mut member_batch = Vec::with_capacity((end - start) * 2);
        let mut group_batch = Vec::with_capacity((end - start) * 3);
        for n in start..end {
            let n64 = n as u64;
            let created = at + TimeDelta::seconds(n as i64);
            let user = user_row(
                uuid::Uuid::now_v7().to_string(),
                format!("u{n}@{EMAIL_DOMAIN}"),
                n64,
                created,
            );
            let h = mix(n64 ^ 0x5eed);
            // Members of the large org join 0-2 others; everyone else 1-3.
            let mut orgs_of_user = Vec::with_capacity(3);
            let extra = if n < sizes.big_org {
                orgs_of_user.push(0);
                h % 3
            } else {
                1 + h % 3
            };
            if sizes.orgs > 1 {
                let first = (h >> 16) % others;
                for k in 0..extra {
                    orgs_of_user.push(1 + ((first + k) % others) as usize);
                }
            }
            orgs_of_user.dedup();
            for o in orgs_of_user {
                let hm = mix(n64.wrapping_mul(31).wrapping_add(o as u64));
                member_batch.push(membership_row(
                    &org_ids[o],
                    &user,
                    n64,
                    hm.is_multiple_of(50),
                ));
                let in_groups = (hm >> 8) % 4;
                let first_group = (hm >> 16) as usize % sizes.groups_per_org.max(1);
                for k in 0..(in_groups as usize).min(sizes.groups_per_org) {
                    group_batch.push(GroupMembershipRow {
                        org_id: org_ids[o].clone(),
                        group_id: group_ids[o][(first_group + k) % sizes.groups_per_org].clone(),
                        user_id: user.id.clone(),
                        role: "member".into(),
                        created_at: created,
                    });
                }
            }
            user_batch.push(user);
        }
        membership_count += member_batch.len();
        group_count += group_batch.len();
        roster::db::write_transaction(conn, |conn| -> QueryResult<()> {
            insert_rows!(conn, users::table, user_batch, chunk);
            insert_rows!(conn, memberships::table, member_batch, chunk);
            insert_rows!(conn, group_memberships::table, group_batch, chunk);
            Ok(())
        })?;
        if end.is_multiple_of(200_000) || end == sizes.users {
            eprintln!(
                "seed: {end} of {} users ({:.0} s)",
                sizes.users,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let marker_row = org_row(marker, "Bench dataset marker".into(), at);
    roster::db::orgs::insert(conn, &marker_row)?;
    match conn {
        DbConn::Postgres(c) => {
            diesel::sql_query("ANALYZE").execute(c)?;
        }
        DbConn::Sqlite(c) => {
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(c)?;
        }
    }
    Ok(Seeded {
        reused: false,
        seconds: started.elapsed().as_secs_f64(),
        memberships: membership_count,
        group_memberships: group_count,
    })
}

/// The id of the org with this slug.
pub fn org_id(conn: &mut DbConn, slug: &str) -> Result<String, Box<dyn std::error::Error>> {
    Ok(roster::db::orgs::find_by_slug(conn, slug)?
        .ok_or_else(|| format!("no org {slug}: seed the dataset first"))?
        .id)
}
