fn main() -> std::process::ExitCode {
    presign_broker::cli::main()
}
