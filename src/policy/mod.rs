//! The policy engine: pure and clock-free. Rules as loaded, globs bound to claims, the decision.
pub mod claims;
pub mod eval;
pub mod glob;
pub mod key;
pub mod model;

pub use claims::Claims;
pub use eval::{Decision, Denial, PolicySet, Request};
pub use model::{load_dir, parse_file, Action, Effect, LoadError, Rule, RuleId};
