//! Tests of the workspace file: the sample loads to the expected model, the
//! source map, every error message with its line, round trips, and no panic
//! on arbitrary input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::model::{
    Access, Assignment, FieldDef, FieldLevel, FieldType, Grant, Limit, ListVisibility, ModuleDef, Role, Team,
    User, UserKind,
};

const SAMPLE: &str = include_str!("../../tests/files/sample.yaml");

fn load(src: &str) -> (Model, SourceMap) {
    match load_workspace_file(src) {
        Ok(loaded) => loaded,
        Err(errors) => panic!("unexpected errors: {errors:#?}"),
    }
}

fn errors(src: &str) -> Vec<(usize, String)> {
    match load_workspace_file(src) {
        Ok(_) => panic!("expected errors for:\n{src}"),
        Err(errors) => errors.into_iter().map(|e| (e.line, e.message)).collect(),
    }
}

/// The only error of `src`.
fn error(src: &str) -> (usize, String) {
    let mut all = errors(src);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

#[test]
fn sample_loads_to_the_expected_model() {
    let (model, _) = load(SAMPLE);
    assert_eq!(model.workspace, "acme");
    assert!(model.settings.team_roles_require_teams_view);
    assert_eq!(
        model.schema.modules.get("wallet"),
        Some(&ModuleDef { actions: vec!["view".into(), "refill".into()], end_users: false })
    );
    assert_eq!(model.schema.modules.get("shopify").map(|m| m.actions.len()), Some(3));
    assert_eq!(model.schema.user_attributes.get("region"), Some(&FieldType::String));
    assert_eq!(model.schema.user_attributes.get("company"), Some(&FieldType::Lookup("companies".into())));

    let customers = &model.schema.objects["customers"];
    assert_eq!(customers.actions, vec!["merge".to_owned()]);
    let f = |name: &str| customers.fields[name].clone();
    assert_eq!(f("name"), FieldDef::of(FieldType::String));
    assert_eq!(
        f("tier"),
        FieldDef::of(FieldType::Enum(vec!["basic".into(), "standard".into(), "vip".into()]))
    );
    assert_eq!(f("company"), FieldDef::of(FieldType::Lookup("companies".into())));
    assert_eq!(f("ssn"), FieldDef { ty: FieldType::String, protected: true, indexed: false });
    assert_eq!(f("assignee"), FieldDef::of(FieldType::User));
    assert_eq!(f("assignee_team"), FieldDef::of(FieldType::Team));
    assert_eq!(f("watchers"), FieldDef::of(FieldType::List(Box::new(FieldType::User))));
    assert_eq!(
        f("tags"),
        FieldDef { ty: FieldType::List(Box::new(FieldType::String)), protected: false, indexed: true }
    );
    assert_eq!(customers.owner_field.as_deref(), Some("assignee"));
    assert_eq!(customers.team_field.as_deref(), Some("assignee_team"));
    assert_eq!(customers.list_visibility, Some(ListVisibility::Admins));

    assert_eq!(model.access_rules["customers"]["premium"], r#"tier in ["standard", "vip"]"#);
    assert_eq!(model.teams.get("tier2"), Some(&Team::default()));
    let bob = &model.users["bob"];
    assert_eq!(bob.kind, UserKind::Agent);
    assert_eq!(bob.teams, vec!["tier2".to_owned()]);
    assert_eq!(bob.attributes.get("region"), Some(&serde_json::json!("emea")));
    assert!(!bob.account_owner);
    assert!(model.users["olivia"].account_owner);

    let set_a = &model.roles["set_a"];
    assert_eq!(set_a.grants.len(), 2);
    assert_eq!(set_a.grants["customers_view"], Grant::new(Access::All));

    let set_b = &model.roles["set_b"];
    assert_eq!(set_b.description.as_deref(), Some("..."));
    let premium = || Limit::Rule("premium".into());
    assert_eq!(set_b.grants["customers_view"], Grant::new(Access::Limited(vec![premium()])));
    assert_eq!(set_b.grants["customers_update"], Grant::new(Access::Limited(vec![premium(), Limit::Own])));
    assert_eq!(
        set_b.grants["customers_delete"],
        Grant { access: Access::All, reason: Some("tier-2 cleans up duplicates".into()) }
    );
    assert_eq!(
        set_b.grants["conversations_view"],
        Grant::new(Access::Limited(vec![Limit::Where(r#"status != "closed""#.into())]))
    );
    assert_eq!(set_b.fields, BTreeMap::from([("customers.ssn".to_owned(), FieldLevel::Read)]));

    // A clone of a system role: its grants and fields, then the role's own.
    let system = crate::catalogue::system_roles(&crate::catalogue::merged_schema(&model.schema));
    let support_agent = &system["support_agent"];
    let night = &model.roles["night_shift"];
    assert_eq!(night.cloned_from.as_deref(), Some("support_agent"));
    assert_eq!(night.kind, UserKind::Agent);
    assert_eq!(night.grants["customers_delete"], Grant::new(Access::None));
    assert_eq!(night.fields, support_agent.fields);
    for (perm, grant) in &support_agent.grants {
        if perm != "customers_delete" {
            assert_eq!(night.grants.get(perm), Some(grant), "{perm}");
        }
    }

    let bob_roles = &model.assignments.users["bob"];
    assert_eq!(bob_roles[0], Assignment::new("set_a"));
    assert_eq!(
        bob_roles[2],
        Assignment {
            role: "night_shift".into(),
            expires_at: Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
        }
    );
    assert_eq!(model.assignments.teams["tier2"], vec![Assignment::new("support_agent")]);
}

#[test]
fn clone_of_a_file_role_resolves_in_dependency_order() {
    let src = "\
workspace: w
roles:
  a_late:
    clone: m_middle
    kind: end_user
    grants: { customers_view: own }
  m_middle:
    clone: z_base
    fields: { customers.ssn: edit }
  z_base:
    kind: end_user
    description: base
    grants: { customers_view: all, customers_update: team }
    fields: { customers.ssn: read, customers.name: none }
";
    let (model, _) = load(src);
    let late = &model.roles["a_late"];
    assert_eq!(late.cloned_from.as_deref(), Some("m_middle"));
    assert_eq!(late.kind, UserKind::EndUser);
    assert_eq!(late.description, None);
    assert_eq!(late.grants["customers_view"], Grant::new(Access::Limited(vec![Limit::Own])));
    assert_eq!(late.grants["customers_update"], Grant::new(Access::Limited(vec![Limit::Team])));
    assert_eq!(late.fields["customers.ssn"], FieldLevel::Edit);
    assert_eq!(late.fields["customers.name"], FieldLevel::None);
    // The kind is inherited unless given.
    assert_eq!(model.roles["m_middle"].kind, UserKind::EndUser);
}

#[test]
fn cloned_from_is_informational() {
    let (model, _) =
        load("workspace: w\nroles:\n  r:\n    cloned_from: support_agent\n    grants: { x_view: all }\n");
    let r = &model.roles["r"];
    assert_eq!(r.cloned_from.as_deref(), Some("support_agent"));
    assert_eq!(r.grants.len(), 1);
}

#[test]
fn source_map_records_lines() {
    let (_, map) = load(SAMPLE);
    let expected = [
        ("workspace", 1),
        ("settings.team_roles_require_teams_view", 2),
        ("modules.wallet", 3),
        ("user_attributes.company", 4),
        ("objects.customers", 6),
        ("objects.customers.fields.name", 9),
        ("objects.customers.fields.tags", 16),
        ("objects.customers.owner_field", 17),
        ("objects.customers.team_field", 18),
        ("access_rules.customers.premium", 21),
        ("teams.tier2", 22),
        ("users.bob", 24),
        ("users.bob.teams", 24),
        ("roles.set_a", 27),
        ("roles.set_b.grants.customers_delete", 36),
        ("roles.set_b.fields.customers.ssn", 38),
        ("roles.night_shift", 39),
        ("roles.night_shift.clone", 40),
        ("roles.night_shift.grants.customers_delete", 41),
        ("assignments.users.bob", 44),
        ("assignments.users.bob.2", 44),
        ("assignments.teams.tier2", 45),
        ("assignments.teams.tier2.0", 45),
    ];
    for (path, line) in expected {
        assert_eq!(map.line(path), Some(line), "{path}");
    }
    assert_eq!(map.line("roles.nobody"), None);
    let (_, map) = load("workspace: w\nassignments:\n  users:\n    bob:\n      - a\n      - role: b\n");
    assert_eq!(map.line("assignments.users.bob.0"), Some(5));
    assert_eq!(map.line("assignments.users.bob.1"), Some(6));
}

#[test]
fn unknown_top_level_key_suggests_the_nearest() {
    assert_eq!(
        error("workspace: w\nacces_rules: {}\n"),
        (2, "unknown key `acces_rules`; did you mean `access_rules`?".into())
    );
    assert_eq!(
        error("workspace: w\nobjects:\n  tickets:\n    feilds: {}\n"),
        (4, "unknown key `feilds` in `objects.tickets`; did you mean `fields`?".into())
    );
}

#[test]
fn bad_access_forms_are_errors() {
    let src = "workspace: w\nroles:\n  r:\n    grants:\n      a_view: everything\n      b_view: [own, all]\n      c_view: { rule: x, where: y }\n      d_view: { reason: why }\n";
    assert_eq!(
        errors(src),
        vec![
            (5, "invalid access `everything` at `roles.r.grants.a_view`: expected `all`, `none`, `own`, `team`, `{ rule: NAME }`, `{ where: CONDITION }` or a list".into()),
            (6, "`all` cannot be part of an access list at `roles.r.grants.b_view`; write it alone".into()),
            (7, "`roles.r.grants.c_view` needs exactly one of `rule` or `where`".into()),
            (8, "`roles.r.grants.d_view` has a `reason` but no `access`".into()),
        ]
    );
    assert_eq!(
        error("workspace: w\nroles:\n  r:\n    grants: { a_view: tem }\n").1,
        "invalid access `tem` at `roles.r.grants.a_view`: expected `all`, `none`, `own`, `team`, `{ rule: NAME }`, `{ where: CONDITION }` or a list; did you mean `team`?"
    );
    assert_eq!(
        error("workspace: w\nroles:\n  r:\n    fields: { customers.ssn: write }\n").1,
        "unknown value `write` at `roles.r.fields.customers.ssn`; expected one of `none`, `read`, `edit`"
    );
}

#[test]
fn bad_date_is_an_error_with_its_line() {
    let src = "workspace: w\nassignments:\n  users:\n    bob:\n      - { role: a, expires_at: tomorrow }\n";
    assert_eq!(
        error(src),
        (5, "invalid date-time `tomorrow` at `assignments.users.bob.0.expires_at`: expected RFC 3339, like `2027-01-01T00:00:00Z`".into())
    );
}

#[test]
fn duplicate_keys_are_errors() {
    assert_eq!(
        error("workspace: w\nteams:\n  a: {}\n  b: {}\n  a: {}\n"),
        (5, "duplicate key `a` (first at line 3)".into())
    );
}

#[test]
fn anchors_aliases_merge_keys_and_tags_are_refused() {
    let src = "workspace: w\nteams:\n  a: &x {}\n  b: *x\n";
    assert_eq!(
        errors(src),
        vec![
            (3, "anchors (`&name`) are not supported; repeat the content instead".into()),
            (4, "aliases (`*name`) are not supported; repeat the content instead".into()),
        ]
    );
    assert_eq!(
        error("workspace: w\nteams:\n  a:\n    <<: {}\n"),
        (4, "merge keys (`<<`) are not supported".into())
    );
    assert_eq!(error("workspace: !!str w\n"), (1, "yaml tags (`!!str`) are not supported".into()));
}

#[test]
fn bad_names_are_errors() {
    let src = "workspace: w\nmodules: { Wallet: [view] }\nobjects:\n  tickets:\n    fields: { 'due date': datetime }\nroles:\n  9lives: {}\n";
    assert_eq!(
        errors(src),
        vec![
            (2, "invalid module name `Wallet`: use lowercase letters, digits and `_`, starting with a letter".into()),
            (5, "invalid field name `due date`: use lowercase letters, digits and `_`, starting with a letter".into()),
            (7, "invalid role name `9lives`: use lowercase letters, digits and `_`, starting with a letter".into()),
        ]
    );
}

#[test]
fn clone_errors() {
    let src =
        "workspace: w\nroles:\n  a: { clone: b }\n  b: { clone: c }\n  c: { clone: a }\n  d: { clone: d }\n";
    assert_eq!(
        errors(src),
        vec![
            (5, "roles clone each other in a cycle: `a` -> `b` -> `c` -> `a`".into()),
            (6, "roles clone each other in a cycle: `d` -> `d`".into()),
        ]
    );
    assert_eq!(
        error("workspace: w\nroles:\n  mine:\n    clone: suport_agent\n"),
        (4, "unknown role `suport_agent` in `roles.mine.clone`; did you mean `support_agent`?".into())
    );
    assert_eq!(
        error("workspace: w\nroles:\n  administrator: {}\n"),
        (3, "role `administrator` is a system role; give the custom role another name".into())
    );
}

#[test]
fn other_errors() {
    assert_eq!(error(""), (1, "missing key `workspace`".into()));
    assert_eq!(error("- a\n"), (1, "expected a map at the top level, found a list".into()));
    assert_eq!(
        error("workspace: w\nobjects: { t: { fields: { f: strin } } }\n"),
        (2, "unknown value `strin` at `objects.t.fields.f`; expected one of `string`, `number`, `bool`, `datetime`, `user`, `team`; did you mean `string`?".into())
    );
    assert_eq!(
        error("workspace: w\nteams: { t: { name: 12 } }\n"),
        (2, "expected a string at `teams.t.name`, found number `12` (quote it to make it a string)".into())
    );
    assert_eq!(
        error("workspace: w\nuser_attributes: { a: { type: string, protected: true } }\n"),
        (2, "`protected` is allowed only on object fields, not at `user_attributes.a`".into())
    );
    assert_eq!(error("workspace: w\n---\nworkspace: v\n").1, "a workspace file holds a single yaml document");
    let (line, message) = error("workspace: w\nteams: [\n");
    assert!(message.starts_with("invalid yaml: "), "{message}");
    assert!(line >= 2, "{line}");
    let big = " ".repeat(MAX_FILE_BYTES + 1);
    assert_eq!(error(&big), (1, "the file is larger than 16 MiB".into()));
}

#[test]
fn many_errors_are_collected_in_line_order() {
    let src = "workspace: w\nsettings: { x: 1 }\nteams: { t: { nam: a } }\nusers: { u: { kind: robot } }\n";
    let lines: Vec<usize> = errors(src).into_iter().map(|(line, _)| line).collect();
    assert_eq!(lines, vec![2, 3, 4]);
}

#[test]
fn sample_round_trips() {
    let (model, _) = load(SAMPLE);
    let text = to_workspace_file(&model);
    let (again, _) = load(&text);
    assert_eq!(again, model, "{text}");
    // Writing is stable.
    assert_eq!(to_workspace_file(&again), text);
}

fn awkward_strings() -> Vec<String> {
    [
        "",
        " ",
        "true",
        "True",
        "yes",
        "no",
        "null",
        "~",
        "123",
        "-1",
        "1.5",
        "1e3",
        ".inf",
        "0x1F",
        "0o7",
        "a: b",
        "a #b",
        "#c",
        "- x",
        "-",
        "? q",
        "[x]",
        "{y}",
        "a, b",
        "'quoted'",
        "\"dq\"",
        "back\\slash",
        "line\nbreak",
        "tab\there",
        " lead",
        "trail ",
        "café ünïcödé",
        "日本語",
        "emoji 🎉",
        "\u{0}\u{7}\u{1b}",
        "\u{feff}bom",
        "\u{85}\u{2028}\u{2029}",
        "*alias",
        "&anchor",
        "!tag",
        "%dir",
        "@at",
        "`tick`",
        "|",
        ">",
        "2027-01-01T00:00:00Z",
        "status != \"closed\"",
        "it's",
        "--- ",
        "...",
        "<<",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

#[test]
fn awkward_strings_round_trip() {
    let strings = awkward_strings();
    let mut model = Model { workspace: "weird: ws".into(), ..Model::default() };
    model.settings.team_roles_require_teams_view = false;
    let mut rules = BTreeMap::new();
    let mut user = User { kind: UserKind::EndUser, ..User::default() };
    let mut role = Role { kind: UserKind::EndUser, cloned_from: Some("x: y".into()), ..Role::default() };
    for (i, s) in strings.iter().enumerate() {
        model.teams.insert(s.clone(), Team { name: Some(s.clone()) });
        rules.insert(s.clone(), s.clone());
        user.teams.push(s.clone());
        user.attributes
            .insert(s.clone(), serde_json::json!([s, i, -(i as i64), i as f64 + 0.5, null, { s: true }]));
        role.grants.insert(
            s.clone(),
            Grant {
                access: Access::Limited(vec![Limit::Rule(s.clone()), Limit::Where(s.clone()), Limit::Team]),
                reason: Some(s.clone()),
            },
        );
        role.fields.insert(s.clone(), FieldLevel::Read);
        model.assignments.teams.insert(s.clone(), vec![Assignment::new(s.clone())]);
    }
    user.attributes
        .insert("floats".to_owned(), serde_json::json!([1.0, 1e300, -0.5, 1e-7, u64::MAX, i64::MIN]));
    role.description = Some(String::new());
    model.access_rules.insert("tickets".into(), rules);
    model.access_rules.insert("empty".into(), BTreeMap::new());
    model.users.insert("u".into(), user);
    model.users.insert("plain".into(), User::default());
    model.roles.insert("r".into(), role);
    model.roles.insert("bare".into(), Role::default());
    model.assignments.users.insert("nobody".into(), vec![]);
    model.assignments.users.insert(
        "u".into(),
        vec![Assignment {
            role: "r".into(),
            expires_at: Some(
                Utc.with_ymd_and_hms(2030, 6, 1, 12, 30, 0).unwrap() + chrono::Duration::nanoseconds(5),
            ),
        }],
    );
    model.schema.modules.insert("portal".into(), ModuleDef { actions: vec![], end_users: true });
    model.schema.modules.insert("bare".into(), ModuleDef::default());
    let enum_values = strings.clone();
    let mut object = crate::model::ObjectDef {
        list_visibility: Some(ListVisibility::Everyone),
        ..crate::model::ObjectDef::default()
    };
    object.fields.insert("e".into(), FieldDef::of(FieldType::Enum(enum_values)));
    object.fields.insert(
        "l".into(),
        FieldDef {
            ty: FieldType::List(Box::new(FieldType::Lookup("true".into()))),
            protected: true,
            indexed: true,
        },
    );
    model.schema.objects.insert("tickets".into(), object);
    model.schema.objects.insert("empty".into(), crate::model::ObjectDef::default());
    model.schema.user_attributes.insert("a b".into(), FieldType::List(Box::new(FieldType::Datetime)));

    let text = to_workspace_file(&model);
    let (again, _) = load(&text);
    assert_eq!(again, model, "{text}");
}

#[test]
fn quoting_is_minimal_for_ordinary_names() {
    assert_eq!(write::quote("customers_view"), "customers_view");
    assert_eq!(write::quote("Tier 2"), "Tier 2");
    assert_eq!(write::quote("customers.ssn"), "customers.ssn");
    assert_eq!(write::quote("123"), "'123'");
    assert_eq!(write::quote(r#"tier in ["vip"]"#), r#"'tier in ["vip"]'"#);
    assert_eq!(write::quote("a\nb"), r#""a\nb""#);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in any::<String>()) {
        let _ = load_workspace_file(&src);
    }

    #[test]
    fn yaml_like_text_never_panics(src in "[a-z_:{}\\[\\],&*!|>'\"#\\- \n<.0-9]{0,200}") {
        let _ = load_workspace_file(&src);
    }

    #[test]
    fn mutated_sample_never_panics(at in 0usize..2000, cut in 0usize..50, insert in "[ -~\n]{0,8}") {
        let mut src: String = SAMPLE.chars().take(at).collect();
        src.push_str(&insert);
        src.extend(SAMPLE.chars().skip(at + cut));
        if let Ok((model, _)) = load_workspace_file(&src) {
            let text = to_workspace_file(&model);
            prop_assert_eq!(load_workspace_file(&text).map(|(m, _)| m), Ok(model));
        }
    }
}

/// Found by the `workspace_file` fuzz target: a block scalar where the
/// top-level map belongs was quoted whole, newlines and all, in the message.
#[test]
fn a_multi_line_scalar_is_quoted_short_and_on_one_line() {
    let (_, message) = error("|\n  first line\n  second line that goes on and on and on and on\n");
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.starts_with("expected a map at the top level, found string `first line\\nsecond"),
        "{message}"
    );
    assert!(message.ends_with("…`"), "{message}");
}
