//! Stepping by stack depth (as lua-debug does): the hook compares the depth of the line being
//! reached with the depth where the step began.

/// A pending step or stop, armed when a request resumes (or pauses) the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `next`: stop at the next line in the same function or a caller.
    Over { depth: usize },
    /// `stepIn`: stop at the next line anywhere.
    In,
    /// `stepOut`: stop at the next line in a caller.
    Out { depth: usize },
    /// Stop at the next line anywhere, reporting this reason (`pause`, `entry`,
    /// `function breakpoint`).
    Next { reason: &'static str },
}

impl Step {
    /// Whether a line event at `depth` (1 = the outermost Lua frame) ends the step.
    pub fn stops_at(self, depth: usize) -> bool {
        match self {
            Step::Over { depth: start } => depth <= start,
            Step::Out { depth: start } => depth < start,
            Step::In | Step::Next { .. } => true,
        }
    }

    /// The `stopped` reason to report.
    pub fn reason(self) -> &'static str {
        match self {
            Step::Next { reason } => reason,
            _ => "step",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_rules() {
        let over = Step::Over { depth: 3 };
        assert!(!over.stops_at(4), "a call made by the line is stepped over");
        assert!(over.stops_at(3) && over.stops_at(2), "same function or its caller");
        let out = Step::Out { depth: 3 };
        assert!(!out.stops_at(3) && !out.stops_at(5));
        assert!(out.stops_at(2));
        assert!(Step::In.stops_at(7) && Step::In.stops_at(1));
        assert_eq!(Step::In.reason(), "step");
        assert_eq!(Step::Next { reason: "pause" }.reason(), "pause");
    }
}
