"""The shift benchmark's own methods on a real run: what `bench/shift.py` reports is only as good as these."""
import sys
from pathlib import Path

import pytest
import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]/"bench"))
from shift import SHIFTS, acquired, balanced, gain_noise, least_gain, normalised_on, recipe_name, sites_differ, summary


def test_normalisation_leaves_the_run_as_it_was(run_dir):
    from pneumonia_nb.data import load_splits
    from pneumonia_nb.ood import predict_with_features
    from pneumonia_nb.run_folder import load_run
    run = load_run(run_dir)
    x = load_splits("pneumoniamnist", 28, splits=("val",))["val"].images[:120, ..., None].astype(np.float32)
    (before, features), weights = predict_with_features(run.model, x), run.model.get_weights()
    own = normalised_on(run.model, x, site_weight=0.0)   # the run's own statistics
    np.testing.assert_allclose(own[0], before, atol=1e-5)
    np.testing.assert_allclose(own[1], features, atol=1e-4)
    darker = acquired(x, "contrast", 0.5)
    adabn, adabn_features = normalised_on(run.model, darker)
    assert not np.allclose(adabn, np.asarray(run.model(darker, training=False))[:, 0], atol=1e-3)
    assert not np.allclose(adabn_features, predict_with_features(run.model, darker)[1], atol=1e-3)
    np.testing.assert_allclose(normalised_on(run.model, darker, statistics_from=darker)[0], adabn, atol=1e-5)
    for kept, now in zip(weights, run.model.get_weights()): np.testing.assert_array_equal(kept, now)
    np.testing.assert_allclose(np.asarray(run.model(x, training=False))[:, 0], before, atol=1e-5)


def test_tent_lowers_the_entropy_of_the_answers_and_leaves_the_run_as_it_was(run_dir):
    from pneumonia_nb.data import load_splits
    from pneumonia_nb.run_folder import load_run
    run = load_run(run_dir)
    x = load_splits("pneumoniamnist", 28, splits=("val",))["val"].images[:120, ..., None].astype(np.float32)
    darker, weights = acquired(x, "contrast", 0.5), run.model.get_weights()
    entropy = lambda p: -np.mean(p*np.log(p) + (1 - p)*np.log(1 - p))
    adabn, tent = (normalised_on(run.model, darker, entropy_epochs=epochs, learning_rate=0.01)[0] for epochs in (0, 3))
    assert entropy(tent) < entropy(adabn)
    for kept, now in zip(weights, run.model.get_weights()): np.testing.assert_array_equal(kept, now)


def test_balanced_resampling_reaches_the_validation_shares():
    x = np.arange(100, dtype=np.float32)[:, None, None, None]
    posteriors = np.eye(2)[(np.arange(100) < 90).astype(int)]   # 90% pneumonia, known for certain
    drawn = balanced(x, posteriors, np.array([0.25, 0.75]), np.array([0.1, 0.9]), 4000)
    assert abs(np.mean(drawn[:, 0, 0, 0] < 90) - 0.75) < 0.03


def test_recipes_are_told_apart_by_each_named_hyperparameter_and_their_models():
    scores = {"auc": 1.0, "accuracy": 1.0, "sensitivity": 1.0, "specificity": 1.0, "ece": 0.0}
    cells = [{"run": "r", "shift": kind, "refused": False, "share_error": 0.0, "as_trained": scores, "augment": "default"}
             for kind in ("none", *SHIFTS)]   # cells written before the strength was recorded
    doubled = [{**cell, "run": "s", "augment_strength": 2.0} for cell in cells]
    wider = [{**cell, "run": "w", "width": 48} for cell in doubled]
    three, five = ({**cells[0], "members": n, "default_members": 3} for n in (3, 5))
    kermany = {**cells[0], "augment": "acquisition", "members": 1, "default_members": 1}
    off, averaged = ({**cells[0], "weight_average": m} for m in (0.0, 0.99))
    plain, equalised = ({**cells[0], "equalise": e} for e in (False, True))
    unmixed, mixed = ({**cells[0], "mixup": a} for a in (0.0, 0.2))
    hard, smoothed = ({**cells[0], "label_smoothing": a} for a in (0.0, 0.1))
    undecayed, decayed = ({**cells[0], "weight_decay": w} for w in (0.0, 1e-4))
    plateau, cosine = ({**cells[0], "schedule": name} for name in ("plateau", "cosine"))
    assert [recipe_name(c) for c in (cells[0], doubled[0], wider[0], three, five, kermany, off, averaged, plain,
                                     equalised, unmixed, mixed, hard, smoothed, undecayed, decayed, plateau,
                                     cosine)] == [
        "default", "default, strength 2", "default, strength 2, width 48", "default", "default, 5 models", "acquisition",
        "default", "default, weights averaged 0.99", "default", "default, equalised", "default", "default, mixup 0.2",
        "default", "default, label smoothing 0.1", "default", "default, weight decay 0.0001", "default",
        "default, cosine schedule"]
    assert set(summary(cells + doubled)["by_recipe"]) == {"default", "default, strength 2"}


def test_runs_are_compared_only_on_the_same_sites():
    cells = [{"run": "default-42", "augment": "default", "shift": kind, "level": 1, "share": 0.5, "draw": draw}
             for kind in ("none", "kermany-224") for draw in (18, 19)]
    stretched = [{**cell, "run": "stretch-42", "augment": "stretch"} for cell in cells]
    assert not sites_differ(cells + stretched) and not sites_differ(cells)
    assert sites_differ(cells + stretched[:-1])                                  # one site scored for one run only
    assert sites_differ(cells + [{**cell, "draw": cell["draw"] + 2} for cell in stretched])   # another recipe's draws
    assert sites_differ(cells + [{**cell, "run": "default-43", "draw": cell["draw"] + 2} for cell in cells])   # a seed


def test_the_benchmarks_crop_and_halved_contrast_are_found_from_the_mean_image_and_undone():
    "`site_framing` finds the benchmark's crops and halved contrast, and none of its other shifts; `Reframing` undoes them."
    from pneumonia_nb.data import load_splits
    from pneumonia_nb.framing import Reframing, site_framing
    val = load_splits("pneumoniamnist", 28, splits=("val",))["val"]
    x, y = val.images[..., None].astype(np.float32), val.labels
    order = np.random.default_rng(0).permutation(len(y))
    site, rest = x[order[:260]], order[260:]
    class_means = np.stack([x[rest][y[rest] == k][..., 0].mean(axis=0) for k in (0, 1)])
    for kind, levels in SHIFTS.items():
        for level in levels:
            framing = site_framing(acquired(site, kind, level)[..., 0].mean(axis=0), class_means)
            assert framing["framed"] == (kind == "crop-zoom"), (kind, level, framing)
            assert framing["exposed"] == ((kind, level) == ("contrast", 0.5)), (kind, level, framing)
            assert bool(framing["reframing"]) == (framing["framed"] or framing["exposed"])
    faded = acquired(site, "contrast", 0.5)
    exposure = site_framing(faded[..., 0].mean(axis=0), class_means)["reframing"]
    assert set(exposure) == {"gain", "offset"} and abs(exposure["gain"] - 0.5) < 0.05, exposure
    def centred(images): return images - images.mean(axis=(1, 2, 3), keepdims=True)   # each about its own mean, as faded
    back = Reframing(**exposure)(faded).numpy()
    assert np.abs(centred(back) - centred(site)).mean() < np.abs(centred(faded) - centred(site)).mean()/3
    cropped = acquired(site, "crop-zoom", 0.8)
    framing = site_framing(cropped[..., 0].mean(axis=0), class_means)
    back = Reframing(framing["zoom"], framing["shift"])(cropped).numpy()
    inner = slice(4, 24)   # what the crop kept
    assert np.abs(back - site)[:, inner, inner].mean() < np.abs(cropped - site)[:, inner, inner].mean()/3
    rows = [{"run": "r", "shift": kind, "refused": False, "share_error": 0.0, "augment": "default",
             **{side: {"auc": 1.0, "accuracy": 1.0, "sensitivity": 1.0, "specificity": 1.0, "ece": 0.0, **extra}
                for side, extra in (("as_trained", {}), ("adapted", {}), ("framed", {"applied": kind == "crop-zoom"}),
                                    ("exposed", {"applied": kind == "contrast"}))}}
            for kind in ("none", *SHIFTS)]
    assert summary(rows)["all"]["framed_applied"] == 1   # the sites reframed are counted
    rows[0]["framed"]["accuracy"] = 0.9   # reframed alone worse at the unshifted site: re-exposing never acted there
    rows[list(SHIFTS).index("contrast") + 1]["framed"]["accuracy"] = 0.8   # re-exposing gained 0.2 where it acted
    counted = summary(rows)["all"]
    assert counted["exposed_applied"] == 1 and counted["exposed_accuracy_gain_where_applied"]["median"] == pytest.approx(0.2)
    assert counted["exposed_largest_accuracy_loss_against_framed"] == pytest.approx(0.0)


def test_the_benchmarks_softening_shifts_are_found_by_their_sharpness_and_no_other():
    "`site_blur` finds blur and down-up softer than validation, exposure and noise not; the summary counts where it acted."
    from pneumonia_nb.data import load_splits
    from pneumonia_nb.ood import site_blur
    val = load_splits("pneumoniamnist", 28, splits=("val",))["val"]
    x = val.images[..., None].astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    site, rest = x[order[:260]], x[order[260:]]
    found = {(kind, level): site_blur(acquired(site, kind, level), rest) for kind, levels in SHIFTS.items() for level in levels}
    assert all(found[kind, level] >= 0.02 for kind in ("blur", "down-up") for level in SHIFTS[kind]), found
    assert all(found[kind, level] <= 0.01 for kind in ("contrast", "gamma", "brightness", "noise") for level in SHIFTS[kind]), found
    assert site_blur(site, rest) <= 0.01
    rows = [{"run": "r", "shift": kind, "refused": False, "share_error": 0.0, "augment": "default",
             **{side: {"auc": 1.0, "accuracy": 0.9 if kind == "blur" and side != "matched" else 1.0, "sensitivity": 1.0,
                       "specificity": 1.0, "ece": 0.0, **extra}
                for side, extra in (("as_trained", {}), ("adapted", {}), ("framed", {"applied": False}),
                                    ("exposed", {"applied": False}), ("matched", {"applied": kind == "blur"}))}}
            for kind in ("none", *SHIFTS)]
    counted = summary(rows)["all"]
    assert counted["matched_applied"] == 1 and counted["matched_accuracy_gain_where_applied"]["median"] == pytest.approx(0.1)
    assert counted["matched_largest_accuracy_loss_against_exposed"] == pytest.approx(0.0)


def test_gain_noise_grows_with_the_images_a_method_changes():
    "The standard error of a method's gain: none where it changes no image, else from the shares it puts right and wrong."
    y = np.array([0]*100 + [1]*100)
    p = np.where(y == 1, 0.9, 0.1)
    assert gain_noise(y, (p, 0.5), (p, 0.5), [0.5, 0.5], 200) == 0
    worse = p.copy(); worse[:50] = 0.9   # half the normal images now called pneumonia
    spread = 0.5 - 0.5**2   # of one normal image's change: -1 half the time
    assert gain_noise(y, (p, 0.5), (worse, 0.5), [0.5, 0.5], 200) == pytest.approx(np.sqrt(0.5*spread/200 + 0.25*spread/100))
    assert gain_noise(y, (p, 0.5), (worse, 0.5), [0.5, 0.5], 50) > gain_noise(y, (p, 0.5), (worse, 0.5), [0.5, 0.5], 200)


def test_a_high_share_asks_every_method_for_more():
    "Rule 6: from the high share on, a method needs the larger gain, reframing (-1: wherever) included; below, its own."
    assert least_gain(0.01, 0.89, 0.9, 0.04) == 0.01
    assert least_gain(-1, 0.89, 0.9, 0.04) == -1
    assert least_gain(-1, 0.9, 0.9, 0.04) == 0.04
    assert least_gain(0.01, 0.97, 0.9, 0.04) == 0.04
    assert least_gain(0.01, 0.97, None, 0.04) == 0.01   # no high share: as in `adapt`


def test_the_least_gain_grows_with_the_share():
    "Rule 8: 0.01 up to a share of 0.6, then 0.1 more per unit of share, for every method (reframing's -1 too)."
    assert least_gain(0.01, 0.5, None, 0.04, 0.1) == 0.01
    assert least_gain(-1, 0.3, None, 0.04, 0.1) == 0.01
    assert least_gain(0.01, 0.74, None, 0.04, 0.1) == pytest.approx(0.024)
    assert least_gain(0.01, 0.887, None, 0.04, 0.1) == pytest.approx(0.0387)
    assert least_gain(0.01, 0.9, None, 0.04, 0.1) == pytest.approx(0.04)   # where rule 7 asked 0.04

