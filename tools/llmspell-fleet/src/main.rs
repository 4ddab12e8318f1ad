fn main() {
    std::process::exit(llmspell_fleet::main().into());
}
