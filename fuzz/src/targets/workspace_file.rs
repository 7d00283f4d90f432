//! Target `workspace_file`: the YAML workspace-file loader on any text.
//!
//! Properties: loading never panics; every error is on a line of the file
//! with a one-line message; a file that loads compiles or is refused
//! without a panic, and writes back (`to_workspace_file`) as a file that
//! loads to an equal model.

use permset_core::{load_workspace_file, to_workspace_file, Snapshot};

use super::{message_kind, one_line, signature, Target};

pub(super) struct WorkspaceFileTarget;

const DICTIONARY: &[&str] = &[
    "workspace: ",
    "users:\n",
    "teams:\n",
    "roles:\n",
    "objects:\n",
    "fields:\n",
    "grants:\n",
    "clone: ",
    "assignments:\n",
    "access_rules:\n",
    "settings:\n",
    "user_attributes:\n",
    "account_owner: true",
    "kind: end_user",
    "expires_at: ",
    "where: ",
    "rule: ",
    "all",
    "own",
    "team",
    "none",
    "{ ",
    " }",
    "[",
    "]",
    ", ",
    ": ",
    "- ",
    "\n  ",
    "\n    ",
    "'",
    "\"",
    "#",
    "&a ",
    "*a",
    "|\n",
    ">\n",
    "---\n",
    "~",
    "null",
    "customers_view",
    "conversations_update",
    "support_agent",
    "{ list: string }",
    "{ lookup: customers }",
    "{ enum: [a, b] }",
    "datetime",
    "protected: true",
    "owner_field: ",
    "team_field: ",
    "fields: { ",
    "list_visibility: admins",
    "2024-01-01T00:00:00Z",
    "\t",
    "\r\n",
    "\u{feff}",
];

impl Target for WorkspaceFileTarget {
    fn name(&self) -> &'static str {
        "workspace_file"
    }

    fn dictionary(&self) -> &'static [&'static str] {
        DICTIONARY
    }

    fn run(&mut self, data: &[u8]) -> Result<u64, String> {
        let text = String::from_utf8_lossy(data);
        let lines = text.lines().count().max(1);
        let model = match load_workspace_file(&text) {
            Err(errors) => {
                if errors.is_empty() {
                    return Err("the file is refused with no error".to_owned());
                }
                for e in &errors {
                    if e.line == 0 || e.line > lines + 1 {
                        return Err(format!(
                            "error on line {} of a {lines}-line file: {}",
                            e.line, e.message
                        ));
                    }
                    if !one_line(&e.message) {
                        return Err(format!("error message is not one line: {:?}", e.message));
                    }
                }
                let first = errors.first().map(|e| message_kind(&e.message)).unwrap_or_default();
                return Ok(signature(("err", first)));
            }
            Ok((model, _)) => model,
        };
        let compiled = Snapshot::compile(&model).map_err(|e| message_kind(&e.to_string()));
        let written = to_workspace_file(&model);
        match load_workspace_file(&written) {
            Ok((back, _)) if back == model => {}
            Ok(_) => return Err(format!("the written file loads to a different model:\n{written}")),
            Err(errors) => return Err(format!("the written file does not load ({errors:?}):\n{written}")),
        }
        let sizes = (model.users.len().min(4), model.roles.len().min(4), model.schema.objects.len().min(3));
        Ok(signature(("ok", compiled.err(), sizes)))
    }
}
