//! `vhd-util COMMAND [OPTIONS]`: see `vhd_cli::main_with_args`.

fn main() {
    vhd_cli::process_main(vhd_cli::main_with_args)
}
