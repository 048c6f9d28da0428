//! Org provisioning (operators) and reading one's own org (tenants).

use super::events::{Draft, kind};
use super::views::OrgView;
use super::{Change, Outcome, Page, PageRequest, Service, into_page, now};
use crate::auth::Principal;
use crate::db::models::{OrgChanges, OrgRow};
use crate::db::{DbConn, orgs};
use crate::domain::{OrgId, OrgName, OrgStatus, Slug, search_key, search_term};
use crate::error::{Error, Result};

/// How `org(...)` names the org: exactly one of the two.
#[derive(Debug, Clone)]
pub enum OrgKey {
    Id(OrgId),
    Slug(String),
}

/// `updateOrg`'s input: `None` leaves a field as it is.
#[derive(Debug, Clone)]
pub struct OrgUpdate {
    pub id: OrgId,
    pub name: Option<String>,
    pub slug: Option<String>,
    pub status: Option<String>,
}

fn ensure_slug_free(conn: &mut DbConn, slug: &str) -> Result<()> {
    match orgs::find_by_slug(conn, slug)? {
        Some(_) => Err(Error::Duplicate(format!(
            "an org with slug \"{slug}\" already exists"
        ))),
        None => Ok(()),
    }
}

impl Service {
    pub async fn create_org(&self, who: &Principal, name: &str, slug: &str) -> Result<Outcome> {
        who.require_operator()?;
        let name = OrgName::parse(name)?;
        let slug = Slug::parse(slug)?;
        self.write(who, move |conn| {
            ensure_slug_free(conn, &slug)?;
            let at = now();
            let id = OrgId::new();
            let row = OrgRow {
                id: id.as_db(),
                slug: slug.clone(),
                name: name.clone(),
                name_key: search_key(&name),
                status: OrgStatus::Active.as_str().into(),
                created_at: at,
                updated_at: at,
            };
            let records = orgs::insert(conn, &row)?;
            conn.record(
                Draft::new(Some(&row.id), kind::ORG_CREATED, "org", &row.id)
                    .set("name", row.name.clone())
                    .set("slug", row.slug.clone())
                    .set("status", row.status.clone()),
            );
            Ok(Outcome::new(id.0, Change::Created, records as i32))
        })
        .await
    }

    pub async fn update_org(&self, who: &Principal, input: OrgUpdate) -> Result<Outcome> {
        who.require_operator()?;
        let name = input.name.as_deref().map(OrgName::parse).transpose()?;
        let slug = input.slug.as_deref().map(Slug::parse).transpose()?;
        let status = input.status.as_deref().map(OrgStatus::parse).transpose()?;
        let id = input.id;
        let outcome = self
            .write(who, move |conn| {
                let current = orgs::find(conn, &id.as_db())?
                    .ok_or_else(|| Error::not_found("no org with this id"))?;
                let mut changes = OrgChanges::default();
                if let Some(name) = name.as_ref().filter(|n| **n != current.name) {
                    changes.name = Some(name.clone());
                    changes.name_key = Some(search_key(name));
                }
                if let Some(slug) = slug.as_ref().filter(|s| **s != current.slug) {
                    ensure_slug_free(conn, slug)?;
                    changes.slug = Some(slug.clone());
                }
                if let Some(status) = status.filter(|s| s.as_str() != current.status) {
                    changes.status = Some(status.as_str().into());
                }
                if changes.name.is_none() && changes.slug.is_none() && changes.status.is_none() {
                    return Ok(Outcome::unchanged(id.0));
                }
                changes.updated_at = Some(now());
                let records = orgs::update(conn, &current.id, &changes)?;
                let event = match changes.status.as_deref().map(OrgStatus::from_db) {
                    Some(OrgStatus::Suspended) => kind::ORG_SUSPENDED,
                    Some(OrgStatus::Active) => kind::ORG_REACTIVATED,
                    None => kind::ORG_UPDATED,
                };
                let mut draft = Draft::new(Some(&current.id), event, "org", &current.id);
                for (field, before, after) in [
                    ("name", &current.name, &changes.name),
                    ("slug", &current.slug, &changes.slug),
                    ("status", &current.status, &changes.status),
                ] {
                    if let Some(after) = after {
                        draft = draft.change(field, before.clone(), after.clone());
                    }
                }
                conn.record(draft);
                Ok(Outcome::new(id.0, Change::Updated, records as i32))
            })
            .await;
        if status.is_some() {
            // A suspension refuses the org's tokens from the next request.
            self.forget_standing();
        }
        outcome
    }

    /// One org. Operators see any (`None` when unknown); a tenant caller
    /// only its own, and FORBIDDEN for any other key, existing or not.
    pub async fn org(&self, who: &Principal, key: OrgKey) -> Result<Option<OrgView>> {
        let key = match key {
            OrgKey::Slug(slug) => OrgKey::Slug(search_term("slug", &slug)?),
            key => key,
        };
        let own = who.org;
        let operator = who.is_operator();
        if let (Some(own), OrgKey::Id(id)) = (own, &key)
            && own != *id
        {
            return Err(Error::forbidden());
        }
        self.read(move |conn| {
            let found = match &key {
                OrgKey::Id(id) => orgs::find(conn, &id.as_db())?,
                OrgKey::Slug(slug) => orgs::find_by_slug(conn, slug)?,
            };
            let found = found.map(OrgView::from_row).transpose()?;
            if operator {
                return Ok(found);
            }
            match found {
                Some(org) if own == Some(org.id) => Ok(Some(org)),
                _ => Err(Error::forbidden()),
            }
        })
        .await
    }

    /// All orgs by slug (operators only); `after` is the previous page's
    /// last slug.
    pub async fn orgs(
        &self,
        who: &Principal,
        q: Option<String>,
        page: PageRequest,
    ) -> Result<Page<OrgView>> {
        who.require_operator()?;
        let q = super::search_query(q)?;
        self.read(move |conn| {
            let rows = orgs::list(conn, q.as_deref(), page.after.as_deref(), page.limit())?;
            let total = if page.with_total {
                Some(orgs::count(conn, q.as_deref())?)
            } else {
                None
            };
            let views = rows
                .into_iter()
                .map(OrgView::from_row)
                .collect::<Result<_>>()?;
            Ok(into_page(views, &page, total))
        })
        .await
    }
}
