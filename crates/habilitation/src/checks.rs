//! The rules a form of the habilitation journey can check by itself: a SIRET's checksum, a
//! postcode, a phone number, an e-mail address that belongs to one person.

/// Whether `siret` is 14 digits whose Luhn checksum holds. La Poste's establishments (SIREN
/// 356 000 000) follow INSEE's exception: the sum of their digits is a multiple of 5.
pub fn is_valid_siret(siret: &str) -> bool {
    if siret.len() != 14 || !siret.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits = siret.bytes().map(|b| u32::from(b - b'0'));
    if siret.starts_with("356000000") && siret != "35600000000048" {
        return digits.sum::<u32>().is_multiple_of(5);
    }
    let sum: u32 = digits
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The SIRET as typed, without its spaces.
pub fn compact(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Whether `zipcode` is a French postcode: 5 digits, département 01 to 98.
pub fn is_valid_postcode(zipcode: &str) -> bool {
    zipcode.len() == 5
        && zipcode.bytes().all(|b| b.is_ascii_digit())
        && !zipcode.starts_with("00")
        && !zipcode.starts_with("99")
}

/// A phone number as stored (`0123456789`, or `+` and 8 to 15 digits abroad and overseas),
/// from what was typed with spaces, dots or dashes; `None` when it is not one.
pub fn normalise_phone(text: &str) -> Option<String> {
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '\u{a0}'))
        .collect();
    if let Some(rest) = compact.strip_prefix('+') {
        let ok = (8..=15).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_digit());
        return ok.then_some(compact);
    }
    let ok = compact.len() == 10
        && compact.starts_with('0')
        && !compact[1..].starts_with('0')
        && compact.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(compact)
}

/// The local parts of addresses a service shares between people (a reception desk, a
/// secretariat): an aidant signs in with an address of their own.
const SHARED_LOCAL_PARTS: [&str; 22] = [
    "accueil",
    "admin",
    "administration",
    "bonjour",
    "ccas",
    "communication",
    "contact",
    "direction",
    "franceservices",
    "france-services",
    "france.services",
    "hello",
    "info",
    "infos",
    "information",
    "mairie",
    "noreply",
    "no-reply",
    "secretariat",
    "service",
    "standard",
    "support",
];

/// Whether an address looks shared between people (`accueil@…`, `mairie@…`).
pub fn looks_shared(email: &str) -> bool {
    email
        .split_once('@')
        .is_some_and(|(local, _)| SHARED_LOCAL_PARTS.contains(&local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sirets_are_luhn_checked() {
        // The SIRET of the DINUM (130 025 265 00013) and of a La Poste office.
        assert!(is_valid_siret("13002526500013"));
        assert!(!is_valid_siret("13002526500014"));
        assert!(!is_valid_siret("1300252650001"));
        assert!(!is_valid_siret("1300252650001A"));
        assert!(is_valid_siret("35600000000048"));
        assert!(is_valid_siret("35600000049837"));
        assert!(!is_valid_siret("35600000049838"));
        assert_eq!(compact(" 130 025 265 00013 "), "13002526500013");
    }

    #[test]
    fn postcodes_and_phones() {
        assert!(is_valid_postcode("29200"));
        assert!(is_valid_postcode("97400"));
        assert!(!is_valid_postcode("2920"));
        assert!(!is_valid_postcode("00200"));
        assert_eq!(
            normalise_phone("01 23 45 67 89").as_deref(),
            Some("0123456789")
        );
        assert_eq!(
            normalise_phone("06.12.34.56.78").as_deref(),
            Some("0612345678")
        );
        assert_eq!(
            normalise_phone("+262 692 12 34 56").as_deref(),
            Some("+262692123456")
        );
        assert_eq!(normalise_phone("0012345678"), None);
        assert_eq!(normalise_phone("12345"), None);
    }

    #[test]
    fn shared_addresses_are_noticed() {
        assert!(looks_shared("accueil@mairie-brest.fr"));
        assert!(looks_shared("contact@asso.fr"));
        assert!(!looks_shared("lea.martin@mairie-brest.fr"));
    }
}
