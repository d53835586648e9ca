import dataclasses, sys
from depth_action_recognition.checkpoint import load_checkpoint, save_checkpoint
src, h, w, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
m = load_checkpoint(src)
meta = dataclasses.replace(m.meta, preprocess=dataclasses.replace(m.meta.preprocess, height=h, width=w),
                           provenance={**m.meta.provenance, 'screen_from': m.short_id})
save_checkpoint(out, m.model, meta); print(load_checkpoint(out).short_id, out)
