#!/usr/bin/env bash
# The default shipped until 2026-11-27 (default@5102b055, stage 1 of today's default), byte for byte, from git:
# the file the documents' figures of the previous default were measured on. Retraining stage 1 gives another
# file, so it gets a path of its own. Prints the path; writes the file whole or not at all.
#
#   bash training/previous_default.sh        # -> runs/default_5102b055/student.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=runs/default_5102b055/student.safetensors
if [ ! -f "$OUT" ]; then
    mkdir -p "$(dirname "$OUT")"
    git show 5430dc9:models/default.safetensors > "$OUT.part" 2>/dev/null \
        || { rm -f "$OUT.part"; echo "previous_default: needs this repository's git history (commit 5430dc9)" >&2; exit 2; }
    mv "$OUT.part" "$OUT"
fi
sha=$(sha256sum "$OUT" | cut -c1-8)
[ "$sha" = 5102b055 ] || { echo "previous_default: $OUT is not default@5102b055 (sha256 $sha...): remove it" >&2; exit 2; }
echo "$OUT"
