"""Teacher zoo: Kinetics weights from the local torch cache or a path, never a download; clear errors."""
import pytest
import torch

from training.teachers import TEACHERS, TeacherError, build_teacher, kinetics_weights_file


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'torch' / 'hub'))
    yield tmp_path / 'torch' / 'hub'
    torch.hub.set_dir(old)


def test_zoo_names():
    assert {'r3d_18', 'r2plus1d_18', 's3d', 'mvit_v2_s', 'swin3d_t'} <= set(TEACHERS)


def test_missing_kinetics_weights_say_which_file_goes_where(torch_home):
    path = kinetics_weights_file('r3d_18')
    assert path.parent == torch_home / 'checkpoints' and path.name.startswith('r3d_18')
    with pytest.raises(TeacherError) as e:
        build_teacher('r3d_18', 14, weights='kinetics')
    assert str(path) in str(e.value) and 'cannot be downloaded' in str(e.value)


def test_kinetics_weights_from_the_cache_and_from_a_path(torch_home, tmp_path):
    import torchvision
    ref = torchvision.models.video.r3d_18(weights=None)       # stands in for the real Kinetics file
    path = kinetics_weights_file('r3d_18')
    path.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), path)
    t = build_teacher('r3d_18', 400, weights='kinetics')
    assert torch.equal(t.head.weight, ref.fc.weight)           # the Kinetics classifier is kept for 400 classes
    x = torch.randn(1, 3, 8, 32, 32)
    ref.eval(), t.eval()
    with torch.no_grad():
        assert torch.allclose(t(x), ref(x), atol=1e-5)
    t14 = build_teacher('r3d_18', 14, weights=str(path))      # fine-tuning: a new 14-class head
    assert t14.head.out_features == 14 and t14.features(x).shape == (1, 512)
    with pytest.raises(TeacherError, match='not r2plus1d_18 weights'):
        build_teacher('r2plus1d_18', 14, weights=str(path))
    with pytest.raises(TeacherError, match='file not found'):
        build_teacher('r3d_18', 14, weights=str(tmp_path / 'nope.pth'))
