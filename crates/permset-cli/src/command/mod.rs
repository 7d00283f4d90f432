//! One module per subcommand.

pub(crate) mod check;
pub(crate) mod explain;
pub(crate) mod lint;
pub(crate) mod permissions;
