#!/usr/bin/env bash
# An earlier shipped default, byte for byte, from git: the file the documents' figures of it were measured on.
# Retraining gives another file, so each gets a path of its own. Prints the path; writes the file whole or
# not at all.
#
#   bash training/previous_default.sh            # default@5102b055 (shipped until 2026-11-27, stage 1 of the
#                                                #   later defaults) -> runs/default_5102b055/student.safetensors
#   bash training/previous_default.sh 400f3007   # default@400f3007 (the same weights as default@57cb8145,
#                                                #   letterboxed) -> runs/default_400f3007/student.safetensors
#   bash training/previous_default.sh 57cb8145   # default@57cb8145 (shipped until stage 3 replaced it, which
#                                                #   started from it) -> runs/default_57cb8145/student.safetensors
#   bash training/previous_default.sh 9b7f7b79   # default@9b7f7b79 (stage 3, which stage 4 starts from)
#                                                #   -> runs/default_9b7f7b79/student.safetensors
#   bash training/previous_default.sh cabbe406   # default@cabbe406 (stage 4, which stages 5-7 start from)
#                                                #   -> runs/default_cabbe406/student.safetensors
#   bash training/previous_default.sh b72b44a5   # default@b72b44a5 (stage 6, which stage 8 starts from)
#                                                #   -> runs/default_b72b44a5/student.safetensors
#   bash training/previous_default.sh bf467e30   # default@bf467e30 (stage 8, which stage 9 starts from)
#                                                #   -> runs/default_bf467e30/student.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
ID=${1:-5102b055}
case "$ID" in
    5102b055) COMMIT=5430dc9 ;;
    400f3007) COMMIT=9c1c95a ;;
    57cb8145) COMMIT=d52036a ;;
    9b7f7b79) COMMIT=b44f4f0 ;;
    cabbe406) COMMIT=5656ec6 ;;
    b72b44a5) COMMIT=fc24120 ;;
    bf467e30) COMMIT=68fa1d9 ;;
    *) echo "previous_default: no earlier default $ID (have 5102b055, 400f3007, 57cb8145, 9b7f7b79, cabbe406, b72b44a5, bf467e30)" >&2
       exit 2 ;;
esac
OUT=runs/default_$ID/student.safetensors
if [ ! -f "$OUT" ]; then
    mkdir -p "$(dirname "$OUT")"
    git show $COMMIT:models/default.safetensors > "$OUT.part" 2>/dev/null \
        || { rm -f "$OUT.part"; echo "previous_default: needs this repository's git history (commit $COMMIT)" >&2; exit 2; }
    mv "$OUT.part" "$OUT"
fi
sha=$(sha256sum "$OUT" | cut -c1-8)
[ "$sha" = "$ID" ] || { echo "previous_default: $OUT is not default@$ID (sha256 $sha...): remove it" >&2; exit 2; }
echo "$OUT"
