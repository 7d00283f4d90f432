//! The OpenAPI document, generated from the `#[utoipa::path]` annotations of
//! the handlers, so it cannot drift from the routes.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
        crate::change::Written,
    )),
    modifiers(&ApiKey),
    security(("api_key" = [])),
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
    }
}

/// The document served at `/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
