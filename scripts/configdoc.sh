#!/usr/bin/env bash
# Regenerates docs/config.md's settings table and configs/zhibo.example.yaml from the code.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
table=$(go run ./cmd/zhibo config doc)
head=$(sed '/^| flag \/ YAML path/,$d' docs/config.md)
printf '%s\n%s\n' "$head" "$table" > docs/config.md
go run ./cmd/zhibo config print > configs/zhibo.example.yaml
echo "docs/config.md and configs/zhibo.example.yaml regenerated"
