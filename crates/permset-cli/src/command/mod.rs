//! One module per subcommand.

pub(crate) mod audit;
pub(crate) mod check;
pub(crate) mod demo;
pub(crate) mod explain;
pub(crate) mod keys;
pub(crate) mod lint;
pub(crate) mod permissions;
pub(crate) mod plan;
pub(crate) mod remote;
pub(crate) mod review;
pub(crate) mod serve;
pub(crate) mod simulate;
pub(crate) mod test;
pub(crate) mod usage;
