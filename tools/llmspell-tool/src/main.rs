fn main() {
    std::process::exit(llmspell_tool::main().into());
}
