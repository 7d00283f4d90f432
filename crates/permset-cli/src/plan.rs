//! A plan (the changes `apply` makes, from `permset_core::diff`) rendered for
//! people: plain lines, JSON, or a Markdown summary a CI job can post on a
//! pull request. The offline `permset plan` and the server's dry-run
//! `apply` feed the same renderers, so a plan reads the same either way.
//!
//! The Markdown is built for text that the pull request's author controls
//! (names, `where:` conditions): every description is split into code spans
//! and text, text is backslash-escaped and line breaks are flattened, so
//! nothing in a workspace file can add links, HTML, headings or fake rows.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One change, as `permset_core::Change` serializes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PlanChange {
    /// `added`, `removed` or `changed`.
    pub(crate) kind: String,
    /// Dotted path (`roles.agent.grants.customers_view`).
    #[serde(default)]
    pub(crate) path: String,
    /// One line for people.
    pub(crate) description: String,
}

impl From<permset_core::Change> for PlanChange {
    fn from(c: permset_core::Change) -> Self {
        PlanChange { kind: c.kind.to_owned(), path: c.path, description: c.description }
    }
}

/// A plan and where it comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub(crate) workspace: String,
    /// The server's revision the plan was made against (none offline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) from_revision: Option<u64>,
    /// The revision written, when the server applied it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) to_revision: Option<u64>,
    pub(crate) changes: Vec<PlanChange>,
    /// Who gains or loses what (what-if), when it was computed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) access_changes: Vec<permset_core::UserAccessChange>,
}

/// The sections of the Markdown summary, by the first segment of a change's path.
const SECTIONS: &[(&str, &[&str])] = &[
    ("Roles", &["roles"]),
    ("Assignments", &["assignments"]),
    ("Access rules", &["access_rules"]),
    ("Users and teams", &["users", "teams"]),
];
const OTHER: &str = "Schema and settings";

fn section_of(path: &str) -> &'static str {
    let first = path.split('.').next().unwrap_or_default();
    SECTIONS.iter().find(|(_, roots)| roots.contains(&first)).map_or(OTHER, |(title, _)| title)
}

/// Escapes Markdown text: every ASCII punctuation character that could start
/// markup is backslash-escaped, and line breaks become spaces.
fn escape_text(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '!' | '~' | '&' | '@' | ':'
            | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
}

/// A change description as Markdown: `` `name` `` parts stay code spans
/// (they cannot hold a backtick, having been split on them), the rest is
/// escaped text.
fn inline(description: &str) -> String {
    let parts: Vec<&str> = description.split('`').collect();
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        // Part i lies after backtick i; an odd part is code when backtick i + 1 closes it.
        let odd = i % 2 == 1;
        let closed = i + 1 < parts.len();
        let flat: String = part.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        if odd && closed && !flat.trim().is_empty() {
            let _ = write!(out, "`{flat}`");
            continue;
        }
        if odd {
            out.push_str("\\`");
        }
        escape_text(part, &mut out);
        if odd && closed {
            out.push_str("\\`");
        }
    }
    out
}

fn code(text: &str) -> String {
    let flat: String = text.chars().map(|c| if c == '`' || c.is_control() { '\'' } else { c }).collect();
    format!("`{flat}`")
}

/// The Markdown summary: a heading, counts per section, then one list per section.
pub(crate) fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### permset plan for {}\n", code(&plan.workspace));
    let mut revision = String::new();
    if let Some(from) = plan.from_revision {
        let _ = write!(revision, " against revision {from}");
    }
    if plan.changes.is_empty() {
        let _ = writeln!(out, "No changes{revision}.");
        return out;
    }
    let titles: Vec<&str> = SECTIONS.iter().map(|(t, _)| *t).chain([OTHER]).collect();
    let counts: Vec<(&str, usize)> = titles
        .iter()
        .map(|t| (*t, plan.changes.iter().filter(|c| section_of(&c.path) == *t).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    let listed: Vec<String> = counts.iter().map(|(t, n)| format!("{} {n}", t.to_lowercase())).collect();
    let total = plan.changes.len();
    let plural = if total == 1 { "change" } else { "changes" };
    let _ = writeln!(out, "**{total} {plural}**{revision}: {}.", listed.join(", "));
    if let Some(to) = plan.to_revision {
        let _ = writeln!(out, "\nApplied: the workspace is now at revision {to}.");
    }
    for (title, _) in &counts {
        let _ = writeln!(out, "\n#### {title}\n");
        for change in plan.changes.iter().filter(|c| section_of(&c.path) == *title) {
            let mut kind = String::new();
            escape_text(&change.kind, &mut kind);
            let _ = writeln!(out, "- **{kind}** {} ({})", inline(&change.description), code(&change.path));
        }
    }
    if !plan.access_changes.is_empty() {
        let _ = writeln!(out, "\n#### Who gains or loses\n");
        for c in &plan.access_changes {
            let side = |access: &Option<String>| code(access.as_deref().unwrap_or("none"));
            let _ = writeln!(
                out,
                "- {}: {} {} → {}",
                code(&c.user),
                code(&c.permission),
                side(&c.before),
                side(&c.after)
            );
        }
    }
    out
}

/// Plain lines: one description per change, then a count.
pub(crate) fn text(plan: &Plan, applied_word: &str) -> String {
    let mut out = String::new();
    for change in &plan.changes {
        let _ = writeln!(out, "{}", change.description);
    }
    let _ = writeln!(out, "{}: {} change(s)", applied_word, plan.changes.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_survive_and_text_is_escaped() {
        assert_eq!(inline("role `agent` added"), "role `agent` added");
        assert_eq!(inline("a <b> [x](y) `c`"), "a \\<b\\> \\[x\\]\\(y\\) `c`");
        assert_eq!(inline("odd ` tick"), "odd \\` tick");
        assert_eq!(inline("line\n\n# heading"), "line  \\# heading");
    }

    #[test]
    fn sections_follow_the_path() {
        assert_eq!(section_of("roles.agent.grants.x"), "Roles");
        assert_eq!(section_of("assignments.users.bob"), "Assignments");
        assert_eq!(section_of("access_rules.customers.premium"), "Access rules");
        assert_eq!(section_of("teams.tier1"), "Users and teams");
        assert_eq!(section_of("objects.orders"), OTHER);
    }
}
