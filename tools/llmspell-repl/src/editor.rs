//! The line editor: reedline with a prompt of `> ` (continuation `… `), Enter decided by the
//! kernel's `is_complete_request`, Tab completion from `complete_request` shown as a menu,
//! hints from history, and the duplicate-free history file.
//!
//! Jupyter counts cursor positions in Unicode code points; reedline in bytes. The completer
//! converts both ways.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llmspell_wire::{Channel, Client};
use nu_ansi_term::{Color as AnsiColor, Style};
use reedline::{
    ColumnarMenu, Completer, DefaultHinter, Emacs, KeyCode, KeyModifiers, MenuBuilder, Prompt,
    PromptEditMode, PromptHistorySearch, PromptHistorySearchStatus, Reedline, ReedlineEvent,
    ReedlineMenu, Span, Suggestion, ValidationResult, Validator, default_emacs_keybindings,
};
use serde_json::json;

use crate::history::LineHistory;
use crate::meta;

/// How long the editor waits for is_complete or complete before giving up on the kernel.
const ASK_WAIT: Duration = Duration::from_secs(2);
const MENU: &str = "completion_menu";

/// Builds the editor over `client` with `history`.
pub fn build(client: Arc<Mutex<Client>>, history: LineHistory, color: bool) -> Reedline {
    let mut keys = default_emacs_keybindings();
    keys.add_binding(
        KeyModifiers::NONE,
        KeyCode::Tab,
        ReedlineEvent::UntilFound(vec![ReedlineEvent::Menu(MENU.into()), ReedlineEvent::MenuNext]),
    );
    keys.add_binding(KeyModifiers::SHIFT, KeyCode::BackTab, ReedlineEvent::MenuPrevious);
    let menu = ColumnarMenu::default().with_name(MENU);
    let editor = Reedline::create()
        .with_history(Box::new(history))
        .with_validator(Box::new(KernelValidator { client: Arc::clone(&client) }))
        .with_completer(Box::new(KernelCompleter { client }))
        .with_menu(ReedlineMenu::EngineCompleter(Box::new(menu)))
        .with_quick_completions(true)
        .with_partial_completions(true)
        .with_edit_mode(Box::new(Emacs::new(keys)))
        .with_ansi_colors(color)
        .use_bracketed_paste(true);
    if color {
        editor.with_hinter(Box::new(
            DefaultHinter::default().with_style(Style::new().fg(AnsiColor::DarkGray)),
        ))
    } else {
        editor
    }
}

/// `> ` for a new cell, `… ` for its next lines.
#[derive(Debug, Clone, Copy)]
pub struct LuaPrompt;

impl Prompt for LuaPrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("> ")
    }
    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("… ")
    }
    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        let failing = match search.status {
            PromptHistorySearchStatus::Passing => "",
            PromptHistorySearchStatus::Failing => "failing ",
        };
        Cow::Owned(format!("({failing}search: {}) ", search.term))
    }
}

/// Enter runs the cell when the kernel calls it complete or invalid (it then reports the
/// error); only `incomplete` continues on a new line. Meta-commands are always complete.
struct KernelValidator {
    client: Arc<Mutex<Client>>,
}

impl Validator for KernelValidator {
    fn validate(&self, line: &str) -> ValidationResult {
        if line.trim().is_empty() || meta::is_meta(line) {
            return ValidationResult::Complete;
        }
        let client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let reply =
            client.call(Channel::Shell, "is_complete_request", json!({"code": line}), ASK_WAIT);
        match reply {
            Ok(reply) if reply.str_field("status") == Some("incomplete") => {
                ValidationResult::Incomplete
            }
            // Complete, invalid, or no answer: run it, and let the run say what is wrong.
            _ => ValidationResult::Complete,
        }
    }
}

/// Tab asks the kernel (`complete_request`); a line starting with `.` completes meta-commands.
struct KernelCompleter {
    client: Arc<Mutex<Client>>,
}

impl Completer for KernelCompleter {
    fn complete(&mut self, line: &str, pos: usize) -> Vec<Suggestion> {
        let pos = floor_char_boundary(line, pos);
        if meta::is_meta(line) {
            return meta::complete(&line[..pos])
                .into_iter()
                .map(|name| suggestion(name.to_owned(), 0, pos))
                .collect();
        }
        let cursor = line[..pos].chars().count();
        let client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let content = json!({"code": line, "cursor_pos": cursor});
        let Ok(reply) = client.call(Channel::Shell, "complete_request", content, ASK_WAIT) else {
            return Vec::new();
        };
        let c = &reply.content;
        let at = |key: &str| c[key].as_u64().map(|n| byte_offset(line, n as usize));
        let (Some(start), Some(end)) = (at("cursor_start"), at("cursor_end")) else {
            return Vec::new();
        };
        let matches = c["matches"].as_array().into_iter().flatten();
        matches.filter_map(|m| m.as_str()).map(|m| suggestion(m.to_owned(), start, end)).collect()
    }
}

fn suggestion(value: String, start: usize, end: usize) -> Suggestion {
    Suggestion {
        value,
        span: Span::new(start, end),
        append_whitespace: false,
        ..Default::default()
    }
}

/// The byte offset of code point `n` of `s` (its end when `n` is past it).
fn byte_offset(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

fn floor_char_boundary(s: &str, mut pos: usize) -> usize {
    pos = pos.min(s.len());
    while !s.is_char_boundary(pos) {
        pos -= 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_points_map_to_bytes() {
        let s = "é = 'ü'.x";
        assert_eq!(byte_offset(s, 0), 0);
        assert_eq!(byte_offset(s, 1), 2);
        assert_eq!(byte_offset(s, 100), s.len());
        assert_eq!(floor_char_boundary(s, 1), 0);
    }
}
