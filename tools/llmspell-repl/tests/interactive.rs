//! The interactive REPL in a real terminal (tmux): the line editor, the kernel behind it, its
//! meta-commands, and that no way out leaves a kernel behind.

mod harness;

use std::time::{Duration, Instant};

use harness::tmux::Terminal;
use harness::{Home, alive};

/// Waits until `pid` is gone (a reaped or zombie process counts as gone).
fn gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn a_for_loop_continues_on_the_next_line_until_its_end() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    t.enter("for i = 1, 3 do");
    t.wait_for("\n…");
    t.enter("print(i * 10)");
    t.enter("end");
    let screen = t.wait_for("30");
    assert!(screen.contains("> for i = 1, 3 do\n… print(i * 10)\n… end\n10\n20\n30"), "{screen}");
    t.wait_last_line(">");
}

#[test]
fn an_invalid_line_is_sent_and_shows_its_error_in_red() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    t.enter("x = = 1");
    let screen = t.wait_for("Error");
    assert!(!screen.contains("… "), "an invalid line must not continue: {screen}");
    let coloured = t.screen_with_escapes();
    assert!(coloured.contains("\x1b[31m"), "errors are red: {coloured:?}");
    t.enter("error('boom')");
    let screen = t.wait_for("stack traceback");
    assert!(screen.contains("RuntimeError: cell-2:1: boom"), "{screen}");
    t.enter("1 + 1");
    t.wait_for("> 1 + 1\n2\n>");
}

#[test]
fn no_color_turns_colour_off() {
    let home = Home::new();
    let t = Terminal::start_with_env(&home, &[], &[("NO_COLOR", "1")]);
    t.enter("error('plain')");
    t.wait_for("stack traceback");
    t.wait_last_line(">");
    assert!(!t.screen_with_escapes().contains("\x1b[31m"), "{:?}", t.screen_with_escapes());
}

#[test]
fn tab_completes_string_fo_to_string_format() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    t.type_text("string.fo");
    t.press(&["Tab"]);
    t.wait_for("> string.format");
    t.type_text("('%d-%s', 7, 'x')");
    t.press(&["Enter"]);
    t.wait_for("\"7-x\"");
}

#[test]
fn tab_shows_a_menu_of_several_matches() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    t.type_text("string.re");
    t.press(&["Tab"]);
    let screen = t.wait_for("reverse");
    let menu = screen.lines().last().unwrap();
    assert_eq!(menu.split_whitespace().collect::<Vec<_>>(), ["rep", "reverse"], "{screen}");
}

#[test]
fn history_is_recalled_after_a_restart_without_duplicates() {
    let home = Home::new();
    {
        let t = Terminal::start(&home, &[]);
        t.run("answer = 41 + 1");
        assert!(t.run("print(answer)").contains("\n42\n"));
        t.run("print(answer)");
        t.press(&["C-d"]);
        assert_eq!(t.exit_status(), 0);
    }
    let file = std::fs::read_to_string(home.path().join("history")).unwrap();
    let t = Terminal::start(&home, &[]);
    assert_eq!(file.lines().filter(|l| *l == "print(answer)").count(), 2, "{file}");
    t.press(&["Up"]);
    t.wait_for("> print(answer)");
    t.press(&["Up"]);
    t.wait_for("> answer = 41 + 1");
    // The duplicate was dropped when the file was opened again.
    let file = std::fs::read_to_string(home.path().join("history")).unwrap();
    assert_eq!(file, "answer = 41 + 1\nprint(answer)\n");
    t.press(&["Enter"]);
    t.enter(".history");
    t.wait_for("    1  print(answer)\n    2  answer = 41 + 1");
}

#[test]
fn ctrl_c_interrupts_a_running_cell_and_the_kernel_answers_after() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    t.enter("while true do end");
    // The cell is running when the prompt is gone and the kernel is busy.
    std::thread::sleep(Duration::from_millis(300));
    t.press(&["C-c"]);
    t.wait_for("Interrupted");
    t.enter("1+1");
    let screen = t.wait_for("> 1+1\n2");
    assert!(home.own_kernel_pid().is_some(), "{screen}");
}

#[test]
fn ctrl_c_at_the_prompt_clears_the_line() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    t.type_text("print('never')");
    t.wait_for("never");
    t.press(&["C-c"]);
    t.wait_last_line(">");
    t.enter("print('after')");
    let screen = t.wait_for("after\n");
    assert!(!screen.contains("never\n"), "{screen}");
}

#[test]
fn stream_output_is_shown_as_it_arrives() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    t.enter("print('first'); local t = os.clock() + 30; while os.clock() < t do end");
    t.wait_for("\nfirst");
    t.press(&["C-c"]);
    t.wait_for("Interrupted");
}

#[test]
fn input_is_answered_at_a_prompt() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    t.enter("name = input('who? ')");
    t.wait_for("\nwho?");
    t.enter("bob");
    t.wait_last_line(">");
    t.enter("print('hello ' .. name)");
    t.wait_for("hello bob");
}

#[test]
fn vars_lists_user_globals_with_types_and_values() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    t.enter(".vars");
    t.wait_for("(no user globals)");
    t.run("n = 42; greeting = 'hi'; list = {1, 2}");
    t.enter(".vars");
    let screen = t.wait_for("n  ");
    let tail = screen.rsplit("> .vars").next().unwrap();
    let lines: Vec<Vec<&str>> =
        tail.lines().skip(1).take(3).map(|l| l.split_whitespace().take(3).collect()).collect();
    assert_eq!(lines[0], ["greeting", "string", "\"hi\""], "{screen}");
    assert_eq!(lines[1][..2], ["list", "table"], "{screen}");
    assert_eq!(lines[2], ["n", "number", "42"], "{screen}");
}

#[test]
fn meta_commands_save_load_run_clear_info_tools_help() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    t.enter(".help");
    t.wait_for(".tools");
    t.enter("x = 20");
    t.enter("for i = 1, 2 do");
    t.enter("x = x + i");
    t.enter("end");
    // The loop's own prompt, not an earlier one drawn before the typed-ahead lines were read.
    t.wait_until("the loop to run", |s| s.ends_with("… end\n>"));
    t.enter(".save session.lua");
    t.wait_for("saved 2 cells to session.lua");
    let saved = std::fs::read_to_string(home.path().join("session.lua")).unwrap();
    assert!(saved.ends_with("x = 20\nfor i = 1, 2 do\nx = x + i\nend\n"), "{saved}");
    t.enter(".clear");
    t.wait_for("Lua state cleared");
    t.enter("print(x)");
    t.wait_for("\nnil\n");
    t.run(".load session.lua");
    t.enter("print(x)");
    t.wait_for("\n23\n");
    std::fs::write(home.path().join("f.lua"), "local a = 6\nprint(a * 7)\n").unwrap();
    t.enter(".run f.lua");
    t.wait_for("\n42\n");
    t.enter(".run missing.lua");
    t.wait_for("cannot read missing.lua");
    t.enter(".info");
    let screen = t.wait_for("protocol         Jupyter messaging 5.5");
    let pid = home.own_kernel_pid().unwrap();
    assert!(screen.contains(&format!("pid              {pid}\n")), "{screen}");
    t.enter(".tools");
    t.wait_for("math       calculator random_generator");
    t.enter(".nope");
    t.wait_for("unknown meta-command .nope");
    t.enter("print('still here')");
    t.wait_for("\nstill here\n");
}

#[test]
fn exit_and_ctrl_d_leave_no_kernel() {
    for (how, key) in [(".exit", None), ("Ctrl-D", Some("C-d"))] {
        let home = Home::new();
        let t = Terminal::start(&home, &[]);
        let pid = home.own_kernel_pid().expect("the REPL's kernel runs");
        match key {
            None => t.enter(".exit"),
            Some(key) => t.press(&[key]),
        }
        assert_eq!(t.exit_status(), 0, "{how}");
        assert!(gone(pid), "kernel {pid} outlived {how}");
        assert_eq!(home.own_kernel_pid(), None, "{how}");
    }
}

#[test]
fn sigterm_at_the_prompt_and_a_closed_terminal_leave_no_kernel() {
    for closed in [false, true] {
        let home = Home::new();
        let t = Terminal::start(&home, &[]);
        let kernel = home.own_kernel_pid().expect("the REPL's kernel runs");
        let repl = t.repl_pid();
        if closed {
            t.close();
        } else {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(repl as i32),
                nix::sys::signal::SIGTERM,
            )
            .unwrap();
            assert_eq!(t.exit_status(), 1);
        }
        assert!(
            gone(repl),
            "the REPL outlived {}",
            if closed { "its terminal" } else { "SIGTERM" }
        );
        assert!(gone(kernel), "kernel {kernel} outlived the REPL (closed terminal: {closed})");
        assert_eq!(home.own_kernel_pid(), None);
    }
}

#[test]
fn kill_9_loses_no_history_and_the_kernel_follows_the_repl() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    let kernel = home.own_kernel_pid().expect("the REPL's kernel runs");
    t.enter("crashed = 'no line lost'");
    t.wait_for("> crashed = 'no line lost'\n>");
    let repl = nix::unistd::Pid::from_raw(t.repl_pid() as i32);
    nix::sys::signal::kill(repl, nix::sys::signal::SIGKILL).unwrap();
    assert_eq!(t.exit_status(), 137);
    let history = std::fs::read_to_string(home.path().join("history")).unwrap();
    assert_eq!(history, "crashed = 'no line lost'\n");
    // Nothing of the REPL ran to stop it: the kernel saw JPY_PARENT_PID's process go.
    assert!(gone(kernel), "kernel {kernel} outlived a SIGKILLed REPL");
}

#[test]
fn sigterm_while_a_cell_runs_leaves_no_kernel() {
    let home = Home::new();
    let t = Terminal::start(&home, &[]);
    let kernel = home.own_kernel_pid().expect("the REPL's kernel runs");
    t.enter("while true do end");
    std::thread::sleep(Duration::from_millis(300));
    let repl = nix::unistd::Pid::from_raw(t.repl_pid() as i32);
    nix::sys::signal::kill(repl, nix::sys::signal::SIGTERM).unwrap();
    assert_eq!(t.exit_status(), 1);
    assert!(gone(kernel), "kernel {kernel} outlived the REPL");
}

#[test]
fn an_attached_daemon_kernel_keeps_running_and_keeps_state() {
    let mut home = Home::new();
    home.daemon("shared");
    let t = Terminal::start(&home, &["--kernel", "shared"]);
    t.wait_for("connected to kernel shared");
    t.run("kept = 'yes'");
    t.enter(".exit");
    assert_eq!(t.exit_status(), 0);
    drop(t);
    let run = home.run(&["--kernel", "shared", "-e", "print(kept)"], "");
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), "yes\n"), "{run:#?}");
}
