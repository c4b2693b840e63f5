//! `vhd-update <-n name> [-j journal] [-r]`: see `vhd_cli::update`.

fn main() {
    vhd_cli::process_main(vhd_cli::update::run)
}
