"""The judge classifier: training on synthetic shapes, the cache (hash, tampering, missing judge),
scoring inputs, and `vaelab judge train|show`."""

import hashlib
import json

import numpy as np
import pytest
import torch

from cli_run import run_cli
from idx_fixtures import install_fake_fashion_mnist
from synthetic import synthetic_images
from vaelab import __version__
from vaelab.errors import JudgeError
from vaelab.evaluation import Judge, judge_summary, load_judge, save_judge, train_judge
from vaelab.evaluation.judge import RECORD_FILE, WEIGHTS_FILE, JudgeNet, default_judge_dir, random_shift


@pytest.fixture(scope="module")
def shapes():
    return synthetic_images(300, seed=0), synthetic_images(200, seed=1)


@pytest.fixture(scope="module")
def trained(shapes):
    torch.set_num_threads(1)
    train, test = shapes
    return train_judge(train, test, epochs=2, batch_size=25, seed=0, device="cpu", progress=False, log=lambda s: None)


def test_network_shapes():
    model = JudgeNet().eval()
    x = torch.rand(3, 1, 32, 32)
    assert model.features(x).shape == (3, 128)
    assert model(x).shape == (3, 10)
    assert (model.features(x) >= 0).all()  # after the ReLU


def test_judge_learns_the_synthetic_shapes(trained, shapes):
    assert trained.accuracy > 0.9
    assert [row["epoch"] for row in trained.history] == [1, 2]
    assert trained.history[-1]["test_accuracy"] == trained.accuracy
    assert not trained.model.training
    assert set(trained.history[0]) >= {"train_loss", "train_accuracy", "test_accuracy", "seconds", "images_per_second"}


def test_training_is_deterministic(shapes):
    train, test = shapes[0].head(60), shapes[1].head(20)
    runs = [
        train_judge(train, test, epochs=1, batch_size=20, seed=3, device="cpu", progress=False, log=lambda s: None)
        for _ in range(2)
    ]
    for a, b in zip(runs[0].model.state_dict().values(), runs[1].model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_training_needs_labelled_32x32_images(shapes):
    train, test = shapes
    unlabelled = type(train)(train.images, None, train.class_names, "unlabelled")
    with pytest.raises(ValueError, match="labelled"):
        train_judge(unlabelled, test, epochs=1, progress=False)


def test_random_shift_moves_each_image_within_the_padding():
    x = torch.rand(5, 1, 32, 32)
    shifted = random_shift(x, 2, torch.Generator().manual_seed(7))
    offsets = torch.randint(0, 5, (5, 2), generator=torch.Generator().manual_seed(7))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i, (dy, dx) in enumerate(offsets.tolist()):
        assert torch.equal(shifted[i], padded[i, :, dy : dy + 32, dx : dx + 32])


def test_save_load_round_trip_gives_identical_probabilities(trained, shapes, tmp_path):
    saved = save_judge(trained.model, trained.accuracy, {"epochs": 2, "seed": 0}, folder=tmp_path)
    loaded = load_judge("cpu", folder=tmp_path)
    images = shapes[1].images
    assert np.array_equal(saved.predict_proba(images), loaded.predict_proba(images))
    assert np.array_equal(saved.features(images), loaded.features(images))
    assert loaded.accuracy == trained.accuracy
    assert not loaded.model.training
    probabilities = loaded.predict_proba(images, batch_size=64)
    assert probabilities.shape == (200, 10)
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)
    assert (probabilities.argmax(1) == shapes[1].labels).mean() == pytest.approx(trained.accuracy)
    assert loaded.features(images).shape == (200, 128)


def test_the_hash_and_record_are_written(trained, tmp_path):
    judge = save_judge(trained.model, trained.accuracy, {"epochs": 2, "seed": 0}, folder=tmp_path)
    weights = tmp_path / WEIGHTS_FILE
    assert judge.path == weights
    assert judge.hash == hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    record = json.loads((tmp_path / RECORD_FILE).read_text())
    assert record["hash"] == judge.hash
    assert record["accuracy"] == trained.accuracy
    assert record["epochs"] == 2 and record["seed"] == 0
    assert record["vaelab_version"] == __version__
    assert "created" in record
    assert judge_summary(load_judge(folder=tmp_path)) == {
        "hash": judge.hash,
        "accuracy": trained.accuracy,
        "path": str(weights),
    }
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as handle:
        embedded = json.loads(handle.metadata()["record"])
    assert embedded["accuracy"] == trained.accuracy and embedded["seed"] == 0


def test_default_folder_is_in_the_user_cache(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_judge_dir() == tmp_path / "vaelab" / "judge"
    saved = save_judge(trained.model, trained.accuracy)
    assert saved.path == tmp_path / "vaelab" / "judge" / WEIGHTS_FILE
    assert isinstance(load_judge(), Judge)


def test_missing_judge_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(JudgeError) as info:
        load_judge()
    message = str(info.value)
    assert "\n" not in message
    assert f"no judge classifier in {tmp_path / 'vaelab' / 'judge'}" in message
    assert "`vaelab judge train`" in message and "minutes on CPU" in message


def test_a_tampered_weights_file_is_refused(trained, tmp_path):
    save_judge(trained.model, trained.accuracy, folder=tmp_path)
    weights = tmp_path / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(JudgeError, match="changed or damaged"):
        load_judge(folder=tmp_path)


def test_an_edited_record_is_refused(trained, tmp_path):
    save_judge(trained.model, trained.accuracy, folder=tmp_path)
    record_path = tmp_path / RECORD_FILE
    record = json.loads(record_path.read_text())
    record["accuracy"] = 0.999
    record_path.write_text(json.dumps(record))
    with pytest.raises(JudgeError, match="records accuracy"):
        load_judge(folder=tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a safetensors file at all", b"\xff" * 64])
def test_a_corrupt_weights_file_gives_a_clear_error(trained, tmp_path, content):
    save_judge(trained.model, trained.accuracy, folder=tmp_path)
    (tmp_path / WEIGHTS_FILE).write_bytes(content)
    record_path = tmp_path / RECORD_FILE
    record = json.loads(record_path.read_text())
    record["hash"] = hashlib.sha256(content).hexdigest()[:16]  # a consistent record: only parsing can tell
    record_path.write_text(json.dumps(record))
    with pytest.raises(JudgeError, match="corrupt or truncated") as info:
        load_judge(folder=tmp_path)
    assert "\n" not in str(info.value)


def test_missing_or_unreadable_record(trained, tmp_path):
    save_judge(trained.model, trained.accuracy, folder=tmp_path)
    (tmp_path / RECORD_FILE).write_text("{not json")
    with pytest.raises(JudgeError, match="unreadable"):
        load_judge(folder=tmp_path)
    (tmp_path / RECORD_FILE).unlink()
    with pytest.raises(JudgeError, match="records its hash"):
        load_judge(folder=tmp_path)


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON (it is nested too deeply)"),
        (b'{"hash": 1' + b"0" * 5000 + b"}", "is not valid JSON (Exceeds the limit"),
        (b"{}" + b" " * (1024 * 1024), "more than the 1 MB a judge record can be"),
    ],
)
def test_a_hostile_record_is_one_line(trained, tmp_path, content, fragment):
    save_judge(trained.model, trained.accuracy, folder=tmp_path)
    (tmp_path / RECORD_FILE).write_bytes(content)
    with pytest.raises(JudgeError) as info:
        load_judge(folder=tmp_path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / RECORD_FILE} is unreadable: it ")
    assert fragment in message and message.endswith("retrain it with `vaelab judge train`")


def test_scoring_accepts_uint8_and_unit_floats_only(trained, shapes):
    judge = Judge(trained.model, trained.accuracy, "0" * 16, None)
    images = shapes[1].images[:20]
    as_float = images.astype(np.float32) / 255
    np.testing.assert_allclose(judge.predict_proba(images), judge.predict_proba(as_float), atol=1e-6)
    np.testing.assert_allclose(judge.features(torch.from_numpy(as_float)), judge.features(as_float), atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        judge.predict_proba(images.astype(np.float32))
    with pytest.raises(ValueError, match="32, 32"):
        judge.features(np.zeros((2, 28, 28), np.float32))
    assert judge.predict_proba(np.zeros((0, 1, 32, 32), np.float32)).shape == (0, 10)


def test_cli_judge_show_without_a_judge(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code, _out, err = run_cli(capsys, "judge", "show")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("vaelab judge show: error: no judge classifier in")


def test_cli_judge_needs_a_subcommand(capsys):
    code, _, err = run_cli(capsys, "judge")
    assert code == 2
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["judge", "--help"], ["judge", "train", "--help"], ["judge", "show", "--help"]])
def test_cli_judge_help(capsys, argv):
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0
    assert "usage: vaelab " + " ".join(argv[:-1]) in out


def test_cli_judge_train_then_show(capsys, tmp_path, monkeypatch):
    install_fake_fashion_mnist(monkeypatch, tmp_path)  # 60 train, 20 test random images; cache in tmp_path/xdg
    code, out, err = run_cli(capsys, "judge", "train", "--epochs", "1", "--device", "cpu", "--no-progress")
    assert code == 0, err
    folder = tmp_path / "xdg" / "vaelab" / "judge"
    assert f"wrote {folder / WEIGHTS_FILE}" in out and f"wrote {folder / RECORD_FILE}" in out
    record = json.loads((folder / RECORD_FILE).read_text())
    assert record["train_images"] == 60 and record["test_images"] == 20 and record["epochs"] == 1
    code, _out, err = run_cli(capsys, "judge", "show")
    assert code == 0, err
    assert str(folder / WEIGHTS_FILE) in out and record["hash"] in out and "accuracy" in out


def test_a_record_whose_accuracy_is_not_a_number_is_refused(trained, tmp_path):
    from safetensors.torch import load_file, save_file

    save_judge(trained.model, trained.accuracy, folder=tmp_path)
    weights, record_path = tmp_path / WEIGHTS_FILE, tmp_path / RECORD_FILE
    save_file(
        load_file(str(weights)),
        str(weights),
        metadata={"format": "vaelab-judge-1", "record": json.dumps({"accuracy": "high"})},
    )
    sidecar = json.loads(record_path.read_text())
    sidecar.update(accuracy="high", hash=hashlib.sha256(weights.read_bytes()).hexdigest()[:16])
    record_path.write_text(json.dumps(sidecar))  # consistent with the weights: only the record's shape is wrong
    with pytest.raises(JudgeError, match="is not a vaelab judge"):
        load_judge(folder=tmp_path)


# --- the package's parts: network, training, storage ------------------------------------------------

RETRAIN_FIX = "retrain it with `vaelab judge train`"


def test_every_public_name_is_importable_from_the_package():
    from vaelab.evaluation import judge
    from vaelab.evaluation.judge import network, storage, training

    owners = {network: ["JudgeNet", "check_judge_applies", "JUDGE_DATASET", "IMAGE_SHAPE", "FEATURE_DIM"]}
    owners[storage] = ["Judge", "load_judge", "save_judge", "default_judge_dir", "judge_summary", "WEIGHTS_FILE"]
    owners[training] = ["train_judge", "train_and_save_judge", "JudgeResult", "random_shift", "accuracy"]
    for module, names in owners.items():
        for name in names:
            assert getattr(judge, name) is getattr(module, name), name
    assert set(judge.__all__) >= {name for names in owners.values() for name in names}


def test_the_judge_reads_and_writes_safetensors_only_through_safetensors_io():
    from pathlib import Path

    from vaelab.evaluation import judge

    for source in Path(judge.__file__).parent.glob("*.py"):
        text = source.read_text()
        assert "from safetensors" not in text and "import safetensors" not in text, source.name
        assert "import struct" not in text, source.name  # no hand-written header parser


def test_storage_round_trip_keeps_every_tensor_and_the_record(trained, tmp_path):
    from vaelab.safetensors_io import DIGEST_KEY, read_safetensors, tensors_digest

    saved = save_judge(trained.model, trained.accuracy, {"epochs": 2, "seed": 0}, folder=tmp_path)
    tensors, metadata = read_safetensors(tmp_path / WEIGHTS_FILE)
    state = trained.model.state_dict()
    assert set(tensors) == set(state) and all(torch.equal(tensors[k], state[k].cpu()) for k in state)
    assert metadata[DIGEST_KEY] == tensors_digest(state)  # the file records the digest of its data
    assert metadata["format"] == "vaelab-judge-1" and json.loads(metadata["record"])["accuracy"] == trained.accuracy
    loaded = load_judge("cpu", folder=tmp_path)
    assert all(torch.equal(value, state[key].cpu()) for key, value in loaded.model.state_dict().items())
    assert (loaded.hash, loaded.path, loaded.record_path) == (saved.hash, saved.path, tmp_path / RECORD_FILE)
    assert loaded.record == {key: value for key, value in saved.record.items() if key not in ("weights", "classes")}


def test_a_judge_cached_before_the_data_digest_still_loads_with_its_hash(trained, shapes, tmp_path):
    from safetensors.torch import save_file

    record = {"format": "vaelab-judge-1", "accuracy": trained.accuracy, "epochs": 2, "vaelab_version": "0.5.0"}
    state = {key: value.detach().clone() for key, value in trained.model.state_dict().items()}
    weights = tmp_path / WEIGHTS_FILE
    save_file(
        state, str(weights), metadata={"format": "vaelab-judge-1", "record": json.dumps(record)}
    )  # the old writer
    old_hash = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    (tmp_path / RECORD_FILE).write_text(json.dumps({**record, "hash": old_hash, "weights": WEIGHTS_FILE}))
    loaded = load_judge("cpu", folder=tmp_path)
    assert loaded.hash == old_hash  # metrics computed with it before stay comparable
    expected = Judge(trained.model, trained.accuracy, old_hash, weights).predict_proba(shapes[1].images)
    assert np.array_equal(loaded.predict_proba(shapes[1].images), expected)


def test_damaged_tensors_with_a_matching_record_are_refused_in_one_line(trained, tmp_path):
    save_judge(trained.model, trained.accuracy, folder=tmp_path)
    weights, record_path = tmp_path / WEIGHTS_FILE, tmp_path / RECORD_FILE
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # one bit of one weight ...
    weights.write_bytes(bytes(data))
    record = json.loads(record_path.read_text())
    record["hash"] = hashlib.sha256(bytes(data)).hexdigest()[:16]  # ... and a record "repaired" to match
    record_path.write_text(json.dumps(record))
    with pytest.raises(JudgeError) as info:
        load_judge(folder=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "damaged" in message and message.endswith(RETRAIN_FIX)


@pytest.mark.parametrize("damage", ["bit", "record", "no-record", "empty", "no-hash", "folder"])
def test_every_refusal_of_the_cache_is_one_line_naming_the_fix(trained, tmp_path, damage):
    save_judge(trained.model, trained.accuracy, folder=tmp_path)
    weights, record_path = tmp_path / WEIGHTS_FILE, tmp_path / RECORD_FILE
    if damage == "bit":
        weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    elif damage == "record":
        record_path.write_text("[]")
    elif damage == "no-record":
        record_path.unlink()
    elif damage == "empty":
        weights.write_bytes(b"")
    elif damage == "no-hash":
        record_path.write_text(json.dumps({"accuracy": trained.accuracy}))
    else:
        weights.unlink()
        weights.mkdir()
    with pytest.raises(JudgeError) as info:
        load_judge(folder=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    assert "`vaelab judge train`" in message
