//! Access paths for list filtering, chosen by the store rather than left to
//! the database's planner to guess.
//!
//! Which indexes exist ([`index_specs`]): one per object and key, on
//! `(workspace, <key expressions>, id) WHERE object = '<object>'`, for the
//! owner field, the team field, every field marked `indexed`, and the
//! equality fields of each conjunction in the object's access rules and
//! `where:` view limits (one composite key per conjunction). Ending the key
//! in `id` is the point: an equality on the key columns and `id > cursor`
//! is a range scan that already yields rows in id order, so a first page
//! reads about one page of index entries, whatever the table's size.
//!
//! Which of them a list uses ([`cover`]): the list's predicate is turned
//! into a set of *seeks* (an index and a value for each key column) whose
//! union holds every record the predicate can match: an `or` needs a cover
//! of each side, an `and` a cover of any one side (or one key filled from
//! several equalities), an `in` list one seek per value. Each seek carries
//! its *branch*: the predicate with every `or` it was planned through
//! replaced by the one side it answers, and becomes
//! `… AND <key> = <value> AND <branch> ORDER BY id LIMIT n`. The first `n`
//! of the union of those is the first `n` of the list, because a branch
//! implies the whole predicate (each seek's rows are a subset of the
//! list's) and a record the predicate matches satisfies the branch of a
//! seek whose key it has (each listed row lies in some seek). Only the
//! branch, not the whole disjunction, goes inside a seek: given the other
//! sides, PostgreSQL's planner would OR their indexes into a bitmap scan and
//! sort, instead of reading one index range in id order. A predicate part
//! with no indexed equality has no cover, and the list walks the table in
//! id order as before.

use std::collections::BTreeMap;

use permset_core::condition::{self, CmpOp, Expr, Operand, TypeContext};
use permset_core::{Access, FieldType, Limit, Model, ObjectDef, Snapshot};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::sql::{number_literal, quote, Translator};

/// Most fields in one composite key (more narrows little and costs writes).
const MAX_KEY_FIELDS: usize = 3;
/// Most indexes per object, so that rules cannot make writes arbitrarily slow.
const MAX_INDEXES: usize = 16;
/// Most seeks in one list statement; a larger cover walks the table instead.
pub(crate) const MAX_SEEKS: usize = 32;

/// An index list filtering may use: its key fields (between `workspace` and `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexSpec {
    pub(crate) fields: Vec<String>,
}

/// One index range scan: the index's name, `<key expression> = <literal>`
/// per key column, and the branch of the predicate it answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seek {
    pub(crate) index: String,
    pub(crate) terms: Vec<String>,
    /// Implies the whole predicate; every record the predicate matches
    /// satisfies the branch of some seek of the cover whose key it has.
    pub(crate) branch: Expr,
}

/// An index range before it gets a branch: the index's name and its key terms.
type KeyRange = (String, Vec<String>);

impl Seek {
    /// Whether both read the same index range.
    fn same_range(&self, other: &Seek) -> bool {
        self.index == other.index && self.terms == other.terms
    }
}

/// The name of the index on `object` with these key expressions.
pub(crate) fn index_name(object: &str, exprs: &[String]) -> String {
    let digest = hex::encode(Sha256::digest(format!("{object}\n{}\nid", exprs.join("\n")).as_bytes()));
    format!("ax_{}", digest.get(..20).unwrap_or(&digest))
}

/// The name the single-field indexes had before they ended in `id`
/// (dropped when their replacement is created).
pub(crate) fn legacy_index_name(object: &str, field: &str, expr: &str) -> String {
    let digest = hex::encode(Sha256::digest(format!("{object}\n{field}\n{expr}").as_bytes()));
    format!("rx_{}", digest.get(..20).unwrap_or(&digest))
}

/// The indexes the store keeps for `object`, in a fixed order: owner, team,
/// `indexed` fields, then the rules' keys. Only fields with an index
/// expression are keyed.
pub(crate) fn index_specs(snapshot: &Snapshot, translator: &Translator, object: &str) -> Vec<IndexSpec> {
    let Some(def) = snapshot.schema().objects.get(object) else { return Vec::new() };
    let keyable =
        |name: &str| def.fields.get(name).is_some_and(|f| translator.index_expression(name, &f.ty).is_some());
    let mut specs: Vec<IndexSpec> = Vec::new();
    let mut add = |fields: Vec<String>| {
        if !fields.is_empty()
            && fields.iter().all(|f| keyable(f))
            && specs.len() < MAX_INDEXES
            && !specs.iter().any(|s| s.fields == fields)
        {
            specs.push(IndexSpec { fields });
        }
    };
    for name in [&def.owner_field, &def.team_field].into_iter().flatten() {
        add(vec![name.clone()]);
    }
    for (name, field) in &def.fields {
        if field.indexed {
            add(vec![name.clone()]);
        }
    }
    for expr in rule_conditions(snapshot.model(), object, def) {
        for conjunction in disjuncts(&expr) {
            // Only fields a seek can key (see `key_literal`): an index with
            // any other field in its key would never be read.
            let mut fields: Vec<String> = equalities(conjunction)
                .into_iter()
                .map(|(name, _)| name)
                .filter(|name| def.fields.get(*name).is_some_and(|f| seekable(&f.ty)))
                .map(str::to_owned)
                .collect();
            fields.sort();
            fields.dedup();
            fields.truncate(MAX_KEY_FIELDS);
            add(fields);
        }
    }
    specs
}

/// The access rules of `object` and the `where:` limits of its view grants,
/// compiled (a condition that does not compile here is skipped: it only
/// means one index fewer).
fn rule_conditions(model: &Model, object: &str, def: &ObjectDef) -> Vec<Expr> {
    // The attribute types as the engine infers them (declared, else from the
    // values users hold), so the rules compile as they did in the snapshot.
    let mut attributes = model.schema.user_attributes.clone();
    for user in model.users.values() {
        for (name, value) in &user.attributes {
            let ty = match value {
                Value::Bool(_) => FieldType::Bool,
                Value::Number(_) => FieldType::Number,
                Value::Array(_) => FieldType::List(Box::new(FieldType::String)),
                _ => FieldType::String,
            };
            attributes.entry(name.to_owned()).or_insert(ty);
        }
    }
    let ctx = TypeContext { object, fields: &def.fields, user_attributes: &attributes };
    let view = format!("{object}_view");
    let wheres =
        model.roles.values().filter_map(|role| role.grants.get(&view)).flat_map(|grant| {
            match &grant.access {
                Access::Limited(limits) => limits
                    .iter()
                    .filter_map(|l| match l {
                        Limit::Where(text) => Some(text.as_str()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        });
    let rules = model.access_rules.get(object).into_iter().flat_map(|r| r.values().map(String::as_str));
    rules.chain(wheres).filter_map(|text| condition::compile(text, &ctx).ok()).collect()
}

/// The top-level alternatives of a condition (`a or b` → `[a, b]`).
fn disjuncts(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::Or(items) => items.iter().flat_map(disjuncts).collect(),
        other => vec![other],
    }
}

/// The conjuncts of a condition (`a and (b and c)` → `[a, b, c]`).
fn conjuncts(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::And(items) => items.iter().flat_map(conjuncts).collect(),
        other => vec![other],
    }
}

/// The fields a conjunction pins with `==` or `in` against something not a
/// record field, with the operand (bound or not).
fn equalities(expr: &Expr) -> Vec<(&str, &Operand)> {
    conjuncts(expr).into_iter().filter_map(equality).collect()
}

/// `field == x`, `x == field` or `field in x`, for `x` not a record field.
fn equality(expr: &Expr) -> Option<(&str, &Operand)> {
    let Expr::Compare { left, op, right } = expr else { return None };
    fn field_of(o: &Operand) -> Option<&str> {
        match o {
            Operand::Field { name, .. } if name != "id" => Some(name.as_str()),
            _ => None,
        }
    }
    let pinned = |o: &Operand| !matches!(o, Operand::Field { .. });
    match op {
        CmpOp::Eq => match (field_of(left), field_of(right)) {
            (Some(name), None) if pinned(right) => Some((name, right)),
            (None, Some(name)) if pinned(left) => Some((name, left)),
            _ => None,
        },
        CmpOp::In => field_of(left).filter(|_| pinned(right)).map(|name| (name, right)),
        _ => None,
    }
}

/// What a list may match, as index seeks; `None` when some part of the
/// predicate has no indexed equality (the list then walks the table).
pub(crate) struct Planner<'a> {
    pub(crate) translator: &'a Translator,
    pub(crate) object: &'a str,
    pub(crate) def: &'a ObjectDef,
    pub(crate) specs: &'a [IndexSpec],
}

impl Planner<'_> {
    /// Seeks whose union holds every record `expr` (bound: no `user.` operands)
    /// matches, each with its branch of `expr` (see [`Seek::branch`]).
    /// `Some(vec![])` means it matches nothing.
    pub(crate) fn cover(&self, expr: &Expr) -> Option<Vec<Seek>> {
        match expr {
            Expr::Const(false) => Some(Vec::new()),
            Expr::Or(items) => {
                let mut seeks: Vec<Seek> = Vec::new();
                for item in items {
                    for seek in self.cover(item)? {
                        // Two sides reading one range: the range answers either.
                        match seeks.iter_mut().find(|s| s.same_range(&seek)) {
                            Some(same) => {
                                let earlier = std::mem::replace(&mut same.branch, Expr::Const(false));
                                same.branch = Expr::Or(vec![earlier, seek.branch]);
                            }
                            None => seeks.push(seek),
                        }
                    }
                }
                (seeks.len() <= MAX_SEEKS).then_some(seeks)
            }
            Expr::And(_) | Expr::Compare { .. } => {
                let parts = conjuncts(expr);
                // One side of an `and` covers it; so does a key filled by several of its equalities.
                let mut best: Option<(Vec<Seek>, usize)> = self.keyed(&parts).map(|(keyed, width)| {
                    let seeks = keyed
                        .into_iter()
                        .map(|(index, terms)| Seek { index, terms, branch: expr.clone() })
                        .collect();
                    (seeks, width)
                });
                for (at, part) in parts.iter().enumerate() {
                    if !matches!(part, Expr::Or(_) | Expr::Const(false)) {
                        continue;
                    }
                    let Some(seeks) = self.cover(part) else { continue };
                    if best.as_ref().is_none_or(|(b, _)| seeks.len() < b.len()) {
                        // Within the `and`, each seek answers its branch of this part and the other parts.
                        let seeks = seeks
                            .into_iter()
                            .map(|seek| Seek { branch: replace_part(&parts, at, seek.branch), ..seek })
                            .collect();
                        best = Some((seeks, 1));
                    }
                }
                best.map(|(seeks, _)| seeks)
            }
            _ => None,
        }
    }

    /// The seeks of the best index whose every key field the conjuncts pin
    /// (fewest seeks, then most key fields), as (index, terms), with the key's width.
    fn keyed(&self, parts: &[&Expr]) -> Option<(Vec<KeyRange>, usize)> {
        let mut pinned: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
        for part in parts {
            let Some((name, operand)) = equality(part) else { continue };
            let Operand::Value(value) = operand else { continue };
            let values: Vec<&Value> = match (part, value) {
                (Expr::Compare { op: CmpOp::In, .. }, Value::Array(items)) => items.iter().collect(),
                // The SQL treats `in` a non-list as false; no seek claims that.
                (Expr::Compare { op: CmpOp::In, .. }, _) => continue,
                (_, v) => vec![v],
            };
            // Two equalities on one field: either set covers; keep the smaller.
            let entry = pinned.entry(name).or_insert_with(|| values.clone());
            if values.len() < entry.len() {
                *entry = values;
            }
        }
        let mut best: Option<(Vec<KeyRange>, usize)> = None;
        for spec in self.specs {
            let Some(seeks) = self.seeks(spec, &pinned) else { continue };
            let better = best.as_ref().is_none_or(|(b, width)| {
                seeks.len() < b.len() || (seeks.len() == b.len() && spec.fields.len() > *width)
            });
            if better {
                best = Some((seeks, spec.fields.len()));
            }
        }
        best
    }

    /// The seeks of one index for the pinned values (every combination), or
    /// `None` if a key field is not pinned, a value has no exact key
    /// (null, bool, a string for a number field…), or there are too many.
    fn seeks(&self, spec: &IndexSpec, pinned: &BTreeMap<&str, Vec<&Value>>) -> Option<Vec<KeyRange>> {
        let mut exprs = Vec::with_capacity(spec.fields.len());
        let mut combos: Vec<Vec<String>> = vec![Vec::new()];
        for field in &spec.fields {
            let values = pinned.get(field.as_str())?;
            let ty = &self.def.fields.get(field)?.ty;
            let expr = self.translator.index_expression(field, ty)?;
            let literals = values.iter().map(|v| key_literal(ty, v)).collect::<Option<Vec<_>>>()?;
            if combos.len() * literals.len() > MAX_SEEKS {
                return None;
            }
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    literals.iter().map(move |l| {
                        let mut c = c.clone();
                        c.push(l.clone());
                        c
                    })
                })
                .collect();
            exprs.push(expr);
        }
        let index = index_name(self.object, &exprs);
        Some(
            combos
                .into_iter()
                .map(|literals| {
                    (index.clone(), exprs.iter().zip(literals).map(|(e, l)| format!("({e} = {l})")).collect())
                })
                .collect(),
        )
    }
}

/// The conjunction `parts` with part `at` replaced by `branch` (which implies it).
fn replace_part(parts: &[&Expr], at: usize, branch: Expr) -> Expr {
    if parts.len() == 1 {
        return branch;
    }
    let mut items: Vec<Expr> = parts.iter().map(|part| (*part).clone()).collect();
    if let Some(slot) = items.get_mut(at) {
        *slot = branch;
    }
    Expr::And(items)
}

/// The SQL literal a record matching `field == value` has under the field's
/// index expression, when there is exactly one: strings of text-like fields
/// and numbers of number fields. Anything else (datetimes compare as
/// instants, null and bools have no key) gives no seek.
fn key_literal(ty: &FieldType, value: &Value) -> Option<String> {
    match (ty, value) {
        (FieldType::Number, Value::Number(n)) => Some(number_literal(n)),
        (FieldType::Number, _) => None,
        (ty, Value::String(s)) if seekable(ty) && !s.contains('\0') => Some(quote(s)),
        _ => None,
    }
}

/// Whether a field of this type can be a seek's key: text-like fields and numbers.
fn seekable(ty: &FieldType) -> bool {
    matches!(
        ty,
        FieldType::String
            | FieldType::Enum(_)
            | FieldType::User
            | FieldType::Team
            | FieldType::Lookup(_)
            | FieldType::Number
    )
}
