fn main() {
    std::process::exit(llmspell_logrotate::main().into());
}
