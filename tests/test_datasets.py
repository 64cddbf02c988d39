"""Real data nobody here made: Fashion-MNIST from Debian's package, written in the Cassava layout."""

import gzip

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import pykd
from pykd import DataError


@pytest.mark.skipif(not pykd.datasets.FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_is_written_as_pngs_and_tables_with_its_own_labels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = pykd.datasets.fashion_mnist("fm", n_train=300, labeled_fraction=0.1, n_test=50, seed=1)
    assert data["directory"] == str(tmp_path / "fm" / "images")  # absolute, from a relative folder
    train, test = pd.read_csv(data["train_csv"]), pd.read_csv(data["test_csv"])
    assert (data["n_train"], data["n_test"], len(train), len(test)) == (300, 50, 300, 50)
    assert data["n_labeled"] == 30 and train["label"].isna().sum() == 270  # exactly the share asked
    assert test["label"].between(0, 9).all() and len(data["classes"]) == 10
    # The pixels and labels are Fashion-MNIST's own: check one test image against the idx files.
    with gzip.open(pykd.datasets.FASHION_MNIST / "t10k-labels-idx1-ubyte.gz") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8)
    row = test.iloc[0]
    index = int(row["image_id"].split("_")[1].split(".")[0])
    assert labels[index] == row["label"]
    image = np.asarray(Image.open(f"{data['directory']}/{row['image_id']}"))
    assert image.shape == (28, 28) and image.max() > 0
    table = pykd.data.frames.resolve_table(data["test_csv"], directory=data["directory"], classes=data["classes"])
    assert len(table) == 50


def test_a_missing_package_is_named_with_the_install_command(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        pykd.datasets.fashion_mnist(tmp_path, source=tmp_path / "nowhere")
