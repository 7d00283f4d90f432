//! "Did you mean" suggestions: the nearest valid name to a misspelt one.

/// The candidate closest to `wanted`, if one is close enough to be a likely typo.
///
/// Closeness is Jaro-Winkler similarity, which favours shared prefixes (so
/// `contact_view` finds `contacts_view`), with a floor so that unrelated names
/// are never suggested.
pub fn nearest<'a, I>(wanted: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    const MIN_SIMILARITY: f64 = 0.8;
    let mut best: Option<(f64, &'a str)> = None;
    for candidate in candidates {
        let score = strsim::jaro_winkler(wanted, candidate);
        if score >= MIN_SIMILARITY && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, name)| name)
}

/// `; did you mean `x`?` or nothing, ready to append to a message.
pub fn did_you_mean<'a, I>(wanted: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match nearest(wanted, candidates) {
        Some(name) => format!("; did you mean `{name}`?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_plural_module() {
        assert_eq!(nearest("contact_view", ["contacts_view", "campaigns_view"]), Some("contacts_view"));
    }

    #[test]
    fn suggests_nothing_for_unrelated_names() {
        assert_eq!(nearest("zzz", ["contacts_view"]), None);
    }
}
