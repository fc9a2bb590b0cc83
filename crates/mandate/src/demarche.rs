//! The ten démarche categories a mandate can cover.

use crate::MandateError;

/// A démarche category. Ids are stable; titles are shown to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Demarche {
    /// Papiers – Citoyenneté.
    Papiers,
    /// Famille.
    Famille,
    /// Social – Santé.
    Social,
    /// Travail.
    Travail,
    /// Logement.
    Logement,
    /// Transports.
    Transports,
    /// Argent.
    Argent,
    /// Justice.
    Justice,
    /// Étranger.
    Etranger,
    /// Loisirs.
    Loisirs,
}

impl Demarche {
    /// The catalogue, in display order.
    pub const ALL: [Demarche; 10] = [
        Demarche::Papiers,
        Demarche::Famille,
        Demarche::Social,
        Demarche::Travail,
        Demarche::Logement,
        Demarche::Transports,
        Demarche::Argent,
        Demarche::Justice,
        Demarche::Etranger,
        Demarche::Loisirs,
    ];

    /// Stable id.
    pub fn id(self) -> &'static str {
        match self {
            Demarche::Papiers => "papiers",
            Demarche::Famille => "famille",
            Demarche::Social => "social",
            Demarche::Travail => "travail",
            Demarche::Logement => "logement",
            Demarche::Transports => "transports",
            Demarche::Argent => "argent",
            Demarche::Justice => "justice",
            Demarche::Etranger => "etranger",
            Demarche::Loisirs => "loisirs",
        }
    }

    /// Title shown to people.
    pub fn title(self) -> &'static str {
        match self {
            Demarche::Papiers => "Papiers – Citoyenneté",
            Demarche::Famille => "Famille",
            Demarche::Social => "Social – Santé",
            Demarche::Travail => "Travail",
            Demarche::Logement => "Logement",
            Demarche::Transports => "Transports",
            Demarche::Argent => "Argent",
            Demarche::Justice => "Justice",
            Demarche::Etranger => "Étranger",
            Demarche::Loisirs => "Loisirs",
        }
    }

    /// What it covers, as examples.
    pub fn description(self) -> &'static str {
        match self {
            Demarche::Papiers => "État civil, passeport, élections, papiers à conserver",
            Demarche::Famille => "Allocations familiales, naissance, mariage, pacs, scolarité",
            Demarche::Social => "Carte vitale, complémentaire santé, handicap, retraite",
            Demarche::Travail => "Chômage, emploi, formation",
            Demarche::Logement => "Allocations logement, déménagement, impôts locaux",
            Demarche::Transports => "Permis de conduire, carte grise, amendes",
            Demarche::Argent => "Impôts, consommation, banque, crédit",
            Demarche::Justice => "Casier judiciaire, plainte, aide juridictionnelle",
            Demarche::Etranger => "Titre de séjour, naturalisation",
            Demarche::Loisirs => "Sport, culture, associations",
        }
    }

    /// Parses a stable id.
    pub fn parse(id: &str) -> Result<Demarche, MandateError> {
        Demarche::ALL
            .into_iter()
            .find(|d| d.id() == id)
            .ok_or_else(|| MandateError::UnknownDemarche(id.to_owned()))
    }

    pub(crate) fn position(self) -> usize {
        Demarche::ALL
            .iter()
            .position(|d| *d == self)
            .unwrap_or(usize::MAX)
    }
}
