fn main() {
    std::process::exit(llmspell_dap::main().into());
}
