"""Recognizer node overhead: per-frame work, ingest beside a bare subscriber on the same executor, many
cameras at once, memory over 10k frames.

    ROS_DOMAIN_ID=41 .venv/bin/python bench/node.py                          # 14-15 minutes on 2 cores
    ROS_DOMAIN_ID=41 .venv/bin/python bench/node.py --baseline /tmp/before   # and an older checkout, same rounds
    ROS_DOMAIN_ID=41 .venv/bin/python bench/node.py --ingest-only --rounds 24  # the verdict's rounds alone, ~11 min
    ROS_DOMAIN_ID=41 .venv/bin/python bench/node.py --rounds 0 --skip-memory --wide-cameras 8   # 8 of 16 at 16:9

Every receiver runs in a process of its own (the publishers too), so a node from another checkout
(``--baseline DIR``, e.g. ``git archive <commit> | tar -x -C DIR``) is measured in the same interleaved
rounds as this one: before/after figures side by side, under the same machine load.

1. Per-frame work of the depth callback, called directly (no DDS), on 640x480 16UC1 frames stamped as a
   30 fps camera stamps them: the frames sampled at the model's 10 fps (decode, preprocess, buffer) and
   the two in three not sampled (the node reads the header and the stamp, nothing else).
2. Ingest: a publisher process sends 640x480 16UC1 frames (reliable, keep-last 10) stamped 1/30 s apart;
   the receiving process is, in turn, a bare rclpy subscriber doing np.frombuffer (with the node's
   libraries loaded, see ingest_main) and the recognizer node with inference excluded (a stride so large
   that no clip is ever inferred), each spun by the same executor. Paced at ``--rate`` frames/s every
   frame arrives, the node samples exactly one in three, and CPU per frame of the receiving process
   (DDS threads included) compares like with like: bare / node in each of the interleaved rounds, and the
   verdict is the median of those ratios with a 95% interval (order statistics, no assumption about the
   spread; rounds taken as exchangeable): PASS when the interval is at or above 0.85, FAIL below,
   inconclusive across it (the ratio of the medians is printed beside it). As fast as possible (info): frames/s received; frames are then lost to keep-last, and a
   receiver that falls behind sees frames further apart in time and samples more of them. With ``--where``,
   two more receivers join the rounds: the node with a callback that only counts (its subscription,
   executor and timers), and the node with its callback's thread CPU timed inside the process, sampled and
   unsampled frames apart, beside the same work called directly (1.).
3. Many cameras: N simulated cameras (default 16) x 30 fps of 640x480 16UC1 from one publisher process
   into one recognizer with the shipped model doing real CPU inference at its defaults (10 fps sampling,
   stride 5). Reported: frames received / sent, clips, clips skipped (target 0), events, frame-to-event
   latency p50 / p95, inference time, batch sizes.
4. Memory: resident set size over 10,000 frames through the callback with real CPU inference.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, loopback_dds, make_student_file, rss_mb

loopback_dds()

import numpy as np  # noqa: E402

TOPIC = '/bench/depth'
THIS = Path(__file__).resolve()


def qos():
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


def set_stamp(msg, t):
    from depth_action_recognition.events import stamp_dict      # there in older checkouts too
    d = stamp_dict(t)
    msg.header.stamp.sec, msg.header.stamp.nanosec = d['sec'], d['nanosec']


def frame_msg(t, h=480, w=640, cache={}):
    from sensor_msgs.msg import Image
    if (h, w) not in cache:
        cache[h, w] = np.random.default_rng(0).integers(500, 6000, (h, w)).astype(np.uint16).tobytes()
    msg = Image()
    set_stamp(msg, t)
    msg.header.frame_id = 'bench'
    msg.height, msg.width, msg.encoding, msg.step = h, w, '16UC1', w * 2
    msg.data = cache[h, w]
    return msg


def recognizer(tree: Path, model, topics, **params):
    """The RecognizerNode of the checkout at ``tree`` (put first on sys.path by main)."""
    from depth_action_recognition.recognizer_node import RecognizerNode
    from rclpy.parameter import Parameter
    assert Path(sys.modules['depth_action_recognition'].__file__).resolve().is_relative_to(tree.resolve())
    over = [Parameter('model_path', value=str(model)), Parameter('device', value='cpu'),
            Parameter('depth_topics', value=list(topics))] + [Parameter(k, value=v) for k, v in params.items()]
    return RecognizerNode(parameter_overrides=over)


# ------------------------------------------------------------------------------------- subprocesses
def publisher_main(seconds, cameras, fps, rate, wide=0):
    """cameras 0: one topic at ``rate`` frames/s (0: as fast as it can), stamped 1/30 s apart as one camera
    stamps them. cameras N: N topics, each paced at ``fps`` with real-time stamps, the first ``wide`` of them
    848x480 (16:9), the rest 640x480."""
    import rclpy
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node('bench_publisher')
    topics = [TOPIC] if cameras == 0 else [f'/bench/cam{i:02d}/depth' for i in range(cameras)]
    pubs = [node.create_publisher(Image, t, qos()) for t in topics]
    deadline = time.time() + 60
    while any(p.get_subscription_count() == 0 for p in pubs) and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)
    msg = frame_msg(0.0)            # one message, restamped: the publisher's own cost stays small
    wide_msg = frame_msg(0.0, 480, 848) if wide else None      # built and stamped only where sent
    sent, t0 = 0, time.time()
    end = t0 + seconds
    try:
        if cameras == 0:
            while time.time() < end:
                set_stamp(msg, t0 + sent / 30)
                pubs[0].publish(msg)
                sent += 1
                if rate:
                    time.sleep(max(0.0, t0 + sent / rate - time.time()))
        else:
            tick = 0
            while time.time() < end:
                set_stamp(msg, t0 + tick / fps)
                if wide_msg is not None:
                    set_stamp(wide_msg, t0 + tick / fps)
                for i, p in enumerate(pubs):
                    p.publish(wide_msg if i < wide else msg)
                sent += len(pubs)
                tick += 1
                time.sleep(max(0.0, t0 + tick / fps - time.time()))
    except Exception:  # noqa: BLE001 - the subscriber side went away first
        pass
    print(json.dumps({'sent': sent}), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def spin_receiver(executor, node, count, pub, seconds):
    """Spin until the publisher is done; (frames/s between first and last frame, CPU s, frames)."""
    first = last = None
    cpu0 = time.process_time()
    deadline = time.time() + seconds + 60
    while pub.poll() is None and time.time() < deadline:
        executor.spin_once(timeout_sec=0.05)
        got = count()
        if got and first is None:
            first = (time.monotonic(), got)
        if got:
            last = (time.monotonic(), got)
    cpu = time.process_time() - cpu0
    rate = (last[1] - first[1]) / (last[0] - first[0]) if first and last and last[0] > first[0] else 0.0
    return rate, cpu, count()


def time_steps() -> dict:
    """Wrap the steps of the node's depth callback with the thread's CPU clock: name -> ns summed over the
    frames. Each wrapper adds a call of its own (~1 us warm), so the steps read a little high."""
    from depth_action_recognition import recognizer_node
    from depth_action_recognition.clip_buffer import ClipBuffer
    from depth_action_recognition.sources import Source
    names = ('stamp checks (Source.admit)', 'decode_depth (first frame of a source)', 'WireLayout.view', 'reduce_frame',
             'ClipBuffer.add (finishing included)', 'of which finishing (ClipBuffer._flush)')
    steps = dict.fromkeys(names, 0)          # every step reported, in this order, even one that never ran

    def timed(name, fn):
        def wrapper(*a, **kw):
            t0 = time.thread_time_ns()
            try:
                return fn(*a, **kw)
            finally:
                steps[name] = steps.get(name, 0) + time.thread_time_ns() - t0
        return wrapper
    Source.admit = timed(names[0], Source.admit)
    recognizer_node.decode_depth = timed(names[1], recognizer_node.decode_depth)
    recognizer_node.WireLayout.view = timed(names[2], recognizer_node.WireLayout.view)
    recognizer_node.reduce_frame = timed(names[3], recognizer_node.reduce_frame)
    ClipBuffer.add = timed(names[4], ClipBuffer.add)
    ClipBuffer._flush = timed(names[5], ClipBuffer._flush)
    return steps


def ingest_main(args):
    import rclpy
    from depth_action_recognition.node_main import make_executor
    from sensor_msgs.msg import Image
    rclpy.init()
    if args.receiver == 'bare':
        # Same libraries loaded as the node's process: importing torch alone made a bare subscriber of 640x480
        # frames 2-4x faster here (why is not established), and a reference slow for that reason flatters
        # the node.
        import depth_action_recognition.recognizer_node  # noqa: F401,F811
        node = rclpy.create_node('bench_bare')
        taken = [0]

        def cb(msg):
            np.frombuffer(msg.data, np.uint16)
            taken[0] += 1
        node.create_subscription(Image, TOPIC, cb, qos())

        def count():
            return taken[0]
    else:
        # No inference: the first clip would need 1024 sampled frames, more than a round brings (one inference
        # of the tiny student, amortised over a round's frames, was ~100 us per frame here).
        node = recognizer(Path(args.tree), args.model, [TOPIC], target_fps=args.target_fps, stride=1_000_000,
                          clip_length=1024, max_gap_s=10.0, reliability='reliable', qos_depth=10, max_future_s=3600.0)

        cam = node.cameras[TOPIC]

        def count():
            return cam.received
        if args.receiver == 'node-counter':
            # The node's subscription, executor and timers with a callback that only counts: what the node costs
            # before its callback does anything.
            def counter(msg, topic):
                cam.received += 1
            node.depth_callback = counter
        elif args.receiver == 'node-timed':
            # The callback's own thread CPU, per frame, inside the receiving process (sampled or not).
            callback, timed = node.depth_callback, {True: [], False: []}

            def timer(msg, topic):
                before = sum(s.buffer.accepted for s in cam.sources.values())
                t0 = time.thread_time_ns()
                callback(msg, topic)
                us = (time.thread_time_ns() - t0) / 1e3
                timed[sum(s.buffer.accepted for s in cam.sources.values()) > before].append(us)
            node.depth_callback = timer
        elif args.receiver == 'node-steps':
            # The callback's steps timed one by one, in a receiver of their own: the wrappers' clock reads
            # (~2 us per unsampled frame, ~9 per sampled one) stay out of the figures above.
            steps = time_steps()
    executor = make_executor(args.executor)
    executor.add_node(node)
    pub = subprocess.Popen([sys.executable, str(THIS), '--publisher', str(args.seconds), '--rate', str(args.rate)],
                           stdout=subprocess.PIPE, text=True)
    rate, cpu, got = spin_receiver(executor, node, count, pub, args.seconds)
    for _ in range(20):                     # the frames still in flight count, as they cost CPU above
        executor.spin_once(timeout_sec=0.01)
    got = count()
    sent = json.loads(pub.communicate()[0].strip().splitlines()[-1])['sent']
    out = {'rate': rate, 'cpu_us': 1e6 * cpu / max(got, 1), 'got': got, 'sent': sent}
    if args.receiver == 'node-timed':
        out.update({f'{k}_thread_us': float(np.median(timed[v])) if timed[v] else float('nan')
                    for k, v in (('sampled', True), ('unsampled', False))})
    if args.receiver == 'node-steps':
        out['steps_us'] = {k: ns / 1e3 / max(got, 1) for k, ns in steps.items()}
    print(json.dumps(out), flush=True)
    executor.remove_node(node)
    node.destroy_node()
    rclpy.try_shutdown()


def per_frame_main(args):
    import rclpy
    rclpy.init()
    n = 900
    node = recognizer(Path(args.tree), args.model, [TOPIC], stride=1_000_000, max_gap_s=10.0, max_future_s=3600.0)
    t0 = time.time() - n / 30
    msgs = [frame_msg(t0 + i / 30) for i in range(n)]
    cam = node.cameras[TOPIC]

    def accepted():            # frames buffered so far: one buffer per topic before, one per source now
        buffers = [cam.buffer] if hasattr(cam, 'buffer') else [s.buffer for s in cam.sources.values()]
        return sum(b.accepted for b in buffers)
    times, sampled = [], []
    for m in msgs:
        before = accepted()
        s = time.perf_counter()
        node.depth_callback(m, TOPIC)
        times.append((time.perf_counter() - s) * 1e6)
        sampled.append(accepted() > before)
    times, sampled = np.array(times[60:]), np.array(sampled[60:])
    print(json.dumps({'sampled_us': float(np.median(times[sampled])), 'unsampled_us': float(np.median(times[~sampled])),
                      'mean_us': float(times.mean()), 'share_sampled': float(sampled.mean())}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def camera_counts(node, topic) -> dict:
    """clips, events, skipped and dropped frames of a topic, from this checkout's node or an older one's."""
    cam = node.cameras[topic]
    if hasattr(cam, 'sources'):
        drops = sum(v for k, v in cam.counts().items() if k.startswith('dropped_'))
        return {'clips': cam.clips, 'events': cam.events, 'skipped': cam.skipped, 'dropped': drops}
    drops = sum(cam.dropped.values()) + sum(v for k, v in cam.buffer.dropped.items() if k != 'resampled')
    return {'clips': cam.buffer.clips, 'events': cam.events, 'skipped': node.worker.skipped[topic], 'dropped': drops}


def cameras_main(args):
    import rclpy
    from depth_action_recognition.node_main import make_executor
    rclpy.init()
    topics = [f'/bench/cam{i:02d}/depth' for i in range(args.cameras)]
    node = recognizer(Path(args.tree), args.model, topics, reliability='reliable', qos_depth=5)
    executor = make_executor('events')
    executor.add_node(node)
    pub = subprocess.Popen([sys.executable, str(THIS), '--publisher', str(args.seconds), '--publish-cameras',
                            str(args.cameras), '--wide-cameras', str(args.wide_cameras)], stdout=subprocess.PIPE,
                           text=True)
    cpu0 = time.process_time()
    rate, cpu, got = spin_receiver(executor, node, lambda: sum(node.cameras[t].received for t in topics), pub,
                                   args.seconds)
    end = time.monotonic() + 3.0            # the last clips: inferred, published
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
    sent = json.loads(pub.communicate()[0].strip().splitlines()[-1])['sent']
    cams = [camera_counts(node, t) for t in topics]
    print(json.dumps({
        'sent': sent, 'received': got, 'clips': sum(c['clips'] for c in cams),
        'events': sum(c['events'] for c in cams), 'skipped': sum(c['skipped'] for c in cams),
        'min_events': min(c['events'] for c in cams), 'dropped': sum(c['dropped'] for c in cams),
        'latency_p50': node.latency_ms.percentile(50), 'latency_p95': node.latency_ms.percentile(95),
        'infer_p50': node.infer_ms.percentile(50), 'infer_p95': node.infer_ms.percentile(95),
        'batches': dict(sorted(node.batch_sizes.items())), 'cpu_s': time.process_time() - cpu0}), flush=True)
    executor.remove_node(node)
    node.destroy_node()
    rclpy.try_shutdown()


def memory_main(args, frames=10_000):
    import rclpy
    rclpy.init()
    node = recognizer(Path(args.tree), args.model, [TOPIC], stride=5)
    t0 = time.time() - frames / 30
    out = []
    for i in range(frames):
        node.depth_callback(frame_msg(t0 + i / 30, h=240, w=320), TOPIC)
        if i in (1000, frames - 1):
            time.sleep(0.5)               # let the inference worker drain
            out.append(rss_mb())
    print(json.dumps({'rss': out, 'events': node.cameras[TOPIC].events}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


def revision(tree: Path) -> str:
    """The checkout's commit (and '+changes' when its files differ from it): which code a figure is of."""
    try:
        rev = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=tree, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=tree, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return 'unknown commit'
    return (rev or 'unknown commit') + ('+changes' if dirty else '')


def median_interval(values, confidence=0.95) -> tuple:
    """A distribution-free interval for the median of ``values`` (sorted): the order statistics k and n+1-k,
    k the largest with P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2. (None, None) when n is too small
    for any (fewer than 6 values at 95%)."""
    n, tail, k, cdf = len(values), (1 - confidence) / 2, 0, 0.0
    while k < n // 2:
        cdf_next = cdf + math.comb(n, k) / 2 ** n          # P(Binomial(n, 1/2) <= k)
        if cdf_next > tail:
            break
        cdf, k = cdf_next, k + 1
    return (values[k - 1], values[n - k]) if k >= 1 else (None, None)


def run(*argv) -> dict:
    r = subprocess.run([sys.executable, str(THIS), *map(str, argv)], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f'bench/node.py {" ".join(map(str, argv))} failed:\n{r.stderr[-3000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])


# -------------------------------------------------------------------------------------------- main
def main():
    p = argparse.ArgumentParser()
    p.add_argument('--seconds', type=float, default=5.0, help='length of each ingest round')
    p.add_argument('--rate', type=float, default=150.0,
                   help='frames/s of the paced ingest rounds (every receiver must keep up with it)')
    p.add_argument('--rounds', type=int, default=6, help='interleaved rounds (medians are reported; 0: no ingest rounds)')
    p.add_argument('--baseline', type=Path, default=None, help='another checkout whose node joins the same rounds')
    p.add_argument('--cameras', type=int, default=16, help='cameras of the many-cameras run (0: skip it)')
    p.add_argument('--camera-seconds', type=float, default=30.0, help='length of the many-cameras run')
    p.add_argument('--wide-cameras', type=int, default=0,
                   help='of the many cameras, this many send 848x480 (16:9: under the default model\'s fit '
                        '"extend" their clips are wider, inferred in batches of their own)')
    p.add_argument('--skip-memory', action='store_true')
    p.add_argument('--ingest-only', action='store_true',
                   help='only the paced rounds of the verdict (bare and node on the events executor, and the '
                        'baseline): more rounds in the same time, for a tighter interval')
    p.add_argument('--where', action='store_true',
                   help='also ingest rounds with the callback replaced by a counter, and with the callback timed '
                        '(its thread CPU inside the receiving process, sampled and unsampled frames)')
    # internal: the roles of the subprocesses
    p.add_argument('--publisher', type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument('--publish-cameras', type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument('--role', choices=('ingest', 'per-frame', 'cameras', 'memory'), default=None, help=argparse.SUPPRESS)
    p.add_argument('--receiver', default='node', help=argparse.SUPPRESS)
    p.add_argument('--executor', default='events', help=argparse.SUPPRESS)
    p.add_argument('--target-fps', type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument('--tree', default=str(ROOT), help=argparse.SUPPRESS)
    p.add_argument('--model', default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.publisher is not None:
        return publisher_main(args.publisher, args.publish_cameras, 30.0, args.rate, args.wide_cameras)
    if args.role:
        sys.path.insert(0, args.tree)          # before anything imports the package: this checkout or the baseline
        return {'ingest': ingest_main, 'per-frame': per_frame_main, 'cameras': cameras_main,
                'memory': memory_main}[args.role](args)

    if args.ingest_only:            # the verdict's rounds alone: none of the other parts
        args.where, args.cameras, args.skip_memory = False, 0, True
    trees = {'node': ROOT}
    if args.baseline is not None:
        trees['baseline node'] = args.baseline.resolve()
    print(f'{os.cpu_count()}-core CPU, ROS_DOMAIN_ID={os.environ["ROS_DOMAIN_ID"]}; node = {ROOT} at {revision(ROOT)}'
          + (f', baseline node = {args.baseline} at {revision(args.baseline)}' if args.baseline else ''), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = make_student_file(Path(tmp) / 'tiny.safetensors')
        for name, tree in ({} if args.ingest_only else trees).items():
            r = run('--role', 'per-frame', '--tree', tree, '--model', model)
            if name == 'node':
                direct = r
            print(f'per-frame work, 640x480 16UC1 at 30 fps, sampled at 10 fps, {name}: sampled frames median '
                  f'{r["sampled_us"]:.1f} us, unsampled frames median {r["unsampled_us"]:.1f} us, mean over all '
                  f'{r["mean_us"]:.1f} us ({100 * r["share_sampled"]:.0f}% sampled)', flush=True)

        # (receiver, executor, target fps, checkout, publish rate). Paced: every frame arrives, stamped as a 30 fps
        # camera's, so the node samples exactly one in three and CPU per frame compares like with like (the
        # verdict). As fast as possible: what each receiver takes at most; frames are lost to keep-last, and
        # a receiver that falls behind sees frames 1/10 s apart and samples more of them (info).
        modes = {'bare (events executor)': ('bare', 'events', 0.0, ROOT, args.rate)}
        for name, tree in trees.items():
            modes[f'{name} (events executor, 10 fps sampling)'] = ('node', 'events', 0.0, tree, args.rate)
        if not args.ingest_only:
            modes['node (events executor, every frame sampled)'] = ('node', 'events', 1000.0, ROOT, args.rate)
        if args.where:
            modes['node, callback only counting (events executor)'] = ('node-counter', 'events', 0.0, ROOT, args.rate)
            modes['node, callback timed (events executor, 10 fps sampling)'] = ('node-timed', 'events', 0.0, ROOT,
                                                                                 args.rate)
            modes['node, callback steps timed (events executor, 10 fps sampling)'] = ('node-steps', 'events', 0.0,
                                                                                       ROOT, args.rate)
        if not args.ingest_only:
            modes['bare (single executor)'] = ('bare', 'single', 0.0, ROOT, args.rate)
            modes['node (single executor, 10 fps sampling)'] = ('node', 'single', 0.0, ROOT, args.rate)
            modes['bare (events executor), as fast as possible'] = ('bare', 'events', 0.0, ROOT, 0.0)
            for name, tree in trees.items():
                modes[f'{name} (events executor, 10 fps sampling), as fast as possible'] = \
                    ('node', 'events', 0.0, tree, 0.0)
        results = {m: [] for m in modes}
        for r in range(args.rounds):
            for mode, (who, ex, fps, tree, rate) in modes.items():
                res = run('--role', 'ingest', '--receiver', who, '--executor', ex, '--target-fps', fps, '--tree', tree,
                          '--model', model, '--seconds', args.seconds, '--rate', rate)
                results[mode].append(res)
                print(f'  round {r + 1} {mode:<62}: {res["cpu_us"]:6.0f} us CPU per frame, {res["rate"]:6.1f} frames/s '
                      f'received ({res["got"]} of {res["sent"]} sent)', flush=True)
        med = {m: {k: float(np.median([x[k] for x in v])) for k in ('cpu_us', 'rate')} for m, v in results.items()
               if v}     # --rounds 0: no ingest figures (the per-frame, cameras and memory parts still run)
        ref0 = 'bare (events executor)'
        if args.where and args.rounds:
            counting = med['node, callback only counting (events executor)']['cpu_us']
            timed = results['node, callback timed (events executor, 10 fps sampling)']
            print(f'where the node\'s extra CPU goes, 640x480 at {args.rate:g} frames/s: bare {med[ref0]["cpu_us"]:.0f}, '
                  f'node with a callback that only counts {counting:.0f}, node '
                  f'{med["node (events executor, 10 fps sampling)"]["cpu_us"]:.0f} us CPU per frame; the callback\'s '
                  f'thread CPU inside the receiving process: sampled frames median '
                  f'{np.median([r["sampled_thread_us"] for r in timed]):.0f} us, unsampled '
                  f'{np.median([r["unsampled_thread_us"] for r in timed]):.0f} us (called directly, above: '
                  f'{direct["sampled_us"]:.0f} and {direct["unsampled_us"]:.1f} us)  info', flush=True)
            stepped = results['node, callback steps timed (events executor, 10 fps sampling)']
            print('  the callback\'s steps inside the receiving process, thread CPU per received frame (medians of the '
                  'rounds): ' + ', '.join(f'{k} {np.median([r["steps_us"][k] for r in stepped]):.1f} us'
                                          for k in stepped[0]['steps_us']), flush=True)
        for mode, (who, ex, fps, tree, rate) in modes.items():
            if who != 'node' or mode not in med:
                continue
            ref = f'bare ({ex} executor)' + (', as fast as possible' if not rate else '')
            if rate:
                ratio = med[ref]['cpu_us'] / med[mode]['cpu_us']
                # Each round's own ratio too: the rounds scatter by a few hundred us per frame, and the spread
                # says how much one run's median ratio can be trusted.
                # The verdict is on each round's own ratio (bare and node of one round ran a few seconds apart, so
                # load that hits both cancels): their median, and a 95% interval for it (rounds taken as
                # exchangeable): PASS when the whole interval is at or above 0.85, FAIL when it is below,
                # inconclusive when it straddles; with fewer than 6 rounds (no interval) the median decides.
                rounds = sorted(b['cpu_us'] / n['cpu_us'] for b, n in zip(results[ref], results[mode]))
                paired = float(np.median(rounds))
                lo, hi = median_interval(rounds)
                if lo is None:
                    interval, verdict = ' (too few rounds for an interval)', 'PASS' if paired >= 0.85 else 'FAIL'
                else:
                    interval = f', 95% interval {lo:.3f}-{hi:.3f}'
                    verdict = 'PASS' if lo >= 0.85 else 'FAIL' if hi < 0.85 else 'inconclusive'
                target = ex == 'events' and fps == 0.0
                print(f'ingest 640x480 16UC1 at {rate:g} frames/s, {mode} vs {ref}: {med[mode]["cpu_us"]:.0f} vs '
                      f'{med[ref]["cpu_us"]:.0f} us CPU per frame (ratio of the medians {ratio:.3f}); single-round '
                      f'ratios {rounds[0]:.3f}-{rounds[-1]:.3f}, median {paired:.3f}{interval}  '
                      f'target >= 0.85: {verdict if target else "info"}', flush=True)
            else:
                ratio = med[mode]['rate'] / med[ref]['rate']
                print(f'ingest 640x480 16UC1, {mode} vs {ref}: received {med[mode]["rate"]:.0f} vs '
                      f'{med[ref]["rate"]:.0f} frames/s (ratio {ratio:.3f})  info', flush=True)

        if args.cameras:
            for name, tree in trees.items():
                # Each checkout with its own shipped model: an older one may not read today's (a newer fit).
                c = run('--role', 'cameras', '--cameras', args.cameras, '--seconds', args.camera_seconds,
                        '--tree', tree, '--model', Path(tree) / 'models' / 'default.safetensors',
                        '--wide-cameras', args.wide_cameras)
                # The target is the worker's: every clip cut is inferred (none replaced while waiting). Frames
                # DDS could not deliver (keep-last, a busy receiver) are printed beside it, not hidden in it.
                ok = c['skipped'] == 0 and c['events'] == c['clips']
                expected = args.cameras * ((args.camera_seconds * 10 - 16) // 5 + 1)
                sizes = ('640x480' if not args.wide_cameras else
                         f'({args.wide_cameras} of them 848x480, the rest 640x480)')
                print(f'{args.cameras} cameras x 30 fps {sizes} 16UC1, {name}, shipped model on the CPU, '
                      f'{args.camera_seconds:g} s: received {c["received"]} of {c["sent"]} frames '
                      f'({100 * c["received"] / c["sent"]:.0f}%), dropped by the node {c["dropped"]}, clips '
                      f'{c["clips"]} (all frames: {expected:.0f}), skipped {c["skipped"]}, events {c["events"]} '
                      f'(fewest on one camera {c["min_events"]}); frame-to-event latency p50 {c["latency_p50"]:.0f} '
                      f'ms, p95 {c["latency_p95"]:.0f} ms; inference p50 {c["infer_p50"]:.0f} ms per batch, batch '
                      f'sizes {c["batches"]}; receiver CPU {c["cpu_s"] / args.camera_seconds:.2f} cores  '
                      f'target 0 skipped: {"PASS" if ok else "FAIL"}', flush=True)

        if not args.skip_memory:
            m = run('--role', 'memory', '--model', model)
            before, after = m['rss']
            print(f'memory over 10,000 frames (320x240, real CPU inference, {m["events"]} events): RSS {before:.1f} MB '
                  f'at frame 1000, {after:.1f} MB at frame 10000, change {100 * (after - before) / before:+.2f}%  '
                  f'target within 5%: {"PASS" if abs(after - before) / before <= 0.05 else "FAIL"}', flush=True)


if __name__ == '__main__':
    main()
