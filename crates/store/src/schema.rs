//! The diesel schema, identical on both backends (see `migrations/`).
#![allow(missing_docs)]

diesel::table! {
    organisations (id) {
        id -> Text,
        name -> Text,
        siret -> Text,
        address -> Text,
        zipcode -> Text,
        city -> Text,
        kind -> Text,
        habilitation -> Text,
        created_at -> Timestamp,
        allowed_demarches -> Nullable<Text>,
        france_services -> Bool,
    }
}

diesel::table! {
    journal_verifications (id) {
        id -> Text,
        requested_at -> Timestamp,
        requested_by -> Nullable<Text>,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        intact -> Nullable<Bool>,
        report -> Nullable<Text>,
    }
}

diesel::table! {
    card_shipments (id) {
        id -> Text,
        organisation_id -> Text,
        sent_on -> Date,
        quantity -> Integer,
        tracking -> Text,
        serials -> Text,
        staff_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    aidants (id) {
        id -> Text,
        email -> Text,
        first_name -> Text,
        last_name -> Text,
        profession -> Text,
        phone -> Text,
        active -> Bool,
        created_at -> Timestamp,
        idle_since -> Nullable<Timestamp>,
        idle_warned_at -> Nullable<Timestamp>,
        acts_for_usagers -> Bool,
        cgu_version -> Nullable<Integer>,
        cgu_accepted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    memberships (aidant_id, organisation_id) {
        aidant_id -> Text,
        organisation_id -> Text,
        role -> Text,
        created_at -> Timestamp,
        active -> Bool,
    }
}

diesel::table! {
    otp_cards (id) {
        id -> Text,
        serial -> Text,
        seed_encrypted -> Text,
        kind -> Text,
        digits -> Integer,
        period -> Integer,
        aidant_id -> Nullable<Text>,
        validated_at -> Nullable<Timestamp>,
        last_used_step -> Nullable<BigInt>,
        failures -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        last_failure_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
        locks -> Integer,
        unseen_failures -> Integer,
        unseen_locks -> Integer,
        staff_id -> Nullable<Text>,
    }
}

diesel::table! {
    trusted_devices (token_hash) {
        token_hash -> Text,
        aidant_id -> Text,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        failures -> Integer,
        last_failure_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    readiness_probe (id) {
        id -> Integer,
        checked_at -> Timestamp,
    }
}

diesel::table! {
    login_throttle (source) {
        source -> Text,
        failures -> Integer,
        last_failure_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    aidant_sessions (id) {
        id -> Text,
        token_hash -> Text,
        aidant_id -> Text,
        organisation_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        last_otp_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    usagers (id) {
        id -> Text,
        sub -> Text,
        franceconnect_sub -> Nullable<Text>,
        given_name -> Text,
        family_name -> Text,
        preferred_username -> Text,
        birthdate -> Text,
        gender -> Text,
        birthplace -> Text,
        birthcountry -> Text,
        email -> Text,
        phone -> Text,
        search_name -> Text,
        created_at -> Timestamp,
        erased_at -> Nullable<Timestamp>,
        notify_email -> Nullable<Text>,
    }
}

diesel::table! {
    mandates (id) {
        id -> Text,
        organisation_id -> Text,
        usager_id -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        duration -> Text,
        is_remote -> Bool,
        consent_received_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
        renews -> Nullable<Text>,
        consent_phone -> Nullable<Text>,
        consent_requested_at -> Nullable<Timestamp>,
        consent_denied_at -> Nullable<Timestamp>,
        revoked_by_usager -> Bool,
        text_version -> Nullable<Integer>,
    }
}

diesel::table! {
    mandate_drafts (id) {
        id -> Text,
        aidant_id -> Text,
        organisation_id -> Text,
        demarches -> Text,
        duration -> Text,
        is_remote -> Bool,
        phone -> Text,
        renews -> Nullable<Text>,
        fc_state_hash -> Text,
        fc_nonce -> Text,
        franceconnect_sub -> Nullable<Text>,
        identite -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        mandate_id -> Nullable<Text>,
    }
}

diesel::table! {
    attestations (id) {
        id -> Text,
        mandate_id -> Text,
        kind -> Text,
        content -> Text,
        fingerprint -> Text,
        created_at -> Timestamp,
        created_by -> Nullable<Text>,
        erased_fingerprint -> Nullable<Text>,
    }
}

diesel::table! {
    autorisations (id) {
        id -> Text,
        mandate_id -> Text,
        demarche -> Text,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
        revoked_by_usager -> Bool,
    }
}

diesel::table! {
    oidc_requests (id) {
        id -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        state -> Text,
        nonce -> Text,
        acr -> Text,
        scope -> Text,
        prompt -> Nullable<Text>,
        max_age -> Nullable<BigInt>,
        login_hint -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        aidant_id -> Nullable<Text>,
        organisation_id -> Nullable<Text>,
        usager_id -> Nullable<Text>,
        demarche -> Nullable<Text>,
        autorisation_id -> Nullable<Text>,
        auth_time -> Nullable<Timestamp>,
        code_hash -> Nullable<Text>,
        code_expires_at -> Nullable<Timestamp>,
        code_consumed_at -> Nullable<Timestamp>,
        access_token_hash -> Nullable<Text>,
        access_token_expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        code_challenge -> Nullable<Text>,
        rep_scope -> Nullable<Text>,
    }
}

diesel::table! {
    journal_heads (chain) {
        chain -> Text,
        seq -> BigInt,
        head_hash -> Text,
        checkpointed_seq -> BigInt,
    }
}

diesel::table! {
    journal_checkpoints (day) {
        day -> Text,
        at -> Timestamp,
        prev_hash -> Text,
        token -> Text,
    }
}

diesel::table! {
    journal_monthly (chain, month, action) {
        chain -> Text,
        month -> Text,
        action -> Text,
        count -> BigInt,
    }
}

diesel::table! {
    journal_monthly_closed (month, metric) {
        month -> Text,
        metric -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    organisation_usagers (organisation_id, usager_id) {
        organisation_id -> Text,
        usager_id -> Text,
        search_name -> Text,
    }
}

diesel::table! {
    journal_monthly_distinct (month, kind, key) {
        month -> Text,
        kind -> Text,
        key -> Text,
    }
}

diesel::table! {
    journal (id) {
        id -> Text,
        chain -> Text,
        seq -> BigInt,
        at -> Timestamp,
        action -> Text,
        aidant_id -> Nullable<Text>,
        usager_id -> Nullable<Text>,
        organisation_id -> Nullable<Text>,
        subject -> Text,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::joinable!(memberships -> aidants (aidant_id));
diesel::joinable!(memberships -> organisations (organisation_id));
diesel::joinable!(card_shipments -> organisations (organisation_id));
diesel::joinable!(mandates -> usagers (usager_id));
diesel::joinable!(autorisations -> mandates (mandate_id));
diesel::joinable!(attestations -> mandates (mandate_id));

diesel::allow_tables_to_appear_in_same_query!(
    organisations,
    aidants,
    memberships,
    otp_cards,
    card_shipments,
    login_throttle,
    aidant_sessions,
    usagers,
    mandates,
    mandate_drafts,
    attestations,
    autorisations,
    oidc_requests,
    journal_heads,
    journal_checkpoints,
    journal_monthly,
    journal_monthly_distinct,
    journal_monthly_closed,
    journal,
    organisation_usagers,
    trusted_devices,
    readiness_probe,
);

diesel::table! {
    outbox (id) {
        id -> Text,
        recipient -> Text,
        kind -> Text,
        payload -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        failed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        undeliverable -> Bool,
        reported_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    staff (id) {
        id -> Text,
        email -> Text,
        first_name -> Text,
        last_name -> Text,
        role -> Text,
        active -> Bool,
        created_at -> Timestamp,
        enrolment_hash -> Nullable<Text>,
        enrolment_expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    staff_sessions (token_hash) {
        token_hash -> Text,
        staff_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(staff_sessions -> staff (staff_id));
diesel::allow_tables_to_appear_in_same_query!(staff, staff_sessions, otp_cards);

diesel::table! {
    scheduled_jobs (name) {
        name -> Text,
        period -> Nullable<Text>,
        last_run_at -> Nullable<Timestamp>,
        last_outcome -> Nullable<Text>,
        last_items -> Integer,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    habilitation_issuers (id) {
        id -> Text,
        email -> Text,
        first_name -> Text,
        last_name -> Text,
        phone -> Text,
        profession -> Text,
        email_confirmed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    issuer_links (id) {
        id -> Text,
        issuer_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    issuer_sessions (token_hash) {
        token_hash -> Text,
        issuer_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    habilitation_requests (id) {
        id -> Text,
        issuer_id -> Text,
        reference -> Nullable<Text>,
        status -> Text,
        siret -> Text,
        name -> Text,
        kind -> Text,
        kind_other -> Text,
        private -> Bool,
        partner_administration -> Text,
        france_services -> Bool,
        france_services_number -> Text,
        address -> Text,
        zipcode -> Text,
        city -> Text,
        mission -> Text,
        demarches -> Text,
        weekly_volume -> Nullable<Integer>,
        commitments_at -> Nullable<Timestamp>,
        organisation_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        submitted_at -> Nullable<Timestamp>,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    habilitation_people (id) {
        id -> Text,
        request_id -> Text,
        role -> Text,
        first_name -> Text,
        last_name -> Text,
        email -> Text,
        phone -> Text,
        profession -> Text,
        also_aidant -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    habilitation_messages (id) {
        id -> Text,
        request_id -> Text,
        staff_id -> Nullable<Text>,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(issuer_sessions -> habilitation_issuers (issuer_id));
diesel::joinable!(habilitation_requests -> habilitation_issuers (issuer_id));
diesel::joinable!(habilitation_people -> habilitation_requests (request_id));
diesel::joinable!(habilitation_messages -> habilitation_requests (request_id));
diesel::allow_tables_to_appear_in_same_query!(
    habilitation_issuers,
    issuer_links,
    issuer_sessions,
    habilitation_requests,
    habilitation_people,
    habilitation_messages,
);

diesel::table! {
    training_sessions (id) {
        id -> Text,
        starts_at -> Timestamp,
        place -> Text,
        online -> Bool,
        organiser -> Text,
        seats -> Integer,
        staff_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    training_registrations (session_id, aidant_id) {
        session_id -> Text,
        aidant_id -> Text,
        organisation_id -> Text,
        registered_by -> Text,
        registered_at -> Timestamp,
        attended -> Nullable<Bool>,
    }
}

diesel::table! {
    trainees (aidant_id, organisation_id) {
        aidant_id -> Text,
        organisation_id -> Text,
        created_at -> Timestamp,
        trained_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    pix_results (aidant_id) {
        aidant_id -> Text,
        passed -> Bool,
        imported_at -> Timestamp,
        staff_id -> Text,
    }
}

diesel::joinable!(training_registrations -> training_sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    training_sessions,
    training_registrations,
    pix_results,
    trainees
);

diesel::table! {
    aidant_requests (id) {
        id -> Text,
        organisation_id -> Text,
        referent_id -> Text,
        email -> Text,
        first_name -> Text,
        last_name -> Text,
        phone -> Text,
        profession -> Text,
        arriving -> Bool,
        leaves -> Bool,
        aidant_id -> Nullable<Text>,
        status -> Text,
        reason -> Text,
        staff_id -> Nullable<Text>,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    usager_logins (state_hash) {
        state_hash -> Text,
        browser_hash -> Text,
        nonce -> Text,
        franceconnect_sub -> Nullable<Text>,
        usager_id -> Nullable<Text>,
        id_token -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        email -> Nullable<Text>,
    }
}

diesel::table! {
    usager_sessions (token_hash) {
        token_hash -> Text,
        usager_id -> Text,
        id_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        email -> Nullable<Text>,
    }
}

diesel::joinable!(usager_sessions -> usagers (usager_id));
diesel::allow_tables_to_appear_in_same_query!(usager_logins, usager_sessions, usagers);
