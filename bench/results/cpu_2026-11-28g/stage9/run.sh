# Stage 9 as run, from a copy of the tree at cbc23fc with the script and previous_default.sh of 1490af1, with
# the data, teacher and stage 8's teacher cache of bench/results/cpu_2026-11-28f/stage8 (the same folders: the
# cache is keyed by the teacher, the folders' records and files, not by the student's input)
# OMP_NUM_THREADS was not set: torch took its default, two threads on this 2-core machine (stage 8's chain set 2)
STAGE=9 DEVICE=cpu JOBS=2 DATA=/work/main/data RUN=/work/main/runs/stream_default9 \
  INIT=/work/main/runs/default_bf467e30/student.safetensors TEACHER=/work/main/runs/r4_rgb20/teacher.safetensors \
  TEACHER_CACHE=/work/main/runs/stream_default8/teacher_cache.safetensors PYTHON=/work/main/.venv/bin/python \
  bash training/make_stream_default.sh > /work/main/runs/stream_default9/log.txt 2>&1
