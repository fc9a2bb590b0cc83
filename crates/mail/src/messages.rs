//! The messages the service sends, each with its French templates (plain text and HTML, in
//! `templates/`). A subject never names an usager; links are absolute from the public address.

use crate::Letterhead;
use askama::Template;
use serde::{Deserialize, Serialize};

/// A message, as the outbox keeps it until it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Email {
    /// An aidant's card was taken off them by a référent: to the aidant, and to the
    /// structure's référents.
    CardDissociated {
        /// The aidant.
        aidant: String,
        /// The structure.
        organisation: String,
        /// The card's serial.
        serial: String,
        /// The reason, as the référent chose it.
        reason: String,
        /// Whether this copy is a référent's (otherwise the aidant's).
        to_referent: bool,
        /// Whether the national team took it (otherwise a référent); absent from messages
        /// written before the back office could.
        #[serde(default)]
        by_team: bool,
    },
    /// Wrong codes from unrecognised browsers locked an aidant's card for them: to the aidant,
    /// and to the référents of the structures they work for.
    CardLocked {
        /// The aidant.
        aidant: String,
        /// The card's serial.
        serial: String,
        /// Until when, in Paris time (`02/12/2026 à 14:30`).
        until: String,
        /// Whether this copy is a référent's (otherwise the aidant's).
        to_referent: bool,
    },
    /// A consent SMS could not be sent: to the national team.
    SmsFailed {
        /// The structure whose aidant sent it (name and SIRET).
        organisation: String,
        /// What the SMS provider answered.
        failure: String,
    },
    /// An aidant was deactivated in a structure: to its référents.
    MemberDeactivated {
        /// The aidant.
        aidant: String,
        /// The structure.
        organisation: String,
    },
    /// An aidant's account was activated by the national team: to them, with where to start.
    Welcome {
        /// The aidant.
        aidant: String,
        /// The structures they work for.
        organisations: Vec<String>,
    },
    /// An aidant of a structure was activated: to its référents.
    MemberActivated {
        /// The aidant.
        aidant: String,
        /// The structure.
        organisation: String,
    },
    /// An aidant was made (co-)référent of a structure: to them.
    MadeReferent {
        /// The aidant.
        aidant: String,
        /// The structure.
        organisation: String,
    },
    /// The weekly digest of the mandates that end within 30 days: to each aidant of the
    /// structures that hold them.
    ExpiringMandates {
        /// The aidant.
        aidant: String,
        /// The mandates, soonest first.
        mandates: Vec<ExpiringMandate>,
    },
    /// The weekly reminder of the structure's aidants who have no card in service: to its
    /// référents.
    AidantsWithoutCard {
        /// The structure.
        organisation: String,
        /// The aidants, by name.
        aidants: Vec<String>,
    },
    /// An aidant has not signed in for long: to them, before their access ends.
    InactivityWarning {
        /// The aidant.
        aidant: String,
        /// Not signed in since then (`02/06/2026`).
        since: String,
        /// The day their access ends without a sign-in (`02/07/2026`).
        deactivation: String,
        /// The structures they would leave.
        organisations: Vec<String>,
    },
    /// The link to an issuer's space of habilitation requests: to the issuer, who asked for it
    /// (the first one also confirms their address).
    IssuerLink {
        /// The issuer.
        issuer: String,
        /// The link's id, signed when the message is rendered.
        link_id: String,
        /// Whether it is the first (confirming the address).
        first: bool,
        /// How many hours the link works.
        hours: i64,
    },
    /// A habilitation request was submitted (or submitted again after changes): to its issuer.
    HabilitationSubmitted {
        /// The issuer.
        issuer: String,
        /// The request's reference.
        reference: String,
        /// The structure's name.
        organisation: String,
        /// Whether it comes back after changes.
        again: bool,
    },
    /// A habilitation request awaits review: to the national team.
    HabilitationToReview {
        /// The request's reference.
        reference: String,
        /// The structure's name.
        organisation: String,
        /// The request's id (for the back office's link).
        request_id: String,
        /// Whether it comes back after changes.
        again: bool,
    },
    /// A new message on a habilitation request: to the issuer (from the team) or to the team
    /// (from the issuer).
    HabilitationMessage {
        /// The request's reference (or « brouillon »).
        reference: String,
        /// The structure's name.
        organisation: String,
        /// The request's id.
        request_id: String,
        /// The message.
        body: String,
        /// Whether it goes to the national team.
        to_team: bool,
    },
    /// The national team decided on a habilitation request: to its issuer.
    HabilitationDecided {
        /// The issuer.
        issuer: String,
        /// The request's reference.
        reference: String,
        /// The structure's name.
        organisation: String,
        /// The decision.
        decision: Decision,
        /// The team's words, if any.
        message: Option<String>,
    },
    /// A référent asked for an aidant (new, to train, or coming from another structure): to
    /// the national team.
    AidantToReview {
        /// The structure asking.
        organisation: String,
        /// The aidant asked for.
        aidant: String,
        /// The request's id (for the back office's link).
        request_id: String,
        /// Whether the aidant already works in another structure.
        moving: bool,
    },
    /// The national team decided on a référent's request for an aidant: to that référent.
    AidantRequestDecided {
        /// The référent who asked.
        referent: String,
        /// The aidant asked for.
        aidant: String,
        /// The structure.
        organisation: String,
        /// Whether it was validated (otherwise refused).
        validated: bool,
        /// Whether the aidant came from another structure.
        moving: bool,
        /// The team's words, if any.
        reason: Option<String>,
    },
    /// An aidant to train was registered on a training session: to them.
    TrainingRegistered {
        /// The aidant.
        aidant: String,
        /// Their structure.
        organisation: String,
        /// When, in Paris time (`15/04/2026 à 09:30`).
        when: String,
        /// Where (an address, or « En ligne »).
        place: String,
        /// Who trains.
        organiser: String,
        /// Whether it is held online.
        online: bool,
    },
    /// A structure was habilitated: to its référent, with the next steps.
    StructureHabilitated {
        /// The référent.
        referent: String,
        /// The structure.
        organisation: String,
        /// The aidants to train, by name.
        aidants: Vec<String>,
    },
    /// A mandate was made in an usager's name: to the usager, who chose to be told.
    MandateMade {
        /// The structure whose aidants may act.
        organisation: String,
        /// The aidant who made it, « Prénom N. ».
        aidant: String,
        /// The démarches, by title.
        demarches: Vec<String>,
        /// Until when, in Paris time (`31/12/2026`).
        until: String,
        /// Whether it waits for the usager's « Oui » by SMS.
        remote: bool,
    },
    /// An aidant used a mandate for a démarche in an usager's name: to the usager, who chose
    /// to be told.
    MandateUsed {
        /// The structure.
        organisation: String,
        /// The aidant, « Prénom N. ».
        aidant: String,
        /// The démarche, by title.
        demarche: String,
        /// When, in Paris time (`02/12/2026 à 14:30`).
        at: String,
    },
    /// An aidant's membership was deactivated for inactivity: to them, and to the
    /// structure's référents.
    InactivityDeactivated {
        /// The aidant.
        aidant: String,
        /// Not signed in since then.
        since: String,
        /// The structure.
        organisation: String,
        /// Whether this copy is a référent's (otherwise the aidant's).
        to_referent: bool,
    },
}

/// What the e-mails to an usager link to: their space, where they see and revoke their
/// mandates, and stop these e-mails.
const USAGER_SPACE: &str = "/mon-espace/";

/// What the national team decided on a habilitation request (in [`Email::HabilitationDecided`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Changes are asked before the request can be validated.
    ChangesRequired,
    /// The structure is habilitated.
    Validated,
    /// The request is refused.
    Refused,
    /// The request is closed without a decision.
    Closed,
}

/// One line of [`Email::ExpiringMandates`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiringMandate {
    /// The structure that holds the mandate.
    pub organisation: String,
    /// The usager, by name.
    pub usager: String,
    /// The day it ends, in Paris time (`31/12/2026`).
    pub expires: String,
}

/// A message ready to compose: subject, plain text, HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// Declares the HTML template of a message: the layout around its text template's data `m`,
/// under the message's subject.
macro_rules! html_of {
    ($html:ident, $text:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $html<'a> {
            subject: &'a str,
            m: &'a $text<'a>,
        }
    };
}

/// A message rendered: `subject`, its text template's data, and the HTML template around it.
macro_rules! rendered {
    ($subject:expr, $text:expr, $html:ident) => {{
        let subject: String = $subject;
        let m = $text;
        let html = $html {
            subject: &subject,
            m: &m,
        }
        .render()?;
        Ok(Rendered {
            text: m.render()?,
            html,
            subject,
        })
    }};
}

#[derive(Template)]
#[template(path = "card_dissociated.txt")]
struct CardDissociatedText<'a> {
    aidant: &'a str,
    organisation: &'a str,
    serial: &'a str,
    reason: &'a str,
    to_referent: bool,
    by_team: bool,
    link: &'a str,
}

html_of!(
    CardDissociatedHtml,
    CardDissociatedText,
    "card_dissociated.html"
);

#[derive(Template)]
#[template(path = "card_locked.txt")]
struct CardLockedText<'a> {
    aidant: &'a str,
    serial: &'a str,
    until: &'a str,
    to_referent: bool,
    link: &'a str,
}

html_of!(CardLockedHtml, CardLockedText, "card_locked.html");

#[derive(Template)]
#[template(path = "sms_failed.txt")]
struct SmsFailedText<'a> {
    organisation: &'a str,
    failure: &'a str,
}

html_of!(SmsFailedHtml, SmsFailedText, "sms_failed.html");

#[derive(Template)]
#[template(path = "member_deactivated.txt")]
struct MemberDeactivatedText<'a> {
    aidant: &'a str,
    organisation: &'a str,
    link: &'a str,
}

html_of!(
    MemberDeactivatedHtml,
    MemberDeactivatedText,
    "member_deactivated.html"
);

#[derive(Template)]
#[template(path = "welcome.txt")]
struct WelcomeText<'a> {
    aidant: &'a str,
    organisations: &'a [String],
    link: &'a str,
}

html_of!(WelcomeHtml, WelcomeText, "welcome.html");

#[derive(Template)]
#[template(path = "member_activated.txt")]
struct MemberActivatedText<'a> {
    aidant: &'a str,
    organisation: &'a str,
    link: &'a str,
}

html_of!(
    MemberActivatedHtml,
    MemberActivatedText,
    "member_activated.html"
);

#[derive(Template)]
#[template(path = "made_referent.txt")]
struct MadeReferentText<'a> {
    aidant: &'a str,
    organisation: &'a str,
    link: &'a str,
}

html_of!(MadeReferentHtml, MadeReferentText, "made_referent.html");

#[derive(Template)]
#[template(path = "expiring_mandates.txt")]
struct ExpiringMandatesText<'a> {
    aidant: &'a str,
    mandates: &'a [ExpiringMandate],
    link: &'a str,
}

html_of!(
    ExpiringMandatesHtml,
    ExpiringMandatesText,
    "expiring_mandates.html"
);

#[derive(Template)]
#[template(path = "aidants_without_card.txt")]
struct AidantsWithoutCardText<'a> {
    organisation: &'a str,
    aidants: &'a [String],
    link: &'a str,
}

html_of!(
    AidantsWithoutCardHtml,
    AidantsWithoutCardText,
    "aidants_without_card.html"
);

#[derive(Template)]
#[template(path = "inactivity_warning.txt")]
struct InactivityWarningText<'a> {
    aidant: &'a str,
    since: &'a str,
    deactivation: &'a str,
    organisations: &'a [String],
    link: &'a str,
}

html_of!(
    InactivityWarningHtml,
    InactivityWarningText,
    "inactivity_warning.html"
);

#[derive(Template)]
#[template(path = "inactivity_deactivated.txt")]
struct InactivityDeactivatedText<'a> {
    aidant: &'a str,
    since: &'a str,
    organisation: &'a str,
    to_referent: bool,
    link: &'a str,
}

html_of!(
    InactivityDeactivatedHtml,
    InactivityDeactivatedText,
    "inactivity_deactivated.html"
);

/// Where the reader of a copy acts from: the espace référent for a référent's copy, the
/// sign-in page for the aidant's.
#[derive(Template)]
#[template(path = "issuer_link.txt")]
struct IssuerLinkText<'a> {
    issuer: &'a str,
    first: bool,
    hours: i64,
    link: &'a str,
}

html_of!(IssuerLinkHtml, IssuerLinkText, "issuer_link.html");

#[derive(Template)]
#[template(path = "habilitation_submitted.txt")]
struct HabilitationSubmittedText<'a> {
    issuer: &'a str,
    reference: &'a str,
    organisation: &'a str,
    again: bool,
    link: &'a str,
}

html_of!(
    HabilitationSubmittedHtml,
    HabilitationSubmittedText,
    "habilitation_submitted.html"
);

#[derive(Template)]
#[template(path = "habilitation_to_review.txt")]
struct HabilitationToReviewText<'a> {
    reference: &'a str,
    organisation: &'a str,
    again: bool,
    link: &'a str,
}

html_of!(
    HabilitationToReviewHtml,
    HabilitationToReviewText,
    "habilitation_to_review.html"
);

#[derive(Template)]
#[template(path = "habilitation_message.txt")]
struct HabilitationMessageText<'a> {
    reference: &'a str,
    organisation: &'a str,
    body: &'a str,
    to_team: bool,
    link: &'a str,
}

html_of!(
    HabilitationMessageHtml,
    HabilitationMessageText,
    "habilitation_message.html"
);

#[derive(Template)]
#[template(path = "habilitation_decided.txt")]
struct HabilitationDecidedText<'a> {
    issuer: &'a str,
    reference: &'a str,
    organisation: &'a str,
    decision: Decision,
    message: Option<&'a str>,
    link: &'a str,
}

html_of!(
    HabilitationDecidedHtml,
    HabilitationDecidedText,
    "habilitation_decided.html"
);

#[derive(Template)]
#[template(path = "aidant_to_review.txt")]
struct AidantToReviewText<'a> {
    organisation: &'a str,
    aidant: &'a str,
    moving: bool,
    link: &'a str,
}

html_of!(
    AidantToReviewHtml,
    AidantToReviewText,
    "aidant_to_review.html"
);

#[derive(Template)]
#[template(path = "aidant_request_decided.txt")]
struct AidantRequestDecidedText<'a> {
    referent: &'a str,
    aidant: &'a str,
    organisation: &'a str,
    validated: bool,
    moving: bool,
    reason: Option<&'a str>,
    link: &'a str,
}

html_of!(
    AidantRequestDecidedHtml,
    AidantRequestDecidedText,
    "aidant_request_decided.html"
);

#[derive(Template)]
#[template(path = "mandate_made.txt")]
struct MandateMadeText<'a> {
    organisation: &'a str,
    aidant: &'a str,
    demarches: &'a [String],
    until: &'a str,
    remote: bool,
    link: &'a str,
}

html_of!(MandateMadeHtml, MandateMadeText, "mandate_made.html");

#[derive(Template)]
#[template(path = "mandate_used.txt")]
struct MandateUsedText<'a> {
    organisation: &'a str,
    aidant: &'a str,
    demarche: &'a str,
    at: &'a str,
    link: &'a str,
}

html_of!(MandateUsedHtml, MandateUsedText, "mandate_used.html");

#[derive(Template)]
#[template(path = "structure_habilitated.txt")]
struct StructureHabilitatedText<'a> {
    referent: &'a str,
    organisation: &'a str,
    aidants: &'a [String],
    link: &'a str,
}

html_of!(
    StructureHabilitatedHtml,
    StructureHabilitatedText,
    "structure_habilitated.html"
);

#[derive(Template)]
#[template(path = "training_registered.txt")]
struct TrainingRegisteredText<'a> {
    aidant: &'a str,
    organisation: &'a str,
    when: &'a str,
    place: &'a str,
    organiser: &'a str,
    online: bool,
}

html_of!(
    TrainingRegisteredHtml,
    TrainingRegisteredText,
    "training_registered.html"
);

fn where_to_act(letterhead: &Letterhead, to_referent: bool) -> String {
    letterhead.link(if to_referent {
        "/espace-referent"
    } else {
        "/connexion"
    })
}

impl Email {
    /// The message's kind, as stored in the outbox and counted in `/metrics`.
    pub fn kind(&self) -> &'static str {
        match self {
            Email::CardDissociated { .. } => "card_dissociated",
            Email::MemberDeactivated { .. } => "member_deactivated",
            Email::CardLocked { .. } => "card_locked",
            Email::SmsFailed { .. } => "sms_failed",
            Email::MadeReferent { .. } => "made_referent",
            Email::Welcome { .. } => "welcome",
            Email::MemberActivated { .. } => "member_activated",
            Email::ExpiringMandates { .. } => "expiring_mandates",
            Email::AidantsWithoutCard { .. } => "aidants_without_card",
            Email::InactivityWarning { .. } => "inactivity_warning",
            Email::InactivityDeactivated { .. } => "inactivity_deactivated",
            Email::IssuerLink { .. } => "issuer_link",
            Email::HabilitationSubmitted { .. } => "habilitation_submitted",
            Email::HabilitationToReview { .. } => "habilitation_to_review",
            Email::HabilitationMessage { .. } => "habilitation_message",
            Email::HabilitationDecided { .. } => "habilitation_decided",
            Email::StructureHabilitated { .. } => "structure_habilitated",
            Email::TrainingRegistered { .. } => "training_registered",
            Email::AidantToReview { .. } => "aidant_to_review",
            Email::AidantRequestDecided { .. } => "aidant_request_decided",
            Email::MandateMade { .. } => "mandate_made",
            Email::MandateUsed { .. } => "mandate_used",
        }
    }

    /// Subject, text and HTML, with links from `letterhead`.
    pub fn render(&self, letterhead: &Letterhead) -> Result<Rendered, askama::Error> {
        match self {
            Email::CardDissociated {
                aidant,
                organisation,
                serial,
                reason,
                to_referent,
                by_team,
            } => {
                let subject = if *to_referent {
                    format!("Une carte a été retirée à {aidant}")
                } else {
                    "Votre carte Aidants Connect vous a été retirée".to_owned()
                };
                let link = where_to_act(letterhead, *to_referent);
                rendered!(
                    subject,
                    CardDissociatedText {
                        aidant,
                        organisation,
                        serial,
                        reason,
                        to_referent: *to_referent,
                        by_team: *by_team,
                        link: &link,
                    },
                    CardDissociatedHtml
                )
            }
            Email::CardLocked {
                aidant,
                serial,
                until,
                to_referent,
            } => {
                let subject = if *to_referent {
                    format!("La carte de {aidant} est bloquée")
                } else {
                    "Votre carte Aidants Connect est bloquée".to_owned()
                };
                let link = where_to_act(letterhead, *to_referent);
                rendered!(
                    subject,
                    CardLockedText {
                        aidant,
                        serial,
                        until,
                        to_referent: *to_referent,
                        link: &link,
                    },
                    CardLockedHtml
                )
            }
            Email::SmsFailed {
                organisation,
                failure,
            } => {
                let subject = "Un SMS de consentement n'a pas pu être envoyé".to_owned();
                rendered!(
                    subject,
                    SmsFailedText {
                        organisation,
                        failure,
                    },
                    SmsFailedHtml
                )
            }
            Email::MemberDeactivated {
                aidant,
                organisation,
            } => {
                let subject = format!("{aidant} a été désactivé·e dans votre structure");
                let link = letterhead.link("/espace-referent");
                rendered!(
                    subject,
                    MemberDeactivatedText {
                        aidant,
                        organisation,
                        link: &link,
                    },
                    MemberDeactivatedHtml
                )
            }
            Email::Welcome {
                aidant,
                organisations,
            } => {
                let subject = "Votre compte Aidants Connect est activé".to_owned();
                let link = letterhead.link("/connexion");
                rendered!(
                    subject,
                    WelcomeText {
                        aidant,
                        organisations,
                        link: &link,
                    },
                    WelcomeHtml
                )
            }
            Email::MemberActivated {
                aidant,
                organisation,
            } => {
                let subject = format!("Le compte de {aidant} est activé");
                let link = letterhead.link("/espace-referent");
                rendered!(
                    subject,
                    MemberActivatedText {
                        aidant,
                        organisation,
                        link: &link,
                    },
                    MemberActivatedHtml
                )
            }
            Email::MadeReferent {
                aidant,
                organisation,
            } => {
                let subject = "Vous êtes désormais référent·e Aidants Connect".to_owned();
                let link = letterhead.link("/espace-referent");
                rendered!(
                    subject,
                    MadeReferentText {
                        aidant,
                        organisation,
                        link: &link,
                    },
                    MadeReferentHtml
                )
            }
            Email::ExpiringMandates { aidant, mandates } => {
                let subject = if mandates.len() == 1 {
                    "Un mandat arrive à échéance".to_owned()
                } else {
                    format!("{} mandats arrivent à échéance", mandates.len())
                };
                let link = letterhead.link("/espace-aidant?etat=bientot");
                rendered!(
                    subject,
                    ExpiringMandatesText {
                        aidant,
                        mandates,
                        link: &link,
                    },
                    ExpiringMandatesHtml
                )
            }
            Email::AidantsWithoutCard {
                organisation,
                aidants,
            } => {
                let subject = if aidants.len() == 1 {
                    "Un aidant de votre structure n'a pas de carte".to_owned()
                } else {
                    format!(
                        "{} aidants de votre structure n'ont pas de carte",
                        aidants.len()
                    )
                };
                let link = letterhead.link("/espace-referent");
                rendered!(
                    subject,
                    AidantsWithoutCardText {
                        organisation,
                        aidants,
                        link: &link,
                    },
                    AidantsWithoutCardHtml
                )
            }
            Email::InactivityWarning {
                aidant,
                since,
                deactivation,
                organisations,
            } => {
                let subject = "Votre accès à Aidants Connect sera bientôt désactivé".to_owned();
                let link = letterhead.link("/connexion");
                rendered!(
                    subject,
                    InactivityWarningText {
                        aidant,
                        since,
                        deactivation,
                        organisations,
                        link: &link,
                    },
                    InactivityWarningHtml
                )
            }
            Email::InactivityDeactivated {
                aidant,
                since,
                organisation,
                to_referent,
            } => {
                let subject = if *to_referent {
                    format!("{aidant} a été désactivé·e faute de connexion")
                } else {
                    "Votre accès à Aidants Connect a été désactivé".to_owned()
                };
                let link = where_to_act(letterhead, *to_referent);
                rendered!(
                    subject,
                    InactivityDeactivatedText {
                        aidant,
                        since,
                        organisation,
                        to_referent: *to_referent,
                        link: &link,
                    },
                    InactivityDeactivatedHtml
                )
            }
            Email::IssuerLink {
                issuer,
                link_id,
                first,
                hours,
            } => {
                let subject = if *first {
                    "Confirmez votre adresse pour votre demande d'habilitation".to_owned()
                } else {
                    "Votre lien vers vos demandes d'habilitation".to_owned()
                };
                let link = letterhead.link(&format!(
                    "/habilitation/lien/{}",
                    letterhead.links.token(link_id)
                ));
                rendered!(
                    subject,
                    IssuerLinkText {
                        issuer,
                        first: *first,
                        hours: *hours,
                        link: &link,
                    },
                    IssuerLinkHtml
                )
            }
            Email::HabilitationSubmitted {
                issuer,
                reference,
                organisation,
                again,
            } => {
                let subject = if *again {
                    format!("Demande d'habilitation {reference} : modifications reçues")
                } else {
                    format!("Demande d'habilitation {reference} déposée")
                };
                let link = letterhead.link("/habilitation/demandes");
                rendered!(
                    subject,
                    HabilitationSubmittedText {
                        issuer,
                        reference,
                        organisation,
                        again: *again,
                        link: &link,
                    },
                    HabilitationSubmittedHtml
                )
            }
            Email::HabilitationToReview {
                reference,
                organisation,
                request_id,
                again,
            } => {
                let subject = format!("Demande d'habilitation {reference} à instruire");
                let link = letterhead.link(&format!("/administration/habilitations/{request_id}"));
                rendered!(
                    subject,
                    HabilitationToReviewText {
                        reference,
                        organisation,
                        again: *again,
                        link: &link,
                    },
                    HabilitationToReviewHtml
                )
            }
            Email::HabilitationMessage {
                reference,
                organisation,
                request_id,
                body,
                to_team,
            } => {
                let subject = format!("Nouveau message sur la demande d'habilitation {reference}");
                let link = letterhead.link(&if *to_team {
                    format!("/administration/habilitations/{request_id}")
                } else {
                    format!("/habilitation/demandes/{request_id}")
                });
                rendered!(
                    subject,
                    HabilitationMessageText {
                        reference,
                        organisation,
                        body,
                        to_team: *to_team,
                        link: &link,
                    },
                    HabilitationMessageHtml
                )
            }
            Email::HabilitationDecided {
                issuer,
                reference,
                organisation,
                decision,
                message,
            } => {
                let subject = match decision {
                    Decision::ChangesRequired => {
                        format!("Demande d'habilitation {reference} : modifications demandées")
                    }
                    Decision::Validated => format!("Demande d'habilitation {reference} validée"),
                    Decision::Refused => format!("Demande d'habilitation {reference} refusée"),
                    Decision::Closed => format!("Demande d'habilitation {reference} clôturée"),
                };
                let link = letterhead.link("/habilitation/demandes");
                rendered!(
                    subject,
                    HabilitationDecidedText {
                        issuer,
                        reference,
                        organisation,
                        decision: *decision,
                        message: message.as_deref(),
                        link: &link,
                    },
                    HabilitationDecidedHtml
                )
            }
            Email::AidantToReview {
                organisation,
                aidant,
                request_id,
                moving,
            } => {
                let link =
                    letterhead.link(&format!("/administration/demandes-aidants/{request_id}"));
                rendered!(
                    format!("Demande d'ajout d'un aidant à instruire : {organisation}"),
                    AidantToReviewText {
                        organisation,
                        aidant,
                        moving: *moving,
                        link: &link,
                    },
                    AidantToReviewHtml
                )
            }
            Email::AidantRequestDecided {
                referent,
                aidant,
                organisation,
                validated,
                moving,
                reason,
            } => {
                let subject = if *validated {
                    format!("Demande pour {aidant} validée")
                } else {
                    format!("Demande pour {aidant} refusée")
                };
                let link = letterhead.link("/espace-referent/demandes");
                rendered!(
                    subject,
                    AidantRequestDecidedText {
                        referent,
                        aidant,
                        organisation,
                        validated: *validated,
                        moving: *moving,
                        reason: reason.as_deref(),
                        link: &link,
                    },
                    AidantRequestDecidedHtml
                )
            }
            Email::TrainingRegistered {
                aidant,
                organisation,
                when,
                place,
                organiser,
                online,
            } => rendered!(
                format!("Votre formation Aidants Connect le {when}"),
                TrainingRegisteredText {
                    aidant,
                    organisation,
                    when,
                    place,
                    organiser,
                    online: *online,
                },
                TrainingRegisteredHtml
            ),
            Email::StructureHabilitated {
                referent,
                organisation,
                aidants,
            } => {
                let subject = format!("{organisation} est habilitée à Aidants Connect");
                let link = letterhead.link("/espace-referent");
                rendered!(
                    subject,
                    StructureHabilitatedText {
                        referent,
                        organisation,
                        aidants,
                        link: &link,
                    },
                    StructureHabilitatedHtml
                )
            }
            Email::MandateMade {
                organisation,
                aidant,
                demarches,
                until,
                remote,
            } => {
                let link = letterhead.link(USAGER_SPACE);
                rendered!(
                    "Un mandat a été fait à votre nom".to_owned(),
                    MandateMadeText {
                        organisation,
                        aidant,
                        demarches,
                        until,
                        remote: *remote,
                        link: &link,
                    },
                    MandateMadeHtml
                )
            }
            Email::MandateUsed {
                organisation,
                aidant,
                demarche,
                at,
            } => {
                let link = letterhead.link(USAGER_SPACE);
                rendered!(
                    "Un aidant a fait une démarche pour vous".to_owned(),
                    MandateUsedText {
                        organisation,
                        aidant,
                        demarche,
                        at,
                        link: &link,
                    },
                    MandateUsedHtml
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn letterhead() -> Letterhead {
        Letterhead {
            from: "Aidants Connect <nepasrepondre@aidantsconnect.beta.gouv.fr>"
                .parse()
                .unwrap(),
            reply_to: None,
            public_url: "https://aidants.example/".into(),
            links: crate::LinkKey::derive(b"test").unwrap(),
        }
    }

    #[test]
    fn html_is_escaped_text_is_not_and_links_are_absolute() {
        let email = Email::MemberDeactivated {
            aidant: "Léa <b>Martin</b>".into(),
            organisation: "CCAS d'Arles & environs".into(),
        };
        let rendered = email.render(&letterhead()).unwrap();
        assert!(
            rendered.html.contains("Léa &#60;b&#62;Martin&#60;/b&#62;"),
            "{}",
            rendered.html
        );
        assert!(!rendered.html.contains("<b>Martin"));
        assert!(rendered.text.contains("Léa <b>Martin</b>"));
        assert!(rendered
            .text
            .contains("https://aidants.example/espace-referent"));
        assert!(rendered
            .html
            .contains("href=\"https://aidants.example/espace-referent\""));
        assert!(rendered.html.contains("lang=\"fr\""));
    }

    #[test]
    fn an_issuer_link_is_signed_as_it_is_rendered_and_not_stored() {
        let email = Email::IssuerLink {
            issuer: "Inès".into(),
            link_id: "0123abcd".into(),
            first: true,
            hours: 24,
        };
        let stored = serde_json::to_string(&email).unwrap();
        let head = letterhead();
        let rendered = email.render(&head).unwrap();
        let link = rendered
            .text
            .split_whitespace()
            .find(|w| w.contains("/habilitation/lien/"))
            .unwrap();
        let token = link.rsplit('/').next().unwrap();
        assert_eq!(head.links.verify(token), Some("0123abcd"));
        assert!(!stored.contains(token), "the outbox holds no working link");
        assert!(rendered.html.contains(token));
        assert!(rendered.subject.starts_with("Confirmez"));
    }

    #[test]
    fn every_kind_round_trips_through_the_outbox_payload() {
        for email in [
            Email::CardDissociated {
                aidant: "A".into(),
                organisation: "S".into(),
                serial: "GADT1".into(),
                reason: "perte".into(),
                to_referent: true,
                by_team: true,
            },
            Email::MemberDeactivated {
                aidant: "A".into(),
                organisation: "S".into(),
            },
            Email::MadeReferent {
                aidant: "A".into(),
                organisation: "S".into(),
            },
            Email::Welcome {
                aidant: "A".into(),
                organisations: vec!["S".into(), "T".into()],
            },
            Email::SmsFailed {
                organisation: "S (SIRET 1)".into(),
                failure: "statut 503".into(),
            },
            Email::CardLocked {
                aidant: "A".into(),
                serial: "GADT1".into(),
                until: "02/12/2026 à 14:30".into(),
                to_referent: false,
            },
            Email::MemberActivated {
                aidant: "A".into(),
                organisation: "S".into(),
            },
            Email::ExpiringMandates {
                aidant: "A".into(),
                mandates: vec![ExpiringMandate {
                    organisation: "S".into(),
                    usager: "U".into(),
                    expires: "31/12/2026".into(),
                }],
            },
            Email::AidantsWithoutCard {
                organisation: "S".into(),
                aidants: vec!["A".into(), "B".into()],
            },
            Email::InactivityWarning {
                aidant: "A".into(),
                since: "02/06/2026".into(),
                deactivation: "02/07/2026".into(),
                organisations: vec!["S".into()],
            },
            Email::InactivityDeactivated {
                aidant: "A".into(),
                since: "02/06/2026".into(),
                organisation: "S".into(),
                to_referent: true,
            },
            Email::HabilitationSubmitted {
                issuer: "I".into(),
                reference: "HAB-2345-6789".into(),
                organisation: "S".into(),
                again: true,
            },
            Email::HabilitationToReview {
                reference: "HAB-2345-6789".into(),
                organisation: "S".into(),
                request_id: "r1".into(),
                again: false,
            },
            Email::HabilitationMessage {
                reference: "HAB-2345-6789".into(),
                organisation: "S".into(),
                request_id: "r1".into(),
                body: "Bonjour".into(),
                to_team: false,
            },
            Email::HabilitationDecided {
                issuer: "I".into(),
                reference: "HAB-2345-6789".into(),
                organisation: "S".into(),
                decision: Decision::ChangesRequired,
                message: Some("Précisez".into()),
            },
            Email::StructureHabilitated {
                referent: "R".into(),
                organisation: "S".into(),
                aidants: vec!["A".into()],
            },
            Email::TrainingRegistered {
                aidant: "A".into(),
                organisation: "S".into(),
                when: "15/04/2026 à 09:30".into(),
                place: "En ligne".into(),
                organiser: "Pix Formation".into(),
                online: true,
            },
            Email::AidantToReview {
                organisation: "S".into(),
                aidant: "A".into(),
                request_id: "r1".into(),
                moving: true,
            },
            Email::AidantRequestDecided {
                referent: "R".into(),
                aidant: "A".into(),
                organisation: "S".into(),
                validated: false,
                moving: false,
                reason: Some("Pas un salarié".into()),
            },
            Email::MandateMade {
                organisation: "S".into(),
                aidant: "Léa M.".into(),
                demarches: vec!["Argent".into()],
                until: "31/12/2026".into(),
                remote: true,
            },
            Email::MandateUsed {
                organisation: "S".into(),
                aidant: "Léa M.".into(),
                demarche: "Argent".into(),
                at: "02/12/2026 à 14:30".into(),
            },
        ] {
            let stored = serde_json::to_string(&email).unwrap();
            assert_eq!(serde_json::from_str::<Email>(&stored).unwrap(), email);
            let rendered = email.render(&letterhead()).unwrap();
            assert!(!rendered.subject.is_empty() && !rendered.text.is_empty());
        }
    }
}
