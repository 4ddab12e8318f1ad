//! A `tool_reply`'s content, whoever made it (a kernel or [`llmspell_tools::protocol::handle`]
//! in this process), turned into the exit code the man page documents.
//!
//! | reply | exit |
//! |---|---|
//! | `status: "ok"` | 0 |
//! | `unknown_tool` set, or `not_found` from `info` / `test` (no such tool) | 64 |
//! | `validation` (the message names the parameter and the schema rule) | 65 |
//! | `not_found` from `invoke` (a file, key or page the tool looked for) | 66 |
//! | `execution` | 70 |
//! | `timeout` | 75 |
//! | `permission` | 77 |
//! | no status, an unknown `error_type`, a kernel that does not know the request | 76 |

use llmspell_common::ExitCode;
use llmspell_tools::ErrorType;
use serde_json::Value;

use crate::Failure;

/// The reply when it says `ok`; otherwise its failure.
pub fn check(reply: Value, command: &str) -> Result<Value, Failure> {
    match reply["status"].as_str() {
        Some("ok") => Ok(reply),
        Some("error") => Err(failure(&reply, command)),
        _ => Err(malformed(&reply)),
    }
}

fn failure(reply: &Value, command: &str) -> Failure {
    let Some(kind) = reply["error_type"].as_str().and_then(ErrorType::parse) else {
        if reply["ename"] == "UnknownMessageType" {
            return Failure::new(
                ExitCode::Protocol,
                "the kernel does not handle tool_request (is it older than llmspell-tool?)",
            );
        }
        return malformed(reply);
    };
    let message = reply["message"].as_str().unwrap_or("(the reply gave no message)");
    let unknown_tool =
        reply["unknown_tool"].is_string() || (kind == ErrorType::NotFound && command != "invoke");
    let code = match kind {
        _ if unknown_tool => ExitCode::Usage,
        ErrorType::NotFound => ExitCode::NoInput,
        ErrorType::Validation => ExitCode::DataErr,
        ErrorType::Execution => ExitCode::Software,
        ErrorType::Timeout => ExitCode::TempFail,
        ErrorType::Permission => ExitCode::NoPerm,
    };
    Failure::new(code, format!("{kind}: {message}"))
}

fn malformed(reply: &Value) -> Failure {
    let mut text = reply.to_string();
    if text.len() > 200 {
        let cut = (0..=200).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    Failure::new(ExitCode::Protocol, format!("malformed tool_reply: {text}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code(reply: Value, command: &str) -> u8 {
        check(reply, command).map_or_else(|f| f.code.code(), |_| 0)
    }

    fn error(kind: &str) -> Value {
        json!({"status": "error", "error_type": kind, "message": "m"})
    }

    #[test]
    fn every_error_type_has_its_exit_code() {
        assert_eq!(code(json!({"status": "ok"}), "list"), 0);
        assert_eq!(code(error("validation"), "invoke"), 65);
        assert_eq!(code(error("not_found"), "invoke"), 66);
        assert_eq!(code(error("not_found"), "info"), 64);
        assert_eq!(code(error("not_found"), "test"), 64);
        let mut unknown = error("not_found");
        unknown["unknown_tool"] = json!("nope");
        assert_eq!(code(unknown, "invoke"), 64);
        assert_eq!(code(error("execution"), "invoke"), 70);
        assert_eq!(code(error("timeout"), "invoke"), 75);
        assert_eq!(code(error("permission"), "invoke"), 77);
        assert_eq!(code(error("exploded"), "invoke"), 76);
        assert_eq!(code(json!({"tools": []}), "list"), 76);
        assert_eq!(code(json!(null), "list"), 76);
        let old = json!({"status": "error", "ename": "UnknownMessageType", "evalue": "x"});
        let f = check(old, "list").unwrap_err();
        assert!(f.message.contains("does not handle tool_request"), "{f}");
        let f = check(error("validation"), "invoke").unwrap_err();
        assert_eq!(f.message, "validation: m");
        let long = json!({"status": "what", "x": "é".repeat(300)});
        assert!(check(long, "list").unwrap_err().message.ends_with('…'));
    }
}
