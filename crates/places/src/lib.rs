//! Place names of the official geographic code (COG): a birth commune or country is shown by
//! its name with its code (« Paris 7e Arrondissement (75107) », « Sénégal (99341) »). The
//! communes — current ones, municipal arrondissements, and former communes living on as
//! delegated or associated ones, under the name they had — come from Etalab's
//! `@etalab/decoupage-administratif`, the countries from INSEE's list of countries and
//! territories in force; both are vendored in `data/` with their source, version and licence
//! (`scripts/vendor-assets.sh`). A code the tables do not know is shown as the code.

use std::sync::OnceLock;

/// The COG code of France, as a birth country.
const FRANCE: &str = "99100";

/// A place's names: the one in force, and the former commune's that had its code, if another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names {
    /// The name in force.
    pub name: &'static str,
    /// The former commune that had this code (a commune nouvelle keeps its chief town's).
    pub former: Option<&'static str>,
}

/// A `code<TAB>name[<TAB>former name]` table sorted by code.
struct Table {
    text: &'static str,
    rows: OnceLock<Vec<(&'static str, Names)>>,
}

impl Table {
    const fn new(text: &'static str) -> Table {
        Table {
            text,
            rows: OnceLock::new(),
        }
    }

    fn names(&self, code: &str) -> Option<Names> {
        let rows = self.rows.get_or_init(|| {
            self.text
                .lines()
                .filter_map(|line| {
                    let mut fields = line.split('\t');
                    let code = fields.next()?;
                    let name = fields.next()?;
                    Some((
                        code,
                        Names {
                            name,
                            former: fields.next(),
                        },
                    ))
                })
                .collect()
        });
        rows.binary_search_by(|(c, _)| (*c).cmp(code))
            .ok()
            .map(|i| rows[i].1)
    }
}

static COMMUNES: Table = Table::new(include_str!("../data/communes.tsv"));
static COUNTRIES: Table = Table::new(include_str!("../data/pays.tsv"));

/// The names of the commune `code`, if the table knows it.
pub fn commune(code: &str) -> Option<Names> {
    COMMUNES.names(code)
}

/// The name of the country `code`, if the table knows it.
pub fn country(code: &str) -> Option<&'static str> {
    COUNTRIES.names(code).map(|n| n.name)
}

/// Where a person was born, from their identité pivot's `birthplace` (a commune's code, empty
/// abroad) and `birthcountry`: the commune in France, the country abroad, each by name and
/// code (« Valserhône, autrefois Bellegarde-sur-Valserine (01033) » for a code a former
/// commune had); the code alone when the tables do not know it.
pub fn place_of_birth(birthplace: &str, birthcountry: &str) -> String {
    if birthcountry == FRANCE && !birthplace.is_empty() {
        match commune(birthplace) {
            Some(Names {
                name,
                former: Some(former),
            }) => format!("{name}, autrefois {former} ({birthplace})"),
            Some(Names { name, former: None }) => format!("{name} ({birthplace})"),
            None => birthplace.to_owned(),
        }
    } else {
        match country(birthcountry) {
            Some(name) => format!("{name} ({birthcountry})"),
            None => birthcountry.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn communes_arrondissements_and_countries_are_named_with_their_code() {
        assert_eq!(
            place_of_birth("75107", FRANCE),
            "Paris 7e Arrondissement (75107)"
        );
        assert_eq!(place_of_birth("59350", FRANCE), "Lille (59350)");
        assert_eq!(place_of_birth("", "99341"), "Sénégal (99341)");
        assert_eq!(place_of_birth("", FRANCE), "France (99100)");
    }

    #[test]
    fn a_former_commune_keeps_the_name_it_had() {
        // Saint-Bois, merged into Arboys en Bugey, lives on as a delegated commune.
        assert_eq!(place_of_birth("01340", FRANCE), "Saint-Bois (01340)");
        // Bellegarde-sur-Valserine's code is now Valserhône's, the commune nouvelle.
        assert_eq!(
            place_of_birth("01033", FRANCE),
            "Valserhône, autrefois Bellegarde-sur-Valserine (01033)"
        );
    }

    #[test]
    fn an_unknown_code_is_shown_as_the_code() {
        assert_eq!(place_of_birth("00000", FRANCE), "00000");
        assert_eq!(place_of_birth("", "99115"), "99115");
        assert_eq!(commune(""), None);
    }

    #[test]
    fn the_tables_are_sorted_for_the_binary_search() {
        for table in [&COMMUNES, &COUNTRIES] {
            let codes: Vec<&str> = table
                .text
                .lines()
                .map(|l| l.split('\t').next().unwrap_or_default())
                .collect();
            assert!(codes.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
