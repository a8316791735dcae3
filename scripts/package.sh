#!/usr/bin/env bash
# `make package`: every Lambda function for arm64 (Graviton, provided.al2023) with
# cargo-lambda, one zip per function in dist/lambda/<handler>.zip, then a size table
# (dist/lambda/sizes.json is read by `make bench`).
#
# Installs what it needs into the project: cargo-lambda and zig (PyPI wheels) into
# .venv-package, the aarch64 Rust standard library through rustup.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/carveout/target}

. scripts/venv.sh
ensure_venv .venv-package tools/package-requirements.txt package
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "package: adding the aarch64-unknown-linux-gnu target"
  rustup target add aarch64-unknown-linux-gnu
fi
# cargo-lambda finds zig as `python3 -m ziglang` through this PATH.
export PATH="$root/.venv-package/bin:$PATH"

rm -rf dist/lambda
mkdir -p dist/lambda
start=$(date +%s)
cargo lambda build --release --arm64 --package carveout --bin carveout-lambda --jobs "${CARGO_JOBS:-2}" \
  --output-format zip --lambda-dir "$CARGO_TARGET_DIR/lambda"
# Every function runs the same binary (its Handler picks the step): one zip per function,
# named after the handler, as Lambda receives it.
for handler in $(sed -n 's/^      Handler: \([a-z-]*\)$/\1/p' template.yaml); do
  cp "$CARGO_TARGET_DIR/lambda/carveout-lambda/bootstrap.zip" "dist/lambda/$handler.zip"
done
echo "package: built in $(( $(date +%s) - start )) s"
.venv/bin/python scripts/package_sizes.py dist/lambda
