//! TODO

use crate::spec::ToolDef;

pub(super) fn tool() -> ToolDef {
    todo!()
}
