//! Batch mode end to end: pipes, files and -e through the real binary, with its own kernels and
//! daemon kernels.

mod harness;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::{Home, Run, alive, wait};

fn ok(run: &Run) -> &str {
    assert_eq!(run.code, Some(0), "expected success: {run:#?}");
    assert_eq!(run.stderr, "", "unexpected stderr: {run:#?}");
    &run.stdout
}

#[test]
fn a_piped_print_prints_42() {
    let home = Home::new();
    assert_eq!(ok(&home.run(&[], "print(6*7)\n")), "42\n");
}

#[test]
fn a_piped_chunk_spans_lines_until_the_kernel_says_it_is_complete() {
    let home = Home::new();
    let script = "sum = 0\nfor i = 1, 3 do\n  sum = sum + i\n  print(i)\nend\nprint('sum', sum)\n";
    assert_eq!(ok(&home.run(&[], script)), "1\n2\n3\nsum\t6\n");
    // A local lives in its chunk, as in `lua -i`: a do-block keeps it, the next line does not.
    let script =
        "do\n  local t = {\n    a = 1,\n  }\n  print(t.a)\nend\nlocal gone = 1\nprint(gone)\n";
    assert_eq!(ok(&home.run(&[], script)), "1\nnil\n");
}

#[test]
fn a_file_is_one_chunk_as_lua_runs_it() {
    let home = Home::new();
    std::fs::write(home.path().join("s.lua"), "local n = 6\n\nprint(n * 7)\n").unwrap();
    assert_eq!(ok(&home.run(&["--execute", "s.lua"], "")), "42\n");
    assert_eq!(ok(&home.run(&["--execute", "-"], "local n = 6\nprint(n * 7)\n")), "42\n");
}

#[test]
fn an_invalid_chunk_is_sent_and_its_syntax_error_shown() {
    let home = Home::new();
    let run = home.run(&["--keep-going"], "x = = 1\nprint('after')\n");
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.stdout, "after\n");
    assert!(run.stderr.contains("SyntaxError") || run.stderr.contains("syntax"), "{run:#?}");
}

#[test]
fn results_and_stderr_go_where_they_belong() {
    let home = Home::new();
    let run = home.run(&[], "1 + 1\nlocal _ = io.stderr:write('warn\\n')\n");
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stdout, "2\n");
    assert_eq!(run.stderr, "warn\n");
}

#[test]
fn display_and_page_show_their_text() {
    let home = Home::new();
    let script =
        "display({['text/plain'] = 'shown', ['text/html'] = '<b>not</b>'})\npage('paged')\n";
    assert_eq!(ok(&home.run(&[], script)), "shown\npaged\n");
}

#[test]
fn input_in_batch_mode_is_an_error_not_a_hang() {
    let home = Home::new();
    let run = home.run(&[], "x = input('? ')\n");
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(!run.stderr.is_empty(), "{run:#?}");
}

#[test]
fn a_lua_error_stops_the_run_with_exit_1_unless_keep_going() {
    let home = Home::new();
    let script = "print('a')\nerror('boom')\nprint('b')\n";
    let run = home.run(&[], script);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.stdout, "a\n");
    assert!(run.stderr.contains("boom"), "{run:#?}");
    let run = home.run(&["--keep-going"], script);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.stdout, "a\nb\n");
    assert!(run.stderr.contains("boom"), "{run:#?}");
}

#[test]
fn eval_and_execute_run_code_without_stdin() {
    let home = Home::new();
    assert_eq!(ok(&home.run(&["-e", "print(1)", "-e", "print(2)"], "print(3)\n")), "1\n2\n");
    std::fs::write(home.path().join("s.lua"), "for i = 1, 2 do\n  print(i * 10)\nend\n").unwrap();
    assert_eq!(ok(&home.run(&["--execute", "s.lua"], "")), "10\n20\n");
    let run = home.run(&["--execute", "missing.lua"], "");
    assert_eq!(run.code, Some(66), "{run:#?}");
}

#[test]
fn the_own_kernel_is_gone_after_the_run_and_after_sigterm() {
    for signal in [None, Some("-TERM")] {
        let home = Home::new();
        let mut child = home
            .command(&[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"print('ready')\n").unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        let pid = home.own_kernel_pid().expect("the REPL's kernel is running");
        match signal {
            None => drop(stdin),
            Some(sig) => {
                let repl = child.id().to_string();
                assert!(Command::new("kill").args([sig, &repl]).status().unwrap().success());
            }
        }
        let status = wait(&mut child, Duration::from_secs(15));
        if signal.is_none() {
            assert_eq!(status, Some(0));
        }
        assert!(!alive(pid), "kernel {pid} outlived the REPL ({signal:?})");
        assert_eq!(home.own_kernel_pid(), None);
    }
}

#[test]
fn a_daemon_kernel_keeps_state_between_runs() {
    let mut home = Home::new();
    home.daemon("keep");
    assert_eq!(ok(&home.run(&["--kernel", "keep", "-e", "x = 41"], "")), "");
    assert_eq!(ok(&home.run(&["--kernel", "keep"], "print(x + 1)\n")), "42\n");
    let mut cmd = home.command(&["-e", "print(x)"]);
    let out = cmd.env("LLMSPELL_KERNEL", "keep").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "41\n");
}

#[test]
fn a_missing_kernel_is_exit_69() {
    let home = Home::new();
    let run = home.run(&["--kernel", "nope"], "print(1)\n");
    assert_eq!(run.code, Some(69), "{run:#?}");
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("llmspell-repl: no kernel nope"), "{run:#?}");
}
