"""training.soup: the weighted mean of students fine-tuned from one model, and the models it refuses."""
import dataclasses

import pytest
import torch

from depth_action_recognition.checkpoint import load_checkpoint, save_checkpoint
from depth_action_recognition.preprocess import PreprocessSpec
from training import soup

from conftest import make_checkpoint


def fine_tune(init_path, out_path, seed, name='test-student', **changes):
    """A member: the init's weights and BatchNorm statistics moved by seeded noise, provenance naming the init;
    ``changes`` replace metadata fields (labels, preprocess, ...)."""
    init = load_checkpoint(init_path)
    model = init.model
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if t.is_floating_point():
                t.add_(0.05 * torch.randn(t.shape, generator=g))
                if 'running_var' in key:
                    t.abs_()                         # a variance stays positive
            else:
                t.fill_(seed)                        # num_batches_tracked
    meta = dataclasses.replace(init.meta, name=name, provenance={'init': init.short_id}, **changes)
    return save_checkpoint(out_path, model, meta)


@pytest.fixture
def family(tmp_path):
    init = make_checkpoint(tmp_path / 'init.safetensors', seed=3)
    # the first member has the larger num_batches_tracked: "the largest" is not "the last"
    return init, fine_tune(init, tmp_path / 'a.safetensors', 2), fine_tune(init, tmp_path / 'b.safetensors', 1)


def test_the_soup_is_the_weighted_mean_of_every_tensor_and_serves_like_one(tmp_path, family):
    init, a, b = family
    out = tmp_path / 'soup.safetensors'
    assert soup.main([str(a), str(b), '--weights', '1', '3', '--name', 'mix', '--out', str(out)]) == 0
    s, ma, mb = (load_checkpoint(p) for p in (out, a, b))
    sa, sb, ss = ma.model.state_dict(), mb.model.state_dict(), s.model.state_dict()
    for key in ss:
        if ss[key].is_floating_point():
            torch.testing.assert_close(ss[key], 0.25 * sa[key] + 0.75 * sb[key])
        else:
            assert ss[key].item() == 2                # the larger num_batches_tracked
    assert any('running_mean' in k for k in ss) and any('running_var' in k for k in ss)
    # weights 1 and 0 give the first member back: the same outputs on a clip
    one = tmp_path / 'one.safetensors'
    assert soup.main([str(a), str(b), '--weights', '1', '0', '--name', 'mix', '--out', str(one)]) == 0
    clip = torch.rand(2, 1, 8, 24, 32)
    with torch.no_grad():
        torch.testing.assert_close(load_checkpoint(one).model.eval()(clip), ma.model.eval()(clip))
    assert s.meta.name == 'mix' and s.meta.metrics == {}
    assert [m['model'] for m in s.meta.provenance['soup']] == [ma.short_id, mb.short_id]
    assert [m['weight'] for m in s.meta.provenance['soup']] == [0.25, 0.75]
    assert s.meta.labels == ma.meta.labels and s.meta.preprocess == ma.meta.preprocess


def test_a_member_may_be_the_model_the_others_were_fine_tuned_from(tmp_path, family):
    init, a, _ = family
    out = tmp_path / 'soup.safetensors'
    assert soup.main([str(init), str(a), '--name', 'mix', '--out', str(out)]) == 0
    s, mi, ma = (load_checkpoint(p).model.state_dict() for p in (out, init, a))
    key = 'head.weight'
    torch.testing.assert_close(s[key], 0.5 * mi[key] + 0.5 * ma[key])


def test_models_of_other_origins_labels_or_inputs_are_refused_by_name(tmp_path, family, capsys):
    init, a, b = family
    x = tmp_path / 'x.safetensors'

    def refused(*members, args=()):
        assert soup.main([*map(str, members), '--name', 'mix', '--out', str(x), *args]) == 2
        assert not x.exists()
        return capsys.readouterr().err

    stranger = make_checkpoint(tmp_path / 'stranger.safetensors', seed=9)       # trained from scratch, not from init
    err = refused(a, stranger)
    assert 'not fine-tuned from one model' in err and 'from scratch' in err and str(stranger) in err
    cousin = fine_tune(stranger, tmp_path / 'cousin.safetensors', 3)            # fine-tuned, but from another model
    assert 'not fine-tuned from one model' in refused(a, cousin)
    taller = fine_tune(init, tmp_path / 'taller.safetensors', 4, preprocess=PreprocessSpec(height=32, width=40, frames=8))
    err = refused(a, taller)
    assert 'differ in preprocess' in err and str(taller) in err
    renamed = fine_tune(init, tmp_path / 'renamed.safetensors', 5,
                        labels=[f'other_{n}' for n in load_checkpoint(a).meta.labels], alarm_labels=[])
    assert 'differ in labels' in refused(a, renamed)
    alarms = fine_tune(init, tmp_path / 'alarms.safetensors', 6, alarm_labels=[])
    assert 'differ in alarm_labels' in refused(a, alarms)
    three = make_checkpoint(tmp_path / 'labels.safetensors', labels=['a', 'b', 'c'], alarms=['c'])
    assert 'differ in student' in refused(a, three)                              # a 3-class head: another network


@pytest.mark.parametrize('args, says', [
    (['--weights', '1', '-1'], 'weights must be finite, >= 0'),
    (['--weights', 'inf', '1'], 'weights must be finite, >= 0'),
    (['--weights', '0', '0'], 'not all 0'),
    (['--weights', '1'], '1 weights for 2 models'),
])
def test_bad_weights_are_usage_errors(tmp_path, family, capsys, args, says):
    _, a, b = family
    with pytest.raises(SystemExit) as e:
        soup.main([str(a), str(b), '--name', 'mix', '--out', str(tmp_path / 'x.safetensors'), *args])
    assert e.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / 'x.safetensors').exists()


def test_one_model_or_writing_over_a_member_is_refused(tmp_path, family, capsys):
    _, a, b = family
    before = a.read_bytes()
    with pytest.raises(SystemExit) as e:
        soup.main([str(a), '--name', 'mix', '--out', str(tmp_path / 'x.safetensors')])
    assert e.value.code == 2 and 'two or more models' in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        soup.main([str(a), str(b), '--name', 'mix', '--out', str(a)])
    assert e.value.code == 2 and 'is one of the models' in capsys.readouterr().err
    assert a.read_bytes() == before


def test_the_same_model_twice_or_members_of_other_trained_fits_are_refused(tmp_path, family, capsys):
    init, a, b = family
    x = tmp_path / 'x.safetensors'
    assert soup.main([str(a), str(a), '--name', 'mix', '--out', str(x)]) == 2
    assert 'the same model is given twice' in capsys.readouterr().err and not x.exists()
    served = fine_tune(init, tmp_path / 'served.safetensors', 7)
    meta = load_checkpoint(served).meta
    letterboxed = dataclasses.replace(meta, provenance={**meta.provenance, 'trained_fit': 'pad'})
    save_checkpoint(served, load_checkpoint(served).model, letterboxed)
    assert soup.main([str(a), str(served), '--name', 'mix', '--out', str(x)]) == 2
    assert 'different fits' in capsys.readouterr().err and not x.exists()
    # members that agree keep the fit they were trained with in the soup's provenance
    other = fine_tune(init, tmp_path / 'other.safetensors', 8)
    loaded = load_checkpoint(other)
    save_checkpoint(other, loaded.model, dataclasses.replace(
        loaded.meta, provenance={**loaded.meta.provenance, 'trained_fit': 'pad'}))
    assert soup.main([str(served), str(other), '--name', 'mix', '--out', str(x)]) == 0
    assert load_checkpoint(x).meta.provenance['trained_fit'] == 'pad'
    assert f'soup: {load_checkpoint(x).short_id} = ' in capsys.readouterr().out     # the id of the file written
