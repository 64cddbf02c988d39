"""The command line: `python -m pykd demo`, `distill`, `train-scratch`, `evaluate`, `predict`, `export`,
`compare`. Each runs in this process through pykd.cli.main; one smoke test runs `python -m pykd` itself."""

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
from conftest import tiny_model

import pykd
from pykd.cli import main

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def test_python_dash_m_pykd_trains_and_writes_the_student(digits, tmp_path):
    student = tmp_path / "s.keras"
    pykd.models.save_model(tiny_model(seed=2), student)
    command = [sys.executable, "-m", "pykd", "train-scratch", "--student", str(student), "--train", digits["train_csv"],
               "--directory", digits["directory"], "--epochs", "1", "--steps-per-epoch", "2", "--verbose", "0",
               "--out", str(tmp_path / "out")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert "Saved the trained student" in proc.stdout and (tmp_path / "out" / "student.keras").is_file()
    assert "oneDNN" not in proc.stderr  # TensorFlow's banner is filtered


def test_demo_writes_the_table_history_and_plots(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--size", "16", "--teacher-epochs", "1", "--teacher-steps", "2",
                 "--student-epochs", "2", "--verbose", "0"]) == 0
    shown = capsys.readouterr().out
    for row in ("teacher", "student (scratch)", "student (distilled)"):
        assert row in shown
    history = pd.read_csv(out / "history.csv")
    assert set(history["model"]) == {"teacher", "scratch", "distilled"}
    results = json.loads((out / "results.json").read_text())
    assert results["teacher"]["params"] > 10 * results["student (distilled)"]["params"]
    assert (out / "students.png").stat().st_size > 5000 and (out / "distilled_history.png").is_file()


def test_distill_command_trains_saves_and_reports_bad_input(digits, tmp_path, capsys):
    teacher, student = tmp_path / "t.keras", tmp_path / "s.keras"
    pykd.models.save_model(tiny_model(seed=1), teacher)
    pykd.models.save_model(tiny_model(seed=2), student)
    out = tmp_path / "out"
    common = ["distill", "--teacher", str(teacher), "--student", str(student), "--directory", digits["directory"]]
    assert main([*common, "--train", digits["train_csv"], "--validation", digits["validation_csv"],
                 "--y-col", "label", "--epochs", "2", "--steps-per-epoch", "3", "--verbose", "0",
                 "--save-student", str(tmp_path / "trained.keras"), "--out", str(out)]) == 2
    assert "error: The validation table has no column 'label'" in capsys.readouterr().err
    assert main([*common, "--train", digits["train_csv"], "--epochs", "2", "--steps-per-epoch", "3", "--verbose", "0",
                 "--save-student", str(tmp_path / "trained.keras"), "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "history.csv")) == 2 and (out / "history.png").is_file()
    trained = pykd.models.load_model(tmp_path / "trained.keras")
    assert trained.count_params() == tiny_model().count_params()


def test_train_scratch_always_writes_the_student_and_evaluate_reads_it(digits, tmp_path, capsys):
    student = tmp_path / "s.keras"
    pykd.models.save_model(tiny_model(seed=2), student)
    out = tmp_path / "out"
    assert main(["train-scratch", "--student", str(student), "--train", digits["train_csv"], "--directory",
                 digits["directory"], "--epochs", "1", "--steps-per-epoch", "2", "--verbose", "0", "--out", str(out)]) == 0
    assert (out / "student.keras").is_file() and "Saved the trained student" in capsys.readouterr().out
    assert main(["evaluate", "--model", str(out / "student.keras"), "--data", digits["validation_csv"],
                 "--directory", digits["directory"], "--y-col", ",".join(digits["classes"])]) == 0
    assert set(json.loads(capsys.readouterr().out.strip().splitlines()[-1])) == {"loss", "accuracy", "n"}


def test_train_scratch_reads_a_folder_of_class_subfolders(digits, tmp_path):
    table = pd.read_csv(digits["train_csv"]).dropna(subset=["label"]).head(30)
    for image_id, label in zip(table["image_id"], table["label"]):
        (tmp_path / "train" / digits["classes"][int(label)]).mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(digits["directory"], image_id), tmp_path / "train" / digits["classes"][int(label)])
    student = tmp_path / "s.keras"
    pykd.models.save_model(tiny_model(seed=2, n_classes=table["label"].nunique()), student)
    assert main(["train-scratch", "--student", str(student), "--train", str(tmp_path / "train"), "--epochs", "1",
                 "--steps-per-epoch", "2", "--verbose", "0", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "student.keras").is_file()


def test_bad_outputs_fail_before_training_and_errors_speak_in_flags(digits, tmp_path, capsys):
    student = tmp_path / "s.keras"
    pykd.models.save_model(tiny_model(seed=2), student)
    common = ["train-scratch", "--student", str(student), "--train", digits["train_csv"],
              "--directory", digits["directory"], "--verbose", "0", "--out", str(tmp_path / "out")]
    assert main([*common, "--save-student", str(tmp_path / "student.txt")]) == 2
    assert "error: Save models to a .keras" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("x")
    assert main([*common[:-1], str(tmp_path / "a-file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main([*common, "--rescale", "0"]) == 2
    assert "--rescale 1/255" in capsys.readouterr().err  # a flag, not rescale=1/255
    assert not (tmp_path / "out").exists()


def test_predict_export_and_compare_from_the_command_line(digits, tmp_path, capsys):
    model = tmp_path / "m.keras"
    pykd.models.save_model(tiny_model(seed=2), model)
    common = ["--directory", digits["directory"], "--classes", ",".join(digits["classes"])]
    assert main(["predict", "--model", str(model), *common, "--submission", "--out", str(tmp_path / "sub.csv")]) == 0
    submission = pd.read_csv(tmp_path / "sub.csv")
    assert list(submission.columns) == ["image_id", "label"] and len(submission) == len(os.listdir(digits["directory"]))
    assert set(submission["label"]) <= set(digits["classes"])
    assert main(["export", "--model", str(model), "--out", str(tmp_path / "m.tflite")]) == 0
    assert (tmp_path / "m.tflite").stat().st_size > 0
    assert main(["compare", "--model", f"keras={model}", "--model", f"lite={tmp_path / 'm.tflite'}",
                 "--data", digits["validation_csv"], "--directory", digits["directory"],
                 "--y-col", ",".join(digits["classes"])]) == 0
    shown = capsys.readouterr().out
    assert "keras" in shown and "lite" in shown and "ms_per_image" in shown
