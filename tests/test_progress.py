"""Progress inside long epochs when stdout is a log file or a pipe, and quiet MNIST preparation."""

import io

import pytest

from train.progress import EpochProgress


def test_plain_progress_lines_inside_an_epoch_when_not_a_terminal():
    stream = io.StringIO()  # not a terminal
    progress = EpochProgress(stream=stream, plain_every=0.0)
    assert progress.live and not progress.bar  # the loop feeds it updates; no rich bar
    with progress.epoch(2, 3, total_steps=100) as update:
        update(25, 0.5)
        update(50, 0.25)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 2/3  step 25/100  loss 0.5000") and lines[1].startswith(
        "epoch 2/3  step 50/100  loss 0.2500"
    )


def test_plain_progress_waits_a_few_seconds_between_lines_and_can_be_off():
    stream = io.StringIO()
    with EpochProgress(stream=stream).epoch(
        1, 1, total_steps=100
    ) as update:  # every 10 s by default
        update(10, 1.0)
    with EpochProgress(live=False, stream=stream).epoch(1, 1, total_steps=100) as update:
        update(10, 1.0)
    assert stream.getvalue() == ""


@pytest.mark.slow
def test_preparing_mnist_from_local_files_prints_no_download_messages(
    tmp_path, monkeypatch, capsys
):
    import pytest
    import tensorflow_datasets as tfds

    from train.data.mnist import MNIST_FILES, load_mnist
    from train.errors import DataUnavailableError

    (tmp_path / "data" / "mnist").mkdir(parents=True)
    for name in MNIST_FILES:
        (tmp_path / "data" / "mnist" / name).write_bytes(b"")

    def prepare(
        self, *args, **kwargs
    ):  # what TFDS prints even when nothing is downloaded, then stop
        print("Downloading and preparing dataset Unknown size ...")
        raise RuntimeError("stopped by the test")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", prepare)
    with pytest.raises(DataUnavailableError, match="stopped by the test"):
        load_mnist(tmp_path / "cache", tmp_path / "data", download=False)
    out = capsys.readouterr().out
    assert "Downloading" not in out and f"preparing MNIST from {tmp_path / 'data' / 'mnist'}" in out


def test_the_loop_reads_the_running_loss_only_as_often_as_it_is_shown():
    # each read waits for the device: plain lines every plain_every seconds, the bar twice a second
    assert EpochProgress(stream=io.StringIO(), plain_every=10.0).refresh_seconds == 10.0
    assert EpochProgress(live=True, stream=io.StringIO()).refresh_seconds == 0.5
