"""Table validation: every bad table is rejected before training, naming rows or values."""

import numpy as np
import pandas as pd
import pytest

from pykd import DataError
from pykd.data.frames import resolve_table


@pytest.fixture
def folder(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def test_integer_labels_with_missing_values_from_pandas_and_csv(folder, tmp_path):
    frame = pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"], "label": [0, None, 2]})  # NA makes floats
    table = resolve_table(frame, directory=folder)
    assert table.labels.tolist() == [0, -1, 2] and table.n_labeled == 2
    csv = tmp_path / "t.csv"
    csv.write_text("image_id,label\na.jpg,1\nb.jpg,\nc.jpg,NA\n")
    assert resolve_table(str(csv), directory=folder).labels.tolist() == [1, -1, -1]


def test_one_hot_columns_and_all_zero_rows(folder):
    frame = pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"], "CBB": [1, 0, 0], "CMD": [0, 0, 1]})
    table = resolve_table(frame, directory=folder, y_col=["CBB", "CMD"])
    assert table.labels.tolist() == [0, -1, 1]
    assert table.classes == ("CBB", "CMD")


def test_dict_of_columns_as_r_sends_it(folder):
    table = resolve_table({"image_id": "a.jpg", "label": 2.0}, directory=folder)  # length-1 columns arrive as scalars
    assert table.ids == ("a.jpg",) and table.labels.tolist() == [2]
    nan = float("nan")
    table = resolve_table({"image_id": ["a.jpg", "b.jpg"], "label": [1.0, nan]}, directory=folder)
    assert table.labels.tolist() == [1, -1]


def test_class_names_as_labels(folder):
    frame = pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "label": ["CMD", "CBB"]})
    assert resolve_table(frame, directory=folder, classes=["CBB", "CMD"]).labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    "frame,kwargs,message",
    [
        (pd.DataFrame({"id": ["a.jpg"], "label": [0]}), {}, r"no column 'image_id'; its columns are 'id', 'label'"),
        (pd.DataFrame({"image_id": [], "label": []}), {}, "is empty"),
        (pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "a.jpg"], "label": [0, 1, 2]}), {}, r"duplicate image_id values \('a.jpg'\) in rows 1, 3"),
        (pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "./a.jpg"], "label": [0, 1, 2]}), {}, r"duplicate image_id values \('a.jpg', './a.jpg'\) in rows 1, 3"),
        (pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "label": [True, False]}), {}, r"label column 'label' holds True/False values in rows 1, 2: true or false is no class id\. "
                                                                                   r"Give class ids counted from 0, or name the classes \(e\.g\. classes=\['False', 'True'\]\)"),
        (pd.DataFrame({"image_id": ["a.jpg", "zz.jpg", "yy.jpg"], "label": [0, 1, 1]}), {}, r"2 of 3 image files .* missing .*'zz.jpg', 'yy.jpg'"),
        (pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "label": [0, 1.5]}), {}, r"not whole-number class ids \(1.5\) in row 2"),
        (pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "label": [0, "cat"]}), {}, r"'cat'"),
        (pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "label": [0, 5]}), {"classes": ["x", "y"]}, r"outside the classes \(5; expected 0..1\) in row 2"),
        (pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "label": [0, -3]}), {}, r"outside the classes \(-3"),
        # Huge labels as given, not wrapped around to another integer.
        (pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "label": [0, 10**20]}), {},
         r"outside the classes \(100000000000000000000; expected 0 or more\)"),
        (pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "label": [0, 1e20]}), {}, r"outside the classes \(1e\+20;"),
        (pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"], "label": [0, None, 7]}), {"classes": ["x", "y"]},
         r"outside the classes \(7; expected 0..1\)"),
        (pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "A": [1, 1], "B": [0, 1]}), {"y_col": ["A", "B"]}, r"more than one 1 \(row 2\)"),
        (pd.DataFrame({"image_id": ["a.jpg"], "A": [2], "B": [0]}), {"y_col": ["A", "B"]}, "only 0 and 1"),
    ],
)
def test_bad_tables_name_the_problem(folder, frame, kwargs, message):
    with pytest.raises(DataError, match=message):
        resolve_table(frame, directory=folder, **kwargs)


def test_true_and_false_labels_are_matched_to_classes_by_name(folder):
    frame = pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"], "label": [True, False, None]})
    assert resolve_table(frame, directory=folder, classes=["False", "True"]).labels.tolist() == [1, 0, -1]
    assert resolve_table(frame, directory=folder, classes=["TRUE", "FALSE"]).labels.tolist() == [0, 1, -1]  # from R
    with pytest.raises(DataError, match=r"not whole-number class ids \('True', 'False'\)"):
        resolve_table(frame, directory=folder, classes=["no", "yes"])


def test_missing_directory_and_csv(folder):
    with pytest.raises(DataError, match="does not exist"):
        resolve_table(pd.DataFrame({"image_id": ["a.jpg"], "label": [0]}), directory=folder / "nope")
    with pytest.raises(DataError, match="does not exist"):
        resolve_table(str(folder / "missing.csv"), directory=folder)
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        resolve_table(np.zeros(3), directory=folder)


def test_class_names_that_are_digits_are_matched_by_name_never_by_position(folder):
    ids = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    as_text = pd.DataFrame({"image_id": ids, "label": ["1", "2", "3", "1"]})
    assert resolve_table(as_text, directory=folder, classes=["1", "2", "3"]).labels.tolist() == [0, 1, 2, 0]
    reversed_names = pd.DataFrame({"image_id": ids, "label": ["2", "1", "0", "0"]})
    assert resolve_table(reversed_names, directory=folder, classes=["2", "1", "0"]).labels.tolist() == [0, 1, 2, 2]
    # Numbers that name other classes are ambiguous (name or id?): refused, rows named.
    as_numbers = pd.DataFrame({"image_id": ids, "label": [1, 2, 3, 1]})
    with pytest.raises(DataError, match=r"numbers \(1, 2, 3\) that are also class names .* in rows 1, 2, 3, 4: names or class ids\?"):
        resolve_table(as_numbers, directory=folder, classes=["1", "2", "3"])
    # Where names and positions agree there is nothing to choose.
    same = pd.DataFrame({"image_id": ids, "label": [0, 1, 2, 0]})
    assert resolve_table(same, directory=folder, classes=["0", "1", "2"]).labels.tolist() == [0, 1, 2, 0]
    # With class names that are words, text ids still read as positions.
    assert resolve_table(as_text.assign(label=["0", "1", "1", None]), directory=folder,
                         classes=["CBB", "CMD"]).labels.tolist() == [0, 1, 1, -1]


def test_an_image_over_pils_decompression_bomb_limit_names_the_setting_that_lifts_it(tmp_path, monkeypatch):
    from PIL import Image

    from pykd.data import bad_images

    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4,096 pixels: over twice the limit, as a real bomb is
    monkeypatch.setattr(bad_images, "_LOOKED", {})
    with pytest.raises(DataError, match=r"huge.png \(Image size \(4096 pixels\) exceeds limit of 2000 pixels.*"
                                             r"raise PIL.Image.MAX_IMAGE_PIXELS \(None lifts the limit\) to read it\)"):
        bad_images.drop_bad_images([resolve_table(pd.DataFrame({"image_id": ["huge.png"], "label": [0]}),
                                                  directory=tmp_path)], "error")
