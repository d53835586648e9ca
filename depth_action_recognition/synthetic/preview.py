"""Contact sheet of the synthetic world: one row per class, depth (colour-mapped) beside RGB.

    python -m depth_action_recognition.synthetic.preview --out docs/synthetic_preview.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from .actions import LABELS
from .scene import render_clip


def colourise_depth(depth_mm: np.ndarray, max_mm: float = 8000.0) -> np.ndarray:
    """uint16 mm -> BGR uint8 with a perceptual map; missing readings are black."""
    norm = np.clip(depth_mm.astype(np.float32) / max_mm, 0, 1)
    img = cv2.applyColorMap((255 * (1 - norm)).astype(np.uint8), cv2.COLORMAP_TURBO)
    img[depth_mm == 0] = 0
    return img


def contact_sheet(seed: int = 0, frames: tuple = (2, 8, 14), size=(120, 160)) -> np.ndarray:
    rows = []
    for i, label in enumerate(LABELS):
        clip = render_clip(label, seed * 1000 + i, frames=16, size=size)
        tiles = []
        for f in frames:
            tiles += [colourise_depth(clip.depth[f]), cv2.cvtColor(clip.rgb[f], cv2.COLOR_RGB2BGR),
                      np.full((size[0], 4, 3), 255, np.uint8)]
        row = np.concatenate(tiles, axis=1)
        caption = np.full((18, row.shape[1], 3), 255, np.uint8)
        text = f'{label}  (subject {clip.meta["subject"]}, view {clip.meta["view"]}, people {clip.meta["people"]})'
        cv2.putText(caption, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        rows += [caption, row]
    return np.concatenate(rows, axis=0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='docs/synthetic_preview.png', help='PNG to write')
    parser.add_argument('--seed', type=int, default=0, help='which performances to show')
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), contact_sheet(args.seed))
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
