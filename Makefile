all:
	cargo build --release --workspace
check:
	cargo test --workspace
.PHONY: all check
