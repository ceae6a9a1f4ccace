"""Face video: the synthetic pain video (labels, landmarks, masks), the UNBC-McMaster and CK+ sequence readers
on fixtures written in their layouts, and the protocols' splits."""

import numpy as np
import pytest
from video_fixtures import write_ckplus_sequences, write_unbc

from kerasfg.data import DatasetLayoutError
from kerasfg.data.datasets.ckplus import ckplus_folds, read_ckplus_sequences
from kerasfg.data.datasets.unbc import pspi, read_unbc, unbc_subject_numbers
from kerasfg.data.face_video import PainEpisodes, synthetic_face_video
from kerasfg.data.splits import leave_one_subject_out

SUBJECTS = {"subject_000": "042-ll042", "subject_001": "043-jh043", "subject_002": "047-jl047"}


@pytest.fixture(scope="module")
def video():
    return synthetic_face_video(num_subjects=3, sequences_per_subject=2, frames_per_sequence=16, image_size=64,
                                seed=5, episodes=PainEpisodes(per_sequence=(1, 2)))


def test_synthetic_pain_video_labels_landmarks_and_masks(video):
    assert len(video) == 96 and video.landmarks.shape == (96, 66, 2)
    assert list(video.sequence_ids) == [f"subject_{s:03d}/sequence_{q:02d}" for s in range(3) for q in range(2)]
    np.testing.assert_array_equal(video.frame_index[:17], [*range(16), 0])
    labels = video.labels
    np.testing.assert_array_equal(labels["pspi"], labels["au4"] + np.maximum(labels["au6"], labels["au7"])
                                  + np.maximum(labels["au9"], labels["au10"]) + labels["au43"])
    assert set(np.unique(labels["au4"])) <= set(range(6)) and set(np.unique(labels["au43"])) <= {0, 1}
    assert labels["pspi"].max() >= 4 and (labels["pspi"] == 0).any()
    # pain rises and falls: PSPI follows the latent pain
    assert np.corrcoef(labels["pspi"], labels["pain"])[0, 1] > 0.9
    # landmarks lie on the face: inside the frame, the jaw below the eyes, the brows above them
    assert (video.landmarks >= 0).all() and (video.landmarks < 64).all()
    points = video.landmarks
    assert (points[:, 8, 1] > points[:, 36:48, 1].max(1)).all()
    assert (points[:, 17:27, 1].mean(1) < points[:, 36:48, 1].mean(1)).all()
    # with pain the brows come down towards the eyes (relative to the face's size)
    gap = (points[:, 36:48, 1].mean(1) - points[:, 17:27, 1].mean(1)) / (points[:, 16, 0] - points[:, 0, 0])
    assert gap[labels["au4"] >= 3].mean() < gap[labels["au4"] == 0].mean()
    # the evidence mask covers the brows, eyes and nose, not the background or the chin
    mask = video.masks["pain"]
    for index in (0, 40, 90):
        x, y = np.round(video.landmarks[index]).astype(int).T
        assert mask[index, y[[19, 24, 30, 37]], x[[19, 24, 30, 37]]].all()
        assert not mask[index, y[8], x[8]] and not mask[index, 0, 0]
    again = synthetic_face_video(num_subjects=3, sequences_per_subject=2, frames_per_sequence=16, image_size=64,
                                 seed=5, episodes=PainEpisodes(per_sequence=(1, 2)))
    np.testing.assert_array_equal(again.frames.images, video.frames.images)


def test_pain_changes_the_pixels_of_the_evidence_mask(video):
    """Frames of one sequence differ mostly inside the mask: the head moves a little, the face a lot."""
    start, stop = video.sequence_bounds[0]
    pspi_values = video.labels["pspi"][start:stop]
    low, high = start + int(np.argmin(pspi_values)), start + int(np.argmax(pspi_values))
    assert video.labels["pspi"][high] > video.labels["pspi"][low]
    smooth = synthetic_face_video(num_subjects=1, sequences_per_subject=1, frames_per_sequence=16, image_size=64,
                                  seed=5, difficulty=0.0, episodes=PainEpisodes(per_sequence=(2, 2)))
    pain = smooth.labels["pspi"]
    a, b = int(np.argmin(pain)), int(np.argmax(pain))
    change = np.abs(smooth.frame(a).astype(int) - smooth.frame(b).astype(int)).sum(-1) > 0
    assert change.any() and change[smooth.masks["pain"][b] | smooth.masks["pain"][a]].mean() > 0.8 * change.mean()
    assert change[~(smooth.masks["pain"][a] | smooth.masks["pain"][b])].sum() < 0.1 * change.sum()


def test_unbc_reader_in_the_archive_layout(video, tmp_path):
    written = write_unbc(tmp_path, video, SUBJECTS)
    read = read_unbc(tmp_path)
    assert read.report.read == 96 and read.report.skipped == 0
    assert list(read.subject_ids) == sorted(SUBJECTS.values())
    assert list(read.sequence_ids) == [name for _, name in written]
    order = [i for frames in written.values() for i in frames]
    np.testing.assert_allclose(read.landmarks, video.landmarks[order], atol=1e-4)
    np.testing.assert_array_equal(read.labels["pspi"], video.labels["pspi"][order])
    for au in (4, 6, 7, 9, 10, 43):
        np.testing.assert_array_equal(read.labels[f"au{au}"], video.labels[f"au{au}"][order])
    np.testing.assert_array_equal(read.labels["pspi"], pspi(*(read.labels[f"au{u}"] for u in (4, 6, 7, 9, 10, 43))))
    np.testing.assert_array_equal(read.frame(20), video.frame(order[20]))
    peaks = [video.labels["pspi"][frames].max() for frames in written.values()]
    np.testing.assert_allclose(read.sequence_labels["vas"], peaks, rtol=1e-6)
    np.testing.assert_allclose(read.sequence_labels["opr"], np.array(peaks) / 3, rtol=1e-6)
    np.testing.assert_array_equal(unbc_subject_numbers(read.subjects)[[0, 40, 95]], [0, 1, 2])
    folds = list(leave_one_subject_out(read.subjects))
    assert [s for s, _, _ in folds] == sorted(SUBJECTS.values())
    for _, train, test in folds:
        assert len(train) + len(test) == 96 and len(test) == 32
        assert set(read.sequences[test]).isdisjoint(read.sequences[train])


def test_unbc_reader_skips_and_reports_bad_frames(video, tmp_path):
    written = write_unbc(tmp_path, video, SUBJECTS, facs=False, sequence_labels=False, nested_images=True)
    (subject, name), _ = next(iter(written.items()))
    (tmp_path / "AAM_landmarks" / subject / name / f"{name}003_aam.txt").unlink()
    bad = tmp_path / "AAM_landmarks" / subject / name / f"{name}004_aam.txt"
    bad.write_text("\n".join(bad.read_text().splitlines()[:65]))
    (tmp_path / "Frame_Labels" / "PSPI" / subject / name / f"{name}005_facs.txt").write_text("pain\n")
    read = read_unbc(tmp_path)
    assert read.report.read == 96 and read.report.skipped == 3 and len(read) == 93
    reasons = sorted(skip.reason for skip in read.report.skips)
    assert reasons[0].startswith("AAM landmark file") and "130 numbers, expected 132" in reasons[0]
    assert "no AAM landmark file" in reasons[1] and "unparsable PSPI label" in reasons[2]
    assert set(read.labels) == {"pspi"} and read.sequence_labels == {}
    np.testing.assert_array_equal(read.frame_index[:5], [0, 1, 2, 3, 4])  # frames 3-5 gone, order kept
    with pytest.raises(DatasetLayoutError, match="AAM_landmarks folder"):
        read_unbc(tmp_path / "Images")


def test_ckplus_sequences_with_landmarks_and_folds(tmp_path):
    video = synthetic_face_video(num_subjects=12, sequences_per_subject=1, frames_per_sequence=5, image_size=48,
                                 seed=2)
    ids = list(video.sequence_ids)
    emotions = {sequence: 1 + k % 7 for k, sequence in enumerate(ids)}
    names = write_ckplus_sequences(tmp_path, video, emotions, unlabelled=ids[-1:])
    read = read_ckplus_sequences(tmp_path)
    assert len(read.sequence_ids) == 11 and read.report.skipped == 1
    assert "unlabelled" in read.report.skips[0].reason
    assert read.class_names["expression"] == ("angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")
    expected = [emotions[names[s]] - 1 for s in read.sequence_ids]
    np.testing.assert_array_equal(read.sequence_labels["expression"], expected)
    np.testing.assert_allclose(read.landmarks, video.landmarks[: len(read)], atol=1e-4)
    assert read.frame(0).shape == (48, 48, 3)
    no_contempt = read_ckplus_sequences(tmp_path, include_contempt=False)
    assert "contempt" not in no_contempt.class_names["expression"]
    assert len(no_contempt.sequence_ids) == 11 - sum(emotions[names[s]] == 2 for s in read.sequence_ids)
    folds = ckplus_folds(read, num_folds=5, seed=0)
    assert np.stack(folds).sum(0).tolist() == [1] * 11  # every sequence tested once
    for mask in folds:
        assert set(read.sequence_subjects[mask]).isdisjoint(read.sequence_subjects[~mask])
