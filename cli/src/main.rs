//! The `strom` binary; everything is in the library (`strom_cli`).

fn main() -> std::process::ExitCode {
    strom_cli::main()
}
