fn main() {
    std::process::exit(llmspell_repl::main().into());
}
