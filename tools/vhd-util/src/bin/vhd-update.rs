//! `vhd-update <-n name> [-j journal] [-r]`: see `vhd_util::update`.

fn main() {
    vhd_util::default_sigpipe();
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = vhd_util::update::run(&args);
    std::process::exit(code);
}
