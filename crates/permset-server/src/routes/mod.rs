//! The HTTP routes, one module per area.

pub(crate) mod admin;
pub(crate) mod decisions;
pub(crate) mod model;
pub(crate) mod ops;
pub(crate) mod records;
pub(crate) mod review;
pub(crate) mod simulate;
pub(crate) mod usage;
