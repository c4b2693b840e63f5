//! `vhd-util COMMAND [OPTIONS]`: see `vhd_util::main_with_args`.

fn main() {
    vhd_util::default_sigpipe();
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = vhd_util::main_with_args(&args);
    std::process::exit(code);
}
