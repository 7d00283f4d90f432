//! Differential test: the compiled engine against the plain reference
//! evaluator of `tests/reference`, on random workspaces and requests.
//!
//! Records draw each user and team field on its own (owner, requester and
//! team differ), and the state before an update is mostly the record with
//! one field changed, so rule 6 (before and after) and rule 7 (the fields a
//! write touches) are exercised. `PROPTEST_CASES` raises the case count.
//!
//! Each property generates small workspaces (a custom object with enum,
//! number, user, team and bool fields; teams; agents and end users, some
//! account owners; custom roles with none/all/own/team/rule/where grants kept
//! valid under the view invariant; access rules; assignments to users and
//! teams with expiries around `now`) and ~40 requests each. The snapshot is
//! compiled at a time that is sometimes the request time (the precomputed fast
//! path) and sometimes not (the slow path). Each property compares one answer,
//! so that one engine bug does not hide another.

mod reference;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use permset_core::{
    Access, Assignment, FieldDef, FieldLevel, FieldType, Grant, Limit, ListVisibility, Model, ObjectDef,
    Record, Request, Role, Snapshot, Team, User, UserKind,
};
use proptest::prelude::*;
use reference::Reference;
use serde_json::{json, Value};

const TEAMS: [&str; 3] = ["t0", "t1", "t2"];
const USERS: [&str; 6] = ["u0", "u1", "u2", "u3", "u4", "u5"];
const OBJECTS: [&str; 3] = ["customers", "conversations", "orders"];
const ACTIONS: [&str; 5] = ["view", "create", "update", "delete", "export"];
/// Module-level permissions custom agent roles may hold (always `all` or `none`).
const MODULE_PERMS: [&str; 6] =
    ["teams_view", "users_view", "wallet_view", "wallet_refill", "roles_manage", "roles_view"];
/// Requests beside the object permissions: aliases, extra actions, modules, unknown names.
const EXTRA_REQUESTS: [&str; 16] = [
    "customers_edit",
    "orders_edit",
    "orders_add",
    "conversations_add",
    "conversations_reply",
    "conversations_add_note",
    "orders_approve",
    "teams_view",
    "users_view",
    "wallet_refill",
    "wallet_view",
    "roles_manage",
    "contact_view",
    "orders_fly",
    "Customers_view",
    "billing_view",
];
const FIELDS: [(&str, &str); 10] = [
    ("customers", "tier"),
    ("customers", "ssn"),
    ("customers", "name"),
    ("customers", "id"),
    ("conversations", "assigned_users"),
    ("conversations", "status"),
    ("orders", "status"),
    ("orders", "total"),
    ("orders", "secret"),
    ("orders", "nope"),
];

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().unwrap_or_default()
}

fn hours(h: i64) -> DateTime<Utc> {
    base() + Duration::hours(h)
}

/// Where conditions by object; rules are the first two of each list.
fn conditions(object: &str) -> &'static [&'static str] {
    match object {
        "customers" => &[
            r#"tier in ["standard", "vip"]"#,
            "region == user.region",
            "assignee == user.id",
            r#"assignee_team in user.teams and tier != "basic""#,
        ],
        "conversations" => &[
            r#"status != "closed""#,
            "requester == user.id",
            "assignee_team in user.teams",
            r#"not (status == "open") or assignee == user.id"#,
        ],
        _ => &[
            "total >= 100",
            "region == user.region",
            "flag",
            r#"status in ["placed", "shipped"] and owner == user.id"#,
        ],
    }
}

#[derive(Debug, Clone)]
enum LimitSpec {
    Own,
    Team,
    Rule(usize),
    Where(usize),
}

#[derive(Debug, Clone)]
enum AccessSpec {
    None,
    All,
    Limited(Vec<LimitSpec>),
}

#[derive(Debug, Clone)]
struct RoleSpec {
    end_user: bool,
    /// (object index, action index, access).
    object_grants: Vec<(usize, usize, AccessSpec)>,
    /// (module permission index, all?).
    module_grants: Vec<(usize, bool)>,
    /// Grants under the `edit`/`add` aliases or extra actions: (index into ALIAS_GRANTS, access).
    alias_grants: Vec<(usize, AccessSpec)>,
    fields: Vec<(usize, u8)>,
}

const ALIAS_GRANTS: [&str; 5] =
    ["customers_edit", "orders_add", "conversations_reply", "conversations_add_note", "orders_approve"];

#[derive(Debug, Clone)]
struct UserSpec {
    end_user: bool,
    teams: [bool; 3],
    region: u8,
    owner: bool,
}

#[derive(Debug, Clone)]
struct AssignSpec {
    role: usize,
    expiry: Option<i64>,
}

#[derive(Debug, Clone)]
struct WorkspaceSpec {
    require_teams_view: bool,
    owner_field: bool,
    team_field: bool,
    admins_only: bool,
    users: Vec<UserSpec>,
    roles: Vec<RoleSpec>,
    user_assignments: Vec<Vec<AssignSpec>>,
    team_assignments: Vec<Vec<AssignSpec>>,
    compile_at: Option<i64>,
}

/// A record: each field drawn on its own, so that the owner, the requester
/// and the team of one record are usually different users and teams.
#[derive(Debug, Clone, Default)]
struct RecordSpec {
    owner: Option<usize>,
    requester: Option<usize>,
    team: Option<usize>,
    status: Option<usize>,
    tier: Option<usize>,
    region: Option<usize>,
    total: Option<i64>,
    flag: Option<bool>,
    /// The object's protected field (`ssn`, `secret`, `assigned_users`).
    secret: Option<usize>,
}

/// The state before an update: most often the record with one field changed
/// (the field, and its new value or removal), sometimes an unrelated record.
#[derive(Debug, Clone)]
enum BeforeSpec {
    OneChanged(u8, u8),
    Other(RecordSpec),
}

#[derive(Debug, Clone)]
struct RequestSpec {
    user: usize,
    permission: usize,
    record: Option<RecordSpec>,
    before: Option<BeforeSpec>,
    now: i64,
}

fn limit_spec() -> impl Strategy<Value = LimitSpec> {
    prop_oneof![
        Just(LimitSpec::Own),
        Just(LimitSpec::Team),
        (0..2usize).prop_map(LimitSpec::Rule),
        (0..4usize).prop_map(LimitSpec::Where)
    ]
}

fn access_spec() -> impl Strategy<Value = AccessSpec> {
    prop_oneof![
        1 => Just(AccessSpec::None),
        2 => Just(AccessSpec::All),
        3 => prop::collection::vec(limit_spec(), 0..3).prop_map(AccessSpec::Limited),
    ]
}

fn role_spec() -> impl Strategy<Value = RoleSpec> {
    (
        prop::bool::weighted(0.2),
        prop::collection::vec((0..3usize, 0..5usize, access_spec()), 0..8),
        prop::collection::vec((0..MODULE_PERMS.len(), prop::bool::weighted(0.8)), 0..4),
        prop::collection::vec((0..ALIAS_GRANTS.len(), access_spec()), 0..2),
        prop::collection::vec((0..FIELDS.len(), 0..3u8), 0..3),
    )
        .prop_map(|(end_user, object_grants, module_grants, alias_grants, fields)| RoleSpec {
            end_user,
            object_grants,
            module_grants,
            alias_grants,
            fields,
        })
}

fn user_spec() -> impl Strategy<Value = UserSpec> {
    (prop::bool::weighted(0.25), any::<[bool; 3]>(), 0..3u8, prop::bool::weighted(0.08))
        .prop_map(|(end_user, teams, region, owner)| UserSpec { end_user, teams, region, owner })
}

fn expiry() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![3 => Just(None), 2 => prop::sample::select(vec![-48i64, -1, 0, 1, 48]).prop_map(Some)]
}

/// Role pool: custom roles `r0..`, then a few system roles.
const SYSTEM_POOL: [&str; 7] = [
    "support_agent",
    "light_agent",
    "restricted_user",
    "administrator",
    "customer",
    "contributor",
    "analyst",
];

fn assign_spec() -> impl Strategy<Value = AssignSpec> {
    (0..10usize, expiry()).prop_map(|(role, expiry)| AssignSpec { role, expiry })
}

fn workspace_spec() -> impl Strategy<Value = WorkspaceSpec> {
    (
        any::<bool>(),
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.3),
        prop::collection::vec(user_spec(), 6),
        prop::collection::vec(role_spec(), 0..4),
        prop::collection::vec(prop::collection::vec(assign_spec(), 0..3), 6),
        prop::collection::vec(prop::collection::vec(assign_spec(), 0..2), 3),
        prop_oneof![Just(None), prop::sample::select(vec![-72i64, -1, 0, 1, 72]).prop_map(Some)],
    )
        .prop_map(
            |(
                require_teams_view,
                owner_field,
                team_field,
                admins_only,
                users,
                roles,
                user_assignments,
                team_assignments,
                compile_at,
            )| WorkspaceSpec {
                require_teams_view,
                owner_field,
                team_field,
                admins_only,
                users,
                roles,
                user_assignments,
                team_assignments,
                compile_at,
            },
        )
}

fn pick(byte: u8, n: usize) -> Option<usize> {
    let i = byte as usize % (n + 1);
    (i < n).then_some(i)
}

const TOTALS: [i64; 4] = [0, 99, 100, 500];

/// A record from nine bytes (cheap to generate; shrinks towards small values).
/// Each byte picks a value, or leaves the field out when it falls past the choices.
fn record_spec() -> impl Strategy<Value = RecordSpec> {
    any::<[u8; 9]>().prop_map(|b| RecordSpec {
        owner: pick(b[0], 7),
        requester: pick(b[7], 7),
        team: pick(b[1], 4),
        status: pick(b[2], 6),
        tier: pick(b[3], 3),
        region: pick(b[4], 3),
        total: pick(b[5], 4).map(|i| TOTALS[i]),
        flag: pick(b[6], 2).map(|i| i == 1),
        secret: pick(b[8], 2),
    })
}

fn before_spec() -> impl Strategy<Value = BeforeSpec> {
    prop_oneof![
        4 => (any::<u8>(), any::<u8>()).prop_map(|(f, v)| BeforeSpec::OneChanged(f, v)),
        1 => record_spec().prop_map(BeforeSpec::Other),
    ]
}

/// The state before: `record` with one field changed, or another record.
fn before_of(record: &RecordSpec, before: &BeforeSpec) -> RecordSpec {
    let (field, value) = match before {
        BeforeSpec::Other(other) => return other.clone(),
        BeforeSpec::OneChanged(f, v) => (*f, *v),
    };
    let mut out = record.clone();
    match field % 9 {
        0 => out.owner = pick(value, 7),
        1 => out.requester = pick(value, 7),
        2 => out.team = pick(value, 4),
        3 => out.status = pick(value, 6),
        4 => out.tier = pick(value, 3),
        5 => out.region = pick(value, 3),
        6 => out.total = pick(value, 4).map(|i| TOTALS[i]),
        7 => out.flag = pick(value, 2).map(|i| i == 1),
        _ => out.secret = pick(value, 2),
    }
    out
}

fn request_count() -> usize {
    OBJECTS.len() * ACTIONS.len() + EXTRA_REQUESTS.len()
}

const REQUEST_HOURS: [i64; 9] = [-72, -48, -2, -1, 0, 1, 2, 48, 72];

fn request_spec() -> impl Strategy<Value = RequestSpec> {
    (any::<[u8; 4]>(), prop::option::weighted(0.7, record_spec()), prop::option::weighted(0.4, before_spec()))
        .prop_map(|(b, record, before)| RequestSpec {
            user: b[0] as usize % 7,
            permission: b[1] as usize % request_count(),
            record,
            before,
            now: REQUEST_HOURS[b[2] as usize % REQUEST_HOURS.len()],
        })
}

fn permission_name(i: usize) -> String {
    let n = OBJECTS.len() * ACTIONS.len();
    if i < n {
        format!("{}_{}", OBJECTS[i / ACTIONS.len()], ACTIONS[i % ACTIONS.len()])
    } else {
        EXTRA_REQUESTS[(i - n) % EXTRA_REQUESTS.len()].to_owned()
    }
}

fn user_key(i: usize) -> &'static str {
    USERS.get(i).copied().unwrap_or("ghost")
}

/// The record of `object` a spec describes: only fields the object has
/// (so creates are not refused for unknown fields), owner and team in the
/// object's own fields.
fn record(spec: &RecordSpec, object: &str) -> Record {
    let statuses = ["open", "snoozed", "closed", "placed", "shipped", "returned"];
    let mut r = Record::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            r.insert(k.to_owned(), v);
        }
    };
    let owner = spec.owner.map(|i| json!(user_key(i)));
    let team = spec.team.map(|i| json!(TEAMS.get(i).copied().unwrap_or("nobody")));
    match object {
        "orders" => {
            put("owner", owner);
            put("team", team);
            put("total", spec.total.map(|t| json!(t)));
            put("flag", spec.flag.map(|b| json!(b)));
            put("secret", spec.secret.map(|i| json!(format!("s{i}"))));
        }
        _ => {
            put("assignee", owner);
            put("assignee_team", team);
        }
    }
    if object == "conversations" {
        put("requester", spec.requester.map(|i| json!(user_key(i))));
        put("assigned_users", spec.secret.map(|i| json!([user_key(i)])));
    }
    if object == "customers" {
        put("ssn", spec.secret.map(|i| json!(format!("s{i}"))));
        put("tier", spec.tier.map(|i| json!(["basic", "standard", "vip"][i])));
    }
    if object != "customers" {
        put("status", spec.status.map(|i| json!(statuses[i])));
    }
    put("region", spec.region.map(|i| json!(["emea", "amer", "apac"][i])));
    r
}

/// The object a permission name acts on, for building its record.
/// A request's record and state before, as records of its permission's object.
fn records_of(r: &RequestSpec, permission: &str) -> (Option<Record>, Option<Record>) {
    let object = object_of(permission);
    let rec = r.record.as_ref().map(|spec| record(spec, object));
    let before =
        r.before.as_ref().map(|b| record(&before_of(&r.record.clone().unwrap_or_default(), b), object));
    (rec, before)
}

fn object_of(permission: &str) -> &'static str {
    OBJECTS.iter().copied().find(|o| permission.starts_with(o)).unwrap_or("orders")
}

fn enumeration(values: &[&str]) -> FieldType {
    FieldType::Enum(values.iter().map(|v| v.to_string()).collect())
}

fn role_key(spec: &WorkspaceSpec, i: usize) -> String {
    if i < spec.roles.len() {
        format!("r{i}")
    } else {
        SYSTEM_POOL[i % SYSTEM_POOL.len()].to_owned()
    }
}

fn is_end_user_role(spec: &WorkspaceSpec, i: usize) -> bool {
    match spec.roles.get(i) {
        Some(r) => r.end_user,
        None => role_key(spec, i) == "customer",
    }
}

/// Builds a model that is valid by construction (up to rare corner cases the test filters).
fn build(spec: &WorkspaceSpec) -> Model {
    let mut model = Model { workspace: "ws".into(), ..Model::default() };
    model.settings.team_roles_require_teams_view = spec.require_teams_view;
    model.schema.user_attributes.insert("region".into(), FieldType::String);
    // Schema extras on a standard object and one custom object.
    let customers = ObjectDef {
        fields: BTreeMap::from([
            ("tier".into(), FieldDef::of(enumeration(&["basic", "standard", "vip"]))),
            ("region".into(), FieldDef::of(enumeration(&["emea", "amer", "apac"]))),
            ("ssn".into(), FieldDef { ty: FieldType::String, protected: true, indexed: false }),
        ]),
        ..ObjectDef::default()
    };
    model.schema.objects.insert("customers".into(), customers);
    let orders = ObjectDef {
        actions: vec!["approve".into()],
        fields: BTreeMap::from([
            ("status".into(), FieldDef::of(enumeration(&["placed", "shipped", "returned"]))),
            ("total".into(), FieldDef::of(FieldType::Number)),
            ("owner".into(), FieldDef::of(FieldType::User)),
            ("team".into(), FieldDef::of(FieldType::Team)),
            ("flag".into(), FieldDef::of(FieldType::Bool)),
            ("region".into(), FieldDef::of(enumeration(&["emea", "amer", "apac"]))),
            ("secret".into(), FieldDef { ty: FieldType::String, protected: true, indexed: false }),
        ]),
        owner_field: spec.owner_field.then(|| "owner".to_owned()),
        team_field: spec.team_field.then(|| "team".to_owned()),
        list_visibility: Some(if spec.admins_only {
            ListVisibility::Admins
        } else {
            ListVisibility::Everyone
        }),
    };
    model.schema.objects.insert("orders".into(), orders);
    for object in OBJECTS {
        let rules =
            conditions(object).iter().take(2).enumerate().map(|(i, c)| (format!("rule{i}"), c.to_string()));
        model.access_rules.insert(object.into(), rules.collect());
    }
    for team in TEAMS {
        model.teams.insert(team.into(), Team::default());
    }
    for (i, u) in spec.users.iter().enumerate() {
        let mut user = User {
            kind: if u.end_user { UserKind::EndUser } else { UserKind::Agent },
            account_owner: u.owner,
            ..User::default()
        };
        // End users stay in teams now and then: team roles must still give them nothing.
        for (t, member) in u.teams.iter().enumerate() {
            if *member {
                user.teams.push(TEAMS[t].into());
            }
        }
        if u.region < 2 {
            user.attributes.insert("region".into(), json!(["emea", "amer"][u.region as usize]));
        }
        model.users.insert(USERS[i].into(), user);
    }
    let has_owner = |object: &str| object != "orders" || spec.owner_field;
    let has_team = |object: &str| object != "orders" || spec.team_field;
    let access = |object: &str, a: &AccessSpec| -> Access {
        match a {
            AccessSpec::None => Access::None,
            AccessSpec::All => Access::All,
            AccessSpec::Limited(limits) => Access::Limited(
                limits
                    .iter()
                    .map(|l| match l {
                        LimitSpec::Own if has_owner(object) => Limit::Own,
                        LimitSpec::Team if has_team(object) => Limit::Team,
                        LimitSpec::Rule(i) => Limit::Rule(format!("rule{i}")),
                        LimitSpec::Own | LimitSpec::Team | LimitSpec::Where(_) => {
                            let i = match l {
                                LimitSpec::Where(i) => *i,
                                _ => 3,
                            };
                            Limit::Where(conditions(object)[i].to_owned())
                        }
                    })
                    .collect(),
            ),
        }
    };
    for (i, r) in spec.roles.iter().enumerate() {
        let mut role =
            Role { kind: if r.end_user { UserKind::EndUser } else { UserKind::Agent }, ..Role::default() };
        for (o, a, acc) in &r.object_grants {
            let object = OBJECTS[*o];
            role.grants.insert(format!("{object}_{}", ACTIONS[*a]), Grant::new(access(object, acc)));
        }
        for (a, acc) in &r.alias_grants {
            let name = ALIAS_GRANTS[*a];
            let object = OBJECTS.iter().find(|o| name.starts_with(*o)).copied().unwrap_or("orders");
            role.grants.insert(name.to_owned(), Grant::new(access(object, acc)));
        }
        if !r.end_user {
            for (m, all) in &r.module_grants {
                let access = if *all { Access::All } else { Access::None };
                role.grants.insert(MODULE_PERMS[*m].to_owned(), Grant::new(access));
            }
        }
        for (f, level) in &r.fields {
            let (object, field) = FIELDS[*f];
            if field == "id" || field == "nope" {
                continue;
            }
            let level = [FieldLevel::None, FieldLevel::Read, FieldLevel::Edit][*level as usize];
            role.fields.insert(format!("{object}.{field}"), level);
        }
        make_view_invariant_hold(&mut role);
        model.roles.insert(format!("r{i}"), role);
    }
    for (i, list) in spec.user_assignments.iter().enumerate() {
        let kind_end = spec.users[i].end_user;
        let mut out = Vec::new();
        for a in list {
            // Assign only roles of the user's kind: the other kind is a compile error (rule 10).
            if is_end_user_role(spec, a.role) == kind_end {
                out.push(Assignment { role: role_key(spec, a.role), expires_at: a.expiry.map(hours) });
            }
        }
        if !out.is_empty() {
            model.assignments.users.insert(USERS[i].into(), out);
        }
    }
    for (t, list) in spec.team_assignments.iter().enumerate() {
        let out: Vec<Assignment> = list
            .iter()
            .filter(|a| !is_end_user_role(spec, a.role))
            .map(|a| Assignment { role: role_key(spec, a.role), expires_at: a.expiry.map(hours) })
            .collect();
        if !out.is_empty() {
            model.assignments.teams.insert(TEAMS[t].into(), out);
        }
    }
    model
}

/// Zendesk: add/edit/delete may not exceed view. Widen view where needed.
fn make_view_invariant_hold(role: &mut Role) {
    let mut widen: BTreeMap<String, Access> = BTreeMap::new();
    for (name, grant) in &role.grants {
        let canonical = name.replace("_edit", "_update").replace("_add", "_create");
        let Some((object, action)) =
            OBJECTS.iter().find_map(|o| canonical.strip_prefix(&format!("{o}_")).map(|a| (*o, a.to_owned())))
        else {
            continue;
        };
        if !matches!(action.as_str(), "create" | "update" | "delete") {
            continue;
        }
        let view =
            role.grants.get(&format!("{object}_view")).map(|g| g.access.clone()).unwrap_or(Access::None);
        let needed = match (&grant.access, &view) {
            (Access::All, Access::All)
            | (Access::None, _)
            | (Access::Limited(_), Access::All | Access::Limited(_)) => continue,
            (Access::All, _) => Access::All,
            (Access::Limited(limits), _) => Access::Limited(limits.clone()),
        };
        let entry = widen.entry(format!("{object}_view")).or_insert(Access::None);
        *entry = match (std::mem::replace(entry, Access::None), needed) {
            (Access::All, _) | (_, Access::All) => Access::All,
            (Access::Limited(mut a), Access::Limited(b)) => {
                a.extend(b);
                Access::Limited(a)
            }
            (_, other) => other,
        };
    }
    for (view, access) in widen {
        role.grants.insert(view, Grant::new(access));
    }
}

fn compile(spec: &WorkspaceSpec, model: &Model) -> Option<Snapshot> {
    let result = match spec.compile_at {
        Some(h) => Snapshot::compile_at(model, hours(h), 0),
        None => Snapshot::compile(model),
    };
    match result {
        Ok(s) => Some(s),
        Err(e) => {
            // The generator aims at valid models; say what slipped through.
            eprintln!("generated model does not compile: {e}");
            None
        }
    }
}

/// 256 cases by default (the whole core suite stays well under a minute in
/// debug); `PROPTEST_CASES=N` raises it for a longer hunt.
fn cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, max_shrink_iters: 2000, ..ProptestConfig::default() }
}

fn requests() -> impl Strategy<Value = Vec<RequestSpec>> {
    prop::collection::vec(request_spec(), 40)
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn check_allowed_matches_reference(spec in workspace_spec(), reqs in requests()) {
        let model = build(&spec);
        let Some(snapshot) = compile(&spec, &model) else { return Err(TestCaseError::reject("the model does not compile")) };
        let reference = Reference::new(&model);
        for r in &reqs {
            let (user, perm, now) = (user_key(r.user), permission_name(r.permission), hours(r.now));
            let object = object_of(&perm);
            let rec = r.record.as_ref().map(|spec| record(spec, object));
            let bef = match (&r.record, &r.before) {
                (Some(spec), Some(before)) => Some(record(&before_of(spec, before), object)),
                (None, Some(before)) => Some(record(&before_of(&RecordSpec::default(), before), object)),
                _ => None,
            };
            let request = Request { user, permission: &perm, record: rec.as_ref(), before: bef.as_ref(), now };
            let engine = snapshot.check(&request);
            let (allowed, _) = reference.check(user, &perm, rec.as_ref(), bef.as_ref(), now);
            prop_assert_eq!(engine.is_allowed(), allowed, "{} {} record={:?} before={:?} now={}\n{}", user, perm, rec, bef, now,
                permset_core::to_workspace_file(&model));
        }
    }

    #[test]
    fn check_limited_matches_reference(spec in workspace_spec(), reqs in requests()) {
        let model = build(&spec);
        let Some(snapshot) = compile(&spec, &model) else { return Err(TestCaseError::reject("the model does not compile")) };
        let reference = Reference::new(&model);
        for r in &reqs {
            let (user, perm, now) = (user_key(r.user), permission_name(r.permission), hours(r.now));
            let object = object_of(&perm);
            let rec = r.record.as_ref().map(|spec| record(spec, object));
            let bef = match (&r.record, &r.before) {
                (Some(spec), Some(before)) => Some(record(&before_of(spec, before), object)),
                (None, Some(before)) => Some(record(&before_of(&RecordSpec::default(), before), object)),
                _ => None,
            };
            let request = Request { user, permission: &perm, record: rec.as_ref(), before: bef.as_ref(), now };
            let engine = snapshot.check(&request);
            let expected = reference.check(user, &perm, rec.as_ref(), bef.as_ref(), now);
            prop_assert_eq!((engine.is_allowed(), engine.is_limited()), expected, "{} {} record={:?} now={}\n{}", user, perm, rec, now,
                permset_core::to_workspace_file(&model));
            // The handle API answers exactly what `check` answers (unknown names: no handle, deny).
            let by_ids = match (snapshot.user_id(user), snapshot.perm_id(&perm)) {
                (Some(u), Some(p)) => snapshot.check_ids(u, p, rec.as_ref(), bef.as_ref(), now),
                _ => permset_core::Decision::Deny,
            };
            prop_assert_eq!(by_ids, engine, "check_ids: {} {}", user, perm);
        }
    }

    #[test]
    fn field_level_matches_reference(spec in workspace_spec(), picks in prop::collection::vec((0..7usize, 0..FIELDS.len(), prop::sample::select(vec![-72i64, -1, 0, 1, 72])), 40)) {
        let model = build(&spec);
        let Some(snapshot) = compile(&spec, &model) else { return Err(TestCaseError::reject("the model does not compile")) };
        let reference = Reference::new(&model);
        for (u, f, h) in picks {
            let (object, field) = FIELDS[f];
            let user = user_key(u);
            let engine = snapshot.field_level(user, object, field, hours(h));
            let expected = reference.field_level(user, object, field, hours(h));
            prop_assert_eq!(engine, expected, "{} {}.{} at {}\n{}", user, object, field, h, permset_core::to_workspace_file(&model));
        }
    }

    #[test]
    fn view_predicate_matches_reference(spec in workspace_spec(), picks in prop::collection::vec((0..7usize, 0..OBJECTS.len(), record_spec(), prop::sample::select(vec![-72i64, -1, 0, 1, 72])), 40)) {
        let model = build(&spec);
        let Some(snapshot) = compile(&spec, &model) else { return Err(TestCaseError::reject("the model does not compile")) };
        let reference = Reference::new(&model);
        for (u, o, rec, h) in picks {
            let (user, object) = (user_key(u), OBJECTS[o]);
            let rec = record(&rec, object);
            let predicate = snapshot.view_predicate(user, object, hours(h));
            let (expected, _) = reference.check(user, &format!("{object}_view"), Some(&rec), None, hours(h));
            prop_assert_eq!(predicate.matches(&rec), expected, "{} {} {:?} at {}: predicate {}\n{}", user, object, rec, h, predicate,
                permset_core::to_workspace_file(&model));
        }
    }

    #[test]
    fn may_list_matches_reference(spec in workspace_spec(), picks in prop::collection::vec((0..7usize, 0..OBJECTS.len(), prop::sample::select(vec![-72i64, 0, 72])), 10)) {
        let model = build(&spec);
        let Some(snapshot) = compile(&spec, &model) else { return Err(TestCaseError::reject("the model does not compile")) };
        let reference = Reference::new(&model);
        for (u, o, h) in picks {
            let (user, object) = (user_key(u), OBJECTS[o]);
            prop_assert_eq!(snapshot.may_list(user, object, hours(h)), reference.may_list(user, object, hours(h)), "{} {}", user, object);
        }
    }
}

/// The generator must mostly produce valid models, or the properties test little.
#[test]
fn generator_makes_mostly_valid_models() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = workspace_spec();
    let mut valid = 0;
    for _ in 0..200 {
        let spec = strategy.new_tree(&mut runner).map(|t| t.current());
        let Ok(spec) = spec else { continue };
        if Snapshot::compile(&build(&spec)).is_ok() {
            valid += 1;
        }
    }
    assert!(valid >= 180, "only {valid} of 200 generated models compile");
}

proptest! {
    #![proptest_config(cases())]

    /// Usage counting's allocation-free key names exactly the grant the
    /// explain-style walk credits (and the module-level one when the record
    /// matches none), for every decision.
    #[test]
    fn usage_key_names_the_deciding_grant(spec in workspace_spec(), reqs in requests()) {
        let model = build(&spec);
        let Some(snapshot) = compile(&spec, &model) else { return Ok(()) };
        for r in &reqs {
            let (user, perm, now) = (user_key(r.user), permission_name(r.permission), hours(r.now));
            let (rec, bef) = records_of(r, &perm);
            let request = Request { user, permission: &perm, record: rec.as_ref(), before: bef.as_ref(), now };
            let allowed = snapshot.check(&request).is_allowed();
            let Some(key) = snapshot.usage_key(&request, allowed) else {
                prop_assert!(snapshot.user_id(user).is_none() || snapshot.perm_id(&perm).is_none(), "{} {}", user, perm);
                continue;
            };
            let Some(names) = snapshot.usage_names(&key) else {
                return Err(TestCaseError::fail(format!("the snapshot cannot name its own key for {user} {perm}")));
            };
            let expected = if allowed {
                snapshot.deciding_grant(&request)
                    .or_else(|| snapshot.deciding_grant(&Request { record: None, before: None, ..request }))
            } else {
                None
            };
            prop_assert_eq!(&names.grant, &expected, "{} {} record={:?} now={}\n{}", user, perm, rec, now,
                permset_core::to_workspace_file(&model));
            prop_assert_eq!((names.user, Some(names.permission), names.allowed), (user, snapshot.canonical_permission(&perm), allowed));
        }
    }

    /// What the server decides and counts on (handles resolved once, and a
    /// key's scope role by name) answers exactly what the name API answers.
    #[test]
    fn scoped_handles_match_names(spec in workspace_spec(), reqs in requests(), scope in 0..12usize) {
        let model = build(&spec);
        let Some(snapshot) = compile(&spec, &model) else { return Ok(()) };
        let scope_role = match scope {
            0 => None,
            11 => Some("no_such_role".to_owned()),
            k => Some(role_key(&spec, k - 1)),
        };
        for r in &reqs {
            let (user, perm, now) = (user_key(r.user), permission_name(r.permission), hours(r.now));
            let (rec, bef) = records_of(r, &perm);
            let request = Request { user, permission: &perm, record: rec.as_ref(), before: bef.as_ref(), now };
            let (Some(user_id), Some(perm_id)) = (snapshot.user_id(user), snapshot.perm_id(&perm)) else { continue };
            let by_name = snapshot.check_scoped(&request, scope_role.as_deref());
            let by_ids = snapshot.check_scoped_ids(user_id, perm_id, rec.as_ref(), bef.as_ref(), now, scope_role.as_deref());
            prop_assert_eq!(by_ids, by_name, "{} {} scope={:?}", user, perm, scope_role);
            let allowed = by_name.is_allowed();
            prop_assert_eq!(
                snapshot.usage_key_ids(user_id, perm_id, rec.as_ref(), now, allowed),
                snapshot.usage_key(&request, allowed)
            );
        }
    }
}
