#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, doc and simulation tests, then the loom
# model checks (which need their own `--cfg loom` build in a separate target directory).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace (with a moto S3 server for rig-log-s3; fails if it cannot start)"
bash scripts/with-moto.sh cargo test --workspace

echo "== loom model checks (RUSTFLAGS=--cfg loom)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test -p rig-core --test loom_watermark --release
