fn main() {
    std::process::exit(llmspell_kerneld::main().into());
}
