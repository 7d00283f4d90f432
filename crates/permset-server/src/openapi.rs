//! The OpenAPI document, generated from the `#[utoipa::path]` annotations of
//! the handlers, so it cannot drift from the routes.
//!
//! Two modifiers make it describe what the server really does: the security
//! schemes (the bearer key, and the `x-permset-user` header a service key
//! acts for a user with), and the error answers every workspace route can
//! give whatever its handler (bad request, key, workspace, body size,
//! unprocessable body, at_least_revision not yet committed, database away),
//! each with the JSON error body. A third adds the constraints the
//! annotations cannot spell (exactly one of `user` and `team`; `q` required
//! by search), so that every request the document allows is one the server
//! accepts in shape (schemathesis checks it: `scripts/api-fuzz.sh`).

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey as HeaderKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::routes::{admin, decisions, model, records, review, simulate, usage};

#[derive(OpenApi)]
#[openapi(
    info(title = "permset", description = "Permission sets for customer-service and CRM platforms: decisions, explain, the workspace model, and records behind the engine."),
    paths(
        decisions::check, decisions::check_batch, decisions::explain, decisions::permissions,
        model::get_schema, model::put_object,
        model::list_users, model::get_user, model::put_user, model::delete_user,
        model::list_teams, model::put_team, model::delete_team, model::add_member, model::remove_member,
        model::list_roles, model::get_role, model::put_role, model::clone_role, model::delete_role,
        model::list_assignments, model::assign, model::unassign,
        model::list_rules, model::put_rule, model::delete_rule,
        records::list, records::search, records::export, records::create, records::read, records::update, records::delete,
        admin::apply, admin::export, admin::audit, admin::verify, admin::create_key, admin::list_keys, admin::revoke_key,
        simulate::simulate, usage::usage, usage::flush, review::review,
    ),
    components(schemas(
        crate::error::ErrorBody, crate::error::ErrorDetail,
        decisions::CheckRequest, decisions::CheckResponse, decisions::BatchRequest, decisions::BatchResponse, decisions::BatchItem, decisions::Decided,
        model::CloneRequest, model::AssignmentRequest, model::RuleRequest, admin::KeyRequest,
        crate::change::Written, simulate::Simulation, simulate::RecordVisibility,
    )),
    modifiers(&ApiKey, &CommonErrors, &Constraints),
)]
struct ApiDoc;

struct ApiKey;

impl Modify for ApiKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("psk_…").build(),
            ),
        );
        components.add_security_scheme(
            "acting_user",
            SecurityScheme::ApiKey(HeaderKey::Header(ApiKeyValue::with_description(
                "x-permset-user",
                "with a service key: the user of the workspace it acts for",
            ))),
        );
        // A user key alone, or a service key acting for a user (or as the service principal).
        openapi.security = Some(vec![
            SecurityRequirement::new("api_key", Vec::<String>::new()),
            SecurityRequirement::new("api_key", Vec::<String>::new())
                .add("acting_user", Vec::<String>::new()),
        ]);
    }
}

struct CommonErrors;

/// The errors any workspace route may answer, whatever the handler does.
const COMMON: &[(&str, &str)] = &[
    ("400", "malformed request: path, query, headers or JSON"),
    ("401", "missing, invalid, revoked or expired key"),
    ("403", "the acting user (or the key's role) may not"),
    ("404", "no such workspace (for this key), user or thing"),
    ("409", "conflicts with the current state, or `at_least_revision` not committed yet"),
    ("413", "the body is too large"),
    ("422", "well-formed but invalid"),
    ("503", "the database is unavailable; retry"),
];

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/workspaces/") {
                continue;
            }
            let operations: [&mut Option<Operation>; 5] =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                for (status, description) in COMMON {
                    if operation.responses.responses.contains_key(*status) {
                        continue;
                    }
                    let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
                    let response = ResponseBuilder::new()
                        .description(*description)
                        .content("application/json", body)
                        .build();
                    operation.responses.responses.insert((*status).to_owned(), response.into());
                }
            }
        }
    }
}

struct Constraints;

impl Modify for Constraints {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        // `AssignmentRequest`: exactly one of `user` and `team` (both, or neither, is a 400).
        let schemas = &mut openapi.components.get_or_insert_with(Default::default).schemas;
        if let Some(RefOr::T(request)) = schemas.get("AssignmentRequest").cloned() {
            let holder = |name: &str| {
                ObjectBuilder::new()
                    .property(name, ObjectBuilder::new().schema_type(Type::String))
                    .required(name)
            };
            let one = OneOfBuilder::new().item(holder("user")).item(holder("team"));
            let both = AllOfBuilder::new().item(request).item(one).build();
            schemas.insert("AssignmentRequest".to_owned(), RefOr::T(Schema::AllOf(both)));
        }
        // The review shares the usage report's parameters, but is JSON only.
        let review = openapi.paths.paths.get_mut("/v1/workspaces/{ws}/review");
        if let Some(get) = review.and_then(|item| item.get.as_mut()) {
            for p in get.parameters.iter_mut().flatten().filter(|p| p.name == "format") {
                let json_only = ObjectBuilder::new().schema_type(Type::String).pattern(Some("^json$"));
                p.schema = Some(RefOr::T(Schema::Object(json_only.build())));
            }
        }
        // Search shares the list's parameters, but `q` is what it searches for.
        let search = openapi.paths.paths.get_mut("/v1/workspaces/{ws}/objects/{object}/search");
        if let Some(get) = search.and_then(|item| item.get.as_mut()) {
            for p in get.parameters.iter_mut().flatten().filter(|p| p.name == "q") {
                p.required = Required::True;
                // Empty text is refused too (400): there is nothing to look for.
                let text = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1));
                p.schema = Some(RefOr::T(Schema::Object(text.build())));
            }
        }
    }
}

/// The document served at `/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
