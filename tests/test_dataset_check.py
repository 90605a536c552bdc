"""`vaelab data --dataset celeba|image-folder`: checking image-file datasets without decoding them."""

from __future__ import annotations

import shutil

import pytest

from vaelab.cli.app import main
from vaelab.data.celeba import load_celeba
from vaelab.data.image_dataset_check import check_celeba, check_image_dataset, check_image_folder, has_problems
from vaelab.data.image_options import ImageOptions
from vaelab.errors import ConfigError, DataError

#: A size no other test decodes at, so the shared test cache holds none of these decodes at first.
SMALL = ImageOptions(image_size=11)


@pytest.fixture(autouse=True)
def _cache(private_cache):
    return private_cache


def rows(checks):
    return {c.item: c for c in checks}


def test_official_layout_with_its_partition(celeba_dirs):
    checks = rows(check_celeba(celeba_dirs["official"], SMALL))
    assert list(checks) == ["images", "attributes", "partition", "cache train", "cache test"]
    assert checks["images"].status == "ok" and "300 image files (official layout)" in checks["images"].detail
    assert checks["attributes"].status == "ok" and checks["attributes"].detail.startswith("5 attributes")
    # face_fixtures.partition_of(300): 240 train, 15 validation, 45 test
    assert checks["partition"].detail == "train 240 · test 45 · in neither (validation) 15"
    assert checks["cache train"].status == "todo" and "240 images" in checks["cache train"].detail


def test_kaggle_layout_without_a_partition_file_uses_the_hold_out(celeba_dirs, tmp_path):
    root = shutil.copytree(celeba_dirs["kaggle"], tmp_path / "kaggle")
    (root / "list_eval_partition.csv").unlink()
    checks = rows(check_celeba(root, SMALL))
    assert "kaggle layout" in checks["images"].detail
    assert checks["partition"].status == "none" and checks["partition"].path is None
    train, test = (len(load_celeba(split, root, options=SMALL, progress=False)) for split in ("train", "test"))
    assert f"train {train} · test {test}" in checks["partition"].detail
    assert not has_problems(checks.values())


def test_the_cache_rows_turn_ok_once_a_split_is_decoded(celeba_dirs):
    before = rows(check_celeba(celeba_dirs["official"], SMALL))
    assert before["cache test"].status == "todo"
    load_celeba("test", celeba_dirs["official"], options=SMALL, progress=False)
    after = rows(check_celeba(celeba_dirs["official"], SMALL))
    assert after["cache test"].status == "ok" and after["cache test"].path.is_file()
    assert after["cache train"].status == "todo"  # only the test split was decoded
    other_size = rows(check_celeba(celeba_dirs["official"], ImageOptions(image_size=9)))
    assert other_size["cache test"].status == "todo"


def test_an_image_without_rows_is_bad_with_the_loaders_message(celeba_dirs, tmp_path):
    root = shutil.copytree(celeba_dirs["official"], tmp_path / "official")
    shutil.copy(root / "img_align_celeba" / "000001.jpg", root / "img_align_celeba" / "extra.jpg")
    checks = rows(check_celeba(root, SMALL))
    assert checks["attributes"].status == "bad" and "'extra.jpg'" in checks["attributes"].detail
    assert checks["partition"].status == "bad" and "'extra.jpg'" in checks["partition"].detail
    assert "cache train" not in checks  # no split can be made
    assert has_problems(checks.values())
    with pytest.raises(DataError, match=r"'extra\.jpg'"):  # what training would say
        load_celeba("train", root, options=SMALL, progress=False)


def test_a_malformed_attribute_file_is_bad(celeba_dirs, tmp_path):
    root = shutil.copytree(celeba_dirs["official"], tmp_path / "official")
    path = root / "list_attr_celeba.txt"
    lines = path.read_text().splitlines()
    lines[5] = lines[5] + " 7"
    path.write_text("\n".join(lines) + "\n")
    checks = rows(check_celeba(root, SMALL))
    assert checks["attributes"].status == "bad" and "line" in checks["attributes"].detail


def test_an_image_folder_and_its_errors(celeba_dirs, tmp_path):
    checks = rows(check_image_folder(celeba_dirs["official"] / "img_align_celeba", SMALL))
    assert checks["images"].detail == "300 image files (image folder)"
    assert checks["attributes"].status == "none"
    (tmp_path / "empty").mkdir()
    assert rows(check_image_folder(tmp_path / "empty"))["images"].status == "bad"
    with pytest.raises(ConfigError, match="needs --data-dir"):
        check_image_folder(None)
    with pytest.raises(ConfigError, match="no file check"):
        check_image_dataset("fashion-mnist", None)


def test_cli_prints_the_table_and_fails_on_a_bad_row(celeba_dirs, tmp_path, capsys):
    assert main(["data", "--dataset", "celeba", "--data-dir", str(celeba_dirs["official"]), "--image-size", "11"]) == 0
    out = capsys.readouterr().out
    assert "attributes" in out and "train 240 · test 45" in out
    root = shutil.copytree(celeba_dirs["official"], tmp_path / "official")
    (root / "list_eval_partition.txt").write_text("000001.jpg 0\n")
    assert main(["data", "--dataset", "celeba", "--data-dir", str(root)]) != 0
    captured = capsys.readouterr()
    assert "bad" in captured.out
    assert captured.err.count("\n") == 1 and "rows marked bad" in captured.err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["data", "--dataset", "celeba", "--download"], "--download fetches Fashion-MNIST only"),
        (["data", "--dataset", "image-folder"], "needs --data-dir"),
        (["data", "--dataset", "celeba", "--data-dir", "{empty}"], "CelebA not found"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, argv, fragment):
    (tmp_path / "empty").mkdir()
    argv = [a.replace("{empty}", str(tmp_path / "empty")) for a in argv]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
