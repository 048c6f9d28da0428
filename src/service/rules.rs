//! The rules that guard a member's power in an org, each defined once and
//! used by every path that changes a role or a status (single, bulk, sync):
//!
//! - SELF_ACTION: a caller acting as a member cannot demote, retire or
//!   remove themselves, and nobody but an operator can raise their own
//!   rights (promote or reactivate themselves, or join as admin);
//! - LAST_ADMIN: an org that has an active admin keeps one.
//!
//! The callers lock the org's admin rows before reading them (see
//! `db::members::active_admins`), so that the LAST_ADMIN check sees every
//! concurrent change.

use crate::domain::{MemberStatus, Role};
use crate::error::{Error, Result};

/// What a change of role and status does to a member's rights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct PowerChange {
    /// Demotes an admin or retires an active member.
    pub(super) takes_away: bool,
    /// Promotes to admin or reactivates.
    pub(super) raises: bool,
}

impl PowerChange {
    pub(super) fn of(
        (old_role, old_status): (Role, MemberStatus),
        (new_role, new_status): (Role, MemberStatus),
    ) -> Self {
        let demoting = old_role == Role::Admin && new_role == Role::User;
        let retiring = old_status == MemberStatus::Active && new_status == MemberStatus::Retired;
        let promoting = old_role == Role::User && new_role == Role::Admin;
        let reactivating =
            old_status == MemberStatus::Retired && new_status == MemberStatus::Active;
        Self {
            takes_away: demoting || retiring,
            raises: promoting || reactivating,
        }
    }

    /// Taking the member out of the org altogether.
    pub(super) fn removal() -> Self {
        Self {
            takes_away: true,
            raises: false,
        }
    }

    /// Joining the org with `role`: admin rights are a raise.
    pub(super) fn joining(role: Role) -> Self {
        Self {
            takes_away: false,
            raises: role == Role::Admin,
        }
    }
}

/// SELF_ACTION for a change of the member `is_self` names; `action` words
/// the taking away ("demote or retire", "remove").
pub(super) fn check_self_action(
    is_self: bool,
    operator: bool,
    change: PowerChange,
    action: &str,
) -> Result<()> {
    if !is_self {
        return Ok(());
    }
    if change.takes_away {
        return Err(Error::SelfAction(format!("you cannot {action} yourself")));
    }
    if change.raises && !operator {
        return Err(Error::SelfAction(
            "you cannot raise your own role or status; ask another admin".into(),
        ));
    }
    Ok(())
}

/// LAST_ADMIN for a change that takes rights away from a member who
/// `is_active_admin`, when `others` says whether another active admin
/// remains.
pub(super) fn check_last_admin(
    change: PowerChange,
    is_active_admin: bool,
    others: bool,
) -> Result<()> {
    if change.takes_away && is_active_admin && !others {
        return Err(Error::LastAdmin(
            "this is the org's last active admin; make someone else admin first".into(),
        ));
    }
    Ok(())
}

/// The CONFLICT of a write that named a version the entity no longer has
/// (`ifVersion`, SCIM's `If-Match`).
pub(super) fn stale(what: &str, expected: i64) -> Error {
    Error::Conflict(format!(
        "the {what} changed since version {expected}; read it again and retry"
    ))
}

/// Fails with [`stale`] unless `current` is the `expected` version (when
/// one is given).
pub(super) fn check_version(what: &str, current: i64, expected: Option<i64>) -> Result<()> {
    match expected {
        Some(version) if version != current => Err(stale(what, version)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: (Role, MemberStatus) = (Role::Admin, MemberStatus::Active);
    const USER: (Role, MemberStatus) = (Role::User, MemberStatus::Active);
    const RETIRED: (Role, MemberStatus) = (Role::User, MemberStatus::Retired);

    #[test]
    fn nobody_but_an_operator_raises_themselves() {
        let promote = PowerChange::of(USER, ADMIN);
        let reactivate = PowerChange::of(RETIRED, USER);
        for change in [promote, reactivate, PowerChange::joining(Role::Admin)] {
            assert!(check_self_action(true, false, change, "x").is_err());
            assert!(check_self_action(true, true, change, "x").is_ok());
            assert!(check_self_action(false, false, change, "x").is_ok());
        }
        assert!(check_self_action(true, false, PowerChange::joining(Role::User), "x").is_ok());
    }

    #[test]
    fn nobody_takes_their_own_rights_away() {
        for change in [PowerChange::of(ADMIN, USER), PowerChange::removal()] {
            assert!(matches!(
                check_self_action(true, true, change, "x"),
                Err(Error::SelfAction(_))
            ));
        }
    }

    #[test]
    fn the_last_admin_stays() {
        let demote = PowerChange::of(ADMIN, USER);
        assert!(check_last_admin(demote, true, false).is_err());
        assert!(check_last_admin(demote, true, true).is_ok());
        assert!(check_last_admin(demote, false, false).is_ok());
        assert!(check_last_admin(PowerChange::of(USER, ADMIN), true, false).is_ok());
    }
}
