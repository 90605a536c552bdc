"""Image-file datasets: CelebA in both layouts, attribute files, splits, the decoded-image cache,
unreadable images, and any folder of images."""

import shutil

import numpy as np
import pytest
from PIL import Image

from face_fixtures import NAMES, image_names, mouth_score, write_celeba
from vaelab.data import ImageOptions, find_celeba, image_cache, load_celeba, load_image_folder
from vaelab.data.attributes import parse_attribute_csv, parse_attribute_txt, read_attributes
from vaelab.data.image_cache import decode_image
from vaelab.data.image_files import list_images
from vaelab.data.partition import held_out
from vaelab.data.registry import load_dataset
from vaelab.errors import ConfigError, DataError

SMALL = ImageOptions(image_size=16)


@pytest.fixture(autouse=True)
def _cache(private_cache):
    return private_cache


def copy_of(celeba_dirs, tmp_path, layout="official"):
    return shutil.copytree(celeba_dirs[layout], tmp_path / layout)


# --- attribute files ---------------------------------------------------------------------------


def test_txt_and_csv_attribute_files_parse_to_the_same_table(celeba_dirs, faces):
    txt = read_attributes(celeba_dirs["official"] / "list_attr_celeba.txt")
    csv = read_attributes(celeba_dirs["kaggle"] / "list_attr_celeba.csv")
    assert txt.same_as(csv)
    assert txt.names == NAMES and txt.image_ids == tuple(image_names(300))
    assert np.array_equal(txt.values, faces[1] == 1)


def test_hand_written_txt_and_csv_with_zero_one_values():
    txt = parse_attribute_txt("2\nSmiling  Male\n000001.jpg  1 -1\n000002.jpg -1  1\n")
    csv = parse_attribute_csv("file,Smiling,Male\n000001.jpg,1,0\n000002.jpg,0,1\n")
    assert txt.same_as(csv)
    assert txt.column("Smiling").tolist() == [True, False]
    assert txt.column("Male").tolist() == [False, True]


def test_unknown_attribute_lists_close_matches(celeba_dirs):
    table = read_attributes(celeba_dirs["official"] / "list_attr_celeba.txt")
    with pytest.raises(ConfigError, match="unknown attribute 'Smilling'; did you mean Smiling"):
        table.column("Smilling")


@pytest.mark.parametrize(
    "text, fragment",
    [
        (
            "3\nSmiling Male\n000001.jpg 1 -1\n000002.jpg -1\n000003.jpg 1 1\n",
            "line 4: expected a file name and 2 values",
        ),
        ("1\nSmiling Male\n000001.jpg 1 2\n", "line 3: value '2' for Male"),
        ("5\nSmiling Male\n000001.jpg 1 -1\n", "says it holds 5 images but has 1 rows"),
        ("lots\nSmiling\n", "line 1: expected the number of images"),
        ("2\nSmiling\n000001.jpg 1\n000001.jpg -1\n", "line 4: image '000001.jpg' appears twice"),
    ],
)
def test_malformed_txt_attribute_file_names_the_line(tmp_path, text, fragment):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=fragment) as caught:
        read_attributes(path)
    assert "\n" not in str(caught.value)


def test_malformed_csv_attribute_file_names_the_line(tmp_path):
    path = tmp_path / "list_attr_celeba.csv"
    path.write_text("image_id,Smiling\n000001.jpg,1\n000002.jpg,yes\n")
    with pytest.raises(DataError, match="line 3: value 'yes' for Smiling"):
        read_attributes(path)


# --- CelebA layouts and splits -------------------------------------------------------------------


def test_official_and_kaggle_layouts_give_the_same_data(celeba_dirs):
    official = load_celeba("train", celeba_dirs["official"], options=SMALL, progress=False)
    kaggle = load_celeba("train", celeba_dirs["kaggle"], options=SMALL, progress=False)
    assert official.images.shape == (240, 3, 16, 16) and official.images.dtype == np.uint8
    assert np.array_equal(official.images, kaggle.images)
    assert official.attributes.same_as(kaggle.attributes)
    assert official.attributes.image_ids == tuple(image_names(240))  # partition 0: the first 80 %
    test = load_celeba("test", celeba_dirs["kaggle"], options=SMALL, progress=False)
    assert test.attributes.image_ids == tuple(image_names(300)[255:])  # partition 2 (1 is validation)
    assert find_celeba(celeba_dirs["kaggle"]).layout == "kaggle"
    assert find_celeba(celeba_dirs["official"]).layout == "official"


def test_attributes_belong_to_their_images(celeba_dirs):
    """The Smiling column lines up with the images: smiling faces have dark mouths."""
    data = load_celeba("train", celeba_dirs["official"], options=SMALL, progress=False)
    score = mouth_score(data.images)
    smiling = data.attributes.column("Smiling")
    assert score[smiling].min() > score[~smiling].max()


def test_limit_keeps_the_first_images_and_registry_passes_options(celeba_dirs):
    data = load_dataset("celeba", "train", str(celeba_dirs["official"]), 10, ImageOptions(8))
    assert data.images.shape == (10, 3, 8, 8) and len(data.attributes) == 10
    assert data.attributes.image_ids == tuple(image_names(10))


def test_hold_out_split_without_a_partition_file(tmp_path, faces):
    root = write_celeba(tmp_path / "c", *faces, partition=False)
    train = load_celeba("train", root, options=SMALL, progress=False).attributes.image_ids
    test = load_celeba("test", root, options=SMALL, progress=False).attributes.image_ids
    assert set(train).isdisjoint(test) and len(train) + len(test) == 300
    assert 15 <= len(test) <= 50
    assert all(held_out(name) for name in test) and not any(held_out(name) for name in train)


def test_a_parent_folder_with_a_celeba_subfolder_is_found(celeba_dirs, tmp_path):
    shutil.copytree(celeba_dirs["official"], tmp_path / "datasets" / "celeba")
    assert find_celeba(tmp_path / "datasets").root == tmp_path / "datasets" / "celeba"


def test_the_google_drive_folders_are_found(celeba_dirs, tmp_path):
    drive = tmp_path / "drive"
    shutil.copytree(celeba_dirs["official"] / "img_align_celeba", drive / "Img" / "img_align_celeba")
    (drive / "Anno").mkdir()
    (drive / "Eval").mkdir()
    shutil.copy(celeba_dirs["official"] / "list_attr_celeba.txt", drive / "Anno")
    shutil.copy(celeba_dirs["official"] / "list_eval_partition.txt", drive / "Eval")
    files = find_celeba(drive)
    assert files.attributes == drive / "Anno" / "list_attr_celeba.txt"
    assert files.partition == drive / "Eval" / "list_eval_partition.txt"
    assert len(load_celeba("test", drive, options=SMALL, progress=False)) == 45


def test_missing_celeba_says_where_it_looked(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="CelebA not found") as caught:
        load_celeba("train", tmp_path / "empty")
    message = str(caught.value)
    assert "--data-dir" in message and "img_align_celeba" in message and "\n" not in message


def test_missing_attribute_file(celeba_dirs, tmp_path):
    root = copy_of(celeba_dirs, tmp_path)
    (root / "list_attr_celeba.txt").unlink()
    with pytest.raises(DataError, match="no attribute file"):
        load_celeba("train", root)


def test_image_without_an_attribute_row(celeba_dirs, tmp_path):
    root = copy_of(celeba_dirs, tmp_path)
    shutil.copy(root / "img_align_celeba" / "000001.jpg", root / "img_align_celeba" / "extra.jpg")
    with pytest.raises(DataError, match=r"'extra\.jpg'"):
        load_celeba("train", root)


# --- decoding and the cache ----------------------------------------------------------------------


def test_whole_image_is_resized_and_centre_crop_keeps_the_middle(tmp_path):
    stripes = np.zeros((10, 30, 3), np.uint8)
    stripes[:, :10, 0] = stripes[:, 10:20, 1] = stripes[:, 20:, 2] = 255  # red | green | blue
    path = tmp_path / "stripes.png"
    Image.fromarray(stripes).save(path)
    whole = decode_image(path, 6)
    assert whole.shape == (3, 6, 6)
    assert whole[0, :, 0].min() > 200 and whole[1, :, 3].min() > 200 and whole[2, :, 5].min() > 200
    cropped = decode_image(path, 6, center_crop=True)
    assert cropped[1].min() == 255 and cropped[0].max() == 0 and cropped[2].max() == 0


def test_cache_hit_does_not_decode_again(celeba_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh-cache"))
    root = copy_of(celeba_dirs, tmp_path)
    calls = []
    real = image_cache.decode_image
    monkeypatch.setattr(image_cache, "decode_image", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    first = load_celeba("test", root, options=SMALL, progress=False)
    assert len(calls) == 45
    again = load_celeba("test", root, options=SMALL, progress=False)
    assert len(calls) == 45 and np.array_equal(first.images, again.images)
    load_celeba("test", root, options=ImageOptions(8), progress=False)
    assert len(calls) == 90  # another size is another cache entry
    image = root / "img_align_celeba" / "000300.jpg"
    image.write_bytes(image.read_bytes())  # a new modification time: the list changed
    load_celeba("test", root, options=SMALL, progress=False)
    assert len(calls) == 135
    assert len(list((tmp_path / "fresh-cache" / "vaelab" / "images").glob("*.json"))) == 3
    assert isinstance(again.images, np.memmap)  # mapped from the cache, not loaded


def test_damaged_cache_is_rebuilt(celeba_dirs, tmp_path, image_cache_home):
    root = copy_of(celeba_dirs, tmp_path)
    first = load_celeba("test", root, options=SMALL, progress=False)
    files = list_images(root / "img_align_celeba")
    chosen = [f for f in files if f.name in set(first.attributes.image_ids)]
    entry = image_cache.cache_entry(chosen, SMALL)
    assert entry.record.is_file() and entry.data.is_file()
    entry.record.write_bytes(b"not a cache")
    warnings = []
    again = load_dataset_quietly(root, warnings)
    assert any("does not match its images" in w and "unreadable" in w for w in warnings)
    assert np.array_equal(first.images, again.images)


def load_dataset_quietly(root, warnings, split="test", options=SMALL):
    return load_celeba(split, root, options=options, progress=False, warn=warnings.append)


# --- unreadable images ---------------------------------------------------------------------------


def test_unreadable_image_fails_with_its_name(celeba_dirs, tmp_path):
    root = copy_of(celeba_dirs, tmp_path)
    bad = root / "img_align_celeba" / "000003.jpg"
    bad.write_bytes(b"this is not a JPEG")
    with pytest.raises(DataError) as caught:
        load_dataset_quietly(root, [], split="train")
    message = str(caught.value)
    assert str(bad) in message and "--on-bad-image skip" in message and "\n" not in message


def test_unreadable_image_is_skipped_with_a_warning(celeba_dirs, tmp_path):
    root = copy_of(celeba_dirs, tmp_path)
    bad = root / "img_align_celeba" / "000003.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated
    warnings = []
    data = load_dataset_quietly(root, warnings, split="train", options=ImageOptions(16, on_bad_image="skip"))
    assert len(data) == 239 and "000003.jpg" not in data.attributes.image_ids
    assert len(warnings) == 1 and "skipped 1 unreadable image(s) of 240" in warnings[0] and "000003.jpg" in warnings[0]
    smiling = data.attributes.column("Smiling")
    score = mouth_score(data.images)
    assert score[smiling].min() > score[~smiling].max()  # rows still match their images after the gap
    with pytest.raises(DataError, match=r"000003\.jpg"):  # the cached result still refuses under "fail"
        load_dataset_quietly(root, [], split="train")


# --- any folder of images ------------------------------------------------------------------------


def test_image_folder_with_subfolders_and_attributes_csv(celeba_dirs, tmp_path, faces):
    folder = tmp_path / "photos"
    for i, name in enumerate(image_names(60)):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(celeba_dirs["official"] / "img_align_celeba" / name, sub / name.replace(".jpg", ".JPG"))
    names = sorted(f"{'a' if i % 2 else 'b'}/{n.replace('.jpg', '.JPG')}" for i, n in enumerate(image_names(60)))
    smiling = {
        f"{'a' if i % 2 else 'b'}/{n.replace('.jpg', '.JPG')}": int(faces[1][i, NAMES.index("Smiling")] == 1)
        for i, n in enumerate(image_names(60))
    }
    (folder / "attributes.csv").write_text("file,Smiling\n" + "".join(f"{n},{smiling[n]}\n" for n in names))
    train = load_image_folder("train", folder, options=SMALL, progress=False)
    test = load_image_folder("test", folder, options=SMALL, progress=False)
    assert len(train) + len(test) == 60 and len(test) > 0
    assert all(held_out(n) for n in test.attributes.image_ids)
    score = mouth_score(train.images)
    has = train.attributes.column("Smiling")
    assert score[has].min() > score[~has].max()


def test_image_folder_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs --data-dir"):
        load_image_folder("train", None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_image_folder("train", tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder("train", tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="unknown dataset 'celeb-a'; did you mean celeba"):
        load_dataset("celeb-a", "train")
