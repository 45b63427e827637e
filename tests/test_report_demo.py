"""training/report_demo: the face alone scored as the face encoder's target is (FER+ majority vote)."""

from __future__ import annotations

import numpy as np
import pytest

from tailor_core import TAILOR, TailorConfig
from training.prepare_demo import ferplus_labels
from training.report_demo import face_majority_vote, ferplus_emotion_prior, top_emotion


def test_face_majority_vote_counts_misses_contempt_and_neutral(tmp_path):
    # columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
    votes = np.array([[1, 8, 0, 0, 0, 0, 0, 1, 0, 0],    # happy
                      [9, 1, 0, 0, 0, 0, 0, 0, 0, 0],    # neutral
                      [0, 0, 4, 0, 0, 0, 6, 0, 0, 0],    # fear (surprise second)
                      [3, 0, 0, 0, 0, 0, 0, 7, 0, 0],    # contempt: TAILOR has no such label
                      [0, 0, 0, 0, 0, 0, 0, 0, 9, 1],    # unknown wins: dropped, as prepare_demo drops it
                      [0, 0, 0, 0, 10, 0, 0, 0, 0, 0]])  # anger, but the face is not found
    (tmp_path / "ferplus").mkdir()
    np.savez(tmp_path / "ferplus" / "test.npz", votes=votes)
    labels, keep = ferplus_labels(votes)
    assert keep.tolist() == [True, True, True, True, False, True]
    found = np.array([True, True, True, True, False])
    np.savez(tmp_path / "items_visual_test.npz", found=found, labels=labels[keep])
    # labels: happy, sad, anger, surprise, disgust, fear; sad's threshold is out of reach
    model = TAILOR(TailorConfig.debug(thresholds=[0.5, 0.99, 0.5, 0.5, 0.5, 0.5]))
    scores = np.array([[0.9, 0.0, 0.0, 0.1, 0.0, 0.0],    # happy: right
                       [0.1, 0.1, 0.1, 0.1, 0.1, 0.1],    # nothing over a threshold -> neutral: right
                       [0.0, 0.95, 0.0, 0.6, 0.0, 0.8],   # sad is highest but under its threshold -> fear: right
                       [0.1, 0.0, 0.0, 0.0, 0.0, 0.0]])   # neutral, but the majority is contempt: wrong
    r = face_majority_vote(model, tmp_path, tmp_path, scores)
    assert r["images"] == 5 and r["face_found"] == pytest.approx(0.8)
    assert r["accuracy_found"] == pytest.approx(0.75)
    assert r["accuracy"] == pytest.approx(0.6)  # the missed face is an error
    assert "encoder_accuracy" not in r
    # the face network's own probabilities, columns neutral, happiness, surprise, sadness, anger, disgust, fear,
    # contempt: it can name contempt, and its top emotion can be right when its argmax (neutral) is not
    probs = np.array([[0.1, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1],    # happiness: right
                      [0.9, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],    # neutral: right
                      [0.5, 0.0, 0.2, 0.0, 0.0, 0.0, 0.3, 0.0],    # neutral: wrong (fear), top emotion fear
                      [0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.7]])   # contempt: right
    r = face_majority_vote(model, tmp_path, tmp_path, scores, probs)
    assert r["accuracy"] == pytest.approx(0.6) and r["encoder_accuracy"] == pytest.approx(0.6)
    # reading alone, on the found faces whose majority is an emotion TAILOR has (happy, fear): TAILOR's top
    # score on the fear face is sad (0.95), the network's top emotion is fear
    assert r["top_emotion"] == {
        "faces": 2, "faces_per_class": {"happiness": 1, "fear": 1},
        "tailor": {"accuracy": 0.5, "mean_class_recall": 0.5, "recall": {"happiness": 1.0, "fear": 0.0}},
        "encoder": {"accuracy": 1.0, "mean_class_recall": 1.0, "recall": {"happiness": 1.0, "fear": 1.0}}}
    # FER+ training faces mostly fearful: shifted to that mix, TAILOR's fear face reads fear (0.8) over sad (0.95)
    train_votes = np.zeros((22, 10), int)
    train_votes[0, 1] = train_votes[1, 3] = 10  # one happy, one sad face
    train_votes[2:, 6] = 10  # 20 fearful faces
    np.savez(tmp_path / "ferplus" / "train.npz", votes=train_votes)
    r = face_majority_vote(model, tmp_path, tmp_path, scores, probs)
    assert r["top_emotion"]["tailor"]["recall"] == {"happiness": 1.0, "fear": 0.0}
    assert r["top_emotion"]["tailor_with_ferplus_prior"]["recall"] == {"happiness": 1.0, "fear": 1.0}
    np.savez(tmp_path / "items_visual_test.npz", found=found[:4], labels=labels[keep][:4])
    with pytest.raises(ValueError, match="do not match"):
        face_majority_vote(model, tmp_path, tmp_path, scores)


def test_top_emotion_separates_accuracy_from_the_mean_class_recall():
    # 8 faces of class 1 and 2 of class 2: always answering 1 is 80% accurate, but recalls class 2 never
    truth = np.array([1] * 8 + [2] * 2)
    assert top_emotion(np.ones(10, int), truth) == {"accuracy": 0.8, "mean_class_recall": 0.5,
                                                    "recall": {1: 1.0, 2: 0.0}}
    # one miss on each class: 80% accurate, recalls 7/8 and 1/2
    pred = np.array([1] * 7 + [2] + [2, 1])
    assert top_emotion(pred, truth) == {"accuracy": 0.8, "mean_class_recall": 0.6875, "recall": {1: 0.875, 2: 0.5}}


def test_ferplus_emotion_prior_is_the_smoothed_share_of_majorities():
    votes = np.zeros((5, 10), int)
    votes[:3, 1] = 10  # three happiness majorities
    votes[3, 6] = 10  # one fear
    votes[4, 0] = 10  # one neutral: not an emotion, left out
    column = np.array([1, 3, 4, 2, 5, 6])  # happy, sad, anger, surprise, disgust, fear
    prior = ferplus_emotion_prior(votes, column)
    assert prior == pytest.approx(np.array([4, 1, 1, 1, 1, 2]) / 10)
