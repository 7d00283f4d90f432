//! Names the API accepts are names the workspace file can hold (issue 8):
//! a model that validation accepts always exports (`to_workspace_file`) and
//! re-applies (`load_workspace_file`) to the identical model. Every class of
//! name is tried with awkward values, then with arbitrary strings.

use std::collections::BTreeMap;

use permset_core::{
    load_workspace_file, to_workspace_file, FieldDef, FieldLevel, FieldType, Model, ModuleDef, ObjectDef,
    Role, Snapshot, Team, User,
};
use proptest::prelude::*;

/// One model per class of name, each holding `name` in that place and valid otherwise.
fn models_naming(name: &str) -> Vec<(&'static str, Model)> {
    let n = name.to_owned();
    let base = Model { workspace: "w".into(), ..Model::default() };
    let with = |f: &dyn Fn(&mut Model)| {
        let mut m = base.clone();
        f(&mut m);
        m
    };
    let things = |fields: BTreeMap<String, FieldDef>| ObjectDef { fields, ..ObjectDef::default() };
    vec![
        ("workspace", with(&|m| m.workspace = n.clone())),
        (
            "user",
            with(&|m| {
                m.users.insert(n.clone(), User::default());
            }),
        ),
        (
            "team",
            with(&|m| {
                m.teams.insert(n.clone(), Team { name: Some(n.clone()) });
                m.users.insert("u".into(), User { teams: vec![n.clone()], ..User::default() });
            }),
        ),
        (
            "role",
            with(&|m| {
                m.roles.insert(n.clone(), Role::default());
                m.users.insert("u".into(), User::default());
                m.assignments.users.insert("u".into(), vec![permset_core::Assignment::new(n.clone())]);
            }),
        ),
        (
            "object",
            with(&|m| {
                m.schema.objects.insert(n.clone(), ObjectDef::default());
            }),
        ),
        (
            "field",
            with(&|m| {
                m.schema.objects.insert(
                    "things".into(),
                    things(BTreeMap::from([(n.clone(), FieldDef::of(FieldType::String))])),
                );
                let mut role = Role::default();
                role.fields.insert(format!("things.{n}"), FieldLevel::Read);
                m.roles.insert("r".into(), role);
            }),
        ),
        (
            "enum value",
            with(&|m| {
                let ty = FieldType::Enum(vec![n.clone()]);
                m.schema
                    .objects
                    .insert("things".into(), things(BTreeMap::from([("f".into(), FieldDef::of(ty))])));
            }),
        ),
        (
            "access rule",
            with(&|m| {
                m.access_rules.insert("customers".into(), BTreeMap::from([(n.clone(), "true".to_owned())]));
            }),
        ),
        (
            "user attribute",
            with(&|m| {
                let mut user = User::default();
                user.attributes.insert(n.clone(), serde_json::json!(n.clone()));
                m.users.insert("u".into(), user);
            }),
        ),
        (
            "module",
            with(&|m| {
                m.schema.modules.insert(n.clone(), ModuleDef::default());
            }),
        ),
        (
            "action",
            with(&|m| {
                m.schema
                    .modules
                    .insert("gadgets".into(), ModuleDef { actions: vec![n.clone()], end_users: false });
            }),
        ),
        (
            "object action",
            with(&|m| {
                m.schema
                    .objects
                    .insert("things".into(), ObjectDef { actions: vec![n.clone()], ..ObjectDef::default() });
            }),
        ),
        (
            "description",
            with(&|m| {
                m.roles.insert("r".into(), Role { description: Some(n.clone()), ..Role::default() });
            }),
        ),
    ]
}

/// `Ok` when validation refuses the model or the round trip is identical.
fn refused_or_round_trips(class: &str, name: &str, model: &Model) -> Result<(), String> {
    if Snapshot::compile(model).is_err() {
        return Ok(());
    }
    let text = to_workspace_file(model);
    match load_workspace_file(&text) {
        Ok((back, _)) if &back == model => Ok(()),
        Ok((back, _)) => Err(format!("{class} {name:?} comes back different:\n{text}\n{back:?}")),
        Err(errors) => Err(format!("{class} {name:?} is accepted but does not re-apply: {errors:?}\n{text}")),
    }
}

const AWKWARD: &[&str] = &[
    "",
    " ",
    "a b",
    "A",
    "Bob",
    "bob.smith",
    "bob@example.com",
    "bob-1",
    "1bob",
    "-bob",
    "#x",
    "x # y",
    "a: b",
    "true",
    "null",
    "~",
    "1",
    "1.5",
    "'q",
    "\"q",
    "a\\b",
    "é",
    "日本",
    "a\nb",
    "a\tb",
    "\u{1}",
    "[x]",
    "{x}",
    "*x",
    "&x",
    "!x",
    "%x",
    "@x",
    "`x",
    "x ",
    " x",
    "?x",
    "x,y",
    "- x",
    "---",
    "yes",
    "0x10",
    "+1",
    "x\r",
    "\u{feff}x",
    "\u{2028}",
    "a.b",
    "\u{85}",
    "x\u{7f}",
    "ok_name",
    "n2",
];

#[test]
fn every_class_of_name_is_refused_or_round_trips() {
    let failures: Vec<String> = AWKWARD
        .iter()
        .flat_map(|name| models_naming(name).into_iter().map(move |(class, model)| (class, name, model)))
        .filter_map(|(class, name, model)| refused_or_round_trips(class, name, &model).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The names the file refuses are refused by validation too, with a clear error.
#[test]
fn validation_refuses_what_the_file_refuses() {
    for (class, name) in [
        ("role", "Night Shift"),
        ("object", "Things"),
        ("field", "a.b"),
        ("module", "my-module"),
        ("action", "Fly"),
        ("object action", "x y"),
    ] {
        let model =
            models_naming(name).into_iter().find(|(c, _)| *c == class).map(|(_, m)| m).unwrap_or_default();
        let message = Snapshot::compile(&model).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains(&format!("`{name}`")) && message.contains("lowercase letters, digits and `_`"),
            "{class} {name:?}: {message}"
        );
    }
    for class in ["role", "object", "field", "module", "action", "object action"] {
        let model = models_naming("night_shift2")
            .into_iter()
            .find(|(c, _)| *c == class)
            .map(|(_, m)| m)
            .unwrap_or_default();
        assert!(Snapshot::compile(&model).is_ok(), "{class}: a valid name is refused");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_names_are_refused_or_round_trip(name in prop_oneof![any::<String>(), "[a-zA-Z0-9_ .:#'\"-]{0,6}", "[a-z][a-z0-9_]{0,6}"]) {
        for (class, model) in models_naming(&name) {
            if let Err(e) = refused_or_round_trips(class, &name, &model) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}
