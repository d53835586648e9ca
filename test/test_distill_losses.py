"""Distillation losses and schedule: what each term computes, where gradients go, what stays frozen."""
import pytest
import torch
import torch.nn.functional as F

from depth_action_recognition.models import StudentConfig, build_student
from training.distill import OneCycle
from training.losses import FeatureKD, LogitKD, MapProjector, build_distill, kd_loss, resize_map
from training.teachers import TeacherError, build_teacher

CLASSES = 5


def student_and_teacher():
    torch.manual_seed(0)
    student = build_student(StudentConfig(widths=(8, 8, 16, 16), num_classes=CLASSES, dropout=0.0))
    teacher = build_teacher('rgb_small', num_classes=CLASSES).eval()
    x_s = torch.randn(4, 1, 8, 24, 32)                      # student: 8 depth frames
    x_t = torch.randn(4, 3, 4, 24, 32)                      # teacher: every second frame, RGB
    return student, teacher, x_s, x_t


def mix_module(student, teacher, x_t, stage=3, direction='both'):
    with torch.no_grad():
        out = teacher.outputs(x_t, (stage,))
    m = out[f'map{stage}']
    dims = [0, 2, 3, 4]
    stats = {'mean': m.mean(dims), 'std': m.std(dims) + 1e-3}
    mix = build_distill('mix', c_s=student.config.channels_at(stage), stats_t=stats, stage=stage,
                        rest_t=teacher.split(stage)[1], head_t=teacher.head, direction=direction)
    return mix, {'map': m, 'logits': out['logits'], 'emb': out['emb']}


def test_kd_is_zero_for_identical_logits_and_positive_otherwise():
    logits = torch.randn(4, 6)
    assert kd_loss(logits, logits.clone(), 4.0).abs() < 1e-6
    assert kd_loss(logits, torch.randn(4, 6), 4.0) > 0
    assert LogitKD(2.0)(None, None, logits, {'logits': logits}, None)['kd'].abs() < 1e-6


def test_teacher_outputs_in_one_pass_match_its_split_and_forward():
    _, teacher, _, x_t = student_and_teacher()
    out = teacher.outputs(x_t, (2, 3))
    trunk2, _ = teacher.split(2)
    trunk3, rest3 = teacher.split(3)
    assert torch.allclose(out['map2'], trunk2(x_t), atol=1e-5)
    assert torch.allclose(out['map3'], trunk3(x_t), atol=1e-5)
    assert torch.allclose(teacher.head(rest3(out['map3'])), teacher(x_t), atol=1e-5)
    assert torch.allclose(out['logits'], teacher(x_t), atol=1e-5)
    with pytest.raises(TeacherError, match='no residual stages'):
        build_teacher('s3d', num_classes=5).split(3)


def test_projector_output_has_the_target_statistics_whatever_its_weights():
    torch.manual_seed(1)
    p = MapProjector(6, 4).train()
    x = torch.randn(8, 6, 2, 5, 5) * 3 + 1
    mean, std = torch.tensor([0.5, 1.0, -2.0, 0.0]), torch.tensor([1.0, 0.2, 3.0, 0.7])
    for scale in (0.1, 1.0, 100.0):             # shrinking or inflating the weights changes nothing
        with torch.no_grad():
            p.conv.weight.mul_(scale)
        out = p(x, mean, std)
        dims = [0, 2, 3, 4]
        assert torch.allclose(out.mean(dims), mean, atol=1e-4)
        assert torch.allclose(out.std(dims, unbiased=False), std, rtol=1e-2)
    assert p.conv.bias is None and not p.norm.affine


def test_mix_student_to_teacher_reduces_to_each_side_at_lambda_0_and_1():
    student, teacher, x_s, x_t = student_and_teacher()
    mix, t = mix_module(student, teacher, x_t, direction='s2t')
    mix.train()
    map_s, _ = student.forward_with_map(x_s, 3)
    y, logits = torch.tensor([0, 1, 2, 3]), torch.randn(4, CLASSES)
    one, zero = torch.ones(4), torch.zeros(4)
    # lambda = 1: the teacher's map drops out; the loss is the projected student map through the teacher
    a = mix(student, map_s, logits, t, y, lam=one)['mix_s2t']
    b = mix(student, map_s, logits, {**t, 'map': t['map'] * 50}, y, lam=one)['mix_s2t']
    p = resize_map(mix.s2t(map_s, mix.t_mean, mix.t_std), t['map'].shape[2:])
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(a, F.cross_entropy(mix.head_t(mix.rest_t(p)), y), atol=1e-5)
    # lambda = 0: the teacher's own map through its own stages, the student does not matter
    c = mix(student, map_s, logits, t, y, lam=zero)['mix_s2t']
    assert torch.allclose(c, F.cross_entropy(teacher.head(teacher.split(3)[1](t['map'])), y), atol=1e-4)
    # lambda in between: gradients reach the student and the projector, never the teacher
    student.zero_grad()
    mix(student, map_s, logits, t, y, lam=torch.full((4,), 0.5))['mix_s2t'].backward()
    assert student.stem[0].weight.grad.abs().sum() > 0 and mix.s2t.conv.weight.grad.abs().sum() > 0
    assert all(q.grad is None for q in [*mix.rest_t.parameters(), *mix.head_t.parameters()])
    assert not mix.rest_t.training                      # the teacher's BatchNorm statistics stay put


def test_mix_teacher_to_student_trains_the_student_later_stages_without_touching_its_statistics():
    student, teacher, x_s, x_t = student_and_teacher()
    mix, t = mix_module(student, teacher, x_t, direction='t2s')
    student.train()
    mix.train()
    map_s, _ = student.forward_with_map(x_s, 3)
    y, logits = torch.tensor([0, 1, 2, 3]), torch.randn(4, CLASSES)
    # lambda = 1: the student's own path from its stage-3 map, teacher features drop out
    a = mix(student, map_s, logits, t, y, lam=torch.ones(4))['mix_t2s']
    b = mix(student, map_s, logits, {**t, 'map': t['map'] * 50}, y, lam=torch.ones(4))['mix_t2s']
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(a, F.cross_entropy(student.head(student.forward_from(map_s, 3)), y), atol=1e-5)
    # lambda = 0: the projected teacher map alone drives the student's stage 4 and head; its early stages
    # get nothing from this term
    running = [m.running_mean.clone() for m in student.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    student.zero_grad()
    map_s = student.forward_with_map(x_s, 3)[0]
    running_after_forward = [m.running_mean.clone() for m in student.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    mix(student, map_s, logits, t, y, lam=torch.zeros(4))['mix_t2s'].backward()
    assert student.head.weight.grad.abs().sum() > 0 and student.stages[3][0].conv1[0][0].weight.grad.abs().sum() > 0
    assert mix.t2s.conv.weight.grad.abs().sum() > 0
    assert student.stem[0].weight.grad is None or student.stem[0].weight.grad.abs().sum() == 0
    after = [m.running_mean for m in student.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert any(not torch.equal(r0, r1) for r0, r1 in zip(running, running_after_forward))   # a real forward moves them
    assert all(torch.equal(r1, r2) for r1, r2 in zip(running_after_forward, after))          # the mixed one does not


def test_mix_refuses_pooled_embeddings_and_unknown_directions():
    student, teacher, _, x_t = student_and_teacher()
    with pytest.raises(ValueError, match='mixing logits'):
        build_distill('mix', c_s=16, stats_t={'mean': torch.zeros(3), 'std': torch.ones(3)}, stage=0,
                      head_t=teacher.head)
    with pytest.raises(ValueError, match='direction'):
        mix_module(student, teacher, x_t, direction='sideways')


def test_feature_kd_is_zero_at_the_target_and_scale_free():
    torch.manual_seed(0)
    target = torch.randn(3, 4, 2, 3, 3) * 10 + 5
    f = FeatureKD(4, 4, target.mean([0, 2, 3, 4]), target.std([0, 2, 3, 4]), on_map=True)
    with torch.no_grad():
        f.proj.weight.copy_(torch.eye(4).view(4, 4, 1, 1, 1))
        f.proj.bias.zero_()
    assert f(None, target, None, {'map': target}, None)['feat'] < 1e-6
    off = f(None, target + 1.0, None, {'map': target}, None)['feat']
    f10 = FeatureKD(4, 4, target.mean([0, 2, 3, 4]) * 10, target.std([0, 2, 3, 4]) * 10, on_map=True)
    f10.load_state_dict({**f.state_dict(), 't_mean': f10.t_mean, 't_std': f10.t_std})
    off10 = f10(None, target * 10 + 10.0, None, {'map': target * 10}, None)['feat']
    assert off > 0 and torch.allclose(off, off10, rtol=1e-4)           # same error in teacher-std units


def lrs(schedule, steps):
    out = []
    for _ in range(steps):
        out.append(schedule.get_last_lr()[0])
        schedule.step()
    return out


def test_one_cycle_resume_same_length_is_exact_and_more_epochs_follow_the_longer_plan():
    opt = lambda: torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)  # noqa: E731
    full = lrs(OneCycle(opt(), 3e-3, 100), 101)
    assert max(full) == pytest.approx(3e-3, rel=1e-3) and full[-1] == pytest.approx(3e-3 / 25e4)
    # interrupted at step 40 and resumed with the same length: the very same rates
    first = OneCycle(opt(), 3e-3, 100)
    head = lrs(first, 40)
    resumed = OneCycle(opt(), 3e-3, 100)
    resumed.load_state_dict(first.state_dict())
    assert head + lrs(resumed, 61) == pytest.approx(full)
    # a finished 100-step run resumed for 300 in all: the rates of a 300-step plan from step 100 on, decaying
    # from there to the end -- never back up to the peak (torch's OneCycleLR with total_steps changed climbs
    # back to it: the defect this replaces)
    done = OneCycle(opt(), 3e-3, 100)
    lrs(done, 100)
    more = OneCycle(opt(), 3e-3, 100)
    more.load_state_dict(done.state_dict())
    more.stretch(300)
    tail = lrs(more, 201)
    planned = lrs(OneCycle(opt(), 3e-3, 300), 301)
    assert tail == pytest.approx(planned[100:])
    assert max(tail) < 0.95 * 3e-3 and all(b <= a for a, b in zip(tail, tail[1:]))
    assert tail[-1] == pytest.approx(3e-3 / 25e4)
    torch_sched = torch.optim.lr_scheduler.OneCycleLR(o := opt(), 3e-3, total_steps=100, pct_start=0.15)
    for _ in range(100):
        o.step()
        torch_sched.step()
    torch_sched.total_steps = 300
    climbed = []
    for _ in range(100):
        o.step()
        torch_sched.step()
        climbed.append(torch_sched.get_last_lr()[0])
    assert max(climbed) > 0.99 * 3e-3         # the old way: back at the peak


@pytest.mark.cuda
def test_mix_step_on_cuda_under_bf16_matches_the_cpu_and_trains(tiny_data, teacher, tmp_path):
    """The GPU training path: DistillModel under bf16 autocast on CUDA gives the CPU's fp32 loss terms within
    bf16 rounding, finite gradients on both sides of the mixing, and a whole distill run on CUDA trains."""
    import copy
    import json
    from training import distill
    from training.distill import DistillModel
    student, t, x_s, x_t = student_and_teacher()
    mix, targets = mix_module(student, t, x_t, direction='both')
    mix.alpha = 1e6           # lambda ~ Beta(alpha, alpha) is then 0.5 within 1e-3 on both devices
    y = torch.arange(4) % CLASSES
    cpu = DistillModel(student, mix, 3)
    gpu = copy.deepcopy(cpu).cuda()
    want, _ = cpu(x_s, y, targets)
    with torch.autocast('cuda', dtype=torch.bfloat16):
        got, _ = gpu(x_s.cuda(), y.cuda(), {k: v.cuda() for k, v in targets.items()})
    for k in want:
        assert got[k].item() == pytest.approx(want[k].item(), rel=0.05, abs=0.02), k
    sum(got.values()).backward()
    grads = [p.grad for p in gpu.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert gpu.student.head.weight.grad.abs().sum() > 0 and gpu.distill.s2t.conv.weight.grad.abs().sum() > 0

    rc = distill.main(['--data', str(tiny_data), '--teacher-checkpoint', str(teacher), '--train-subjects', '1-2',
                       '--train-views', '0-1', '--test-subjects', '3', '--test-views', '1', '--frames', '8',
                       '--height', '30', '--width', '40', '--method', 'mix', '--epochs', '2', '--lr', '1e-2', '--device', 'cuda',
                       '--out', str(tmp_path)])
    assert rc == 0
    m = json.loads((tmp_path / 'metrics.json').read_text())
    assert m['timings']['device'] == 'cuda'
    history = json.loads(torch.load(tmp_path / 'last_state.pt', weights_only=True)['history'])
    assert len(history) == 2 and history[1]['loss'] < history[0]['loss']     # it learns on the GPU
