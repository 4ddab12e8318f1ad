//! Built-in tools: see each tool's description.

use crate::spec::ToolDef;

/// The tools of this module.
pub(crate) fn tools() -> Vec<ToolDef> {
    Vec::new()
}
