"""Figures on synthetic runs: the common grid, smoothing, Figures 3-5 and the summary figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_aggregate import FAST, make_random, make_run, make_study

from psmarl import aggregate as agg
from psmarl import figures as fg
from psmarl.errors import ConfigError, InputError


def curves_of(rows):
    """Tidy curves from (method, sharing, seed, episodes list, values list)."""
    frames = [
        pd.DataFrame(
            {
                "env": "pursuit",
                "method": m,
                "sharing": s,
                "seed": seed,
                "episodes": x,
                "avg_total_reward": y,
            }
        )
        for m, s, seed, x, y in rows
    ]
    return pd.concat(frames, ignore_index=True)


def test_grid_covers_only_the_range_every_seed_has():
    c = curves_of(
        [
            ("ppo", "shared", 0, [10, 20, 30, 40], [0, 1, 2, 3]),
            ("ppo", "shared", 1, [15, 25, 35], [0, 2, 4]),
        ]
    )
    t = fg.curve_frame(c, {"grid_points": 5})
    assert t["episodes"].min() == 15 and t["episodes"].max() == 35
    assert len(t) == 2 * 5
    s0 = t[t["seed"] == 0].set_index("episodes")["avg_total_reward"]
    assert s0.loc[15] == pytest.approx(0.5) and s0.loc[35] == pytest.approx(2.5)


def test_smoothing_is_a_trailing_mean_over_iterations():
    c = curves_of([("ppo", "shared", 0, [1, 2, 3, 4], [0.0, 4.0, 0.0, 4.0])])
    t = fg.curve_frame(c, {"grid_points": 4, "smoothing": 2})
    assert t["avg_total_reward"].tolist() == pytest.approx([0.0, 2.0, 2.0, 2.0])
    t1 = fg.curve_frame(c, {"grid_points": 4, "smoothing": 1})
    assert t1["avg_total_reward"].tolist() == pytest.approx([0.0, 4.0, 0.0, 4.0])


def test_curves_without_any_episode_are_a_clear_error():
    c = curves_of([("ppo", "shared", 0, [1, 2], [np.nan, np.nan])])
    with pytest.raises(InputError, match="no finished training episode"):
        fg.curve_frame(c)


@pytest.mark.parametrize("key,value", [("smoothing", 0), ("band", "wide"), ("grid_points", 1)])
def test_bad_figure_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"figures.{key}"):
        fg.check_spec({key: value})


def test_best_shared_method_uses_the_iqm_of_curve_maxima():
    c = curves_of(
        [
            ("ppo", "shared", 0, [1, 2], [0, 10]),
            ("ppo", "shared", 1, [1, 2], [0, 12]),
            ("dqn", "shared", 0, [1, 2], [0, 50]),
            ("dqn", "shared", 1, [1, 2], [0, 1]),
            ("dqn", "shared", 2, [1, 2], [0, 2]),
            ("dqn", "shared", 3, [1, 2], [0, 3]),
            ("qmix", "shared", 0, [1, 2], [0, 999]),
            ("sac", "independent", 0, [1, 2], [0, 999]),
        ]
    )
    # dqn's maxima 50, 1, 2, 3: IQM 2.5 (the outlier is trimmed); ppo's 11
    assert fg.best_shared_method(c) == "ppo"


@pytest.fixture
def study(tmp_path):
    jobs = make_study(
        tmp_path, envs=("pursuit", "waterworld"), methods=("ppo", "dqn"), seeds=(0, 1, 2)
    )
    agg.aggregate(tmp_path, jobs, ["pursuit", "waterworld"], log=lambda m: None)
    agg.statistics(tmp_path, {"stats": FAST}, log=lambda m: None)
    return tmp_path, jobs


@pytest.mark.parametrize("figure", [3, 4, 5])
def test_paper_figures_are_drawn(study, figure):
    root, jobs = study
    outs = [
        root / f"figures/figure{figure}_pursuit.png",
        root / f"figures/figure{figure}_pursuit.pdf",
    ]
    logs = []
    fg.paper_figure(root, figure, "pursuit", jobs, outs, {"band": "range"}, log=logs.append)
    for o in outs:
        assert o.exists() and o.stat().st_size > 1000
    if figure == 5:  # no MADDPG/QMIX runs: said in the figure and the log
        assert any("no runs of MADDPG and QMIX" in m for m in logs)


def test_figure5_draws_the_baselines_that_exist(study):
    root, jobs = study
    make_run(root, "pursuit", "maddpg", "shared", 0, [1.0, 2.0, 3.0], 3.0)
    logs = []
    fg.paper_figure(
        root,
        5,
        "pursuit",
        jobs + [("pursuit", "maddpg", "shared", 0)],
        [root / "f5.png"],
        log=logs.append,
    )
    note = [m for m in logs if "no runs of" in m]
    assert note and "QMIX" in note[0] and "MADDPG" not in note[0]


def test_figure4_without_independent_runs_is_a_clear_error(study):
    root, jobs = study
    shared = [j for j in jobs if j[2] == "shared"]
    with pytest.raises(InputError, match="Figure 4 of pursuit: no independent runs"):
        fg.paper_figure(root, 4, "pursuit", shared, [root / "f4.png"])
    with pytest.raises(InputError, match="no runs of env 'multiwalker'"):
        fg.paper_figure(root, 3, "multiwalker", jobs, [root / "f3.png"])


def test_learning_curve_and_summary_figures(study):
    root, jobs = study
    fg.learning_curve_figure(root, "waterworld", jobs, [root / "lc.svg"], log=lambda m: None)
    assert (root / "lc.svg").read_text().count("<svg") >= 1
    fg.sharing_summary_figure(root, [root / "sum.png"], log=lambda m: None)
    assert (root / "sum.png").stat().st_size > 1000


def test_summary_figure_needs_the_statistics(tmp_path):
    make_random(tmp_path, "pursuit", 0.0)
    with pytest.raises(InputError, match="run the statistics stage first"):
        fg.sharing_summary_figure(tmp_path, [tmp_path / "s.png"], log=lambda m: None)


def test_bands_over_seeds():
    v = np.array([[1.0, 2.0, 5.0], [3.0, 2.0, 7.0], [2.0, 2.0, 6.0]])
    lo, hi = fg.band_limits(v, "range")
    assert lo.tolist() == [1, 2, 5] and hi.tolist() == [3, 2, 7]
    lo, hi = fg.band_limits(v, "sd")
    assert hi - lo == pytest.approx(2 * v.std(axis=0, ddof=1))
    lo, hi = fg.band_limits(v, "ci95")
    assert lo[1] == hi[1] == 2.0  # identical seeds: zero width
    assert (lo <= v.mean(axis=0)).all() and (v.mean(axis=0) <= hi).all()
    assert lo[0] >= 1 and hi[0] <= 3  # a CI of the mean lies within the data's range
    assert fg.band_limits(v[:1], "ci95") is None and fg.band_limits(v, "none") is None


def test_paper_figures_use_the_papers_measure_and_axes(tmp_path, monkeypatch):
    """Figures 3-5 draw the paper's measure (Ape-X: its reported runners' average against
    their episodes) where a run logged it, psmarl's where it did not, on the paper's x-axis."""
    c = curves_of(
        [
            ("apex_dqn", "shared", 0, [10, 20, 30], [1.0, 2.0, 3.0]),
            ("qmix", "shared", 0, [10, 20, 30], [5.0, 6.0, 7.0]),
        ]
    )
    c["paper_avg_total_reward"] = [10.0, 20.0, 30.0, np.nan, np.nan, np.nan]
    c["paper_episodes"] = [4, 8, 12, np.nan, np.nan, np.nan]
    p = fg.paper_measure_curves(c)
    apex = p[p["method"] == "apex_dqn"]
    assert list(apex["avg_total_reward"]) == [10.0, 20.0, 30.0]
    assert list(apex["episodes"]) == [4, 8, 12]
    assert list(p[p["method"] == "qmix"]["avg_total_reward"]) == [5.0, 6.0, 7.0]

    jobs = make_study(tmp_path, envs=("pursuit",), methods=("ppo",), seeds=(0,))
    agg.aggregate(tmp_path, jobs, ["pursuit"], log=lambda m: None)
    limits = []
    import matplotlib.axes

    real = matplotlib.axes.Axes.set_xlim
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "set_xlim",
        lambda self, *a, **k: limits.append(a) or real(self, *a, **k),
    )
    fg.paper_figure(
        tmp_path,
        3,
        "pursuit",
        jobs,
        [tmp_path / "f3.png"],
        {"paper_x_max_episodes": 60000},
        log=lambda m: None,
    )
    assert (0, 60000) in limits
    with pytest.raises(ConfigError, match="figures.paper_x_max_episodes"):
        fg.check_spec({"paper_x_max_episodes": 0})


def test_the_same_figure_saves_the_same_pdf_bytes(tmp_path):
    """No creation date in a PDF: figures rebuilt from the same data do not churn in git."""
    import time

    from psmarl.figures import _setup, save_figure

    plt = _setup()
    digests = []
    for i in range(2):
        fig, ax = plt.subplots()
        ax.plot([0, 1, 2], [3, 1, 2])
        out = tmp_path / f"f{i}.pdf"
        save_figure(fig, [out])
        plt.close(fig)
        digests.append(out.read_bytes())
        time.sleep(1.1)  # a creation date would differ by a second
    assert digests[0] == digests[1]
