"""What the recognizer reports on ``/diagnostics``: one status per topic, per source, and for inference.

Per topic: input rate and the totals over its sources (frames received / sampled / dropped by reason,
buffer resets by reason, clips, clips skipped, events), reliability, and how many sources it carries —
more than one is a WARN, since a topic is meant to carry one camera. Per source (frame_id, encoding,
size): the same counters, so a foreign stream on a camera's topic can be told apart from the camera.
For inference: device, model, latency percentiles, batches, errors, active alarms; ERROR when the
inference worker has stopped or a batch failed.
"""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


def status(name: str, level: int, message: str, values: dict, hardware_id: str = '') -> DiagnosticStatus:
    return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])


def _ordered(counts) -> dict:
    """Counters in a stable order: the totals first, then drops and resets by reason."""
    head = ('frames_received', 'frames_sampled', 'frames_resampled_out')
    values = {k: counts[k] for k in head}
    drops = {k: v for k, v in sorted(counts.items()) if k.startswith('dropped_') and v}
    values['frames_dropped'] = sum(drops.values())
    values.update(drops)
    values.update({k: v for k, v in sorted(counts.items()) if k.startswith('resets_') and v})
    for k in ('clips', 'clips_skipped', 'events', 'clock_jumps'):
        values[k] = counts[k]
    return values


def topic_status(prefix: str, topic, rate_hz: float, hardware_id: str) -> DiagnosticStatus:
    counts = topic.counts()
    values = {'input_rate_hz': f'{rate_hz:.1f}', **_ordered(counts), 'reliability': topic.reliability,
              'sources': len(topic.sources), 'sources_evicted': topic.evictions}
    if topic.received == 0:
        level, message = WARN, 'no frames received yet'
    elif len(topic.sources) > 1:
        level, message = WARN, f'{len(topic.sources)} sources on one topic: ' + ', '.join(
            s.name for s in topic.sources.values())
    elif values['frames_dropped'] or values['clips_skipped']:
        level, message = WARN, 'frames dropped or clips skipped'
    else:
        level, message = OK, 'ok'
    return status(f'{prefix}: {topic.name}', level, message, values, hardware_id)


def source_status(prefix: str, source, now: float, hardware_id: str) -> DiagnosticStatus:
    values = {'topic': source.topic, 'frame_id': source.key[0], 'encoding': source.key[1],
              'size': f'{source.key[3]}x{source.key[2]}', **_ordered(source.counts()),
              'last_frame_age_s': f'{now - source.last_arrival:.2f}'}
    level = WARN if values['frames_dropped'] or values['clips_skipped'] else OK
    return status(f'{prefix}: {source.topic} source {source.name}', level,
                  'ok' if level == OK else 'frames dropped or clips skipped', values, hardware_id)


def inference_status(prefix: str, *, device: str, model: str, infer_ms, latency_ms, batches: int, errors: int,
                     last_error: str, batch_sizes: dict, active_alarms: list, stopped: str, fell_back: bool,
                     hardware_id: str) -> DiagnosticStatus:
    values = {
        'device': device, 'model': model,
        'inference_ms_p50': f'{infer_ms.percentile(50):.2f}',
        'inference_ms_p95': f'{infer_ms.percentile(95):.2f}',
        'latency_ms_p50': f'{latency_ms.percentile(50):.2f}',
        'latency_ms_p95': f'{latency_ms.percentile(95):.2f}',
        'batches': batches, 'inference_errors': errors,
        'batch_sizes': ','.join(f'{k}:{v}' for k, v in sorted(batch_sizes.items())),
        'active_alarms': ','.join(active_alarms),
        'cpu_fallback_active': fell_back,
        'worker': 'stopped' if stopped else 'running',
    }
    if stopped:
        level, message = ERROR, f'inference stopped: {stopped}'
    elif errors:
        level, message = ERROR, last_error
    else:
        level, message = OK, 'ok'
    return status(f'{prefix}: inference', level, message, values, hardware_id)


def array(stamp, statuses: list) -> DiagnosticArray:
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = statuses
    return arr
