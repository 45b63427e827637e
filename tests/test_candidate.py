"""training.candidate: the summary of a candidate's seeds, read from the committed v3.6 candidate records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from training import candidate

V36 = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "candidate_v36"


def _work(tmp_path: Path, seeds: tuple[int, ...]) -> Path:
    """A --work folder laid out as the train and evaluate steps leave it, from the v3.6 seeds' records."""
    for s in seeds:
        src, dst = V36 / f"seed{s}", tmp_path / f"seed{s}"
        (dst / "run").mkdir(parents=True)
        for name in ("results.json", "words_domains.json", "clip_rules.json"):
            shutil.copy(src / name, dst / name)
        shutil.copy(src / "metrics.json", dst / "run" / "metrics.json")
    return tmp_path


def test_summary_of_the_v36_seeds(tmp_path: Path) -> None:
    work = _work(tmp_path, (42, 43, 44))
    cols = candidate.summary(work, [42, 43, 44])
    # v3.6 is seed 42: the shipped checkpoint's records must read as that seed's
    assert cols["shipped"] == cols["seed 42"]
    assert cols["seed 42"]["real_takes_right_of_30"] == 24 and cols["seed 42"]["real_takes_right_in_every_variant"] == 4
    guarded = [json.loads((V36 / f"seed{s}" / "results.json").read_text())["fused_app_guarded"]["tuned"]["micro_f1"]
               for s in (42, 43, 44)]
    assert cols["seed mean"]["app_guarded_micro_f1"] == pytest.approx(sum(guarded) / 3, abs=1e-4)
    assert 0 < cols["seed mean"]["summary_ece_max"] <= 0.05
    table = (work / "summary.md").read_text()
    assert "| figure | shipped | seed 42 | seed 43 | seed 44 | seed mean |" in table
    assert json.loads((work / "summary.json").read_text())["seed 43"] == cols["seed 43"]


def test_a_seed_without_its_records_is_left_out(tmp_path: Path) -> None:
    work = _work(tmp_path, (42,))
    (work / "seed43" / "run").mkdir(parents=True)  # trained, not yet evaluated
    cols = candidate.summary(work, [42, 43])
    assert cols["seed 43"] is None
    assert cols["seed mean"] == pytest.approx(cols["seed 42"], abs=1e-4)
    assert "seed 43" not in (work / "summary.md").read_text()


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        candidate.main(["--data", str(tmp_path), "--work", str(tmp_path), "--steps", "prepare,ship"])
    with pytest.raises(SystemExit):  # a words folder without the encoder
        candidate.main(["--data", str(tmp_path), "--work", str(tmp_path), "--words", str(tmp_path)])


def test_candidate_encoders_reach_every_step_by_override(tmp_path: Path) -> None:
    env = candidate.run_env(tmp_path / "w", tmp_path / "f", tmp_path / "home", threads=1)
    assert env[candidate.WORDS_ENV] == str(tmp_path / "w" / "text_emotion.safetensors")
    assert env[candidate.FACE_ENV] == str(tmp_path / "f" / "face_expression.safetensors")
    assert env["TAILOR_HOME"] == str(tmp_path / "home") and env["OMP_NUM_THREADS"] == "1"
    home = candidate.seed_home(tmp_path, 42)
    assert (home / "checkpoints" / "tailor-demo").resolve() == (tmp_path / "seed42" / "run").resolve()


def test_seeds_train_by_the_model_cards_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    card = (Path(__file__).resolve().parent.parent / "checkpoints" / "README.md").read_text()
    command = card[card.index("python -m training.train --data cache/demo.npz"):].split("#")[0].replace("\\\n", " ")
    flags = command.split()[3:]  # after "python -m training.train"
    calls = []
    monkeypatch.setattr(candidate, "call", lambda cmd, env, log, stdout=None: calls.append((cmd, env)))
    args = candidate.build_parser().parse_args(["--data", "d", "--work", str(tmp_path), "--train-args", "--epochs 1"])
    candidate.train(args, 7, threads=1)
    cmd, env = calls[0]
    assert cmd[1:3] == ["-m", "training.train"] and env["OMP_NUM_THREADS"] == "1"
    given = dict(zip(cmd[3::1], cmd[4::1]))
    card_flags = dict(zip(flags, flags[1:]))
    for flag in flags:
        if flag.startswith("--") and flag not in ("--data", "--output", "--seed"):
            assert flag in cmd, f"{flag} of the model card's command is not in the candidate's"
            if not card_flags[flag].startswith("--"):
                assert card_flags[flag] == given[flag] or flag == "--epochs", flag
    assert cmd[-2:] == ["--epochs", "1"] and given["--seed"] == "7"


def test_each_seed_is_measured_by_the_model_cards_checks_on_its_own_checkpoint(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(candidate, "call", lambda cmd, env, log, stdout=None: calls.append((cmd, env, stdout)))
    words = tmp_path / "words"
    args = candidate.build_parser().parse_args(["--data", "d", "--work", str(tmp_path), "--words", str(words)])
    args.work = args.work.resolve()
    (tmp_path / "seed43" / "words_domains.json").parent.mkdir(parents=True)
    (tmp_path / "seed43" / "words_domains.json").write_text("{}")  # done before: skipped
    candidate.evaluate(args, 43, threads=1)
    run = str(tmp_path / "seed43" / "run")
    steps = [c[0][2] if c[0][1] == "-m" else c[0][1] for c in calls]
    assert steps == ["training.report_demo", "scripts.check_demo", "benchmarks/bench_clip_rules.py"]
    assert run in calls[0][0] and run in calls[1][0]  # the checkpoint named where a script takes one ...
    home = Path(calls[2][1][candidate.HOME_ENV])  # ... and as the shipped one where it does not
    assert (home / "checkpoints" / "tailor-demo").resolve() == Path(run).resolve()
    assert all(env[candidate.WORDS_ENV] == str(words / "text_emotion.safetensors") for _, env, _ in calls)
    assert calls[1][2] == tmp_path / "seed43" / "check_demo.md"
