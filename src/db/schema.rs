//! Table definitions shared by both backends. Written by hand to match
//! `migrations/{sqlite,postgres}`: ids are text and timestamps `Timestamp`,
//! the types `MultiConnection` supports on both.

diesel::table! {
    orgs (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        name_key -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        first_name -> Text,
        last_name -> Text,
        name -> Text,
        name_key -> Text,
        mobile -> Nullable<Text>,
        mobile_normalized -> Nullable<Text>,
        locale -> Nullable<Text>,
        timezone -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        email_verified_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    memberships (org_id, user_id) {
        org_id -> Text,
        user_id -> Text,
        role -> Text,
        status -> Text,
        external_id -> Nullable<Text>,
        managed -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        attributes -> Text,
        invited_at -> Nullable<Timestamp>,
        user_name_key -> Text,
        user_email -> Text,
        own_profile -> Bool,
        profile_first_name -> Nullable<Text>,
        profile_last_name -> Nullable<Text>,
        profile_name -> Nullable<Text>,
        profile_mobile -> Nullable<Text>,
        profile_mobile_normalized -> Nullable<Text>,
        profile_locale -> Nullable<Text>,
        profile_timezone -> Nullable<Text>,
        version -> BigInt,
        idp_user_name -> Nullable<Text>,
        last_sign_in_at -> Timestamp,
        invitation_status -> Nullable<Text>,
        invitation_expires_at -> Nullable<Timestamp>,
        invitation_accepted_at -> Nullable<Timestamp>,
        invitation_mail_status -> Nullable<Text>,
        invitation_mail_error -> Nullable<Text>,
    }
}

diesel::table! {
    groups (org_id, id) {
        org_id -> Text,
        id -> Text,
        name -> Text,
        name_key -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    group_memberships (org_id, group_id, user_id) {
        org_id -> Text,
        group_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    issued_tokens (jti) {
        jti -> Text,
        subject -> Text,
        role -> Text,
        org_id -> Nullable<Text>,
        scope -> Nullable<Text>,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        name -> Nullable<Text>,
        created_by -> Nullable<Text>,
        last_used_at -> Nullable<Timestamp>,
        creator_admin -> Nullable<Text>,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        tx_id -> BigInt,
        ordinal -> Integer,
        org_id -> Nullable<Text>,
        actor_sub -> Text,
        actor_role -> Text,
        actor_jti -> Nullable<Text>,
        channel -> Text,
        #[sql_name = "type"]
        kind -> Text,
        target_kind -> Text,
        target_id -> Text,
        changes -> Text,
        occurred_at -> Timestamp,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    event_clock (id) {
        id -> Integer,
        last -> BigInt,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        org_id -> Text,
        url -> Text,
        description -> Text,
        types -> Text,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<Timestamp>,
        failing_since -> Nullable<Timestamp>,
        last_failure_at -> Nullable<Timestamp>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Timestamp,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        webhook_id -> Text,
        event_id -> Text,
        event_type -> Text,
        tx_id -> BigInt,
        ordinal -> Integer,
        event_occurred_at -> Timestamp,
        status -> Text,
        attempts -> Integer,
        attempt_log -> Text,
        last_status_code -> Nullable<Integer>,
        last_latency_ms -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        next_attempt_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_dispatch (id) {
        id -> Integer,
        tx_id -> BigInt,
        ordinal -> Integer,
    }
}

diesel::table! {
    invitations (org_id, user_id) {
        org_id -> Text,
        user_id -> Text,
        id -> Text,
        nonce -> Text,
        token_hash -> Nullable<Text>,
        email -> Text,
        invited_by -> Text,
        inviter_name -> Text,
        mail_status -> Nullable<Text>,
        mail_attempts -> Integer,
        mail_next_attempt_at -> Nullable<Timestamp>,
        mail_lease_until -> Nullable<Timestamp>,
        mail_last_error -> Nullable<Text>,
        mail_sent_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    invitation_issues (org_id, issued_at) {
        org_id -> Text,
        issued_at -> Timestamp,
        count -> Integer,
    }
}

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
        csrf -> Text,
        subject -> Text,
        role -> Text,
        org_id -> Nullable<Text>,
        scope -> Nullable<Text>,
        token_jti -> Nullable<Text>,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    console_links (token_hash) {
        token_hash -> Text,
        org_id -> Text,
        user_id -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    server_keys (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> orgs (org_id));
diesel::joinable!(group_memberships -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    orgs,
    users,
    memberships,
    groups,
    group_memberships,
    issued_tokens,
    events,
    webhooks,
    webhook_deliveries,
    webhook_dispatch,
    invitations,
);
