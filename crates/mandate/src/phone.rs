//! Mobile phone numbers of usagers, for remote consent by SMS.

/// A French mobile number (06, 07, or +33 6/7, spaces, dots and dashes allowed) in E.164
/// form (`+33612345678`), or `None` when it is not one.
pub fn normalise_mobile(text: &str) -> Option<String> {
    let compact: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '\u{a0}'))
        .collect();
    let national = if let Some(rest) = compact.strip_prefix("+33") {
        rest.to_owned()
    } else if let Some(rest) = compact.strip_prefix("0033") {
        rest.to_owned()
    } else if let Some(rest) = compact.strip_prefix('0') {
        rest.to_owned()
    } else {
        return None;
    };
    let national = national.strip_prefix('0').unwrap_or(&national);
    let mobile = national.len() == 9
        && national.chars().all(|c| c.is_ascii_digit())
        && (national.starts_with('6') || national.starts_with('7'));
    mobile.then(|| format!("+33{national}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_mobiles_are_normalised() {
        assert_eq!(
            normalise_mobile("06 12 34 56 78").as_deref(),
            Some("+33612345678")
        );
        assert_eq!(
            normalise_mobile("07.12.34.56.78").as_deref(),
            Some("+33712345678")
        );
        assert_eq!(
            normalise_mobile("+33 6 12 34 56 78").as_deref(),
            Some("+33612345678")
        );
        assert_eq!(normalise_mobile("+33 (0)6 12 34 56 78"), None);
        assert_eq!(
            normalise_mobile("0033612345678").as_deref(),
            Some("+33612345678")
        );
        assert_eq!(normalise_mobile("01 23 45 67 89"), None, "landline");
        assert_eq!(normalise_mobile("06 12 34 56"), None, "too short");
        assert_eq!(normalise_mobile("+44 7700 900123"), None);
        assert_eq!(normalise_mobile(""), None);
    }
}
