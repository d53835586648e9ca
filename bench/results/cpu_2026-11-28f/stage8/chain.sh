set -euo pipefail
cd /tmp/snap8
export PYTHON=/work/main/.venv/bin/python OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
D=/work/main/data; R=/work/main/runs
date
if [ ! -f $D/synth4/dataset.json ]; then
  time $PYTHON -m depth_action_recognition.synthetic.dataset --world 4 --out $D/synth4 --clips-per-class 200 --workers 2 --seed 0
fi
date
if [ ! -f $R/r4_rgb20/teacher.safetensors ]; then
  time $PYTHON -m training.train_teacher --data $D/synth4 --modality rgb --teacher rgb_small --rgb-size 60x80 --epochs 20 \
    --lr 3e-3 --batch-size 16 --out $R/r4_rgb20
fi
date
time env STAGE=8 DEVICE=cpu JOBS=2 DATA=$D RUN=$R/stream_default8 INIT=/work/main/runs/default_b72b44a5/student.safetensors \
  TEACHER=$R/r4_rgb20/teacher.safetensors bash training/make_stream_default.sh
date
